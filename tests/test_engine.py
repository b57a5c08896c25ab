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
                                         r"and reasons: Engine\(model, orders=orders\) \(xsell score: --orders FILE\)$"):
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
        assert mine["reason"].tolist() == single["reason"].tolist()
    uplift = engine.score_batch(frame, k=4, mode="uplift").set_index("basket_id")
    first = frame["basket_id"].iloc[0]
    single = engine.cross_sell(frame[frame["basket_id"] == first]["item_id"].tolist(), k=4)
    assert uplift.loc[first, "expected_uplift_revenue"] == pytest.approx(single.expected_uplift_revenue)
    assert uplift.loc[first, "expected_uplift_margin"] == pytest.approx(single.expected_uplift_margin)
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
    assert bad.exit_code == 2 and "'--mode'" in bad.stderr  # a usage error, before anything is read (the
    # console script's one-line message: tests/test_hostile_batch.py)


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


# -- the compiled single-request paths against plain references -----------------------------------------------

def _reference_cross_sell(engine, basket, k, rules=None, threshold=None):
    """`cross_sell` step by step: the vectorised rule pipeline the batches use (`filters`, row 0), the evidence
    read from dense rows of its matrices, the reasons written out; the frame built as the engine built it."""
    from xsell.engine import filters
    from xsell.engine.filters import Held
    from xsell.engine.suggestions import parse_basket

    st, compiled, ev = engine._state, engine._rules(rules), engine._evidence
    threshold = engine.threshold if threshold is None else threshold
    idx, _qty, value = parse_basket(st, basket, engine.model.items_)
    held = Held.basket(np.sort(idx), engine.n)
    cand = engine._source.one(held.items, max(engine.pool or 4 * k, k))
    short = filters.shortlist(st, compiled, held, np.zeros(len(cand), dtype=np.int64), cand,
                              np.arange(1, len(cand) + 1), engine._subs)
    items = short.items
    logq, conf, pair = (m[held.items][:, items].toarray() for m in (ev.logq, ev.conf, ev.pair))
    total, best = np.zeros(len(items)), np.zeros(len(items))
    because, together = np.full(len(items), -1), np.zeros(len(items))
    for row, i in enumerate(held.items):  # basket items ascending; an absent pair adds 0.0
        total = total + logq[row]
        better = conf[row] > best
        best[better], because[better], together[better] = conf[row][better], i, pair[row][better]
    p = np.maximum(1.0 - np.exp(total), ev.base[items])
    gap = max(threshold - value, 0.0) if threshold is not None else 0.0
    order, _rank, revenue, margin, closes = filters.rank_and_cut(st, compiled, short, p, np.array([gap]), 1, k)
    c, p, revenue, margin, because, together, closes = (a[order] for a in (items, p, revenue, margin, because,
                                                                            together, closes))
    pinned = short.pin_order[order] < compiled.n_pins
    ids = engine.model.items_.ids
    reasons = []
    for j, b, n_ij, rv, cl, pin in zip(c, because, together, revenue, closes, pinned):
        if pin:
            text = "pinned by the merchandiser"
        elif b >= 0:
            share = int(n_ij) / max(float(ev.counts[b]), 1.0)
            text = f"bought together in {int(n_ij):,} orders ({share:.0%} of orders with {ids[b]})"
        else:
            text = f"suggested by {type(engine.model).__name__}; in {ev.base[j]:.1%} of all orders"
        text += f"; expected +{rv:,.2f}"
        if cl and gap > 0 and threshold is not None:
            text += f"; closes the {gap:,.2f} gap to {threshold:,.2f}"
        reasons.append(text)
    frame = pd.DataFrame({"item_id": ids[c], "probability": p, "price": st.price[c], "expected_revenue": revenue,
                          "expected_margin": margin, "closes_gap": closes, "pinned": pinned, "reason": reasons})
    return frame, value, gap, float(revenue.sum()), float(margin.sum()) if len(margin) else 0.0


def _same_floats(a, b):
    """Equal bit for bit (NaN where NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("with_orders", [True, False])
def test_cross_sell_equals_the_pipeline_computed_step_by_step(shop_model, catalog_frame, shop, with_orders):
    frame = catalog_frame.copy()
    frame.loc[frame.index % 17 == 3, "in_stock"] = False
    frame.loc[frame.index % 23 == 5, "price"] = np.nan  # the order lines' price, or none
    engine = xsell.Engine(shop_model, xsell.load_catalog(frame), orders=shop.orders if with_orders else None,
                          threshold=40.0)
    counts = np.bincount(shop.orders.item_index, minlength=len(shop.orders.items))
    top = [str(i) for i in shop.orders.items.ids[np.argsort(-counts, kind="stable")[:20]]]
    rule_sets = [None,
                 xsell.BusinessRules(pin=[(top[0], top[9]), (top[1], top[12]), (top[0], top[12]), (top[2], top[2])],
                                     block=[(top[0], top[1]), (top[3], top[4])], max_per_category=2),
                 xsell.BusinessRules(exclude_categories=["kitchen"], exclude_items=[top[5]], min_price=4.0,
                                     max_price=40.0, in_stock_only=False, objective="margin", max_per_category=1),
                 xsell.BusinessRules(allow=top[:12], objective="probability")]
    order_items = pd.Series(shop.orders.items.ids[shop.orders.item_index]).groupby(shop.orders.order_index).unique()
    baskets = [list(v) for v in order_items.iloc[:250]]
    baskets[:0] = [[], ["nope"], [top[0], top[1]], {top[0]: 2, top[3]: 1.5}]
    checked = 0
    for rules in rule_sets:
        for basket, threshold in zip(baskets, [None, 25.0, 60.0, None] * len(baskets)):
            got = engine.cross_sell(basket, k=6, rules=rules, threshold=threshold)
            want, value, gap, revenue, margin = _reference_cross_sell(engine, basket, 6, rules, threshold)
            pd.testing.assert_frame_equal(got.to_frame(), want, check_exact=True)
            for column in ("probability", "price", "expected_revenue", "expected_margin"):
                assert _same_floats(got.to_frame()[column], want[column]), column
            assert (got.basket_value, got.gap) == (value, gap)
            assert _same_floats([got.expected_uplift_revenue, got.expected_uplift_margin], [revenue, margin])
            assert got.items == want["item_id"].tolist() and len(got) == len(want)
            checked += len(want)
    assert checked > 3000


def _brute_up_sells(frame, model, base, item, k, band=1.5, objective="revenue"):
    """Up-sells of `item` by sorting the whole catalog: the same category (else the same family), in stock,
    priced above it (in whole cents) and at most band x its price, by share of orders x extra value, ties
    to the lower model index."""
    f = frame.assign(index=[model.items_.index_of(i) for i in frame["item_id"]]).set_index("item_id")
    row = f.loc[item]
    if pd.notna(row["category"]):
        same = f["category"] == row["category"]
    else:  # no category: its family, among the items without one
        same = f["category"].isna() & (f["parent"] == row["parent"])
    cents = np.round(f["price"] * 100)
    upper = np.floor(band * row["price"] * 100 + 1e-6)
    ok = (same & f["in_stock"] & (cents > np.round(row["price"] * 100)) & (cents <= upper)
          & (f["price"] > row["price"]))
    c = f[ok]
    likely = base[c["index"].to_numpy()]
    extra = c["price"].to_numpy() - row["price"]
    extra_margin = (c["price"] - c["cost"]).to_numpy() - (row["price"] - row["cost"])
    score = {"revenue": likely * extra, "probability": likely,
             "margin": np.nan_to_num(likely * extra_margin, nan=-np.inf)}[objective]
    order = np.lexsort((c["index"].to_numpy(), -score))[:k]
    return pd.DataFrame({"item_id": c.index.to_numpy()[order], "probability": likely[order],
                         "price": c["price"].to_numpy()[order], "extra_price": extra[order],
                         "expected_revenue": (likely * extra)[order],
                         "expected_margin": (likely * extra_margin)[order]})


def test_up_sell_equals_a_brute_force_sort_of_the_catalog(shop_model, catalog_frame):
    frame = catalog_frame.copy()
    frame.loc[frame.index % 13 == 2, "in_stock"] = False
    frame.loc[frame.index % 7 == 1, "category"] = None  # these go by family
    frame.loc[frame.index % 11 == 4, "price"] = (frame["price"] * 1.003).round(4)  # sub-cent prices
    engine = xsell.Engine(shop_model, xsell.load_catalog(frame))
    base = shop_model.item_counts_ / shop_model.n_orders_
    compared = 0
    for objective in ("revenue", "probability", "margin"):
        rules = xsell.BusinessRules(objective=objective)
        for item in frame["item_id"][::1 if objective == "revenue" else 3]:
            want = _brute_up_sells(frame, shop_model, base, item, 10, objective=objective)
            for k in (2, 10):  # the top 2 are the top 10's first two (no category cap here)
                got = engine.up_sell(item, k=k, rules=rules).to_frame()
                assert got["item_id"].tolist() == want["item_id"].tolist()[:k], (item, objective)
                for column in want.columns[1:]:
                    assert _same_floats(got[column], want[column][:k]), (item, column)
            compared += len(want)
    assert compared > 500


def test_up_sell_of_a_large_catalog_equals_a_brute_force_sort(tmp_path):
    from xsell.datasets import synthetic_log

    orders = synthetic_log(30_000, 4_000, seed=3)
    model = xsell.CoOccurrence().fit(orders)
    rng = np.random.default_rng(0)
    ids = orders.items.ids
    frame = pd.DataFrame({"item_id": ids, "price": np.round(rng.lognormal(2.5, 0.7, len(ids)), 2),
                          "category": [f"c{i % 40}" for i in range(len(ids))],
                          "parent": [f"f{i // 3}" for i in range(len(ids))],
                          "in_stock": rng.random(len(ids)) > 0.05})
    frame["cost"] = (frame["price"] * 0.6).round(2)
    engine = xsell.Engine(model, xsell.load_catalog(frame.sample(frac=1.0, random_state=2)))  # any row order
    base = model.item_counts_ / model.n_orders_
    for item in ids[rng.choice(len(ids), 150, replace=False)]:
        got = engine.up_sell(item, k=5).to_frame()
        want = _brute_up_sells(frame, model, base, item, 5)
        assert got["item_id"].tolist() == want["item_id"].tolist()
        for column in want.columns[1:]:
            assert _same_floats(got[column], want[column])


def test_up_sell_alone_equals_up_sell_batch_bit_for_bit(shop_model, catalog, shop):
    counts = np.bincount(shop.orders.item_index, minlength=len(shop.orders.items))
    top = [str(i) for i in shop.orders.items.ids[np.argsort(-counts, kind="stable")[:10]]]
    rules = xsell.BusinessRules(pin=[(top[0], top[5]), (top[1], "P000-P"), (top[0], top[0])], block=[(top[2], top[3])],
                                max_per_category=1, objective="margin")
    engine = xsell.Engine(shop_model, catalog, orders=shop.orders)
    items = shop.orders.items.ids.tolist()
    for r in (None, rules):
        batch = engine.up_sell_batch(items, k=4, rules=r)
        for item in items:
            got = engine.up_sell(item, k=4, rules=r).to_frame()
            mine = batch[batch["item_id"] == item]
            assert got["item_id"].tolist() == mine["upsell_id"].astype(str).tolist()
            for column in ("probability", "price", "extra_price", "expected_revenue", "expected_margin"):
                assert _same_floats(got[column], mine[column])
            assert got["pinned"].tolist() == mine["pinned"].tolist()
            assert got["closes_gap"].tolist() == mine["closes_gap"].tolist()
            assert got["reason"].tolist() == mine["reason"].tolist()  # pinned rows too (rules pin top[0] -> top[5])
    assert "reason" not in engine.up_sell_batch(items, k=4, reasons=False).columns
    no_catalog = xsell.Engine(shop_model, orders=shop.orders)  # data-driven substitutes: another reason text
    batch = no_catalog.up_sell_batch(items, k=2)
    assert len(batch) > 0
    for item in batch["item_id"].astype(str).unique():
        assert no_catalog.up_sell(item, k=2).to_frame()["reason"].tolist() == \
            batch.loc[batch["item_id"] == item, "reason"].tolist()


def test_suggestions_build_their_frame_on_first_use(engine, shop):
    import dataclasses

    a, b = shop.truth.complements[2]
    got = engine.cross_sell([a, b], k=5)
    assert [f.name for f in dataclasses.fields(got)] == ["frame", "basket_value", "gap", "expected_uplift_revenue",
                                                         "expected_uplift_margin"]
    first = got.to_frame()
    first.loc[0, "reason"] = "changed"  # a copy of its own
    pd.testing.assert_frame_equal(got.frame, got.to_frame())
    assert got.frame is got.frame and got.to_frame() is not got.frame
    assert got.items == got.frame["item_id"].tolist() and len(got) == len(got.frame)
    got.frame = got.frame.head(2)  # setting the frame works as it did
    assert len(got) == 2 and got.items == got.to_frame()["item_id"].tolist()
    plain = xsell.Suggestions(pd.DataFrame({"item_id": ["x"]}), basket_value=1.0)
    assert plain.items == ["x"] and repr(plain) == "Suggestions(['x'], uplift=0.00)"
    import copy
    import pickle

    fresh = engine.cross_sell([a, b], k=5)
    for twin in (pickle.loads(pickle.dumps(fresh)), copy.deepcopy(fresh), copy.copy(fresh)):
        pd.testing.assert_frame_equal(twin.to_frame(), fresh.to_frame())
        assert (twin.basket_value, twin.gap, twin.expected_uplift_revenue) == \
            (fresh.basket_value, fresh.gap, fresh.expected_uplift_revenue)


def _reference_align(catalog, items):
    """Catalog.align as pandas does it: reindex the frame over the model's items, factorize the names."""
    model_index = items.to_internal(catalog.frame.index.to_numpy())
    row = np.full(len(items), -1, dtype=np.int64)
    hit = model_index >= 0
    row[model_index[hit]] = np.flatnonzero(hit)
    f = catalog.frame.reset_index(drop=True).reindex(row)
    codes, names = pd.factorize(f["category"].astype(object).where(f["category"].notna(), None), use_na_sentinel=True)
    parent, _ = pd.factorize(f["parent"].astype(object).where(f["parent"].notna(), None), use_na_sentinel=True)
    return dict(known=row >= 0, price=f["price"].to_numpy(dtype=np.float64), cost=f["cost"].to_numpy(dtype=np.float64),
                category=codes.astype(np.int64), category_names=np.asarray(names, dtype=object),
                parent=parent.astype(np.int64),
                in_stock=f["in_stock"].astype("boolean").fillna(True).to_numpy(dtype=bool))


@pytest.mark.parametrize("kind", ["shop", "shuffled", "unicode", "int"])
def test_catalog_alignment_equals_reindexing_the_frame(shop_model, catalog_frame, kind):
    from xsell.data.idmap import IdMap

    rng = np.random.default_rng(1)
    frame = catalog_frame.copy()
    items = shop_model.items_
    if kind != "shop":
        frame = frame.sample(frac=0.8, random_state=4)  # some model items not in the catalog
        extra = pd.DataFrame({"item_id": ["X1", "X2"], "price": [1.0, 2.0], "category": ["new", None],
                              "parent": [None, "p"]})
        frame = pd.concat([frame, extra], ignore_index=True)
        frame.loc[rng.random(len(frame)) < 0.1, "category"] = None
        frame.loc[rng.random(len(frame)) < 0.1, "parent"] = None
        frame.loc[rng.random(len(frame)) < 0.1, "in_stock"] = None
    if kind == "unicode":
        ids = ["é", "日本-", "🛒"]
        items = IdMap(np.array([ids[j % 3] + str(j) for j in range(300)] + ["", "Z"]))
        frame["item_id"] = [ids[j % 3] + str(j) if j % 5 else f"nope{j}" for j in range(len(frame))]
        frame.loc[0, "item_id"], frame.loc[1, "item_id"] = "", "a\x00b"
    if kind == "int":
        items = IdMap(np.arange(100, 500, dtype=np.int64))
        frame["item_id"] = [str(100 + j) if j % 4 else f"0{100 + j}" for j in range(len(frame))]
    catalog = xsell.load_catalog(frame)
    got = vars(catalog.align(items))
    want = _reference_align(catalog, items)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        if value.dtype.kind == "f":
            assert _same_floats(got[key], value), key
        else:
            assert got[key].tolist() == value.tolist(), key
    assert got["known"].any() and (got["category"] >= 0).any()
