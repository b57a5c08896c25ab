"""Outputs people use: batch reasons and margins equal to single requests, catalog columns, the wide
layout, rule counts, mirrored rules, and the rules file's item lists (Parquet lists, CSV `a & b`)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xsell
from xsell.batch import score_file
from xsell.engine.reasons import money_texts, thousands
from xsell.errors import InputError
from tests.conftest import shop_catalog_frame

XSELL = Path(sys.executable).with_name("xsell")  # the console script `pip install` makes


def run_xsell(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert XSELL.exists(), f"the xsell console script is not installed beside {sys.executable}"
    return subprocess.run([str(XSELL), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def catalog_frame(shop):
    """The shop's catalog with a name per item, some costs unknown (unknown margins) and its two best
    sellers left out (suggested often, with no catalog values to join)."""
    frame = shop_catalog_frame(shop)
    frame["name"] = "Item " + frame["item_id"]
    frame.loc[frame.index % 5 == 1, "cost"] = np.nan
    return frame[~frame["item_id"].isin(_top_items(shop, 2))].reset_index(drop=True)


@pytest.fixture(scope="module")
def catalog(catalog_frame):
    return xsell.load_catalog(catalog_frame)


@pytest.fixture(scope="module")
def lines(shop):
    frame = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]].head(2000)
    unknown = pd.DataFrame({"basket_id": ["X-unknown"], "item_id": ["no-such-item"]})  # the model's fallback
    return pd.concat([frame, unknown], ignore_index=True)


def _top_items(shop, n):
    counts = np.bincount(shop.orders.item_index, minlength=len(shop.orders.items))
    return [str(i) for i in shop.orders.items.ids[np.argsort(-counts, kind="stable")[:n]]]


# -- the engine's batch answers equal its single answers --------------------------------------------------

@pytest.mark.parametrize("how", ["cooccurrence", "cooccurrence with orders", "popular with orders"])
def test_a_baskets_reasons_in_batch_equal_its_reasons_alone(shop, shop_model, catalog, lines, how):
    top = _top_items(shop, 10)
    model = xsell.Popular().fit(shop.orders) if how.startswith("popular") else shop_model
    rules = xsell.BusinessRules(pin=[(top[0], top[7]), (top[1], top[8])], max_per_category=2)
    engine = xsell.Engine(model, catalog, rules, orders=shop.orders if "orders" in how else None, threshold=45.0)
    batch = engine.score_batch(lines, k=5)
    assert list(batch.columns) == ["basket_id", "rank", "item_id", "probability", "price", "expected_revenue",
                                   "expected_margin", "closes_gap", "pinned", "reason"]
    compared = 0
    for basket_id, basket in lines.groupby("basket_id", sort=False):
        alone = engine.cross_sell(basket["item_id"].tolist(), k=5).to_frame()
        mine = batch[batch["basket_id"] == basket_id]
        assert mine["item_id"].astype(str).tolist() == alone["item_id"].tolist()
        assert mine["reason"].tolist() == alone["reason"].tolist(), basket_id
        compared += len(alone)
    assert compared == len(batch) > 2000
    text = " | ".join(batch["reason"])
    for kind in ("pinned by the merchandiser", "bought together in", f"suggested by {type(model).__name__}; in ",
                 "; closes the "):
        assert kind in text, kind
    no_reasons = engine.score_batch(lines, k=5, reasons=False)
    pd.testing.assert_frame_equal(no_reasons, batch.drop(columns="reason"))


@pytest.fixture(scope="module")
def big_shop():
    """1,510 orders: 1,250 of {a, b}, 250 of {a, c}, 10 of {c}; b sells at 2,500.00 (cost 1,000.00), c at
    3.00 with no cost, a at 100.00."""
    baskets = [("a", "b")] * 1250 + [("a", "c")] * 250 + [("c",)] * 10
    orders = xsell.load_orders(pd.DataFrame([(n, i) for n, b in enumerate(baskets) for i in b],
                                            columns=["order_id", "item_id"]))
    catalog = xsell.load_catalog(pd.DataFrame({"item_id": ["a", "b", "c"], "price": [100.0, 2500.0, 3.0],
                                               "cost": [60.0, 1000.0, np.nan]}))
    return xsell.Engine(xsell.CoOccurrence(min_count=1).fit(orders), catalog, threshold=2600.0)


def test_reasons_money_and_uplift_margin_by_hand(big_shop):
    p_b = (1250 + 10 * (1250 / 1510)) / (1500 + 10)  # (n_ab + m b_b) / (n_a + m), m = 10, b_b = n_b / N
    p_c = max((250 + 10 * (260 / 1510)) / (1500 + 10), 260 / 1510)  # at least c's share of all orders
    want = [f"bought together in 1,250 orders (83% of orders with a); expected +{p_b * 2500:,.2f}; closes the "
            f"2,500.00 gap to 2,600.00", f"bought together in 250 orders (17% of orders with a); expected "
            f"+{p_c * 3:,.2f}"]
    assert want[0].startswith("bought together in 1,250 orders (83% of orders with a); expected +2,083.24; ")
    alone = big_shop.cross_sell(["a"], k=5)
    batch = big_shop.score_batch({"q": ["a"]}, k=5)
    assert alone.to_frame()["reason"].tolist() == batch["reason"].tolist() == want
    # an unknown margin (c has no cost) is NaN alone and in batch, and so is a sum that holds it
    assert np.isnan(batch["expected_margin"].iloc[1]) and np.isnan(alone.to_frame()["expected_margin"].iloc[1])
    uplift = big_shop.score_batch({"q": ["a"]}, k=5, mode="uplift")
    assert np.isnan(alone.expected_uplift_margin) and np.isnan(uplift["expected_uplift_margin"].iloc[0])
    top1 = big_shop.score_batch({"q": ["a"]}, k=1, mode="uplift")["expected_uplift_margin"].iloc[0]
    assert top1 == pytest.approx(p_b * 1500) and big_shop.cross_sell(["a"], k=1).expected_uplift_margin == top1
    # no suggestion at all: nothing is added, 0.0 in both
    nothing = xsell.BusinessRules(exclude_items=["b", "c"])
    assert big_shop.cross_sell(["a"], rules=nothing).expected_uplift_margin == 0.0
    empty = big_shop.score_batch({"q": ["a"]}, rules=nothing, mode="uplift")
    assert (empty["suggestions"].iloc[0], empty["expected_uplift_margin"].iloc[0]) == (0, 0.0)


def test_uplift_margins_in_batch_equal_single_requests(shop, shop_model, catalog, lines):
    engine = xsell.Engine(shop_model, catalog, threshold=45.0)
    uplift = engine.score_batch(lines, k=4, mode="uplift").set_index("basket_id")
    nan = 0
    for basket_id, basket in list(lines.groupby("basket_id", sort=False))[:300]:
        alone = engine.cross_sell(basket["item_id"].tolist(), k=4)
        got = uplift.loc[basket_id, "expected_uplift_margin"]
        assert np.isnan(got) == np.isnan(alone.expected_uplift_margin), basket_id
        assert np.isnan(got) or got == pytest.approx(alone.expected_uplift_margin, rel=1e-12)
        nan += int(np.isnan(got))
    assert 30 < nan < 270  # both kinds of basket were compared


def test_money_and_counts_are_written_as_python_formats_them():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.random(50_000) * 10.0 ** rng.integers(0, 10, 50_000),
                             np.arange(0, 20_000) / 400,  # many exact halves of a cent: ties to even
                             [0.125, 0.375, 2.675, 1.005, 0.0, -0.0, -2.5, 1e16, 123456789.125, np.nan, np.inf]])
    assert money_texts(values).to_pylist() == [f"{v:,.2f}" for v in values.tolist()]
    counts = np.concatenate([np.arange(0, 2_000_000, 13), [999, 1000, 999_999, 1_000_000, 2**62]])
    assert thousands(counts).to_pylist() == [f"{v:,}" for v in counts.tolist()]


# -- the batch scorer: catalog columns and the wide layout ------------------------------------------------

def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as a user compares them, as Python objects: categories and text as str, booleans as bool,
    numbers as float or int, every kind of empty (NaN, NA, None) as None."""
    def plain(v):
        if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and np.isnan(v)):
            return None
        return v.item() if isinstance(v, np.generic) else v

    return pd.DataFrame({name: pd.Series([plain(v) for v in frame[name].astype(object)], dtype=object)
                         for name in frame.columns})


def _with_catalog(long: pd.DataFrame, item: str, catalog_frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The reference join: a left merge on the suggested item, the columns placed after it."""
    table = catalog_frame[["item_id", *names]].rename(columns={"item_id": item})
    merged = long.assign(**{item: long[item].astype(str)}).merge(table, on=item, how="left")
    at = list(long.columns).index(item) + 1
    return merged[[*long.columns[:at], *names, *long.columns[at:]]]


def _pivoted(long: pd.DataFrame, key: str, k: int, keys: list) -> pd.DataFrame:
    """The reference wide layout: pandas' pivot of the long rows, each field for ranks 1..k, rows in `keys`."""
    fields = [c for c in long.columns if c not in (key, "rank")]
    wide = _plain(long).pivot(index=key, columns="rank", values=fields)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([fields, range(1, k + 1)])).reindex(keys)
    wide.columns = [f"{field}_{rank}" for field, rank in wide.columns]
    return _plain(wide.reset_index().rename(columns={"index": key}))


@pytest.mark.parametrize("mode", ["cross-sell", "recommend", "up-sell"])
def test_catalog_columns_and_the_wide_layout_equal_a_merge_and_a_pivot(tmp_path, shop, shop_model, catalog,
                                                                       catalog_frame, lines, mode):
    rules = xsell.BusinessRules(allow=_top_items(shop, 10)) if mode == "cross-sell" else None  # short, empty answers
    engine = xsell.Engine(shop_model, catalog, rules, threshold=45.0)
    if mode == "up-sell":
        source = pd.DataFrame({"item_id": shop.orders.items.ids[:120]})
        key, item = "item_id", "upsell_id"
    else:
        source, key, item = lines, "basket_id", "item_id"
    source.to_csv(tmp_path / "in.csv", index=False)
    names = ["name", "category", "cost"]
    common = dict(k=4, engine=engine, mode=mode, chunk_lines=300, workers=2)
    score_file(shop_model, tmp_path / "in.csv", tmp_path / "long.parquet", **common)
    long = pd.read_parquet(tmp_path / "long.parquet")
    for fmt in ("parquet", "csv"):
        joined, wide = tmp_path / f"joined.{fmt}", tmp_path / f"wide.{fmt}"
        score_file(shop_model, tmp_path / "in.csv", joined, catalog_columns=names, **common)
        summary = score_file(shop_model, tmp_path / "in.csv", wide, catalog_columns=names, wide=True, **common)
        want_joined = _with_catalog(long, item, catalog_frame, names)
        keys = list(dict.fromkeys(source[key])) if mode != "up-sell" else list(dict.fromkeys(long[key].astype(str)))
        want_wide = _pivoted(want_joined, key, 4, keys)
        if fmt == "parquet":
            got_joined, got_wide = pd.read_parquet(joined), pd.read_parquet(wide)
        else:  # what a reader of the CSV sees: the reference written and read the same way
            got_joined, got_wide = pd.read_csv(joined), pd.read_csv(wide)
            want_joined = pd.read_csv(io.StringIO(want_joined.to_csv(index=False)))
            want_wide = pd.read_csv(io.StringIO(want_wide.to_csv(index=False)))
        pd.testing.assert_frame_equal(_plain(got_joined), _plain(want_joined), check_dtype=False, check_exact=True)
        pd.testing.assert_frame_equal(_plain(got_wide), _plain(want_wide), check_dtype=False, check_exact=True)
        assert summary.rows_written == len(keys)
    first = [f"item_id_{r}" for r in range(1, 5)] if mode != "up-sell" else [f"upsell_id_{r}" for r in range(1, 5)]
    assert list(got_wide.columns[:13]) == [key, *first, *[f"name_{r}" for r in range(1, 5)],
                                           *[f"category_{r}" for r in range(1, 5)]]
    filled = got_wide[first].notna().sum(axis=1)
    assert filled.max() == 4
    if mode != "recommend":  # the model alone always fills k
        assert filled.min() < 4  # short answers leave the last columns empty
    if mode == "cross-sell":
        assert (filled == 0).any()  # a basket with no suggestion keeps its row
    if mode != "up-sell":  # an up-sell needs a category: never an item outside the catalog
        assert got_joined["name"].isna().any() and got_joined["name"].notna().any()


def test_wide_parquet_columns_keep_their_types(tmp_path, shop_model, catalog, lines):
    lines.to_csv(tmp_path / "in.csv", index=False)
    engine = xsell.Engine(shop_model, catalog, xsell.BusinessRules(allow=["P000-B", "P001-B", "P002-B"]))
    score_file(shop_model, tmp_path / "in.csv", tmp_path / "wide.parquet", engine=engine, mode="cross-sell",
               k=3, chunk_lines=200, wide=True, catalog_columns=["name", "in_stock"])
    schema = pq.read_schema(tmp_path / "wide.parquet")
    assert pa.types.is_dictionary(schema.field("item_id_3").type)
    assert schema.field("probability_3").type == pa.float64()
    assert schema.field("pinned_3").type == schema.field("in_stock_3").type == pa.bool_()
    assert pa.types.is_string(schema.field("reason_3").type) or pa.types.is_large_string(schema.field("reason_3").type)
    assert pa.types.is_string(schema.field("name_3").type) or pa.types.is_large_string(schema.field("name_3").type)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="uplift", wide=True), "the wide layout needs rows per suggestion (recommend, cross-sell, up-sell); "
                                     "uplift is one row per basket already"),
    (dict(mode="cross-sell", catalog_columns=["nope"]),
     "the catalog has no column 'nope'; it has: price, cost, category, parent, brand, in_stock, name"),
    (dict(mode="cross-sell", catalog_columns=["price"]),
     "catalog column 'price' is already a column of the cross-sell output; leave it out of catalog_columns"),
    (dict(mode="cross-sell", catalog_columns=["name", "name"]), "catalog_columns names 'name' more than once"),
    (dict(mode="cross-sell", catalog_columns="name"), "catalog_columns must be a list of column names, got 'name'"),
    (dict(mode="uplift", catalog_columns=["name"]), "catalog columns describe suggested items; uplift rows are "
                                                    "baskets"),
    (dict(mode="recommend", reasons=False), "only cross-sell rows have reasons to leave out; recommend rows have "
                                            "none"),
    (dict(mode="cross-sell", wide="yes"), "wide must be True or False, got 'yes'"),
])
def test_batch_output_options_that_cannot_work_are_refused(tmp_path, shop_model, catalog, lines, kwargs, message):
    lines.to_csv(tmp_path / "in.csv", index=False)
    engine = xsell.Engine(shop_model, catalog)
    with pytest.raises(InputError) as caught:
        score_file(shop_model, tmp_path / "in.csv", tmp_path / "out.csv", engine=engine, **kwargs)
    assert str(caught.value) == message
    assert not (tmp_path / "out.csv").exists()
    plain = xsell.Engine(shop_model)
    with pytest.raises(InputError, match=r"^catalog columns need an engine with a catalog: "):
        score_file(shop_model, tmp_path / "in.csv", tmp_path / "out.csv", engine=plain, mode="cross-sell",
                   catalog_columns=["name"])


def test_score_command_wide_with_catalog_columns(tmp_path, shop_model, catalog_frame, catalog, lines):
    xsell.save_model(shop_model, tmp_path / "m.xsell")
    catalog_frame.to_csv(tmp_path / "catalog.csv", index=False)
    lines.to_csv(tmp_path / "baskets.csv", index=False)
    args = ["m.xsell", "baskets.csv", "--mode", "cross-sell", "--catalog", "catalog.csv", "-k", "3",
            "--threshold", "45", "--chunk-lines", "500", "--workers", "2", "--no-progress"]
    done = run_xsell("score", *args, "-o", "wide.csv", "--wide", "--catalog-column", "name",
                     "--catalog-column", "category", cwd=tmp_path)
    n_baskets = lines["basket_id"].nunique()
    assert (done.returncode, done.stdout) == (0, f"wrote wide.csv: {n_baskets:,} baskets, {n_baskets:,} rows\n")
    engine = xsell.Engine(shop_model, xsell.load_catalog(tmp_path / "catalog.csv"), threshold=45.0)
    score_file(shop_model, tmp_path / "baskets.csv", tmp_path / "ref.csv", engine=engine, mode="cross-sell", k=3,
               catalog_columns=["name", "category"], wide=True)
    assert (tmp_path / "wide.csv").read_text() == (tmp_path / "ref.csv").read_text()
    wide = pd.read_csv(tmp_path / "wide.csv")
    assert list(wide.columns[:10]) == ["basket_id", "item_id_1", "item_id_2", "item_id_3", "name_1", "name_2",
                                       "name_3", "category_1", "category_2", "category_3"]
    assert wide["reason_1"].str.contains("; expected +", regex=False).all()
    done = run_xsell("score", *args, "-o", "long.parquet", "--no-reasons", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "reason" not in pq.read_schema(tmp_path / "long.parquet").names
    done = run_xsell("score", "m.xsell", "baskets.csv", "-o", "x.csv", "--catalog-column", "name", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "error: --catalog-column needs --catalog, the file the columns "
                                                 "come from\n")
    done = run_xsell("score", "m.xsell", "baskets.csv", "-o", "x.csv", "--mode", "uplift", "--wide",
                     "--no-progress", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.endswith("error: the wide layout needs rows per suggestion (recommend, cross-sell, up-sell); "
                                "uplift is one row per basket already\n")
    assert not (tmp_path / "x.csv").exists()


def test_score_command_explain_equals_recommend_batch(tmp_path, shop_model, lines):
    """`xsell score --explain` writes recommend_batch(explain=True)'s columns, chunked over two worker
    processes, the same values as one call in Python; it is refused (exit 2) where rows are not the model's."""
    xsell.save_model(shop_model, tmp_path / "m.xsell")
    lines.to_csv(tmp_path / "baskets.csv", index=False)
    done = run_xsell("score", "m.xsell", "baskets.csv", "-o", "ex.parquet", "--explain", "-k", "4",
                     "--chunk-lines", "500", "--workers", "2", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = pd.read_parquet(tmp_path / "ex.parquet")
    want = shop_model.recommend_batch(lines, k=4, explain=True)
    assert list(got.columns) == ["basket_id", "rank", "item_id", "score", "count", "support", "confidence", "lift",
                                 "because"]
    for frame in (got, want):
        for name in ("basket_id", "item_id", "because"):
            frame[name] = frame[name].astype(object)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    done = run_xsell("score", "m.xsell", "baskets.csv", "-o", "x.csv", "--explain", "--mode", "cross-sell",
                     cwd=tmp_path)
    assert done.returncode == 2
    assert "Invalid value for '--explain': only for recommend rows of the model alone (--mode recommend without " \
           "--catalog, --threshold or --objective)" in " ".join(done.stderr.split())
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(InputError, match=r"^explain is for recommend rows, not uplift$"):
        score_file(shop_model, tmp_path / "baskets.csv", tmp_path / "x.csv", engine=xsell.Engine(shop_model),
                   mode="uplift", explain=True)


# -- mined rules: counts, mirrored rules, the file ---------------------------------------------------------

ORDERS = [{"a", "b", "c"}, {"a", "b"}, {"a", "c", "d"}, {"b", "c"}]  # conftest's tiny_frame


def _orders_frame(baskets) -> pd.DataFrame:
    return pd.DataFrame([(n, i) for n, b in enumerate(baskets) for i in sorted(b)], columns=["order_id", "item_id"])


def test_rule_counts_equal_a_hand_count(tiny_orders):
    rules = xsell.mine_rules(tiny_orders, 0.25, max_len=3, counts=True)
    assert list(rules.columns) == ["antecedents", "consequents", "antecedent_support", "consequent_support",
                                   "support", "antecedent_count", "consequent_count", "count", "n_orders",
                                   "confidence", "lift", "leverage", "conviction", "zhangs_metric", "jaccard",
                                   "certainty", "kulczynski"]
    assert len(rules) == 22

    def held(items) -> int:
        return sum(set(items) <= order for order in ORDERS)

    for row in rules.itertuples():
        assert row.antecedent_count == held(row.antecedents)
        assert row.consequent_count == held(row.consequents)
        assert row.count == held(row.antecedents + row.consequents)
        assert row.n_orders == 4
        assert (row.antecedent_support, row.consequent_support, row.support) == (
            row.antecedent_count / 4, row.consequent_count / 4, row.count / 4)
    plain = xsell.mine_rules(tiny_orders, 0.25, max_len=3)
    pd.testing.assert_frame_equal(plain, rules[plain.columns])


def _mirror_reference(rules: pd.DataFrame, order: list) -> set:
    """The rules drop_mirrored keeps, by hand: of a rule and its mirror, the higher confidence; on a tie the
    one whose antecedent holds the itemset's smallest id (`order`: ids ascending)."""
    confidence = {(frozenset(a), frozenset(c)): conf for a, c, conf in
                  zip(rules["antecedents"], rules["consequents"], rules["confidence"])}
    kept = set()
    for (a, c), conf in confidence.items():
        other = confidence.get((c, a))
        smallest = min(a | c, key=order.index)
        if other is None or conf > other or (conf == other and smallest in a):
            kept.add((a, c))
    return kept


@pytest.mark.parametrize("ids", ["text", "numbers"])
def test_drop_mirrored_keeps_one_rule_of_each_mirrored_pair(ids):
    rng = np.random.default_rng(3)
    names = [10, 9, 11, 100, 2, 30] if ids == "numbers" else ["b", "a", "z", "aa", "c", "y"]
    baskets = [set(rng.choice(names, size=rng.integers(2, 5), replace=False).tolist()) for _ in range(40)]
    swap = {names[0]: names[1], names[1]: names[0]}  # each basket twice, the first two ids swapped: ties
    baskets += [{swap.get(i, i) for i in b} for b in baskets]
    orders = xsell.load_orders(_orders_frame(baskets))
    every = xsell.mine_rules(orders, 0.05, max_len=3, sort_by=None)
    kept = xsell.mine_rules(orders, 0.05, max_len=3, sort_by=None, drop_mirrored=True)
    got = {(frozenset(a), frozenset(c)) for a, c in zip(kept["antecedents"], kept["consequents"])}
    assert got == _mirror_reference(every, sorted(names))
    assert kept.attrs["mirrored_dropped"] == len(every) - len(kept) > 0
    # the tie of the first two ids goes to the smaller: 9 -> 10 (numbers as numbers), a -> b (text as text)
    small, large = sorted(names[:2])
    pairs = list(zip(kept["antecedents"], kept["consequents"]))
    assert ((small,), (large,)) in pairs and ((large,), (small,)) not in pairs
    top = xsell.mine_rules(orders, 0.05, max_len=3, drop_mirrored=True, top=5)
    pd.testing.assert_frame_equal(top, kept.sort_values("lift", ascending=False, kind="stable",
                                                        ignore_index=True).head(5))


def test_rules_command_counts_mirrored_and_item_lists(tmp_path, tiny_frame, tiny_orders):
    tiny_frame.to_csv(tmp_path / "orders.csv", index=False)
    done = run_xsell("rules", "orders.csv", "-o", "rules.parquet", "--min-support", "0.25", "--max-len", "3",
                     "--drop-mirrored", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rules"], summary["mirrored_dropped"]) == (11, 11)
    table = pq.read_table(tmp_path / "rules.parquet")
    assert table.schema.field("antecedents").type == pa.list_(pa.string())
    assert table.schema.field("consequents").type == pa.list_(pa.string())
    want = xsell.mine_rules(tiny_orders, 0.25, max_len=3, counts=True, drop_mirrored=True)
    got = table.to_pandas()
    assert table.column("antecedents").to_pylist() == [list(t) for t in want["antecedents"]]
    assert table.column("consequents").to_pylist() == [list(t) for t in want["consequents"]]
    pd.testing.assert_frame_equal(got.drop(columns=["antecedents", "consequents"]),
                                  want.drop(columns=["antecedents", "consequents"]))
    done = run_xsell("rules", "orders.csv", "-o", "rules.csv", "--min-support", "0.25", "--max-len", "3",
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote rules.csv: 22 rules from 4 orders (frequent itemsets: 1 items: 4, "
                                  "2 items: 5, 3 items: 2) in ")
    csv = pd.read_csv(tmp_path / "rules.csv")
    every = xsell.mine_rules(tiny_orders, 0.25, max_len=3, counts=True)
    assert csv["antecedents"].tolist() == [" & ".join(t) for t in every["antecedents"]]
    assert "d,a & c," in (tmp_path / "rules.csv").read_text()  # d -> {a, c} as a person reads it
    assert csv["count"].tolist() == every["count"].tolist()
    assert [tuple(s.split(" & ")) for s in csv["consequents"]] == list(every["consequents"])


def test_rules_of_numeric_ids_keep_numbers_in_parquet(tmp_path):
    orders = xsell.load_orders(_orders_frame([{1, 2, 3}, {1, 2}, {1, 3, 40}, {2, 3}]))
    rules = xsell.mine_rules(orders, 0.25, counts=True)
    from xsell.mining.export import write_rules

    write_rules(rules, tmp_path / "r.parquet")
    write_rules(rules, tmp_path / "r.csv")
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.schema.field("antecedents").type == pa.list_(pa.int64())
    assert table.column("antecedents").to_pylist() == [list(t) for t in rules["antecedents"]]
    assert pd.read_csv(tmp_path / "r.csv", dtype={"antecedents": str})["antecedents"].tolist() == \
        [" & ".join(map(str, t)) for t in rules["antecedents"]]


def test_mine_rules_refuses_flags_that_are_not_booleans(tiny_orders):
    with pytest.raises(InputError, match=r"^drop_mirrored must be True or False, got 'yes'$"):
        xsell.mine_rules(tiny_orders, 0.25, drop_mirrored="yes")
    with pytest.raises(InputError, match=r"^counts must be True or False, got 1$"):
        xsell.mine_rules(tiny_orders, 0.25, counts=1)
