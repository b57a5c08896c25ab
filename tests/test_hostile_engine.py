"""Hostile inputs to the engine, its catalog and business rules: each gets one exact InputError
message or the exact right answer; through the `xsell score` command, one `error: ` line and exit 1."""

from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import xsell
from tests.conftest import shop_catalog_frame
from xsell.cli import app
from xsell.errors import InputError

A, B = "P014-B", "P075-B"  # a planted complement pair of the synthetic shop
ITEM = "P000-B"  # kitchen, 10.76


@pytest.fixture(scope="module")
def env(shop, shop_model, tmp_path_factory):
    frame = shop_catalog_frame(shop)
    engine = xsell.Engine(shop_model, xsell.load_catalog(frame), threshold=45.0)
    return SimpleNamespace(engine=engine, model=shop_model, frame=frame, orders=shop.orders,
                           tmp=tmp_path_factory.mktemp("hostile"))


def _csv(env, name: str, text: str):
    path = env.tmp / name
    path.write_text(text)
    return path


def _one(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def _unpriced_engine(e) -> xsell.Engine:
    """Categories for every item but no price for any (the model's order prices dropped too)."""
    import copy

    model = copy.copy(e.model)
    model.item_prices_ = None
    return xsell.Engine(model, xsell.load_catalog(e.frame.drop(columns=["price"])))


# (case id, call, exact InputError message)
REFUSED = [
    # k: the models' one check
    ("up_sell k=0", lambda e: e.engine.up_sell(ITEM, k=0), "k must be a whole number >= 1, got 0"),
    ("up_sell k=-2", lambda e: e.engine.up_sell(ITEM, k=-2), "k must be a whole number >= 1, got -2"),
    ("up_sell k=2.5", lambda e: e.engine.up_sell(ITEM, k=2.5), "k must be a whole number >= 1, got 2.5"),
    ("up_sell k=True", lambda e: e.engine.up_sell(ITEM, k=True), "k must be a whole number >= 1, got True"),
    ("up_sell_batch k=0", lambda e: e.engine.up_sell_batch([ITEM], k=0), "k must be a whole number >= 1, got 0"),
    ("cross_sell k='3'", lambda e: e.engine.cross_sell([A], k="3"), "k must be a whole number >= 1, got '3'"),
    ("score_batch k=True", lambda e: e.engine.score_batch({"b1": [A]}, k=True),
     "k must be a whole number >= 1, got True"),
    # basket quantities
    ("quantity 'x'", lambda e: e.engine.cross_sell({A: "x"}),
     f"basket quantity of '{A}' must be a number > 0, got 'x'"),
    ("quantity inf", lambda e: e.engine.cross_sell({A: float("inf")}),
     f"basket quantity of '{A}' must be a number > 0, got inf"),
    ("quantity nan", lambda e: e.engine.cross_sell({A: float("nan")}),
     f"basket quantity of '{A}' must be a number > 0, got nan"),
    ("quantity -1", lambda e: e.engine.cross_sell({A: 1, B: -1}),
     f"basket quantity of '{B}' must be a number > 0, got -1"),
    ("quantity 0", lambda e: e.engine.cross_sell({A: 0}), f"basket quantity of '{A}' must be a number > 0, got 0"),
    ("quantity True", lambda e: e.engine.cross_sell({A: True}),
     f"basket quantity of '{A}' must be a number > 0, got True"),
    ("quantity overflow", lambda e: e.engine.cross_sell({A: 1e308, B: 1e308}),
     "basket value overflows (inf): check the basket quantities"),
    # thresholds
    ("threshold inf", lambda e: e.engine.cross_sell([A], threshold=float("inf")),
     "threshold must be a finite number > 0, got inf"),
    ("threshold nan", lambda e: e.engine.cross_sell([A], threshold=float("nan")),
     "threshold must be a finite number > 0, got nan"),
    ("threshold -5", lambda e: e.engine.score_batch({"b1": [A]}, threshold=-5),
     "threshold must be a finite number > 0, got -5"),
    ("threshold 0", lambda e: e.engine.score_batch({"b1": [A]}, threshold=0, mode="uplift"),
     "threshold must be a finite number > 0, got 0"),
    ("Engine threshold True", lambda e: xsell.Engine(e.model, threshold=True),
     "threshold must be a finite number > 0, got True"),
    # baskets and ids
    ("basket None", lambda e: e.engine.cross_sell(None),
     "basket must be a list of item ids or a mapping item id -> quantity, not None (an empty basket is [])"),
    ("basket list of lists", lambda e: e.engine.cross_sell([[A, B]]),
     f"basket item ids must be strings or numbers, got ['{A}', '{B}'] (list); a basket is a list of item ids or "
     f"a mapping item id -> quantity"),
    ("basket dict as id", lambda e: e.engine.cross_sell([A, {"x": 1}]),
     "basket item ids must be strings or numbers, got {'x': 1} (dict); a basket is a list of item ids or a mapping "
     "item id -> quantity"),
    ("basket bool id", lambda e: e.engine.cross_sell([True]),
     "basket item ids must be strings or numbers, got True (bool); a basket is a list of item ids or a mapping "
     "item id -> quantity"),
    ("customer list", lambda e: e.engine.cross_sell([A], customer=[1, 2]),
     "customer must be one customer id (a string or a number), got [1, 2]"),
    ("up_sell dict", lambda e: e.engine.up_sell({"x": 1}),
     "item must be one item id (a string or a number), got {'x': 1}"),
    ("up_sell None", lambda e: e.engine.up_sell(None), "item must be one item id (a string or a number), got None"),
    ("up_sell unknown", lambda e: e.engine.up_sell("P999-X"), "unknown item 'P999-X': the model was not trained on it"),
    ("up_sell item without category", lambda e: xsell.Engine(e.model, xsell.load_catalog(
        e.frame.assign(category=e.frame["category"].where(e.frame["item_id"] != ITEM), parent=None))).up_sell(ITEM),
     "item 'P000-B' has no category or product family in the catalog, so nothing to up-sell it with: give it one, "
     "or the engine the training orders with customers (Engine(model, orders=orders); xsell score: --orders FILE)"),
    ("up_sell without categories", lambda e: xsell.Engine(e.model).up_sell(ITEM),
     "up_sell needs a catalog with categories or families, or the training orders with customers "
     "(Engine(model, orders=orders); xsell score: --orders FILE)"),
    ("up_sell_batch without categories", lambda e: xsell.Engine(e.model).up_sell_batch([ITEM, A]),
     "up_sell needs a catalog with categories or families, or the training orders with customers "
     "(Engine(model, orders=orders); xsell score: --orders FILE)"),
    ("up_sell_batch without categories, no items", lambda e: xsell.Engine(e.model).up_sell_batch([]),
     "up_sell needs a catalog with categories or families, or the training orders with customers "
     "(Engine(model, orders=orders); xsell score: --orders FILE)"),
    ("up_sell_batch without any price", lambda e: _unpriced_engine(e).up_sell_batch([ITEM, A]),
     "up_sell needs prices and no item has one: give a catalog with prices or orders with prices"),
    ("cross_sell a DataFrame basket", lambda e: e.engine.cross_sell(pd.DataFrame({"item_id": [A, B]})),
     "basket must be a list of item ids or a mapping item id -> quantity, not a DataFrame "
     "(for many baskets use score_batch)"),
    ("cross_sell a DataFrame of quantities", lambda e: e.engine.cross_sell(pd.DataFrame({A: [1], B: [2]})),
     "basket must be a list of item ids or a mapping item id -> quantity, not a DataFrame "
     "(for many baskets use score_batch)"),
    ("up_sell_batch None", lambda e: e.engine.up_sell_batch(None),
     "items must be a list of item ids or a DataFrame with an item_id column, not NoneType"),
    ("up_sell_batch one string", lambda e: e.engine.up_sell_batch(ITEM),
     "items must be a list of item ids or a DataFrame with an item_id column, not str"),
    ("up_sell_batch no item_id", lambda e: e.engine.up_sell_batch(_one(sku=[ITEM], qty=[1])),
     "items frame lacks column item_id; it has: sku, qty"),
    ("score_batch ids 1 and '1'",
     lambda e: e.engine.score_batch(pd.DataFrame({"basket_id": [1, "1"], "item_id": [A, B]})),
     "baskets column 'basket_id' mixes ids of different types (int and str); give every basket id the same type"),
    ("score_batch mapping 7 and '7'", lambda e: e.engine.score_batch({"7": [A], 7: [B]}, mode="uplift"),
     "the keys of baskets mix ids of different types (str and int); give every basket id the same type"),
    ("score_batch mode up-sell", lambda e: e.engine.score_batch({"b1": [A]}, mode="up-sell"),
     "mode must be cross-sell or uplift for baskets, got 'up-sell'"),
    ("score_batch no basket_id", lambda e: e.engine.score_batch(_one(order=[1], item_id=[A])),
     "baskets frame lacks column(s) basket_id; it has: order, item_id"),
    ("rules a dict", lambda e: e.engine.cross_sell([A], rules={"objective": "margin"}),
     "rules must be xsell.BusinessRules, not dict"),
    # load_catalog: what it is given
    ("load_catalog None", lambda e: xsell.load_catalog(None),
     "catalog must be a CSV or Parquet path, a DataFrame or a pyarrow Table, not NoneType"),
    ("load_catalog list", lambda e: xsell.load_catalog([ITEM]),
     "catalog must be a CSV or Parquet path, a DataFrame or a pyarrow Table, not list"),
    ("load_catalog dict", lambda e: xsell.load_catalog({"item_id": [ITEM]}),
     "catalog must be a CSV or Parquet path, a DataFrame or a pyarrow Table, not dict"),
    ("load_catalog int", lambda e: xsell.load_catalog(3),
     "catalog must be a CSV or Parquet path, a DataFrame or a pyarrow Table, not int"),
    ("load_catalog columns list", lambda e: xsell.load_catalog(e.frame, columns=["item_id"]),
     "columns must map roles to column names, e.g. {'item_id': 'SKU'}, not list"),
    ("duplicate columns (frame)",
     lambda e: xsell.load_catalog(pd.DataFrame([[ITEM, 1.0, 2.0]], columns=["item_id", "price", "price"])),
     "catalog has duplicate column names: 'price'; rename them so each column is named once"),
    ("duplicate columns (csv)", lambda e: xsell.load_catalog(_csv(e, "dup.csv", "item_id,price,price\na,1,2\n")),
     "catalog has duplicate column names: 'price'; rename them so each column is named once"),
    ("duplicate item ids", lambda e: xsell.load_catalog(_one(item_id=["a", "b", "a"])),
     "catalog has 1 duplicate item ids; first rows (0-based): 0 ('a'), 2 ('a')"),
    # load_catalog: numbers that are not numbers
    ("price inf", lambda e: xsell.load_catalog(_one(item_id=["a", "b"], price=[1.0, np.inf])),
     "catalog column 'price' (price) has 1 infinite values; first rows (0-based): 1 (inf)"),
    ("price 'inf' text", lambda e: xsell.load_catalog(_csv(e, "inf.csv", "item_id,price\na,1\nb,inf\n")),
     "catalog column 'price' (price) has 1 infinite values; first rows (0-based): 1 ('inf')"),
    ("price 'nan' text", lambda e: xsell.load_catalog(_csv(e, "nan.csv", "item_id,price\na,nan\nb,1\n")),
     "catalog column 'price' (price) has 1 non-numeric values; first rows (0-based): 0 ('nan')"),
    ("price True", lambda e: xsell.load_catalog(_one(item_id=["a", "b"], price=[True, False])),
     "catalog column 'price' (price) has 2 non-numeric values; first rows (0-based): 0 (True), 1 (False)"),
    ("cost -inf", lambda e: xsell.load_catalog(_one(item_id=["a"], price=[2.0], cost=[-np.inf])),
     "catalog column 'cost' (cost) has 1 infinite values; first rows (0-based): 0 (-inf)"),
    ("cost negative", lambda e: xsell.load_catalog(_one(item_id=["a", "b"], price=[2.0, 3.0], cost=[1.0, -0.5])),
     "catalog column 'cost' (cost) has 1 negative values; first rows (0-based): 1 (-0.5)"),
    ("margin above price",
     lambda e: xsell.load_catalog(_one(item_id=["a", "b", "c"], price=[2.0, 3.0, 4.0], margin=[1.0, 3.5, 5.0])),
     "catalog column 'margin' (margin) is above the price in 2 rows (the cost would be negative); first rows "
     "(0-based): 1 (price 3.0, margin 3.5), 2 (price 4.0, margin 5.0)"),
    ("margin inf", lambda e: xsell.load_catalog(_one(item_id=["a"], price=[2.0], margin=[np.inf])),
     "catalog column 'margin' (margin) has 1 infinite values; first rows (0-based): 0 (inf)"),
    # set_catalog
    ("set_catalog a DataFrame", lambda e: e.engine.set_catalog(e.frame),
     "catalog must come from xsell.load_catalog, not DataFrame"),
    ("catalog of other ids", lambda e: e.engine.set_catalog(xsell.load_catalog(_one(item_id=["SKU-1"], price=[1.0]))),
     "the catalog has none of the model's 360 items (catalog ids like 'SKU-1', model ids like 'P000-B'); check the "
     "item_id column"),
    # Engine parameters
    ("band inf", lambda e: xsell.Engine(e.model, band=float("inf")), "band must be a finite number > 1, got inf"),
    ("band nan", lambda e: xsell.Engine(e.model, band=float("nan")), "band must be a finite number > 1, got nan"),
    ("band True", lambda e: xsell.Engine(e.model, band=True), "band must be a finite number > 1, got True"),
    ("band 1", lambda e: xsell.Engine(e.model, band=1), "band must be a finite number > 1, got 1"),
    ("smoothing -1", lambda e: xsell.Engine(e.model, smoothing=-1), "smoothing must be a finite number >= 0, got -1"),
    ("smoothing nan", lambda e: xsell.Engine(e.model, smoothing=float("nan")),
     "smoothing must be a finite number >= 0, got nan"),
    ("pool True", lambda e: xsell.Engine(e.model, pool=True), "pool must be a whole number >= 1, got True"),
    ("orders a path", lambda e: xsell.Engine(e.model, orders="orders.csv"),
     "orders must be xsell.Orders (from xsell.load_orders), not str"),
    # BusinessRules fields
    ("min_price nan", lambda e: xsell.BusinessRules(min_price=float("nan")),
     "min_price must be a finite number >= 0, got nan"),
    ("max_price inf", lambda e: xsell.BusinessRules(max_price=float("inf")),
     "max_price must be a finite number >= 0, got inf"),
    ("min_price True", lambda e: xsell.BusinessRules(min_price=True),
     "min_price must be a finite number >= 0, got True"),
    ("max_price '20'", lambda e: xsell.BusinessRules(max_price="20"),
     "max_price must be a finite number >= 0, got '20'"),
    ("max_per_category 2.5", lambda e: xsell.BusinessRules(max_per_category=2.5),
     "max_per_category must be a whole number >= 1, got 2.5"),
    ("max_per_category True", lambda e: xsell.BusinessRules(max_per_category=True),
     "max_per_category must be a whole number >= 1, got True"),
    ("objective typo", lambda e: xsell.BusinessRules(objective="Margin"),
     "objective must be one of probability, revenue, margin; got 'Margin'"),
    ("objective None", lambda e: xsell.BusinessRules(objective=None),
     "objective must be one of probability, revenue, margin; got None"),
    ("in_stock_only 'no'", lambda e: xsell.BusinessRules(in_stock_only="no"),
     "in_stock_only must be True or False, got 'no'"),
    ("exclude_items an int", lambda e: xsell.BusinessRules(exclude_items=5),
     "exclude_items must be a list of ids, not int"),
    ("exclude_categories one string", lambda e: xsell.BusinessRules(exclude_categories="toys"),
     "exclude_categories must be a list of ids, not one string"),
    ("allow holds None", lambda e: xsell.BusinessRules(allow=[ITEM, None]),
     "allow must be a list of ids (strings or numbers), got None in it"),
    ("pin one string", lambda e: xsell.BusinessRules(pin="ab"), "pin must be a list of (item, item) pairs, not str"),
    ("block a triple", lambda e: xsell.BusinessRules(block=[("a", "b", "c")]),
     "block[0] must be a pair (item, item), got ('a', 'b', 'c')"),
    ("pin of ints", lambda e: xsell.BusinessRules(pin=[5]), "pin[0] must be a pair (item, item), got 5"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_one_exact_message(env, call, message):
    with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
        call(env)


def test_a_refused_catalog_leaves_the_engine_as_it_was(env):
    before = env.engine.up_sell(ITEM, k=3).to_frame()
    with pytest.raises(InputError, match="^the catalog has none of the model's 360 items"):
        env.engine.set_catalog(xsell.load_catalog(_one(item_id=["SKU-1"], price=[1.0])))
    pd.testing.assert_frame_equal(env.engine.up_sell(ITEM, k=3).to_frame(), before)


# -- exact answers --------------------------------------------------------------------------------

def test_basket_value_counts_quantities_and_each_listed_item_once(env):
    price = dict(zip(env.frame["item_id"], env.frame["price"]))
    engine = env.engine
    assert engine.cross_sell({A: 2, B: np.int64(3)}).basket_value == pytest.approx(2 * price[A] + 3 * price[B])
    twice = engine.cross_sell([A, A, B], k=4)
    once = engine.cross_sell([A, B], k=4)
    assert twice.basket_value == pytest.approx(price[A] + price[B])
    pd.testing.assert_frame_equal(twice.to_frame(), once.to_frame())
    assert engine.cross_sell(np.array([A, B]), k=4).items == once.items
    assert engine.cross_sell({A: 1.0, B: 1}, k=4).items == once.items


def test_numpy_numbers_are_numbers(env):
    engine = env.engine
    assert engine.up_sell(ITEM, k=np.int64(3)).items == engine.up_sell(ITEM, k=3).items
    pd.testing.assert_frame_equal(engine.cross_sell([A], threshold=np.int64(50)).to_frame(),
                                  engine.cross_sell([A], threshold=50.0).to_frame())
    rules = xsell.BusinessRules(max_per_category=np.int64(1), min_price=np.float32(5))
    assert rules.max_per_category == 1 and type(rules.max_per_category) is int and rules.min_price == 5.0


def test_up_sell_by_hand(env, shop):
    """Same category, priced in (10.76, 1.5 x 10.76], ranked by share of orders x extra price."""
    frame = env.frame.set_index("item_id")
    base = frame.loc[ITEM, "price"]
    counts = pd.Series(shop.orders.order_item_matrix().getnnz(axis=0), index=shop.orders.items.ids.astype(str))
    share = counts / shop.orders.n_orders
    same = frame[(frame["category"] == frame.loc[ITEM, "category"]) & (frame["price"] > base)
                 & (frame["price"] <= 1.5 * base)].copy()
    same["score"] = share.reindex(same.index) * (same["price"] - base)
    expected = same.sort_values("score", ascending=False, kind="stable").index[:4].tolist()
    got = env.engine.up_sell(ITEM, k=4).to_frame()
    assert got["item_id"].tolist() == expected
    top = got.iloc[0]
    assert top["reason"] == (f"same category 'kitchen', {top['price'] / base:.2f}x the price "
                             f"(+{top['price'] - base:,.2f}); in {share[top['item_id']]:.1%} of orders")


def test_catalog_integer_ids_read_as_floats_match():
    lines = pd.DataFrame({"order_id": [1, 1, 2, 2, 3], "item_id": [42, 7, 42, 7, 42]})
    model = xsell.CoOccurrence(min_count=1).fit(xsell.load_orders(lines))
    catalog = xsell.load_catalog(pd.DataFrame({"item_id": [42.0, 7.0], "price": [5.0, 6.0]}))
    assert catalog.frame.index.tolist() == ["42", "7"]
    engine = xsell.Engine(model, catalog)
    assert dict(zip(model.items_.ids.tolist(), engine.price.tolist())) == {42: 5.0, 7: 6.0}
    # the engine matches ids by the model's rule: 42, '42' and 42.0 are one item
    for basket in ([42], ["42"], [42.0], {"42": 1}, [np.int64(42), "42"]):
        got = engine.cross_sell(basket, k=1)
        assert (got.items, got.basket_value) == ([7], 5.0)
    assert engine.cross_sell(["7", 42], k=2).basket_value == 11.0


# -- a partially priced catalog: unpriced items are never up-sells, and add 0 -------------------------

@pytest.fixture(scope="module")
def unpriced(shop):
    """A model from order lines without prices, and a catalog that prices two items in three."""
    lines = shop.orders.to_frame().drop(columns=["price"])
    orders = xsell.load_orders(lines)
    model = xsell.CoOccurrence().fit(orders)
    frame = shop_catalog_frame(shop)
    frame.loc[frame.index[::3], ["price", "cost"]] = np.nan  # P000-B, P001-B... have no price
    return SimpleNamespace(model=model, orders=orders, frame=frame, catalog=xsell.load_catalog(frame))


def test_unpriced_items_are_left_out_of_up_sell_without_a_warning(unpriced):
    engine = xsell.Engine(unpriced.model, unpriced.catalog)
    no_price = set(unpriced.frame.loc[unpriced.frame["price"].isna(), "item_id"])
    assert len(no_price) == 120
    priced = [i for i in unpriced.frame["item_id"] if i not in no_price]
    shown = [s for item in priced for s in engine.up_sell(item, k=10).items]  # warnings are errors here
    assert shown and not set(shown) & no_price
    with pytest.raises(InputError, match=r"^no price known for item 'P000-B': give a catalog with prices or "
                                         r"orders with prices$"):
        engine.up_sell("P000-B")
    batch = engine.up_sell_batch(unpriced.frame["item_id"], k=10)
    assert not set(batch["item_id"]) & no_price and not set(batch["upsell_id"]) & no_price
    assert len(batch) == len(shown)
    # P000-S (17.22) in kitchen: the priced kitchen items in (17.22, 25.83], none of the unpriced ones
    frame = unpriced.frame.set_index("item_id")
    kitchen = frame[(frame["category"] == "kitchen") & (frame["price"] > 17.22) & (frame["price"] <= 1.5 * 17.22)]
    assert set(engine.up_sell("P000-S", k=100).items) == set(kitchen.index)


def test_unpriced_items_add_nothing_to_a_basket(unpriced):
    engine = xsell.Engine(unpriced.model, unpriced.catalog, threshold=45.0)
    result = engine.cross_sell({"P000-B": 3, "P000-S": 2})  # P000-B has no price
    assert result.basket_value == pytest.approx(2 * 17.22)
    assert result.gap == pytest.approx(45.0 - 2 * 17.22)
    frame = result.to_frame()
    assert (frame.loc[frame["price"].isna(), "expected_revenue"] == 0).all()


@pytest.mark.parametrize("with_orders", [False, True])
def test_batch_equals_one_by_one_with_a_partial_catalog_and_the_nudge(unpriced, with_orders):
    rules = xsell.BusinessRules(max_per_category=2, pin=[("P014-S", "P075-S")])
    engine = xsell.Engine(unpriced.model, unpriced.catalog, rules, orders=unpriced.orders if with_orders else None,
                          threshold=40.0, pool=40)
    frame = unpriced.orders.to_frame().rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]].head(1200)
    out = engine.score_batch(frame, k=5)
    uplift = engine.score_batch(frame, k=5, mode="uplift").set_index("basket_id")
    closing = 0
    for basket_id, lines in list(frame.groupby("basket_id", sort=False))[:150]:
        single = engine.cross_sell(lines["item_id"].tolist(), k=5)
        want = single.to_frame()
        mine = out[out["basket_id"] == basket_id]
        assert mine["item_id"].astype(str).tolist() == want["item_id"].tolist()
        np.testing.assert_allclose(mine["probability"], want["probability"], rtol=1e-12)
        np.testing.assert_array_equal(mine["price"].to_numpy(), want["price"].to_numpy())  # NaN where unpriced
        np.testing.assert_allclose(mine["expected_revenue"], want["expected_revenue"], rtol=1e-12)
        assert mine["closes_gap"].tolist() == want["closes_gap"].tolist()
        assert mine["pinned"].tolist() == want["pinned"].tolist()
        closing += int(want["closes_gap"].sum())
        row = uplift.loc[basket_id]
        assert row["basket_value"] == pytest.approx(single.basket_value)
        assert row["gap"] == pytest.approx(single.gap)
        assert row["expected_uplift_revenue"] == pytest.approx(single.expected_uplift_revenue)
    assert closing > 0  # the nudge was exercised
    ups = engine.up_sell_batch(unpriced.frame["item_id"], k=3)
    for item in unpriced.frame["item_id"]:
        mine = ups[ups["item_id"] == item]
        try:
            single = engine.up_sell(item, k=3).to_frame()
        except InputError:
            assert mine.empty  # no price: no up-sells, one by one or in batch
            continue
        assert mine["upsell_id"].tolist() == single["item_id"].tolist()
        np.testing.assert_allclose(mine["price"], single["price"])


# -- the command line: bad catalogs end in one `error: ` line ------------------------------------------

@pytest.fixture(scope="module")
def cli_files(shop, shop_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    model = xsell.save_model(shop_model, root / "m.xsell")
    baskets = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]].head(200)
    baskets.to_csv(root / "baskets.csv", index=False)
    pd.DataFrame({"item_id": shop.orders.items.ids[:20]}).to_csv(root / "items.csv", index=False)
    return SimpleNamespace(root=root, model=model)


GOOD = "item_id,price\nP000-B,10.76\nP000-S,17.22\n"
CLI = [
    ("cross-sell", "item_id,price\nP000-B,10.76\nP000-S,inf\n", [],
     "catalog column 'price' (price) has 1 infinite values; first rows (0-based): 1 ('inf')"),
    ("up-sell", "item_id,price\nP000-B,nan\nP000-S,17.22\n", [],
     "catalog column 'price' (price) has 1 non-numeric values; first rows (0-based): 0 ('nan')"),
    ("uplift", "item_id,price\nP000-B,-1\n", [],
     "catalog column 'price' (price) has 1 negative values; first rows (0-based): 0 ('-1')"),
    ("cross-sell", "item_id,price,margin\nP000-B,10.76,4\nP000-S,17.22,20\n", [],
     "catalog column 'margin' (margin) is above the price in 1 rows (the cost would be negative); first rows "
     "(0-based): 1 (price 17.22, margin 20.0)"),
    ("up-sell", "item_id,price\nP000-B,10.76\nP000-B,11\n", [],
     "catalog has 1 duplicate item ids; first rows (0-based): 0 ('P000-B'), 1 ('P000-B')"),
    ("uplift", "item_id,price,price\nP000-B,10.76,11\n", [],
     "catalog has duplicate column names: 'price'; rename them so each column is named once"),
    ("cross-sell", "item_id,price\nSKU-1,10.76\n", [],
     "the catalog has none of the model's 360 items (catalog ids like 'SKU-1', model ids like 'P000-B'); check "
     "the item_id column"),
    ("up-sell", "sku,price\nP000-B,10.76\n", [], "catalog lacks column 'item_id' (item_id); it has: sku, price"),
    ("uplift", GOOD, ["--threshold", "inf"], "threshold must be a finite number > 0, got inf"),
]


@pytest.mark.parametrize("mode, catalog, extra, message", CLI,
                         ids=[f"{c[0]}: {c[3][:40]}" for c in CLI])
def test_score_command_refuses_bad_catalogs_in_one_line(cli_files, tmp_path, mode, catalog, extra, message):
    path = tmp_path / "bad.csv"
    path.write_text(catalog)
    src = cli_files.root / ("items.csv" if mode == "up-sell" else "baskets.csv")
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(app, ["score", str(cli_files.model), str(src), "-o", str(out), "--mode", mode,
                                   "--catalog", str(path), "--no-progress", "--workers", "1", *extra])
    assert run.exit_code == 1, run.output
    assert isinstance(run.exception, SystemExit)  # no exception escaped the command
    assert run.stderr.splitlines() == [f"error: {message}"]
    assert "Traceback" not in run.output and not out.exists()


def test_score_command_real_process_prints_no_traceback(cli_files, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("item_id,price\nP000-B,10.76\nP000-S,-inf\n")
    run = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", "score", str(cli_files.model),
                          str(cli_files.root / "baskets.csv"), "-o", str(tmp_path / "o.csv"), "--mode", "uplift",
                          "--catalog", str(path), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.splitlines() == ["error: catalog column 'price' (price) has 1 infinite values; first rows "
                                       "(0-based): 1 ('-inf')"]
    assert run.stdout == ""


def test_score_up_sell_without_a_catalog_refuses_as_up_sell_does(cli_files, tmp_path):
    # no catalog (so no categories or families) and no orders with customers: nothing to up-sell with;
    # refused as Engine.up_sell refuses, never 0 rows written
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(app, ["score", str(cli_files.model), str(cli_files.root / "items.csv"), "-o", str(out),
                                   "--mode", "up-sell", "--no-progress", "--workers", "1"])
    assert run.exit_code == 1, run.output
    assert run.stderr.splitlines() == ["error: up_sell needs a catalog with categories or families, or the training "
                                       "orders with customers (Engine(model, orders=orders); xsell score: --orders FILE)"]
    assert run.stdout == "" and not out.exists()
