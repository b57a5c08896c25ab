"""Rule mining: metrics by hand, equality with mlxtend, constraints, validation, big baskets; pair counting
against a dense X^T X."""

from __future__ import annotations

import json
import math
import re
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import xsell
from xsell import InputError, frequent_itemsets, mine_rules
from tests._fuzz import scaled
from tests.conftest import GROCERIES

METRICS = ["antecedent_support", "consequent_support", "support", "confidence", "lift", "leverage",
           "conviction", "zhangs_metric", "jaccard", "certainty", "kulczynski"]


def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def _by_rule(frame: pd.DataFrame) -> dict[tuple[frozenset, frozenset], pd.Series]:
    return {(frozenset(a), frozenset(c)): row for a, c, (_, row) in
            zip(frame["antecedents"], frame["consequents"], frame.iterrows(), strict=True)}


def _rule_set(frame: pd.DataFrame) -> set[tuple[frozenset, frozenset]]:
    return set(_by_rule(frame))


def _r(ante: str, cons: str) -> tuple[frozenset, frozenset]:
    """_r("ab", "c") is the rule {a, b} -> {c}."""
    return frozenset(ante), frozenset(cons)


# -- metrics by hand on the tiny fixture ----------------------------------------------------------
# orders {a,b,c}, {a,b}, {a,c,d}, {b,c}: N=4; s(a)=s(b)=s(c)=3/4, s(d)=1/4;
# s(ab)=s(ac)=s(bc)=1/2, s(ad)=s(cd)=1/4, s(bd)=0; s(abc)=s(acd)=1/4
def test_rule_with_confidence_one_by_hand(tiny_orders):
    rules = _by_rule(mine_rules(tiny_orders, 0.25))
    row = rules[_r("d", "a")]
    # s(AC)=1/4, s(A)=1/4, s(C)=3/4
    assert row["antecedent_support"] == pytest.approx(1 / 4)
    assert row["consequent_support"] == pytest.approx(3 / 4)
    assert row["support"] == pytest.approx(1 / 4)
    assert row["confidence"] == pytest.approx(1.0)
    assert row["lift"] == pytest.approx(4 / 3)
    assert row["leverage"] == pytest.approx(1 / 4 - 1 / 4 * 3 / 4)  # 1/16
    assert row["conviction"] == math.inf  # confidence 1: (1 - s(C)) / 0
    # zhang: leverage / max(1/4 * 3/4, 1/4 * (3/4 - 1/4)) = (1/16) / (3/16)
    assert row["zhangs_metric"] == pytest.approx(1 / 3)
    assert row["jaccard"] == pytest.approx((1 / 4) / (1 / 4 + 3 / 4 - 1 / 4))
    assert row["certainty"] == pytest.approx((1 - 3 / 4) / (1 - 3 / 4))  # 1
    assert row["kulczynski"] == pytest.approx((1 + 1 / 3) / 2)


def test_rule_with_negative_association_by_hand(tiny_orders):
    row = _by_rule(mine_rules(tiny_orders, 0.25))[_r("a", "b")]
    # s(AC)=1/2, s(A)=s(C)=3/4
    assert row["confidence"] == pytest.approx(2 / 3)
    assert row["lift"] == pytest.approx(8 / 9)
    assert row["leverage"] == pytest.approx(-1 / 16)
    assert row["conviction"] == pytest.approx((1 / 4) / (1 / 3))
    # zhang: (-1/16) / max(1/2 * 1/4, 3/4 * 1/4) = (-1/16) / (3/16)
    assert row["zhangs_metric"] == pytest.approx(-1 / 3)
    assert row["jaccard"] == pytest.approx(1 / 2)
    assert row["certainty"] == pytest.approx((2 / 3 - 3 / 4) / (1 / 4))  # -1/3
    assert row["kulczynski"] == pytest.approx(2 / 3)


def test_rule_towards_a_rare_item_by_hand(tiny_orders):
    row = _by_rule(mine_rules(tiny_orders, 0.25))[_r("a", "d")]
    # s(AC)=1/4, s(A)=3/4, s(C)=1/4
    assert row["confidence"] == pytest.approx(1 / 3)
    assert row["lift"] == pytest.approx(4 / 3)
    assert row["leverage"] == pytest.approx(1 / 16)
    assert row["conviction"] == pytest.approx((3 / 4) / (2 / 3))  # 9/8
    # zhang: (1/16) / max(1/4 * 1/4, 3/4 * 0)
    assert row["zhangs_metric"] == pytest.approx(1.0)
    assert row["jaccard"] == pytest.approx(1 / 3)
    assert row["certainty"] == pytest.approx((1 / 3 - 1 / 4) / (3 / 4))  # 1/9
    assert row["kulczynski"] == pytest.approx((1 / 3 + 1) / 2)


def test_pair_rules_are_exactly_the_frequent_pairs_both_ways(tiny_orders):
    # at 0.25 every pair seen is frequent (bd never occurs); at 0.5 only ab, ac, bc
    assert _rule_set(mine_rules(tiny_orders, 0.25)) == {
        _r("a", "b"), _r("b", "a"), _r("a", "c"), _r("c", "a"), _r("b", "c"), _r("c", "b"),
        _r("a", "d"), _r("d", "a"), _r("c", "d"), _r("d", "c")}
    assert _rule_set(mine_rules(tiny_orders, 0.5)) == {
        _r("a", "b"), _r("b", "a"), _r("a", "c"), _r("c", "a"), _r("b", "c"), _r("c", "b")}


def test_triple_rules_by_hand(tiny_orders):
    rules = _by_rule(mine_rules(tiny_orders, 0.25, max_len=3))
    # 10 pair rules + 6 splits of each frequent triple abc and acd
    assert len(rules) == 10 + 2 * 6
    assert {k for k in rules if len(k[0] | k[1]) == 3} == {
        _r("ab", "c"), _r("ac", "b"), _r("bc", "a"), _r("a", "bc"), _r("b", "ac"), _r("c", "ab"),
        _r("ac", "d"), _r("ad", "c"), _r("cd", "a"), _r("a", "cd"), _r("c", "ad"), _r("d", "ac")}
    ab_c = rules[_r("ab", "c")]  # s(AC)=1/4, s(A)=s(ab)=1/2, s(C)=3/4
    assert ab_c["antecedent_support"] == pytest.approx(1 / 2)
    assert ab_c["consequent_support"] == pytest.approx(3 / 4)
    assert ab_c["support"] == pytest.approx(1 / 4)
    assert ab_c["confidence"] == pytest.approx(1 / 2)
    assert ab_c["lift"] == pytest.approx(2 / 3)
    assert ab_c["leverage"] == pytest.approx(1 / 4 - 1 / 2 * 3 / 4)  # -1/8
    assert ab_c["conviction"] == pytest.approx((1 / 4) / (1 / 2))
    # zhang: (-1/8) / max(1/4 * 1/2, 1/2 * (3/4 - 1/4)) = (-1/8) / (1/4)
    assert ab_c["zhangs_metric"] == pytest.approx(-1 / 2)
    assert ab_c["jaccard"] == pytest.approx((1 / 4) / (1 / 2 + 3 / 4 - 1 / 4))
    assert ab_c["certainty"] == pytest.approx((1 / 2 - 3 / 4) / (1 / 4))  # -1
    assert ab_c["kulczynski"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    d_ac = rules[_r("d", "ac")]  # s(AC)=1/4, s(A)=1/4, s(C)=s(ac)=1/2
    assert (d_ac["antecedent_support"], d_ac["consequent_support"]) == (pytest.approx(1 / 4), pytest.approx(1 / 2))
    assert d_ac["confidence"] == pytest.approx(1.0)
    assert d_ac["lift"] == pytest.approx(2.0)
    assert d_ac["conviction"] == math.inf
    assert d_ac["certainty"] == pytest.approx(1.0)
    a_cd = rules[_r("a", "cd")]  # s(AC)=1/4, s(A)=3/4, s(C)=s(cd)=1/4
    assert a_cd["confidence"] == pytest.approx(1 / 3)
    assert a_cd["lift"] == pytest.approx(4 / 3)


def test_frequent_itemsets_by_hand(tiny_orders):
    frame = frequent_itemsets(tiny_orders, 0.25, max_len=3).to_frame()
    assert list(frame.columns) == ["support", "itemsets"]
    got = dict(zip(map(frozenset, frame["itemsets"]), frame["support"], strict=True))
    assert got == {frozenset("a"): 0.75, frozenset("b"): 0.75, frozenset("c"): 0.75, frozenset("d"): 0.25,
                   frozenset("ab"): 0.5, frozenset("ac"): 0.5, frozenset("bc"): 0.5, frozenset("ad"): 0.25,
                   frozenset("cd"): 0.25, frozenset("abc"): 0.25, frozenset("acd"): 0.25}
    assert len(frame) == len(got)


def test_attrs_count_orders_and_itemsets_by_size(tiny_orders):
    frame = mine_rules(tiny_orders, 0.25, max_len=3)
    assert frame.attrs["n_orders"] == 4
    assert frame.attrs["skipped_baskets"] == 0
    assert frame.attrs["itemsets"] == {1: 4, 2: 5, 3: 2}
    assert mine_rules(tiny_orders, 0.5).attrs["itemsets"] == {1: 3, 2: 3}  # d is in 1 of 4 orders


def test_columns_are_in_the_documented_order(tiny_orders):
    assert list(mine_rules(tiny_orders, 0.25).columns) == ["antecedents", "consequents"] + METRICS


def test_rules_of_five_items():
    # a, b, c, d, e together in 2 of 7 orders; e alone in 3; d, e in 2.
    # Itemsets of 4 and 5 items come from the fpgrowth path; every split of abcde is a rule.
    baskets = [list("abcde")] * 2 + [["e"]] * 3 + [["d", "e"]] * 2
    frame = pd.DataFrame([(i, x) for i, b in enumerate(baskets) for x in b], columns=["order_id", "item_id"])
    rules = _by_rule(mine_rules(xsell.load_orders(frame), 0.2, max_len=5))
    assert sum(1 for k in rules if len(k[0] | k[1]) == 5) == 2 ** 5 - 2
    abcd_e = rules[_r("abcd", "e")]
    assert (abcd_e["antecedent_support"], abcd_e["support"], abcd_e["confidence"]) == (
        pytest.approx(2 / 7), pytest.approx(2 / 7), pytest.approx(1.0))
    bcde_a = rules[_r("bcde", "a")]
    assert (bcde_a["antecedent_support"], bcde_a["consequent_support"], bcde_a["confidence"]) == (
        pytest.approx(2 / 7), pytest.approx(2 / 7), pytest.approx(1.0))
    e_abcd = rules[_r("e", "abcd")]  # e is in all 7 orders
    assert (e_abcd["antecedent_support"], e_abcd["confidence"], e_abcd["lift"]) == (
        pytest.approx(1.0), pytest.approx(2 / 7), pytest.approx(1.0))


# -- equality with mlxtend ------------------------------------------------------------------------
def _groceries_orders() -> tuple[xsell.Orders, list[list[str]]]:
    baskets = [sorted(set(line.strip().split(","))) for line in GROCERIES.read_text().splitlines() if line.strip()]
    rows = [(b, item) for b, items in enumerate(baskets) for item in items]
    return xsell.load_orders(pd.DataFrame(rows, columns=["order_id", "item_id"])), baskets


def _one_hot(baskets: list[list[str]]) -> pd.DataFrame:
    columns = sorted({i for b in baskets for i in b})
    where = {c: j for j, c in enumerate(columns)}
    dense = np.zeros((len(baskets), len(columns)), dtype=bool)
    for r, b in enumerate(baskets):
        dense[r, [where[i] for i in b]] = True
    return pd.DataFrame(dense, columns=columns)


@cache
def _dataset(name: str) -> tuple[xsell.Orders, pd.DataFrame]:
    if name == "groceries":
        orders, baskets = _groceries_orders()
    else:
        orders = xsell.datasets.synthetic_log(20_000, 500, seed=1)
        lines = orders.to_frame()
        baskets = lines.groupby("order_id", sort=True)["item_id"].apply(list).tolist()
    return orders, _one_hot(baskets)


@cache
def _reference_itemsets(name: str, min_support: float) -> pd.DataFrame:
    """fpgrowth up to 3 items, once per data set; smaller max_len is a filter of it."""
    from mlxtend.frequent_patterns import fpgrowth

    _, hot = _dataset(name)
    return fpgrowth(hot, min_support=min_support, max_len=3, use_colnames=True)


def _reference(name: str, min_support: float, max_len: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from mlxtend.frequent_patterns import association_rules

    _, hot = _dataset(name)
    itemsets = _reference_itemsets(name, min_support)
    itemsets = itemsets[itemsets["itemsets"].map(len) <= max_len].reset_index(drop=True)
    rules = association_rules(itemsets, num_itemsets=len(hot), metric="confidence", min_threshold=0.0)
    return itemsets, rules.rename(columns={"antecedent support": "antecedent_support",
                                           "consequent support": "consequent_support"})


_NO_GROCERIES = pytest.mark.skipif(not GROCERIES.exists(), reason="../shared/data/groceries not present")
CASES = [
    pytest.param("groceries", 0.003, 2, marks=_NO_GROCERIES),
    pytest.param("groceries", 0.003, 3, marks=_NO_GROCERIES),
    ("synthetic", 0.002, 2),
    ("synthetic", 0.002, 3),
]


@pytest.mark.parametrize("name, min_support, max_len", CASES)
def test_rules_equal_mlxtend(name, min_support, max_len):
    orders, hot = _dataset(name)
    assert orders.n_orders == len(hot)
    _, ref = _reference(name, min_support, max_len)
    ours = mine_rules(orders, min_support, max_len=max_len, max_basket_items=None)
    assert len(ref) > 500  # a real comparison, not two empty frames
    assert max(len(a) + len(c) for a, c in zip(ref["antecedents"], ref["consequents"], strict=True)) == max_len
    assert len(ours) == len(ref)
    ours_keys = [(frozenset(a), frozenset(c)) for a, c in zip(ours["antecedents"], ours["consequents"], strict=True)]
    ref_keys = [(frozenset(a), frozenset(c)) for a, c in zip(ref["antecedents"], ref["consequents"], strict=True)]
    assert set(ours_keys) == set(ref_keys)
    assert len(set(ours_keys)) == len(ours_keys)  # no rule twice
    where = {k: i for i, k in enumerate(ours_keys)}
    got = ours[METRICS].to_numpy(dtype=np.float64)[[where[k] for k in ref_keys]]
    want = ref[METRICS].to_numpy(dtype=np.float64)
    for j, metric in enumerate(METRICS):
        np.testing.assert_allclose(got[:, j], want[:, j], rtol=1e-9, atol=0, err_msg=metric)
    assert np.isinf(got[:, METRICS.index("conviction")]).sum() == np.isinf(want[:, METRICS.index("conviction")]).sum()


@pytest.mark.parametrize("name, min_support, max_len", CASES)
def test_frequent_itemsets_equal_fpgrowth(name, min_support, max_len):
    orders, _ = _dataset(name)
    ref, _ = _reference(name, min_support, max_len)
    ours = frequent_itemsets(orders, min_support, max_len, max_basket_items=None).to_frame()
    assert len(ours) == len(ref)
    got = dict(zip(map(frozenset, ours["itemsets"]), ours["support"], strict=True))
    want = dict(zip(ref["itemsets"], ref["support"], strict=True))
    assert got.keys() == want.keys()
    keys = list(want)
    np.testing.assert_allclose([got[k] for k in keys], [want[k] for k in keys], rtol=1e-9, atol=0)


# -- constraints ------------------------------------------------------------------------------------
def test_antecedents_keeps_rules_whose_antecedent_lies_inside(tiny_orders):
    assert _rule_set(mine_rules(tiny_orders, 0.25, antecedents=["d"])) == {_r("d", "a"), _r("d", "c")}
    # unknown ids are ignored
    assert _rule_set(mine_rules(tiny_orders, 0.25, antecedents=["a", "zzz"])) == {
        _r("a", "b"), _r("a", "c"), _r("a", "d")}
    # with triples: every antecedent item must be in the list
    assert _rule_set(mine_rules(tiny_orders, 0.25, max_len=3, antecedents=["a", "d"])) == {
        _r("a", "b"), _r("a", "c"), _r("a", "d"), _r("d", "a"), _r("d", "c"),
        _r("a", "bc"), _r("a", "cd"), _r("ad", "c"), _r("d", "ac")}


def test_consequents_keeps_rules_whose_consequent_lies_inside(tiny_orders):
    assert _rule_set(mine_rules(tiny_orders, 0.25, consequents=["d"])) == {_r("a", "d"), _r("c", "d")}
    assert _rule_set(mine_rules(tiny_orders, 0.25, max_len=3, consequents=["a", "c"])) == {
        _r("b", "a"), _r("c", "a"), _r("d", "a"), _r("a", "c"), _r("b", "c"), _r("d", "c"),
        _r("bc", "a"), _r("cd", "a"), _r("ab", "c"), _r("ad", "c"), _r("b", "ac"), _r("d", "ac")}


def test_must_contain_keeps_rules_holding_an_item_on_either_side(tiny_orders):
    assert _rule_set(mine_rules(tiny_orders, 0.25, max_len=3, must_contain=["d"])) == {
        _r("a", "d"), _r("d", "a"), _r("c", "d"), _r("d", "c"),
        _r("ac", "d"), _r("ad", "c"), _r("cd", "a"), _r("a", "cd"), _r("c", "ad"), _r("d", "ac")}


def test_min_confidence_and_min_lift(tiny_orders):
    # confidence: 2/3 for the ab, ac, bc rules, 1 for d -> a and d -> c, 1/3 for a -> d and c -> d
    assert _rule_set(mine_rules(tiny_orders, 0.25, min_confidence=0.5)) == {
        _r("a", "b"), _r("b", "a"), _r("a", "c"), _r("c", "a"), _r("b", "c"), _r("c", "b"),
        _r("d", "a"), _r("d", "c")}
    # lift: 8/9 for the ab, ac, bc rules, 4/3 for every rule with d
    assert _rule_set(mine_rules(tiny_orders, 0.25, min_lift=1.0)) == {
        _r("a", "d"), _r("d", "a"), _r("c", "d"), _r("d", "c")}
    assert len(mine_rules(tiny_orders, 0.25, min_confidence=0.5, min_lift=1.0)) == 2


def test_sort_by_sorts_descending_and_top_cuts_after_sorting(tiny_orders):
    frame = mine_rules(tiny_orders, 0.25, max_len=3)  # default: by lift
    assert frame["lift"].is_monotonic_decreasing
    assert _rule_set(frame.head(2)) == {_r("d", "ac"), _r("ac", "d")}  # lift 2: the only ones above 4/3
    assert frame["lift"].tolist()[:3] == [pytest.approx(2.0), pytest.approx(2.0), pytest.approx(4 / 3)]
    by_conviction = mine_rules(tiny_orders, 0.25, sort_by="conviction")
    assert by_conviction["conviction"].tolist()[:2] == [math.inf, math.inf]
    assert by_conviction["conviction"].is_monotonic_decreasing
    top = mine_rules(tiny_orders, 0.25, sort_by="lift", top=4)
    assert len(top) == 4
    assert _rule_set(top) == {_r("a", "d"), _r("d", "a"), _r("c", "d"), _r("d", "c")}  # the four at 4/3
    top = mine_rules(tiny_orders, 0.25, sort_by="confidence", top=2)
    assert _rule_set(top) == {_r("d", "a"), _r("d", "c")}
    assert list(top.index) == [0, 1]


# -- validation ---------------------------------------------------------------------------------------
def _thousand_orders() -> xsell.Orders:
    """1,000 orders all holding x; every second one also holds y."""
    rows = [(i, "x") for i in range(1000)] + [(i, "y") for i in range(0, 1000, 2)]
    return xsell.load_orders(pd.DataFrame(rows, columns=["order_id", "item_id"]))


def test_min_support_given_as_a_count_gets_a_hint():
    orders = _thousand_orders()
    assert orders.n_orders == 1000
    with pytest.raises(InputError, match=_exact(
            "min_support must be in (0, 1], got 5; it is a share of orders, not a count: "
            "5 of 1,000 orders is min_support=0.005")):
        mine_rules(orders, 5)
    with pytest.raises(InputError, match=_exact(
            "min_support must be in (0, 1], got 20.0; it is a share of orders, not a count: "
            "20 of 1,000 orders is min_support=0.02")):
        frequent_itemsets(orders, 20.0)
    # the share the hint names works
    rules = _by_rule(mine_rules(orders, 0.5))
    assert rules[_r("y", "x")]["confidence"] == pytest.approx(1.0)
    assert rules[_r("x", "y")]["confidence"] == pytest.approx(0.5)


@pytest.mark.parametrize("value, message", [
    (0, "min_support must be in (0, 1], got 0"),
    (0.0, "min_support must be in (0, 1], got 0.0"),
    (-0.1, "min_support must be in (0, 1], got -0.1"),
    (1.5, "min_support must be in (0, 1], got 1.5"),
    ("0.1", "min_support must be a number in (0, 1], got '0.1'"),
    (True, "min_support must be a number in (0, 1], got True"),
    (None, "min_support must be a number in (0, 1], got None"),
])
def test_min_support_outside_the_range_is_refused(tiny_orders, value, message):
    with pytest.raises(InputError, match=_exact(message)):
        mine_rules(tiny_orders, value)
    with pytest.raises(InputError, match=_exact(message)):
        frequent_itemsets(tiny_orders, value)


def test_min_support_one_keeps_only_items_in_every_order(tiny_orders):
    frame = mine_rules(tiny_orders, 1.0)
    assert len(frame) == 0
    assert list(frame.columns) == ["antecedents", "consequents"] + METRICS
    assert frame.attrs["itemsets"] == {1: 0, 2: 0}


@pytest.mark.parametrize("max_len", [1, 0, True, 2.5])
def test_max_len_below_two_is_refused(tiny_orders, max_len):
    message = f"max_len must be a whole number >= 2 (a rule needs two items), got {max_len!r}"
    with pytest.raises(InputError, match=_exact(message)):
        mine_rules(tiny_orders, 0.25, max_len=max_len)
    with pytest.raises(InputError, match=_exact(message)):
        frequent_itemsets(tiny_orders, 0.25, max_len)


def test_unknown_sort_metric_is_refused(tiny_orders):
    with pytest.raises(InputError, match=_exact(
            "sort_by must be one of antecedent_support, consequent_support, support, confidence, lift, "
            "leverage, conviction, zhangs_metric, jaccard, certainty, kulczynski, got 'antecedents'")):
        mine_rules(tiny_orders, 0.25, sort_by="antecedents")


@pytest.mark.parametrize("kwargs, message", [
    ({"top": 0}, "top must be a whole number >= 1, got 0"),
    ({"top": 2.0}, "top must be a whole number >= 1, got 2.0"),
    ({"min_confidence": 1.5}, "min_confidence must be in [0, 1], got 1.5"),
    ({"min_confidence": -0.5}, "min_confidence must be in [0, 1], got -0.5"),
])
def test_other_bad_arguments_are_refused(tiny_orders, kwargs, message):
    with pytest.raises(InputError, match=_exact(message)):
        mine_rules(tiny_orders, 0.25, **kwargs)


def test_a_dataframe_instead_of_orders_is_refused(tiny_frame):
    message = "mining expects an Orders (from xsell.load_orders), not DataFrame"
    with pytest.raises(InputError, match=_exact(message)):
        mine_rules(tiny_frame, 0.25)
    with pytest.raises(InputError, match=_exact(message)):
        frequent_itemsets(tiny_frame, 0.25)


# -- big baskets ----------------------------------------------------------------------------------------
def _log_with_one_big_basket() -> xsell.Orders:
    """10 small orders ({x,y} six times, {x,z} four times) and one of 150 items holding x, y, z."""
    rows = [(i, item) for i in range(6) for item in ("x", "y")] + [(i, item) for i in range(6, 10) for item in ("x", "z")]
    rows += [(10, item) for item in ["x", "y", "z"] + [f"i{j:03d}" for j in range(147)]]
    return xsell.load_orders(pd.DataFrame(rows, columns=["order_id", "item_id"]))


SKIPPED = ("1 basket with more than 100 distinct items were left out of mining (largest: 150 items); "
           "pass max_basket_items=None to keep them")


def test_a_big_basket_is_left_out_of_triple_mining_with_a_warning():
    orders = _log_with_one_big_basket()
    with pytest.warns(UserWarning, match=_exact(SKIPPED)):
        frame = mine_rules(orders, 0.3, max_len=3)
    assert frame.attrs["skipped_baskets"] == 1
    assert frame.attrs["n_orders"] == 10
    rules = _by_rule(frame)
    assert rules[_r("x", "y")]["support"] == pytest.approx(6 / 10)
    assert rules[_r("x", "y")]["confidence"] == pytest.approx(6 / 10)
    assert rules[_r("z", "x")]["support"] == pytest.approx(4 / 10)
    with pytest.warns(UserWarning, match=_exact(SKIPPED)):
        fi = frequent_itemsets(orders, 0.3, 3)
    assert (fi.n_orders, fi.skipped_baskets) == (10, 1)


def test_max_basket_items_none_keeps_the_big_basket():
    orders = _log_with_one_big_basket()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = mine_rules(orders, 0.3, max_len=3, max_basket_items=None)
    assert frame.attrs["skipped_baskets"] == 0
    assert frame.attrs["n_orders"] == 11
    rules = _by_rule(frame)
    assert rules[_r("x", "y")]["support"] == pytest.approx(7 / 11)
    assert rules[_r("z", "x")]["support"] == pytest.approx(5 / 11)
    assert rules[_r("x", "y")]["confidence"] == pytest.approx(7 / 11)


def test_pair_mining_keeps_big_baskets_unless_a_cap_is_given():
    orders = _log_with_one_big_basket()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = mine_rules(orders, 0.3)
    assert (frame.attrs["skipped_baskets"], frame.attrs["n_orders"]) == (0, 11)
    assert _by_rule(frame)[_r("x", "y")]["support"] == pytest.approx(7 / 11)
    with pytest.warns(UserWarning, match=_exact(SKIPPED)):
        capped = mine_rules(orders, 0.3, max_basket_items=100)
    assert (capped.attrs["skipped_baskets"], capped.attrs["n_orders"]) == (1, 10)


def test_pair_product_without_scipys_private_kernel_gives_the_same_rules(monkeypatch):
    # the pair stage calls scipy's numeric kernel directly when it exists; the public product is the fallback
    import xsell.mining.rules as rules
    from xsell.datasets import synthetic_log

    orders = synthetic_log(3_000, 300, seed=4)
    fast = mine_rules(orders, min_support=0.002)
    assert rules._csr_matmat is not None
    monkeypatch.setattr(rules, "_csr_matmat", None)
    public = mine_rules(orders, min_support=0.002)
    assert len(fast) > 100
    pd.testing.assert_frame_equal(fast, public)


# -- pair counting (mining/pairs.py): the blocked lower triangle against a dense X^T X ------------------
def _dense_pairs(orders: xsell.Orders, floor: int) -> tuple[np.ndarray, np.ndarray]:
    """The plain reference: the dense X^T X without its diagonal, entries below the floor zeroed."""
    x = np.zeros((orders.n_orders, orders.n_items))
    x[orders.order_index, orders.item_index] = 1
    co = (x.T @ x).astype(np.int64)  # float64 (BLAS) counts are exact far beyond these sizes
    np.fill_diagonal(co, 0)
    co[co < floor] = 0
    return co, x.sum(axis=0).astype(np.int64)


def _assert_counts_equal_dense(counts: xsell.PairCounts, orders: xsell.Orders, floor: int) -> None:
    ref, item_counts = _dense_pairs(orders, floor)
    n = orders.n_items
    assert (counts.indptr.dtype, counts.indices.dtype, counts.counts.dtype, counts.item_counts.dtype) == (
        np.int64, np.int32, np.int32, np.int64)
    assert counts.indptr.shape == (n + 1,) and counts.indptr[0] == 0 and counts.indptr[-1] == len(counts.indices)
    row = np.repeat(np.arange(n), np.diff(counts.indptr))
    got = np.zeros((n, n), dtype=np.int64)
    got[row, counts.indices] = counts.counts
    assert np.array_equal(got, ref)
    assert len(counts.counts) == np.count_nonzero(ref)  # nothing stored twice, no zeros kept
    same_row = row[1:] == row[:-1]
    assert (counts.indices[1:][same_row] > counts.indices[:-1][same_row]).all()  # each row ascending
    assert np.array_equal(counts.item_counts, item_counts)
    assert counts.n_orders == orders.n_orders


def _orders_from_baskets(baskets: list[list[int]], n_items: int) -> xsell.Orders:
    order_index = np.array([o for o, b in enumerate(baskets) for _ in b], dtype=np.int32)
    item_index = np.array([i for b in baskets for i in b], dtype=np.int32)
    return xsell.Orders.from_indices(order_index, item_index, items=[f"i{j}" for j in range(n_items)],
                                     orders=np.arange(len(baskets)))


@st.composite
def _baskets(draw: st.DrawFn) -> tuple[list[list[int]], int]:
    n_items = draw(st.integers(1, 40))
    sizes = st.integers(0, min(n_items, draw(st.sampled_from([3, 8, 40]))))
    baskets = draw(st.lists(sizes.flatmap(lambda k: st.lists(st.integers(0, n_items - 1), min_size=k, max_size=k)),
                            min_size=1, max_size=30))
    return baskets, n_items


@settings(max_examples=scaled(150), deadline=None)
@given(data=_baskets(), floor=st.integers(0, 4), threads=st.integers(1, 3),
       scan=st.sampled_from([0, 32, 10**9]), arena=st.sampled_from([1, 64, 1 << 24]), wide=st.booleans())
def test_blocked_pair_counts_equal_a_dense_product(data, floor, threads, scan, arena, wide):
    # scan 0: every row sorts its kept columns; 10**9: every row scans; arena 1: an arena per row or
    # so, every scratch array memory-mapped; wide: the int64 line numbers and offsets of huge logs
    import xsell.mining.pairs as pairs

    baskets, n_items = data
    orders = _orders_from_baskets([b for b in baskets if b] or [[0]], n_items)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pairs, "_SCAN_RATIO", scan)
        mp.setattr(pairs, "_ARENA_ENTRIES", arena)
        mp.setattr(pairs, "_MAPPED_BYTES", 0 if arena == 1 else pairs._MAPPED_BYTES)
        if wide:
            mp.setattr(pairs, "_NARROW_STARTS", 0)
            mp.setattr(pairs, "_NARROW_OFFSETS", 0)
        counts = xsell.count_pairs(orders, floor, threads=threads)
    assert counts.min_count == floor  # as given: the floor it was counted at
    _assert_counts_equal_dense(counts, orders, floor)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_counts_of_heavy_logs_equal_a_dense_product_on_every_thread_count(seed):
    from xsell.datasets import synthetic_log

    orders = synthetic_log(3_000, 400, seed=seed, mean_basket=12.0 + 8 * seed)
    for floor in (1, 2, 5):
        for threads in (1, 2, 4):
            _assert_counts_equal_dense(xsell.count_pairs(orders, floor, threads=threads), orders, floor)


def test_pair_counts_of_one_huge_basket():
    # one order of 1,500 items among small ones: 1.1 million pairs from one order, counted row by row
    rng = np.random.default_rng(5)
    baskets = [list(range(1_500))] + [rng.choice(1_500, 4, replace=False).tolist() for _ in range(400)]
    orders = _orders_from_baskets(baskets, 1_500)
    for floor in (1, 2):
        _assert_counts_equal_dense(xsell.count_pairs(orders, floor, threads=2), orders, floor)


def test_pair_counts_of_empty_and_single_item_logs():
    empty = xsell.Orders.from_indices(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), items=["a", "b"])
    counts = xsell.count_pairs(empty)
    assert (counts.n_orders, counts.n_pairs, counts.indptr.tolist(), counts.item_counts.tolist()) == (
        0, 0, [0, 0, 0], [0, 0])
    singles = _orders_from_baskets([[0], [1], [0]], 2)
    counts = xsell.count_pairs(singles, 1)
    assert (counts.n_pairs, counts.indptr.tolist(), counts.item_counts.tolist()) == (0, [0, 0, 0], [2, 1])
    _assert_counts_equal_dense(xsell.count_pairs(_orders_from_baskets([[0, 1]], 2), 5), _orders_from_baskets(
        [[0, 1]], 2), 5)


def test_pair_counts_sort_and_merge_lines_given_out_of_order():
    # Orders keeps lines sorted by (order, item) without repeats; lines built by hand otherwise are
    # counted as the binary order x item matrix sees them
    ordered = _orders_from_baskets([[0, 2, 3], [1, 2], [0, 3]], 4)
    shuffled = xsell.Orders(orders=ordered.orders, items=ordered.items,
                            order_index=np.array([2, 0, 1, 0, 2, 1, 0, 0], dtype=np.int32),
                            item_index=np.array([3, 3, 2, 0, 0, 1, 2, 3], dtype=np.int32))
    counts = xsell.count_pairs(shuffled)
    _assert_counts_equal_dense(counts, ordered, 1)
    bad = xsell.Orders(orders=ordered.orders, items=ordered.items, order_index=np.array([0, 5], dtype=np.int32),
                       item_index=np.array([0, 1], dtype=np.int32))
    with pytest.raises(InputError, match=_exact("order lines hold an order or item index out of range")):
        xsell.count_pairs(bad)


def test_pair_counts_on_one_thread_and_many_are_the_same_arrays():
    from xsell.datasets import synthetic_log

    orders = synthetic_log(20_000, 2_000, seed=8, mean_basket=8.0)
    one = xsell.count_pairs(orders, 2, threads=1)
    for threads in (2, 3, None):
        other = xsell.count_pairs(orders, 2, threads=threads)
        for name in ("indptr", "indices", "counts", "item_counts"):
            assert np.array_equal(getattr(one, name), getattr(other, name))


def test_the_cli_says_how_to_keep_big_baskets_in_its_own_words(tmp_path):
    import subprocess
    import sys

    orders = _log_with_one_big_basket().to_frame()
    orders.to_csv(tmp_path / "orders.csv", index=False)

    def rules(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", "rules", "orders.csv",
                               "-o", "r.csv", "--min-support", "0.3", "--max-len", "3", "--json", *extra],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)

    capped = rules()
    assert capped.returncode == 0, capped.stderr
    assert f"warning: {SKIPPED.replace('pass max_basket_items=None', 'pass --max-basket-items 0')}" in \
        capped.stderr.splitlines()
    assert "max_basket_items=None" not in capped.stderr
    assert json.loads(capped.stdout)["orders"] == 10
    kept = rules("--max-basket-items", "0")
    assert kept.returncode == 0 and "warning" not in kept.stderr
    assert json.loads(kept.stdout)["orders"] == 11
