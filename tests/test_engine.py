"""The engine on the synthetic shop: complements, up-sell, business rules, the threshold nudge, the catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.errors import InputError
from tests.conftest import shop_catalog_frame


@pytest.fixture(scope="module")
def catalog_frame(shop):
    return shop_catalog_frame(shop)


@pytest.fixture(scope="module")
def catalog(catalog_frame):
    return xsell.load_catalog(catalog_frame)


@pytest.fixture(scope="module")
def engine(shop_model, catalog, shop):
    return xsell.Engine(shop_model, catalog, orders=shop.orders)


def test_planted_complements_are_in_cross_sells_top_3(engine, shop):
    pairs = shop.truth.complements
    found = sum(b in engine.cross_sell([a], k=3).items for a, b in pairs)
    assert found >= 0.95 * len(pairs)


def test_cross_sell_leaves_out_substitutes_of_basket_items(engine, shop, catalog_frame):
    family = dict(zip(catalog_frame["item_id"], catalog_frame["parent"]))
    for a, _ in shop.truth.complements[:30]:
        for item in engine.cross_sell([a], k=10).items:
            assert family[item] != family[a]


def test_probability_revenue_and_reason_by_hand(engine, shop, shop_model):
    a, b = shop.truth.complements[0]
    top = engine.cross_sell([a], k=5).to_frame().set_index("item_id")
    # from the co-occurrence counts: p = (n_ab + m b_b) / (n_a + m), b_b = n_b / N, m = 10
    orders = shop.orders.order_item_matrix().toarray() > 0
    ia, ib = shop.orders.items.index_of(a), shop.orders.items.index_of(b)
    n_a, n_b, n_ab, n = orders[:, ia].sum(), orders[:, ib].sum(), (orders[:, ia] & orders[:, ib]).sum(), len(orders)
    p = (n_ab + 10 * n_b / n) / (n_a + 10)
    assert top.loc[b, "probability"] == pytest.approx(p)
    price = shop.orders.item_prices()[ib]  # the catalog's price is the same as the order lines'
    assert top.loc[b, "expected_revenue"] == pytest.approx(p * top.loc[b, "price"])
    assert top.loc[b, "expected_margin"] == pytest.approx(p * (top.loc[b, "price"] - round(price * 0.6, 2)))
    assert top.loc[b, "reason"] == (f"bought together in {n_ab:,} orders ({n_ab / n_a:.0%} of orders with {a}); "
                                    f"expected +{p * top.loc[b, 'price']:,.2f}")


def test_expected_uplift_is_the_sum_of_the_top_k(engine, shop):
    a, b = shop.truth.complements[3]
    result = engine.cross_sell([a, b], k=4)
    frame = result.to_frame()
    assert len(frame) == 4
    assert result.expected_uplift_revenue == pytest.approx(frame["expected_revenue"].sum())
    assert result.expected_uplift_margin == pytest.approx(frame["expected_margin"].sum())
    assert result.basket_value == pytest.approx(frame.attrs.get("value", engine.price[
        [engine.model.items_.index_of(a), engine.model.items_.index_of(b)]].sum()))


def test_threshold_nudge_prefers_items_that_close_the_gap(shop_model, catalog, shop):
    engine = xsell.Engine(shop_model, catalog, orders=shop.orders, pool=60)  # a deep pool holds pricier items
    a, _ = shop.truth.complements[0]
    plain = engine.cross_sell([a], k=5)
    value = plain.basket_value
    result = engine.cross_sell([a], k=5, threshold=value + 20.0)
    frame = result.to_frame()
    assert result.gap == pytest.approx(20.0)
    closers = frame["price"] >= 20.0
    assert closers.iloc[0]
    # every gap closer ranks above every item that does not close it
    assert list(closers) == sorted(closers, reverse=True)
    assert frame.loc[closers, "reason"].str.endswith(f"closes the 20.00 gap to {value + 20.0:,.2f}").all()
    # without a gap the order is by expected revenue
    assert plain.to_frame()["expected_revenue"].is_monotonic_decreasing


def test_up_sell_never_cheaper_and_same_category(engine, shop, catalog_frame):
    price = dict(zip(catalog_frame["item_id"], catalog_frame["price"]))
    category = dict(zip(catalog_frame["item_id"], catalog_frame["category"]))
    checked = 0
    for item in catalog_frame["item_id"][:90]:
        for other in engine.up_sell(item, k=5).items:
            assert price[item] < price[other] <= 1.5 * price[item]
            assert category[other] == category[item]
            checked += 1
    assert checked > 100


def test_up_sell_without_catalog_is_never_cheaper(shop_model, shop):
    engine = xsell.Engine(shop_model, orders=shop.orders)
    prices = shop.orders.item_prices()
    checked = 0
    for item in shop.orders.items.ids[:60]:
        base = prices[shop.orders.items.index_of(item)]
        for other in engine.up_sell(item, k=5).items:
            assert base < prices[shop.orders.items.index_of(other)] <= 1.5 * base
            checked += 1
    assert checked > 20


def test_blocked_pairs_never_appear_and_pinned_ones_always(shop_model, catalog, shop):
    a, b = shop.truth.complements[0]
    pinned = shop.truth.complements[5][1]
    rules = xsell.BusinessRules(block=[(a, b)], pin=[(a, pinned)])
    engine = xsell.Engine(shop_model, catalog, rules)
    got = engine.cross_sell([a], k=5)
    assert b not in got.items
    assert got.items[0] == pinned and got.to_frame()["pinned"].iloc[0]
    assert got.to_frame()["reason"].iloc[0].startswith("pinned by the merchandiser")
    # a pin that is also blocked is not shown
    both = xsell.Engine(shop_model, catalog, xsell.BusinessRules(block=[(a, pinned)], pin=[(a, pinned)]))
    assert pinned not in both.cross_sell([a], k=5).items


def test_exclusions_stock_price_band_and_category_cap(shop_model, catalog_frame, shop):
    a, b = shop.truth.complements[0]
    frame = catalog_frame.copy()
    frame.loc[frame["item_id"] == b, "in_stock"] = False
    engine = xsell.Engine(shop_model, xsell.load_catalog(frame))
    assert b not in engine.cross_sell([a], k=10).items
    category = dict(zip(frame["item_id"], frame["category"]))
    price = dict(zip(frame["item_id"], frame["price"]))
    rules = xsell.BusinessRules(exclude_categories=[category[b]], min_price=5, max_price=20, max_per_category=1)
    got = engine.cross_sell([a], k=10, rules=rules).items
    assert got and all(category[i] != category[b] and 5 <= price[i] <= 20 for i in got)
    assert len({category[i] for i in got}) == len(got)
    allow = engine.cross_sell([a], k=10, rules=xsell.BusinessRules(allow=got[:2])).items
    assert set(allow) <= set(got[:2])


def test_catalog_swap_without_refit(shop_model, catalog_frame, shop):
    a, b = shop.truth.complements[0]
    engine = xsell.Engine(shop_model, xsell.load_catalog(catalog_frame))
    assert b in engine.cross_sell([a], k=3).items
    out = catalog_frame.assign(in_stock=catalog_frame["item_id"] != b)
    engine.set_catalog(xsell.load_catalog(out))
    assert b not in engine.cross_sell([a], k=3).items
    cheaper = catalog_frame.assign(price=np.where(catalog_frame["item_id"] == b, 1.0, catalog_frame["price"]))
    engine.set_catalog(xsell.load_catalog(cheaper))
    by_chance = xsell.BusinessRules(objective="probability")
    row = engine.cross_sell([a], k=10, rules=by_chance).to_frame().set_index("item_id").loc[b]
    assert row["price"] == 1.0 and row["expected_revenue"] == pytest.approx(row["probability"])


def test_margin_objective_ranks_by_expected_margin(shop_model, catalog, shop):
    a, _ = shop.truth.complements[2]
    engine = xsell.Engine(shop_model, catalog, xsell.BusinessRules(objective="margin"))
    frame = engine.cross_sell([a], k=8).to_frame()
    assert frame["expected_margin"].is_monotonic_decreasing


def test_engine_over_other_models_needs_orders(shop):
    ease = xsell.EASE().fit(shop.orders)
    with pytest.raises(InputError, match=r"^an Engine over EASE needs the training orders for its probabilities "
                                         r"and reasons: Engine\(model, orders=orders\)$"):
        xsell.Engine(ease)
    a, b = shop.truth.complements[0]
    assert b in xsell.Engine(ease, orders=shop.orders).cross_sell([a], k=3).items


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"sku": ["a"]}), "catalog lacks column 'item_id' (item_id); it has: sku"),
    (pd.DataFrame({"item_id": ["a", "b", "a"], "price": [1, 2, 3]}),
     "catalog has 1 duplicate item ids; first rows (0-based): 0 ('a'), 2 ('a')"),
    (pd.DataFrame({"item_id": ["a", "b"], "price": [1.0, -2.0]}),
     "catalog column 'price' (price) has 1 negative values; first rows (0-based): 1 (-2.0)"),
    (pd.DataFrame({"item_id": ["a", "b"], "price": ["1", "x"]}),
     "catalog column 'price' (price) has 1 non-numeric values; first rows (0-based): 1 ('x')"),
    (pd.DataFrame({"item_id": ["a", None]}), "catalog column 'item_id' (item_id) has null values; first rows "
                                              "(0-based): 1"),
    (pd.DataFrame({"item_id": ["a"], "in_stock": ["maybe"]}),
     "catalog column 'in_stock' (in_stock) has 1 values that are not true/false; first rows (0-based): 0 ('maybe')"),
    (pd.DataFrame({"item_id": []}), "catalog is empty"),
])
def test_bad_catalogs_have_clear_errors(frame, message):
    with pytest.raises(InputError, match="^" + __import__("re").escape(message) + "$"):
        xsell.load_catalog(frame)


def test_catalog_roles_mapping_and_margin(tmp_path):
    path = tmp_path / "catalog.csv"
    pd.DataFrame({"SKU": ["0042", "7"], "Preis": [10.0, 4.0], "Marge": [4.0, 1.0], "Lager": ["ja", "no"],
                  "color": ["red", "blue"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"values that are not true/false"):
        xsell.load_catalog(path, columns={"item_id": "SKU", "price": "Preis", "margin": "Marge", "in_stock": "Lager"})
    pd.DataFrame({"SKU": ["0042", "7"], "Preis": [10.0, 4.0], "Marge": [4.0, 1.0], "Lager": ["yes", "no"],
                  "color": ["red", "blue"]}).to_csv(path, index=False)
    cat = xsell.load_catalog(path, columns={"item_id": "SKU", "price": "Preis", "margin": "Marge",
                                            "in_stock": "Lager"})
    assert cat.frame.index.tolist() == ["0042", "7"]  # SKU 0042 keeps its zero
    assert cat.frame["cost"].tolist() == [6.0, 3.0]
    assert cat.frame["in_stock"].tolist() == [True, False]
    assert cat.attributes["color"].tolist() == ["red", "blue"]


def test_bad_rules_and_requests():
    with pytest.raises(InputError, match=r"^objective must be one of probability, revenue, margin; got 'profit'$"):
        xsell.BusinessRules(objective="profit")
    with pytest.raises(InputError, match=r"^min_price 5 is above max_price 2$"):
        xsell.BusinessRules(min_price=5, max_price=2)
    with pytest.raises(InputError, match=r"^pin\[0\] must be a pair \(item, item\), got 'ab'$"):
        xsell.BusinessRules(pin=["ab"])


def test_unknown_item_for_up_sell(engine):
    with pytest.raises(InputError, match=r"^unknown item 'nope': the model was not trained on it$"):
        engine.up_sell("nope")


@pytest.mark.parametrize("with_orders, pins", [(True, True), (False, True), (False, False)])
def test_batch_equals_single_requests(shop_model, catalog, shop, with_orders, pins):
    # without orders a CoOccurrence is scored with one complex product; pins add pairs looked up apart
    rules = xsell.BusinessRules(pin=[shop.truth.complements[1]] if pins else None,
                                block=[shop.truth.complements[2]], max_per_category=2)
    engine = xsell.Engine(shop_model, catalog, rules, orders=shop.orders if with_orders else None, threshold=45.0)
    assert engine._fast is not with_orders
    frame = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]].head(1500)
    out = engine.score_batch(frame, k=4)
    for basket_id, lines in list(frame.groupby("basket_id", sort=False))[:200]:
        single = engine.cross_sell(lines["item_id"].tolist(), k=4).to_frame()
        mine = out[out["basket_id"] == basket_id]
        assert mine["item_id"].astype(str).tolist() == single["item_id"].tolist()
        np.testing.assert_allclose(mine["probability"], single["probability"], rtol=1e-12)
        assert mine["closes_gap"].tolist() == single["closes_gap"].tolist()
        assert mine["pinned"].tolist() == single["pinned"].tolist()
    uplift = engine.score_batch(frame, k=4, mode="uplift").set_index("basket_id")
    first = frame["basket_id"].iloc[0]
    single = engine.cross_sell(frame[frame["basket_id"] == first]["item_id"].tolist(), k=4)
    assert uplift.loc[first, "expected_uplift_revenue"] == pytest.approx(single.expected_uplift_revenue)
    assert uplift.loc[first, "basket_value"] == pytest.approx(single.basket_value)
    ups = engine.up_sell_batch(shop.orders.items.ids[:50], k=3)
    for item in shop.orders.items.ids[:50]:
        assert ups[ups["item_id"] == item]["upsell_id"].tolist() == engine.up_sell(item, k=3).items


def test_score_command_modes_stream_in_chunks(tmp_path, shop_model, catalog_frame, shop):
    from typer.testing import CliRunner

    from xsell.cli import app

    model = xsell.save_model(shop_model, tmp_path / "m.xsell")
    catalog_frame.to_csv(tmp_path / "catalog.csv", index=False)
    baskets = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]].head(3000)
    baskets.to_parquet(tmp_path / "baskets.parquet")
    engine = xsell.Engine(shop_model, xsell.load_catalog(catalog_frame), xsell.BusinessRules(objective="margin"),
                          threshold=50.0)
    expected = engine.score_batch(baskets, k=3)
    # whole; cut into chunks that split baskets (re-joined); and chunks scored by 2 forked workers
    for chunk, workers in (("100000", "1"), ("37", "1"), ("400", "2")):
        out = tmp_path / f"cross_{chunk}.parquet"
        run = CliRunner().invoke(app, ["score", str(model), str(tmp_path / "baskets.parquet"), "-o", str(out),
                                       "--mode", "cross-sell", "--catalog", str(tmp_path / "catalog.csv"),
                                       "--objective", "margin", "--threshold", "50", "-k", "3",
                                       "--chunk-lines", chunk, "--workers", workers, "--no-progress"])
        assert run.exit_code == 0, run.output
        got = pd.read_parquet(out)
        assert got["item_id"].astype(str).tolist() == expected["item_id"].astype(str).tolist()
        np.testing.assert_allclose(got["expected_margin"], expected["expected_margin"])
    items = pd.DataFrame({"item_id": shop.orders.items.ids[:40]})
    items.to_csv(tmp_path / "items.csv", index=False)
    run = CliRunner().invoke(app, ["score", str(model), str(tmp_path / "items.csv"), "-o", str(tmp_path / "up.csv"),
                                   "--mode", "up-sell", "--catalog", str(tmp_path / "catalog.csv"), "--no-progress"])
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith("wrote ") and "40 items" in run.stdout
    ups = pd.read_csv(tmp_path / "up.csv")
    price = dict(zip(catalog_frame["item_id"], catalog_frame["price"]))
    assert (ups["upsell_id"].map(price) > ups["item_id"].map(price)).all()
    bad = CliRunner().invoke(app, ["score", str(model), str(tmp_path / "items.csv"), "-o", str(tmp_path / "x.csv"),
                                   "--mode", "cross-sell"])
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'items.csv'} lacks column(s) basket_id; it has: item_id"
    bad = CliRunner().invoke(app, ["score", str(model), str(tmp_path / "baskets.parquet"), "-o",
                                   str(tmp_path / "x.csv"), "--mode", "sideways"])
    assert bad.stderr.strip().splitlines()[-1] == "error: mode must be one of recommend, cross-sell, up-sell, uplift, got 'sideways'"


def test_rules_and_catalogs_that_name_nothing_the_model_knows(shop_model, catalog_frame):
    with pytest.raises(InputError, match=r"^business rules name items the model does not know: pin 'P999-X'$"):
        xsell.Engine(shop_model, rules=xsell.BusinessRules(pin=[("P000-B", "P999-X")]))
    engine = xsell.Engine(shop_model)
    with pytest.raises(InputError, match=r"^business rules name items the model does not know: allow 'nope'$"):
        engine.cross_sell(["P000-B"], rules=xsell.BusinessRules(allow=["nope"]))
    other = catalog_frame.assign(item_id="SKU-" + catalog_frame["item_id"])
    with pytest.raises(InputError, match=r"^the catalog has none of the model's 360 items \(catalog ids like "
                                         r"'SKU-P000-B', model ids like 'P000-B'\); check the item_id column$"):
        xsell.Engine(shop_model, xsell.load_catalog(other))


def test_score_basket_is_a_deprecated_alias_of_cross_sell(engine, shop):
    a, b = shop.truth.complements[3]
    message = (r"^Engine\.score_basket is now Engine\.cross_sell \(same arguments and answer\); score_basket "
               r"will be removed in xsell 0\.3$")
    with pytest.warns(FutureWarning, match=message):
        old = engine.score_basket({a: 2, b: 1}, None, 4, threshold=80.0)  # its own argument order still works
    new = engine.cross_sell({a: 2, b: 1}, k=4, threshold=80.0)
    pd.testing.assert_frame_equal(old.to_frame(), new.to_frame())
    assert (old.basket_value, old.gap, old.expected_uplift_revenue) == (new.basket_value, new.gap,
                                                                         new.expected_uplift_revenue)


def test_pins_count_towards_the_category_cap_alone_and_in_batch(shop_model, catalog, catalog_frame, shop):
    a = shop.truth.complements[0][0]
    category = dict(zip(catalog_frame["item_id"], catalog_frame["category"]))
    top = xsell.Engine(shop_model, catalog).cross_sell([a], k=5).items
    pinned = next(i for i in catalog_frame["item_id"] if category[i] == category[top[0]] and i not in top and i != a)
    engine = xsell.Engine(shop_model, catalog, xsell.BusinessRules(pin=[(a, pinned)], max_per_category=1))
    got = engine.cross_sell([a], k=5)
    assert got.items[0] == pinned and top[0] not in got.items  # the pin took its category's one place
    assert len({category[i] for i in got.items}) == len(got.items) == 5
    assert engine.score_batch({"q": [a]}, k=5)["item_id"].astype(str).tolist() == got.items


def test_an_item_pinned_twice_into_a_basket_is_shown_once(shop_model, catalog, shop):
    (a, b), x = shop.truth.complements[0], shop.truth.complements[5][1]
    for pins, basket in (([(a, x), (a, x)], [a]), ([(a, x), (b, x)], [a, b])):
        engine = xsell.Engine(shop_model, catalog, xsell.BusinessRules(pin=pins))
        got = engine.cross_sell(basket, k=4)
        assert got.items[0] == x and got.items.count(x) == 1 and len(got.items) == 4
        assert engine.score_batch({"q": basket}, k=4)["item_id"].astype(str).tolist() == got.items


def test_an_item_pinned_to_itself_is_never_its_own_up_sell(shop_model, catalog):
    item = "P000-B"
    plain = xsell.Engine(shop_model, catalog).up_sell(item, k=3).items
    engine = xsell.Engine(shop_model, catalog, xsell.BusinessRules(pin=[(item, item)]))
    assert engine.up_sell(item, k=3).items == plain and item not in plain
    assert engine.up_sell_batch([item], k=3)["upsell_id"].astype(str).tolist() == plain


def test_the_engine_reads_models_through_their_public_api_only():
    """No access to a private member of anything but the engine's own objects (`self`) in xsell/engine."""
    import ast
    from pathlib import Path

    import xsell.engine

    found = []
    for path in sorted(Path(xsell.engine.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == []
