"""Hostile requests: bad ids, bad baskets and meaningless parameters get one exact InputError (or the
exact right answer), through the API and through the real `xsell` entry point.

The id rule under test (xsell.data.idmap.match_key): integer ids match only exact equivalents: ints,
numpy integers, whole floats and the canonical digit string ('1000', '-5', '0'), never '+1000', '01000',
'-0', '00', '1000.0', '1e3', ' 1000', 1000.5 or True; string ids match strings exactly and ints / whole floats by their digits.
"""

from __future__ import annotations

import functools
import math
import re
import sys

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.errors import InputError
from xsell.evaluation import basket_completion, evaluate, metric_curves, temporal_split, tune_hybrid
from xsell.evaluation.runner import compare

# four orders: {a,b,c}, {a,b}, {a,c,d}, {b,c}; the int log is the same with a..d = 1000..1003, plus item 1
LINES = [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (3, "a"), (3, "c"), (3, "d"), (4, "b"), (4, "c")]
INT_OF = {"a": 1000, "b": 1001, "c": 1002, "d": 1003}


def _timed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(customer_id=[f"c{o % 3}" for o in frame["order_id"]],
                        timestamp=pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["order_id"] * 10, "D"))


@functools.cache
def str_orders() -> xsell.Orders:
    return xsell.load_orders(_timed(pd.DataFrame(LINES, columns=["order_id", "item_id"])))


@functools.cache
def int_orders() -> xsell.Orders:
    lines = [(o, INT_OF[i]) for o, i in LINES] + [(5, 1), (5, 1000), (6, 42), (6, 1001)]
    return xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id"]))


@functools.cache
def digits_orders() -> xsell.Orders:
    """String ids that look like numbers: '42', '007', '1000', 'a'."""
    lines = [(1, "42"), (1, "007"), (2, "42"), (2, "a"), (3, "1000"), (3, "007"), (4, "a"), (4, "1000")]
    return xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id"]))


@functools.cache
def cooc() -> xsell.CoOccurrence:
    return xsell.CoOccurrence(min_count=1).fit(str_orders())


@functools.cache
def int_cooc() -> xsell.CoOccurrence:
    return xsell.CoOccurrence(min_count=1).fit(int_orders())


@functools.cache
def digits_cooc() -> xsell.CoOccurrence:
    return xsell.CoOccurrence(min_count=1).fit(digits_orders())


@functools.cache
def knn() -> xsell.ItemKNN:
    return xsell.ItemKNN(on="customers", K=5).fit(str_orders())


@functools.cache
def task() -> tuple:
    train, test = temporal_split(str_orders(), quantile=0.5)
    return train, basket_completion(train, test)


def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


METRIC_LIST = ("antecedent_support, consequent_support, support, confidence, lift, leverage, conviction, "
               "zhangs_metric, jaccard, certainty, kulczynski")
ALL_BASKETS = "baskets must be a DataFrame with basket_id and item_id columns or a mapping basket_id -> item ids"


def _batch(frame_or_mapping, k=3):
    return cooc().recommend_batch(frame_or_mapping, k=k)


def _frame(basket_ids, item_ids) -> pd.DataFrame:
    frame = pd.DataFrame({"basket_id": pd.Series(basket_ids, dtype=object),
                          "item_id": pd.Series(item_ids, dtype=object)})
    return frame


def _rules(**kw):
    return xsell.mine_rules(str_orders(), **{"min_support": 0.25, **kw})


API_CASES = [
    # -- single requests: containers are not ids ------------------------------------------------------
    ("also_bought list", lambda: cooc().also_bought(["a"]),
     "item must be an id (a string or an integer), not a list: ['a']"),
    ("also_bought dict", lambda: cooc().also_bought({"a": 1}),
     "item must be an id (a string or an integer), not a dict: {'a': 1}"),
    ("also_bought tuple", lambda: cooc().also_bought(("a",)),
     "item must be an id (a string or an integer), not a tuple: ('a',)"),
    ("also_bought set", lambda: cooc().also_bought({"a"}),
     "item must be an id (a string or an integer), not a set: {'a'}"),
    ("also_bought int model list", lambda: int_cooc().also_bought([1000]),
     "item must be an id (a string or an integer), not a list: [1000]"),
    ("also_bought k=0", lambda: cooc().also_bought("a", k=0), "k must be a whole number >= 1, got 0"),
    ("also_bought k=True", lambda: cooc().also_bought("a", k=True), "k must be a whole number >= 1, got True"),
    ("also_bought k=2.5", lambda: cooc().also_bought("a", k=2.5), "k must be a whole number >= 1, got 2.5"),
    ("also_bought k='3'", lambda: cooc().also_bought("a", k="3"), "k must be a whole number >= 1, got '3'"),
    ("recommend nested basket", lambda: cooc().recommend([["a", "b"]]),
     "basket must hold ids (strings or integers), not a list: ['a', 'b'] at position 0"),
    ("recommend dict in basket", lambda: cooc().recommend(["a", {"b": 1}]),
     "basket must hold ids (strings or integers), not a dict: {'b': 1} at position 1"),
    ("recommend basket is a dict", lambda: cooc().recommend({"a": 1}),
     "basket must be a list of item ids, not a dict: {'a': 1}"),
    ("recommend set in basket", lambda: cooc().recommend(("a", {"b"})),
     "basket must hold ids (strings or integers), not a set: {'b'} at position 1"),
    ("recommend nested exclude", lambda: cooc().recommend(["a"], exclude=[["b"]]),
     "exclude must hold ids (strings or integers), not a list: ['b'] at position 0"),
    ("recommend k=-1", lambda: cooc().recommend(["a"], k=-1), "k must be a whole number >= 1, got -1"),
    ("recommend k=None", lambda: cooc().recommend(["a"], k=None), "k must be a whole number >= 1, got None"),
    ("recommend customer list", lambda: knn().recommend(["a"], customer=["c1"]),
     "customer must be an id (a string or an integer), not a list: ['c1']"),
    ("for_customer list", lambda: knn().recommend_for_customer(["c1"]),
     "customer must be an id (a string or an integer), not a list: ['c1']"),
    ("for_customer nested exclude", lambda: knn().recommend_for_customer("c1", exclude=[["a"]]),
     "exclude must hold ids (strings or integers), not a list: ['a'] at position 0"),
    ("for_customer k=0", lambda: knn().recommend_for_customer("c1", k=0), "k must be a whole number >= 1, got 0"),
    ("for_customer on cooc", lambda: cooc().recommend_for_customer("c1"),
     "CoOccurrence does not use customers; use ALS, BPR, ItemKNN or Hybrid for recommend_for_customer"),
    # -- batches ----------------------------------------------------------------------------------
    ("batch None", lambda: _batch(None), f"{ALL_BASKETS}, not NoneType"),
    ("batch list", lambda: _batch([["a", "b"]]), f"{ALL_BASKETS}, not list"),
    ("batch basket ids 1 and '1'", lambda: _batch(_frame([1, "1"], ["a", "b"])),
     "baskets column 'basket_id' mixes ids of different types (int and str); give every basket id the same type"),
    ("batch basket ids of three types", lambda: _batch(_frame([1, "x", 2.5], ["a", "b", "c"])),
     "baskets column 'basket_id' mixes ids of different types (int, str and float); "
     "give every basket id the same type"),
    ("batch list basket id", lambda: _batch(_frame(["x", [1]], ["a", "b"])),
     "baskets column 'basket_id' must hold ids (strings or integers), not a list: [1] at row 1 (0-based)"),
    ("batch list item id", lambda: _batch(_frame(["x", "y"], ["a", ["b"]])),
     "baskets column 'item_id' must hold ids (strings or integers), not a list: ['b'] at row 1 (0-based)"),
    ("batch dict item id", lambda: _batch(_frame(["x", "y", "y"], ["a", "b", {"c": 1}])),
     "baskets column 'item_id' must hold ids (strings or integers), not a dict: {'c': 1} at row 2 (0-based)"),
    ("batch duplicate columns",
     lambda: _batch(pd.DataFrame([["x", "a", "b"]], columns=["basket_id", "item_id", "item_id"])),
     "baskets frame has duplicate column names: item_id; each column must appear once"),
    ("batch missing column", lambda: _batch(pd.DataFrame({"basket_id": ["x"], "sku": ["a"]})),
     "baskets frame lacks column(s) item_id; it has: basket_id, sku"),
    ("batch null item", lambda: _batch(_frame(["x", "y"], ["a", None])),
     "baskets column 'item_id' has null values; first rows (0-based): 1"),
    ("batch mapping int value", lambda: _batch({"x": 5}), "baskets['x'] must be a list of item ids, not an int: 5"),
    ("batch mapping None value", lambda: _batch({"x": ["a"], "y": None}),
     "baskets['y'] must be a list of item ids, not None"),
    ("batch mapping dict value", lambda: _batch({"x": {"a": 1}}),
     "baskets['x'] must be a list of item ids, not a dict: {'a': 1}"),
    ("batch mapping nested basket", lambda: _batch({"x": [["a", "b"]]}),
     "baskets['x'] must hold item ids (strings or integers), not a list: ['a', 'b'] at position 0"),
    ("batch mapping nested in second basket", lambda: _batch({"x": ["a"], "y": ["b", ["c"]]}),
     "baskets['y'] must hold item ids (strings or integers), not a list: ['c'] at position 1"),
    ("batch mapping keys 1 and '1'", lambda: _batch({1: ["a"], "1": ["b"]}),
     "the keys of baskets mix ids of different types (int and str); give every basket id the same type"),
    ("batch mapping tuple key", lambda: _batch({(1, 2): ["a"]}),
     "the keys of baskets must hold ids (strings or integers), not a tuple: (1, 2) at position 0"),
    ("batch k=0", lambda: _batch({"x": ["a"]}, k=0), "k must be a whole number >= 1, got 0"),
    ("batch customer list", lambda: knn().recommend_batch(
        pd.DataFrame({"basket_id": ["x"], "item_id": ["a"], "customer_id": pd.Series([["c1"]], dtype=object)})),
     "baskets column 'customer_id' must hold ids (strings or integers), not a list: ['c1'] at row 0 (0-based)"),
    # -- mining ---------------------------------------------------------------------------------------
    ("mine min_support inf", lambda: _rules(min_support=math.inf), "min_support must be in (0, 1], got inf"),
    ("mine min_support nan", lambda: _rules(min_support=math.nan), "min_support must be in (0, 1], got nan"),
    ("mine min_support -0.1", lambda: _rules(min_support=-0.1), "min_support must be in (0, 1], got -0.1"),
    ("mine min_support count", lambda: _rules(min_support=2),
     "min_support must be in (0, 1], got 2; it is a share of orders, not a count: 2 of 4 orders is min_support=0.5"),
    ("mine min_support str", lambda: _rules(min_support="0.1"),
     "min_support must be a number in (0, 1], got '0.1'"),
    ("mine min_support bool", lambda: _rules(min_support=True), "min_support must be a number in (0, 1], got True"),
    ("mine min_confidence nan", lambda: _rules(min_confidence=math.nan),
     "min_confidence must be in [0, 1], got nan"),
    ("mine min_confidence 1.5", lambda: _rules(min_confidence=1.5), "min_confidence must be in [0, 1], got 1.5"),
    ("mine min_confidence str", lambda: _rules(min_confidence="high"),
     "min_confidence must be a number in [0, 1], got 'high'"),
    ("mine min_lift nan", lambda: _rules(min_lift=math.nan),
     "min_lift must be a finite number >= 0 or None, got nan"),
    ("mine min_lift inf", lambda: _rules(min_lift=math.inf),
     "min_lift must be a finite number >= 0 or None, got inf"),
    ("mine min_lift negative", lambda: _rules(min_lift=-1), "min_lift must be a finite number >= 0 or None, got -1"),
    ("mine max_len bool", lambda: _rules(max_len=True),
     "max_len must be a whole number >= 2 (a rule needs two items), got True"),
    ("mine max_len float", lambda: _rules(max_len=2.0),
     "max_len must be a whole number >= 2 (a rule needs two items), got 2.0"),
    ("mine max_len 1", lambda: _rules(max_len=1),
     "max_len must be a whole number >= 2 (a rule needs two items), got 1"),
    ("mine consequents str", lambda: _rules(consequents="whole milk"),
     "consequents must be a list of item ids, got a str: did you mean ['whole milk']?"),
    ("mine antecedents str", lambda: _rules(antecedents="a"),
     "antecedents must be a list of item ids, got a str: did you mean ['a']?"),
    ("mine must_contain int", lambda: _rules(must_contain=5),
     "must_contain must be a list of item ids, got an int: did you mean [5]?"),
    ("mine consequents dict", lambda: _rules(consequents={"a": 1}),
     "consequents must be a list of item ids, got a dict"),
    ("mine consequents unknown", lambda: _rules(consequents=["whole milk", "zz"]),
     "none of the consequents is in the orders ('whole milk', 'zz'), so no rule can match; ids are matched "
     "exactly, as strings or integers like the orders' ids"),
    ("mine consequents empty", lambda: _rules(consequents=[]),
     "consequents is empty, so no rule can match; pass None to keep every rule"),
    ("mine consequents nested", lambda: _rules(consequents=[["a"]]),
     "consequents must hold ids (strings or integers), not a list: ['a'] at position 0"),
    ("mine sort_by", lambda: _rules(sort_by="size"), f"sort_by must be one of {METRIC_LIST}, got 'size'"),
    ("mine top 0", lambda: _rules(top=0), "top must be a whole number >= 1, got 0"),
    ("mine top float", lambda: _rules(top=2.0), "top must be a whole number >= 1, got 2.0"),
    ("mine max_basket_items bool", lambda: _rules(max_basket_items=True),
     "max_basket_items must be 'auto', None or a whole number >= 2, got True"),
    ("mine max_basket_items 1", lambda: _rules(max_basket_items=1),
     "max_basket_items must be 'auto', None or a whole number >= 2, got 1"),
    ("mine a frame", lambda: xsell.mine_rules(pd.DataFrame(LINES), 0.1),
     "mining expects an Orders (from xsell.load_orders), not DataFrame"),
    ("itemsets min_support inf", lambda: xsell.frequent_itemsets(str_orders(), math.inf),
     "min_support must be in (0, 1], got inf"),
    # -- model constructors ---------------------------------------------------------------------------
    ("rules min_lift nan", lambda: xsell.AssociationRules(min_lift=math.nan),
     "min_lift must be a finite number >= 0 or None, got nan"),
    ("rules min_confidence bool", lambda: xsell.AssociationRules(min_confidence=True),
     "min_confidence must be a number in [0, 1], got True"),
    ("rules min_confidence str", lambda: xsell.AssociationRules(min_confidence="x"),
     "min_confidence must be a number in [0, 1], got 'x'"),
    ("rules max_len 4", lambda: xsell.AssociationRules(max_len=4),
     "max_len must be 2 or 3 for AssociationRules, got 4; xsell.mine_rules mines longer rules for review"),
    ("rules max_len 2.0", lambda: xsell.AssociationRules(max_len=2.0),
     "max_len must be 2 or 3 for AssociationRules, got 2.0; xsell.mine_rules mines longer rules for review"),
    ("rules metric", lambda: xsell.AssociationRules(metric="score"),
     f"metric must be one of {METRIC_LIST}, got 'score'"),
    ("rules aggregate", lambda: xsell.AssociationRules(aggregate="mean"),
     "aggregate must be 'max' or 'sum', got 'mean'"),
    ("rules min_support 0", lambda: xsell.AssociationRules(min_support=0), "min_support must be in (0, 1], got 0"),
    ("rules min_support nan", lambda: xsell.AssociationRules(min_support=math.nan),
     "min_support must be in (0, 1], got nan"),
    ("rules max_basket_items 1.5", lambda: xsell.AssociationRules(max_basket_items=1.5),
     "max_basket_items must be 'auto', None or a whole number >= 2, got 1.5"),
    ("cooc min_count bool", lambda: xsell.CoOccurrence(min_count=True),
     "min_count must be a whole number >= 1, got True"),
    ("cooc alpha nan", lambda: xsell.CoOccurrence(alpha=math.nan), "alpha must be in [0, 1], got nan"),
    ("cooc shrinkage inf", lambda: xsell.CoOccurrence(shrinkage=math.inf), "shrinkage must be >= 0, got inf"),
    ("cooc alpha str", lambda: xsell.CoOccurrence(alpha="0.5"), "alpha must be a number in [0, 1], got '0.5'"),
    ("cooc neighbors 0", lambda: xsell.CoOccurrence(neighbors=0),
     "neighbors must be a whole number >= 1 or None, got 0"),
    ("ease l2 inf", lambda: xsell.EASE(l2=math.inf), "l2 must be > 0, got inf"),
    ("ease l2 0", lambda: xsell.EASE(l2=0), "l2 must be > 0, got 0"),
    ("ease max_items 2.0", lambda: xsell.EASE(max_items=2.0), "max_items must be a whole number >= 1, got 2.0"),
    ("popular days True", lambda: xsell.Popular(days=True), "days must be a number > 0 or None, got True"),
    ("popular days inf", lambda: xsell.Popular(days=math.inf), "days must be > 0 or None, got inf"),
    ("hybrid l2 str", lambda: xsell.Hybrid(l2="5"), "l2 must be a number > 0, got '5'"),
    ("bpr learning_rate nan", lambda: xsell.BPR(learning_rate=math.nan), "learning_rate must be > 0, got nan"),
    ("als factors bool", lambda: xsell.ALS(factors=True), "factors must be a whole number >= 1, got True"),
    ("itemknn K float", lambda: xsell.ItemKNN(K=2.5), "K must be a whole number >= 1, got 2.5"),
    # -- evaluation -----------------------------------------------------------------------------------
    ("evaluate k=0", lambda: evaluate(cooc(), task()[1], task()[0], k=0), "k must be a whole number >= 1, got 0"),
    ("evaluate k=True", lambda: evaluate(cooc(), task()[1], task()[0], k=True),
     "k must be a whole number >= 1, got True"),
    ("evaluate k=2.5", lambda: evaluate(cooc(), task()[1], task()[0], k=2.5),
     "k must be a whole number >= 1, got 2.5"),
    ("evaluate k=-3", lambda: evaluate(cooc(), task()[1], task()[0], k=-3), "k must be a whole number >= 1, got -3"),
    ("evaluate task frame", lambda: evaluate(cooc(), task()[1].baskets, task()[0]),
     "task must be a BasketTask (from basket_completion or next_order), not DataFrame"),
    ("curves ks [0]", lambda: metric_curves(cooc().recommend_batch(task()[1].baskets, k=3), task()[1], task()[0], [0]),
     "ks must be a non-empty list of whole numbers >= 1, got [0]"),
    ("curves ks []", lambda: metric_curves(cooc().recommend_batch(task()[1].baskets, k=3), task()[1], task()[0], []),
     "ks must be a non-empty list of whole numbers >= 1, got []"),
    ("curves ks float", lambda: metric_curves(cooc().recommend_batch(task()[1].baskets, k=3), task()[1],
                                              task()[0], [1, 2.5]),
     "ks must be a non-empty list of whole numbers >= 1, got [1, 2.5]"),
    ("curves ks int", lambda: metric_curves(cooc().recommend_batch(task()[1].baskets, k=3), task()[1], task()[0], 5),
     "ks must be a non-empty list of whole numbers >= 1, got 5"),
    ("curves recs without rank", lambda: metric_curves(pd.DataFrame({"basket_id": [], "item_id": []}), task()[1],
                                                       task()[0], [1]),
     "recs lacks column(s) rank (a recommend_batch result has basket_id, rank, item_id, score)"),
    ("hide 0", lambda: basket_completion(*temporal_split(str_orders(), quantile=0.5), hide=0),
     "hide must be a whole number >= 1, got 0"),
    ("seed -1", lambda: basket_completion(*temporal_split(str_orders(), quantile=0.5), seed=-1),
     "seed must be a whole number >= 0, got -1"),
    ("quantile 1.0", lambda: temporal_split(str_orders(), quantile=1.0), "quantile must be in (0, 1), got 1.0"),
    ("quantile nan", lambda: temporal_split(str_orders(), quantile=math.nan), "quantile must be in (0, 1), got nan"),
    ("quantile str", lambda: temporal_split(str_orders(), quantile="0.8"), "quantile must be in (0, 1), got '0.8'"),
    ("split at", lambda: temporal_split(str_orders(), at="not a date"),
     "at must be a time (a timestamp or a date string), got 'not a date'"),
    ("compare task", lambda: compare(str_orders(), ["cooc"], task="next_order"),
     "unknown task 'next_order'; choose from basket-completion, next-order"),
    ("compare split", lambda: compare(str_orders(), ["cooc"], split="random"),
     "unknown split 'random'; choose from temporal, leave-last-out"),
    ("compare models str", lambda: compare(str_orders(), "cooc"),
     "models must be a list of model names, got a str: did you mean ['cooc']?"),
    ("compare unknown model", lambda: compare(str_orders(), ["knn"]),
     "unknown model(s) knn; choose from cooccurrence, association_rules, als, bpr, itemknn, ease, popular, hybrid"),
    ("compare k=0", lambda: compare(str_orders(), ["cooc"], k=0), "k must be a whole number >= 1, got 0"),
    ("tune task", lambda: tune_hybrid(str_orders(), task="next_order"),
     "unknown task 'next_order'; choose from basket-completion, next-order"),
    ("tune empty grid", lambda: tune_hybrid(str_orders(), grid={"l2": []}),
     "grid['l2'] must be a non-empty list of finite numbers > 0, got []"),
    ("tune nan weight", lambda: tune_hybrid(str_orders(), grid={"history_weight": [0.1, math.nan]}),
     "grid['history_weight'] must be a non-empty list of finite numbers >= 0, got [0.1, nan]"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_bad_request_gets_one_exact_input_error(call, message):
    with pytest.raises(InputError, match=_exact(message)):
        call()


# -- the id rule: one table through recommend, also_bought and recommend_batch --------------------------
ID_TABLE = [
    # (model, given id, the id it must match or None)
    ("int", 1000, 1000), ("int", np.int64(1000), 1000), ("int", np.int32(1000), 1000), ("int", np.uint16(1000), 1000),
    ("int", 1000.0, 1000), ("int", np.float32(1000.0), 1000), ("int", "1000", 1000), ("int", "+1000", None),
    ("int", "01000", None), ("int", "-0", None), ("int", "00", None), ("int", "-1000", None), ("int", "+1", None),
    ("int", "01", None), ("int", np.str_("1000"), 1000), ("int", 1, 1), ("int", "1", 1), ("int", 1.0, 1),
    ("int", 1000.5, None), ("int", "1000.9", None), ("int", "1.0e3", None), ("int", "1e3", None),
    ("int", "1000.0", None), ("int", " 1000", None), ("int", "1000 ", None), ("int", "1_000", None),
    ("int", "١٠٠٠", None), ("int", True, None), ("int", np.True_, None), ("int", math.nan, None),
    ("int", math.inf, None), ("int", b"1000", None), ("int", -1000, None), ("int", 2**70, None),
    ("int", "9" * 30, None), ("int", "0" * 25 + "1000", None),
    ("int", "0" * 10 + "1", None), ("int", "-" + "0" * 25 + "1000", None),
    ("str", "42", "42"), ("str", np.str_("42"), "42"), ("str", 42, "42"), ("str", np.int64(42), "42"),
    ("str", 42.0, "42"), ("str", 42.5, None), ("str", "42.0", None), ("str", " 42", None), ("str", 7, None),
    ("str", "007", "007"), ("str", 1000, "1000"), ("str", 1e3, "1000"), ("str", True, None), ("str", "A", None),
    ("str", "a", "a"), ("str", b"a", None), ("str", math.nan, None),
]


def _model(kind):
    return int_cooc() if kind == "int" else digits_cooc()


def _same(got, want):
    assert got.items == want.items
    np.testing.assert_array_equal(got.scores, want.scores)
    assert got.fallback == want.fallback


@pytest.mark.parametrize("kind, given, match", ID_TABLE, ids=[f"{k}-{g!r}" for k, g, _ in ID_TABLE])
def test_id_rule_single_requests(kind, given, match):
    model = _model(kind)
    if match is None:
        assert model.items_.index_of(given) == -1
        assert model.also_bought(given, k=3).fallback is True
        _same(model.recommend([given], k=3), model.recommend([], k=3))
    else:
        assert model.items_.ids[model.items_.index_of(given)] == match
        _same(model.also_bought(given, k=3), model.also_bought(match, k=3))
        _same(model.recommend([given], k=3), model.recommend([match], k=3))
        assert match not in model.recommend([given], k=10).items


@pytest.mark.parametrize("kind", ["int", "str"])
def test_id_rule_batch_agrees_with_single_requests(kind):
    model = _model(kind)
    rows = [(given, match) for k, given, match in ID_TABLE if k == kind]
    expected = {i: model.recommend([match] if match is not None else [], k=3) for i, (_, match) in enumerate(rows)}
    # a frame refuses null item ids (nulls are not ids); a mapping's NaN is simply unknown
    shown = [i for i, (g, _) in enumerate(rows) if not (isinstance(g, float) and math.isnan(g))]
    mixed = pd.DataFrame({"basket_id": shown, "item_id": pd.Series([rows[i][0] for i in shown], dtype=object)})
    mapping = {i: [g] for i, (g, _) in enumerate(rows)}
    for frame in (model.recommend_batch(mixed, k=3), model.recommend_batch(mapping, k=3)):
        for i in pd.unique(frame["basket_id"]).tolist():
            want = expected[i]
            got = frame[frame["basket_id"] == i]
            assert got["item_id"].tolist() == want.items, rows[i]
            assert len(frame[frame["basket_id"] == i]) == len(want)
            np.testing.assert_array_equal(got["score"].to_numpy(), want.scores)
    # one value per typed column (int64, float64, str, bool columns), as a reader would build them
    for i, (given, _) in enumerate(rows):
        if i not in shown or isinstance(given, (bytes, np.str_)) or (isinstance(given, int) and abs(given) > 2**62):
            continue
        got = model.recommend_batch(pd.DataFrame({"basket_id": [0], "item_id": [given]}), k=3)
        assert got["item_id"].tolist() == expected[i].items, rows[i]


def test_id_rule_integral_floats_from_a_column_with_nulls():
    """Integer ids that a null elsewhere turned into floats still match, also as customers."""
    model = int_cooc()
    frame = pd.DataFrame({"basket_id": ["x", "x", "y"], "item_id": [1000.0, 1001.0, 1000.5]})
    got = model.recommend_batch(frame, k=2)
    assert got[got["basket_id"] == "x"]["item_id"].tolist() == model.recommend([1000, 1001], k=2).items
    assert got[got["basket_id"] == "y"]["item_id"].tolist() == model.recommend([], k=2).items
    assert got.attrs["fallback_baskets"] == 1


@pytest.mark.parametrize("given, key", [("0", 0), ("-5", -5), ("1000", 1000), ("-9223372036854775808", -(2**63)),
                                        ("-0", None), ("00", None), ("+0", None), ("-05", None), ("007", None),
                                        ("9223372036854775808", None), ("0" * 20 + "7", None)])
def test_only_the_canonical_digit_string_is_an_integer_key(given, key):
    """One rule: match_key (single requests) and the vectorised keys (batch) agree."""
    from xsell.data.idmap import _digit_keys, match_key

    assert match_key(given, True) == key
    keys, ok = _digit_keys(np.array([given, "1"]))
    assert ok.tolist() == [key is not None, True]
    assert keys.tolist() == ([key] if key is not None else []) + [1]
    assert match_key(given, False) == given  # a string-id model: the string as it is


def test_string_id_model_finds_a_string_from_an_int():
    model = digits_cooc()
    _same(model.recommend([42], k=3), model.recommend(["42"], k=3))
    assert model.recommend([42], k=3).fallback is False


# -- a DataFrame is not a basket; basket ids have a length cap in the batch path --------------------------
DF_BASKET = "basket must be a list of item ids, not a DataFrame (for many baskets use recommend_batch)"


@pytest.mark.parametrize("call, message", [
    (lambda: cooc().recommend(pd.DataFrame({"item_id": ["a", "b"]}), k=3), DF_BASKET),
    (lambda: cooc().recommend(pd.DataFrame({"basket_id": [1, 1], "item_id": ["a", "b"]}), k=3), DF_BASKET),
    (lambda: cooc().recommend(pd.DataFrame(), k=3), DF_BASKET),
    (lambda: int_cooc().recommend(pd.DataFrame({1000: [1]}), k=3), DF_BASKET),  # a column named like an item
    (lambda: cooc().recommend(["a"], k=3, exclude=pd.DataFrame({"item_id": ["b"]})),
     "exclude must be a list of item ids, not a DataFrame"),
    (lambda: knn().recommend(pd.DataFrame({"item_id": ["a"]}), k=3, customer="c1"), DF_BASKET),
    (lambda: knn().recommend_for_customer("c1", k=3, exclude=pd.DataFrame({"item_id": ["b"]})),
     "exclude must be a list of item ids, not a DataFrame"),
], ids=["one-column", "batch-frame", "empty-frame", "column-named-1000", "exclude", "customer-model",
        "recommend-for-customer-exclude"])
def test_a_dataframe_basket_is_refused(call, message):
    with pytest.raises(InputError, match=_exact(message)):
        call()


def test_a_series_basket_and_exclude_are_lists_of_ids():
    model = cooc()
    _same(model.recommend(pd.Series(["a", "b"]), k=3), model.recommend(["a", "b"], k=3))
    _same(model.recommend(pd.Series(["a"]), k=3, exclude=pd.Series(["c"])), model.recommend(["a"], k=3, exclude=["c"]))
    _same(knn().recommend_for_customer("c1", k=3, exclude=np.array(["b"])),
          knn().recommend_for_customer("c1", k=3, exclude=["b"]))


@pytest.mark.parametrize("make, message", [
    (lambda ids: pd.DataFrame({"basket_id": pd.Series(ids, dtype=object), "item_id": "a"}),
     "baskets column 'basket_id' has an id of 20,000 characters at row {row} (0-based); "
     "ids may be at most 256 characters"),
    (lambda ids: pd.DataFrame({"basket_id": pd.Series(ids, dtype="string"), "item_id": "a"}),
     "baskets column 'basket_id' has an id of 20,000 characters at row {row} (0-based); "
     "ids may be at most 256 characters"),
    (lambda ids: pd.DataFrame({"basket_id": pd.Series(ids, dtype="category"), "item_id": "a"}),
     "baskets column 'basket_id' has an id of 20,000 characters at row {row} (0-based); "
     "ids may be at most 256 characters"),
    (lambda ids: dict.fromkeys(ids, ["a"]),
     "the keys of baskets have an id of 20,000 characters at position {row}; ids may be at most 256 characters"),
], ids=["object-column", "string-column", "category-column", "mapping-keys"])
@pytest.mark.parametrize("row", [0, 123_456])
def test_a_long_basket_id_is_refused_before_a_wide_array_is_built(make, message, row):
    import time
    import tracemalloc

    ids = [f"b{i}" for i in range(200_000)]
    ids[row] = "x" * 20_000
    baskets = make(ids)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError, match=_exact(message.format(row=row))):
            cooc().recommend_batch(baskets, k=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, peak  # <U20000 for 200,000 rows would be 16 GB
    assert time.perf_counter() - start < 5


def test_a_basket_id_of_256_characters_is_kept():
    long_id = "x" * 256
    got = cooc().recommend_batch(pd.DataFrame({"basket_id": [long_id, "b"], "item_id": ["a", "a"]}), k=2)
    assert set(got["basket_id"]) == {long_id, "b"}
    got = cooc().recommend_batch({long_id: ["a"]}, k=2)
    assert set(got["basket_id"]) == {long_id}


def test_unknown_consequents_next_to_known_ones_are_ignored():
    assert _rules(consequents=["d", "zzz"]).equals(_rules(consequents=["d"]))
    assert len(_rules(consequents=["d"])) == 2


# -- the real `xsell` entry point -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    orders = folder / "orders.csv"
    _timed(pd.DataFrame(LINES, columns=["order_id", "item_id"])).to_csv(orders, index=False)
    int_orders_path = folder / "int_orders.parquet"
    int_orders().to_frame().to_parquet(int_orders_path)
    int_model = folder / "int.xsell"
    xsell.save_model(int_cooc(), int_model)
    return {"orders": str(orders), "int_model": str(int_model), "tmp": str(folder)}


def _main(args, capsys, monkeypatch):
    from xsell.cli import main

    monkeypatch.setattr(sys, "argv", ["xsell", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    out, err = capsys.readouterr()
    return stop.value.code, out, err


CLI_CASES = [
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--min-support", "inf"], "min_support must be in (0, 1], got inf"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--min-support", "nan"], "min_support must be in (0, 1], got nan"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--min-support", "0"], "min_support must be in (0, 1], got 0.0"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--min-support", "3"],
     "min_support must be in (0, 1], got 3.0; it is a share of orders, not a count: 3 of 4 orders is "
     "min_support=0.75"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--min-confidence", "nan"],
     "min_confidence must be in [0, 1], got nan"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--min-lift", "inf"],
     "min_lift must be a finite number >= 0 or None, got inf"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--max-len", "1"],
     "max_len must be a whole number >= 2 (a rule needs two items), got 1"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--top", "0"], "top must be a whole number >= 1, got 0"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--max-basket-items", "1"],
     "max_basket_items must be 'auto', None or a whole number >= 2, got 1"),
    (["evaluate", "{orders}", "--quantile", "1.5"], "quantile must be in (0, 1), got 1.5"),
    (["fit", "{orders}", "-o", "{tmp}/m.xsell", "--model", "rules", "--max-len", "4"],
     "max_len must be 2 or 3 for AssociationRules, got 4; xsell.mine_rules mines longer rules for review"),
    (["fit", "{orders}", "-o", "{tmp}/m.xsell", "--model", "rules", "--min-support", "0"],
     "min_support must be in (0, 1], got 0.0"),
]


@pytest.mark.parametrize("args, message", CLI_CASES, ids=[" ".join(a[0:1] + a[4:]) for a, _ in CLI_CASES])
def test_cli_data_errors_are_one_error_line_and_exit_1(cli_files, capsys, monkeypatch, args, message):
    code, _, err = _main([a.format(**cli_files) for a in args], capsys, monkeypatch)
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [f"error: {message}"]
    assert "Traceback" not in err


@pytest.mark.parametrize("args, option, choices", [
    (["evaluate", "{orders}", "--task", "next_order"], "--task", "'basket-completion', 'next-order'"),
    (["evaluate", "{orders}", "--split", "random"], "--split", "'temporal', 'leave-last-out'"),
    (["fit", "{orders}", "-o", "{tmp}/m.xsell", "--model", "knn"], "--model",
     "'knn' is not one of 'cooccurrence', 'association_rules', 'als', 'bpr', 'itemknn', 'ease', 'popular', "
     "'hybrid', 'cooc', 'rules'"),
    (["evaluate", "{orders}", "--models", "cooc,knn"], "--models",
     "'knn': choose from cooccurrence, association_rules, als, bpr, itemknn, ease, popular, hybrid"),
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--sort", "size"], "--sort",
     "'size' is not one of " + ", ".join(f"'{m}'" for m in METRIC_LIST.split(", "))),
    (["fit", "{orders}", "-o", "{tmp}/m.xsell", "--model", "rules", "--metric", "score"], "--metric",
     "'score' is not one of " + ", ".join(f"'{m}'" for m in METRIC_LIST.split(", "))),
])
def test_cli_unknown_choices_are_usage_errors_before_any_data_is_read(cli_files, capsys, monkeypatch, args, option,
                                                                       choices):
    code, out, err = _main([a.format(**cli_files) for a in args], capsys, monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert (code, out, len(errors)) == (2, "", 1) and errors == err.splitlines()  # no load report: nothing read
    assert errors[0].startswith(f"error: Invalid value for '{option}'") and choices in errors[0]


@pytest.mark.parametrize("typed, canonical", [("1000", "1000")])
def test_cli_digit_strings_find_integer_ids(cli_files, capsys, monkeypatch, typed, canonical):
    code, typed_out, _ = _main(["also-bought", cli_files["int_model"], typed, "--json"], capsys, monkeypatch)
    assert code == 0
    _, plain_out, _ = _main(["also-bought", cli_files["int_model"], canonical, "--json"], capsys, monkeypatch)
    assert typed_out.replace(typed, canonical) == plain_out


@pytest.mark.parametrize("typed", ["1000.5", "1e3", " 1000", "+1000", "01000", "00"])
def test_cli_near_miss_ids_get_the_popular_items(cli_files, capsys, monkeypatch, typed):
    code, out, err = _main(["recommend", cli_files["int_model"], typed, "-k", "2"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "(no known item: showing popular items)"
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["1000", "1001"]


def test_cli_usage_error_exits_2(cli_files, capsys, monkeypatch):
    code, _, err = _main(["also-bought", cli_files["int_model"], "1000", "-k", "0"], capsys, monkeypatch)
    assert code == 2
    assert len([line for line in err.splitlines() if line.startswith("error: ")]) == 1
    assert "Traceback" not in err
