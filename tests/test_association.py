"""The association-rules recommender: scores by hand, explanations, batch equality, agreement
with mine_rules, parameter validation and model files."""

from __future__ import annotations

import io
import math
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xsell
from tests.conftest import assert_same_answers
from xsell import AssociationRules, InputError, ModelFileError, NotFittedError, mine_rules


def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


# tiny fixture: orders {a,b,c}, {a,b}, {a,c,d}, {b,c}; N=4.
# s(a)=s(b)=s(c)=3/4, s(d)=1/4; s(ab)=s(ac)=s(bc)=1/2, s(ad)=s(cd)=1/4; s(abc)=s(acd)=1/4.
# single-consequent rules at min_support 0.25:
#   a->b, b->a, a->c, c->a, b->c, c->b: support 1/2, confidence 2/3, lift 8/9
#   a->d, c->d: support 1/4, confidence 1/3, lift 4/3;  d->a, d->c: support 1/4, confidence 1, lift 4/3
#   ab->c, ac->b, bc->a: support 1/4, confidence 1/2, lift 2/3
#   ac->d: support 1/4, confidence 1/2, lift 2;  ad->c, cd->a: support 1/4, confidence 1, lift 4/3
def _model(tiny_orders, **kwargs) -> AssociationRules:
    return AssociationRules(**{"min_support": 0.25, **kwargs}).fit(tiny_orders)


# -- protocol ------------------------------------------------------------------------------------------
def test_fit_returns_the_model(tiny_orders):
    model = AssociationRules(min_support=0.25)
    assert model.fit(tiny_orders) is model
    assert model.n_items == 4
    assert model.n_rules == 10
    assert _model(tiny_orders, max_len=3).n_rules == 10 + 6


def test_also_bought_ranks_by_confidence(tiny_orders):
    model = _model(tiny_orders)
    result = model.also_bought("a")
    assert result.items == ["b", "c", "d"]  # b and c tie at 2/3: lower index (seen first) first
    assert result.scores.tolist() == [pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(1 / 3)]
    assert result.fallback is False
    d = model.also_bought("d")
    assert d.items == ["a", "c"]
    assert d.scores.tolist() == [pytest.approx(1.0), pytest.approx(1.0)]
    assert model.also_bought("a", k=1).items == ["b"]


def test_also_bought_ranks_by_lift_and_explains(tiny_orders):
    model = _model(tiny_orders, metric="lift")
    frame = model.also_bought("a").to_frame()
    assert list(frame.columns) == ["item_id", "score", "rule", "support", "confidence", "lift"]
    assert frame["item_id"].tolist() == ["d", "b", "c"]
    assert frame["rule"].tolist() == ["a -> d", "a -> b", "a -> c"]
    np.testing.assert_allclose(frame["score"], [4 / 3, 8 / 9, 8 / 9])
    np.testing.assert_allclose(frame["support"], [1 / 4, 1 / 2, 1 / 2])
    np.testing.assert_allclose(frame["confidence"], [1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(frame["lift"], [4 / 3, 8 / 9, 8 / 9])


def test_also_bought_uses_single_item_antecedents_only(tiny_orders):
    # with max_len=3, ac -> d (lift 2) exists but is not a rule of {a} alone
    model = _model(tiny_orders, max_len=3, metric="lift")
    result = model.also_bought("a")
    assert result.items == ["d", "b", "c"]
    assert result.scores.tolist() == [pytest.approx(4 / 3), pytest.approx(8 / 9), pytest.approx(8 / 9)]


def test_recommend_max_and_sum_with_pair_rules_by_confidence(tiny_orders):
    # basket {a, c}: b from a->b, c->b (2/3 each) and ac->b (1/2); d from a->d, c->d (1/3 each) and ac->d (1/2)
    best = _model(tiny_orders, max_len=3).recommend(["a", "c"])
    assert best.items == ["b", "d"]
    assert best.scores.tolist() == [pytest.approx(2 / 3), pytest.approx(1 / 2)]
    total = _model(tiny_orders, max_len=3, aggregate="sum").recommend(["a", "c"])
    assert total.items == ["b", "d"]
    assert total.scores.tolist() == [pytest.approx(2 / 3 + 2 / 3 + 1 / 2), pytest.approx(1 / 3 + 1 / 3 + 1 / 2)]
    # without triples the pair rules are gone
    pairs_only = _model(tiny_orders, aggregate="sum").recommend(["a", "c"])
    assert pairs_only.scores.tolist() == [pytest.approx(4 / 3), pytest.approx(2 / 3)]


def test_recommend_max_and_sum_with_pair_rules_by_lift(tiny_orders):
    # basket {a, c}: d from a->d, c->d (4/3 each) and ac->d (2); b from a->b, c->b (8/9 each) and ac->b (2/3)
    best = _model(tiny_orders, max_len=3, metric="lift")
    result = best.recommend(["a", "c"])
    assert result.items == ["d", "b"]
    assert result.scores.tolist() == [pytest.approx(2.0), pytest.approx(8 / 9)]
    total = _model(tiny_orders, max_len=3, metric="lift", aggregate="sum").recommend(["a", "c"])
    assert total.items == ["d", "b"]
    assert total.scores.tolist() == [pytest.approx(4 / 3 + 4 / 3 + 2), pytest.approx(8 / 9 + 8 / 9 + 2 / 3)]
    two = _model(tiny_orders, metric="lift").recommend(["a", "c"])
    assert two.scores.tolist() == [pytest.approx(4 / 3), pytest.approx(8 / 9)]


def test_to_frame_names_the_best_matching_rule(tiny_orders):
    frame = _model(tiny_orders, max_len=3, metric="lift").recommend(["a", "c"]).to_frame()
    assert list(frame.columns) == ["item_id", "score", "rule", "support", "confidence", "lift"]
    d, b = frame.iloc[0], frame.iloc[1]
    assert (d["item_id"], d["rule"]) == ("d", "a & c -> d")
    assert (d["support"], d["confidence"], d["lift"]) == (pytest.approx(1 / 4), pytest.approx(1 / 2), pytest.approx(2.0))
    assert b["item_id"] == "b"
    assert b["rule"] in ("a -> b", "c -> b")  # both at lift 8/9; the pair rule ac -> b only reaches 2/3
    assert (b["support"], b["confidence"], b["lift"]) == (pytest.approx(1 / 2), pytest.approx(2 / 3), pytest.approx(8 / 9))
    # by confidence, d's best rule is still the pair rule (1/2 against 1/3)
    frame = _model(tiny_orders, max_len=3, aggregate="sum").recommend(["a", "c"]).to_frame()
    assert frame.set_index("item_id").loc["d", "rule"] == "a & c -> d"
    # a single rule wins for d in basket {a, b}: only a -> d matches
    frame = _model(tiny_orders, max_len=3).recommend(["a", "b"]).to_frame().set_index("item_id")
    assert frame.loc["d", "rule"] == "a -> d"
    assert frame.loc["c", "rule"] in ("a -> c", "b -> c")


def test_pair_rules_alone_drive_recommendations(tiny_orders):
    # min_lift 1.5 keeps only ac -> d (lift 2) among single-consequent rules
    model = _model(tiny_orders, max_len=3, metric="lift", min_lift=1.5)
    assert model.n_rules == 1
    result = model.recommend(["a", "c"])
    assert result.items == ["d"]
    assert result.scores.tolist() == [pytest.approx(2.0)]
    assert result.to_frame()["rule"].tolist() == ["a & c -> d"]
    assert model.recommend(["b", "c", "a"]).items == ["d"]
    single = model.recommend(["a"], k=2)  # a alone matches no rule: popular items, flagged
    assert single.fallback is True
    assert single.items == ["b", "c"]
    batch = model.recommend_batch({"x": ["c", "a"], "y": ["a"]}, k=2)
    assert batch[batch.basket_id == "x"]["item_id"].tolist() == ["d"]
    assert batch[batch.basket_id == "x"]["score"].tolist() == [pytest.approx(2.0)]
    assert batch[batch.basket_id == "y"]["item_id"].tolist() == ["b", "c"]
    assert batch.attrs["fallback_baskets"] == 1


def test_basket_items_and_excluded_items_never_come_back(tiny_orders):
    model = _model(tiny_orders, max_len=3)
    assert model.recommend(["a", "c"], exclude=["d"]).items == ["b"]
    assert model.recommend(["a", "c"], exclude=["b"]).items == ["d"]
    for basket in (["a"], ["a", "b"], ["a", "c"], ["d"], ["a", "b", "c"]):
        assert not set(model.recommend(basket).items) & set(basket)
    assert model.recommend(["a", "b", "c"]).items == ["d"]


def test_unknown_ids_are_ignored_and_unknown_baskets_fall_back(tiny_orders):
    model = _model(tiny_orders, max_len=3)
    with_unknown = model.recommend(["a", "zzz", "c"])
    plain = model.recommend(["a", "c"])
    assert with_unknown.items == plain.items
    assert np.array_equal(with_unknown.scores, plain.scores)
    fallback = model.recommend(["zzz"], k=2)
    assert fallback.fallback is True
    assert fallback.items == ["a", "b"]  # a, b, c in 3 orders each: lower index first
    assert fallback.scores.tolist() == [3.0, 3.0]
    frame = fallback.to_frame()
    assert frame["rule"].tolist() == ["", ""]
    assert frame["support"].tolist() == [0.75, 0.75]
    assert frame["confidence"].isna().all() and frame["lift"].isna().all()
    assert model.also_bought("zzz", k=1).fallback is True
    assert model.recommend(["a"]).fallback is False


def test_a_known_item_without_rules_falls_back_to_popular(tiny_orders):
    model = AssociationRules(min_support=0.5).fit(tiny_orders)  # d is in 1 of 4 orders: no rule has it
    assert model.also_bought("d").items == []
    result = model.recommend(["d"], k=3)
    assert result.fallback is True
    assert result.items == ["a", "b", "c"]


def test_use_before_fit_says_so():
    with pytest.raises(NotFittedError, match=_exact(
            "this AssociationRules is not fitted yet; call fit(orders) first")):
        AssociationRules().recommend(["a"])


def test_conviction_ranks_certain_rules_first_without_warnings(tiny_orders):
    # d -> a and d -> c hold in every order with d: conviction inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = _model(tiny_orders, metric="conviction")
    d = model.also_bought("d")
    assert d.items == ["a", "c"]
    assert d.scores.tolist() == [math.inf, math.inf]
    a = model.also_bought("a")
    assert a.items == ["d", "b", "c"]  # (3/4) / (2/3) = 9/8, then (1/4) / (1/3) = 3/4 twice
    assert a.scores.tolist() == [pytest.approx(9 / 8), pytest.approx(3 / 4), pytest.approx(3 / 4)]


# -- batch ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shop_lines(shop) -> pd.DataFrame:
    lines = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})
    return lines[lines["basket_id"].isin(lines["basket_id"].unique()[:300])][["basket_id", "item_id"]]


@pytest.mark.parametrize("max_len", [2, 3])
@pytest.mark.parametrize("aggregate, metric", [("max", "confidence"), ("sum", "confidence"), ("sum", "leverage")])
def test_batch_equals_one_by_one(shop, shop_lines, max_len, aggregate, metric):
    model = AssociationRules(min_support=0.001, max_len=max_len, aggregate=aggregate, metric=metric).fit(shop.orders)
    batch = model.recommend_batch(shop_lines, k=5, explain=True)  # with the rule behind each row
    fallbacks = 0
    n_baskets = 0
    for basket_id, items in shop_lines.groupby("basket_id")["item_id"]:
        single = model.recommend(items.tolist(), k=5)
        fallbacks += single.fallback
        n_baskets += 1
        got = batch[batch["basket_id"] == basket_id]
        assert got["item_id"].tolist() == single.items
        assert np.array_equal(got["score"].to_numpy(), single.scores)  # same floats, not just close
        assert got["rank"].tolist() == list(range(1, len(single) + 1))
        explained = single.to_frame()
        assert got["rule"].tolist() == explained["rule"].tolist()
        for stat in ("support", "confidence", "lift"):
            assert np.array_equal(got[stat].to_numpy(), explained[stat].to_numpy(), equal_nan=True)
    assert n_baskets == 300
    assert batch.attrs["fallback_baskets"] == fallbacks
    assert fallbacks < 30  # most baskets are answered by rules


def test_batch_on_the_tiny_fixture_by_hand(tiny_orders):
    model = _model(tiny_orders, max_len=3, metric="lift")
    frame = model.recommend_batch({"x": ["a", "c"], "y": ["zzz"]}, k=2)
    assert list(frame.columns) == ["basket_id", "rank", "item_id", "score"]
    x = frame[frame.basket_id == "x"]
    assert x["item_id"].tolist() == ["d", "b"]
    assert x["score"].tolist() == [pytest.approx(2.0), pytest.approx(8 / 9)]
    assert frame[frame.basket_id == "y"]["item_id"].tolist() == ["a", "b"]
    assert frame.attrs["fallback_baskets"] == 1
    explained = model.recommend_batch({"x": ["a", "c"], "y": ["zzz"]}, k=2, explain=True)
    assert explained["rule"].tolist() == ["a & c -> d", explained["rule"][1], "", ""]
    assert explained["rule"][1] in ("a -> b", "c -> b")  # both at lift 8/9
    assert explained["lift"][:2].tolist() == [pytest.approx(2.0), pytest.approx(8 / 9)]
    assert explained["confidence"][2:].isna().all() and explained["lift"][2:].isna().all()


# -- the rules behind the model -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"min_support": 0.001, "max_len": 2},
    {"min_support": 0.001, "max_len": 3},
    {"min_support": 0.002, "max_len": 3, "min_confidence": 0.2, "min_lift": 1.5},
])
def test_rules_match_mine_rules_with_single_consequents(shop, kwargs):
    model = AssociationRules(**kwargs).fit(shop.orders)
    ours = model.rules()
    assert list(ours.columns) == ["antecedents", "consequent", "support", "confidence", "lift", "score"]
    mined = mine_rules(shop.orders, kwargs["min_support"], kwargs.get("min_confidence", 0.0),
                       kwargs["max_len"], min_lift=kwargs.get("min_lift"))
    mined = mined[mined["consequents"].map(len) == 1]
    assert len(mined) > 100
    assert len(ours) == len(mined) == model.n_rules
    want = {(frozenset(a), c[0]): (s, conf, lift) for a, c, s, conf, lift in
            zip(mined["antecedents"], mined["consequents"], mined["support"], mined["confidence"], mined["lift"],
                strict=True)}
    got = {(frozenset(a), c): (s, conf, lift) for a, c, s, conf, lift in
           zip(ours["antecedents"], ours["consequent"], ours["support"], ours["confidence"], ours["lift"],
               strict=True)}
    assert got.keys() == want.keys()
    keys = list(want)
    np.testing.assert_allclose([got[k] for k in keys], [want[k] for k in keys], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(ours["score"], ours["confidence"])  # the default metric
    if kwargs["max_len"] == 3:
        assert ours["antecedents"].map(len).max() == 2


def test_rules_by_hand_on_the_tiny_fixture(tiny_orders):
    rules = _model(tiny_orders, max_len=3, metric="lift").rules()
    table = {(a, c): (s, conf, lift, score) for a, c, s, conf, lift, score in rules.itertuples(index=False)}
    assert len(table) == 16
    assert table[(("a", "c"), "d")] == (pytest.approx(1 / 4), pytest.approx(1 / 2), pytest.approx(2.0),
                                        pytest.approx(2.0))
    assert table[(("d",), "a")] == (pytest.approx(1 / 4), pytest.approx(1.0), pytest.approx(4 / 3),
                                    pytest.approx(4 / 3))
    assert table[(("a", "b"), "c")] == (pytest.approx(1 / 4), pytest.approx(1 / 2), pytest.approx(2 / 3),
                                        pytest.approx(2 / 3))


# -- parameters -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"max_len": 4}, ("max_len must be 2 or 3 for AssociationRules, got 4; "
                      "xsell.mine_rules mines longer rules for review")),
    ({"max_len": 1}, ("max_len must be 2 or 3 for AssociationRules, got 1; "
                      "xsell.mine_rules mines longer rules for review")),
    ({"metric": "count"}, ("metric must be one of antecedent_support, consequent_support, support, confidence, "
                           "lift, leverage, conviction, zhangs_metric, jaccard, certainty, kulczynski, got 'count'")),
    ({"aggregate": "mean"}, "aggregate must be 'max' or 'sum', got 'mean'"),
    ({"min_support": 0}, "min_support must be in (0, 1], got 0"),
    ({"min_support": 1.5}, "min_support must be in (0, 1], got 1.5"),
    ({"min_support": True}, "min_support must be in (0, 1], got True"),
    ({"min_confidence": 2}, "min_confidence must be in [0, 1], got 2"),
    ({"max_basket_items": 1}, "max_basket_items must be 'auto', None or a whole number >= 2, got 1"),
])
def test_bad_parameters_are_refused_at_construction(kwargs, message):
    with pytest.raises(InputError, match=_exact(message)):
        AssociationRules(**kwargs)


def test_get_params_and_fit_refusing_a_dataframe(tiny_frame):
    model = AssociationRules(min_support=0.01, max_len=3, metric="lift", aggregate="sum")
    assert model.get_params() == {"min_support": 0.01, "min_confidence": 0.0, "max_len": 3, "metric": "lift",
                                  "aggregate": "sum", "min_lift": None, "max_basket_items": "auto",
                                  "keep_counts": None}
    with pytest.raises(InputError, match=_exact("fit expects an Orders (from xsell.load_orders), not DataFrame")):
        model.fit(tiny_frame)


# -- model files ------------------------------------------------------------------------------------------------
def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _assert_same_answers(a: AssociationRules, b: AssociationRules, items: list, baskets: dict) -> None:
    assert_same_answers(a, b, items, baskets)
    pd.testing.assert_frame_equal(b.rules(), a.rules())


def test_round_trip_of_a_tiny_model(tmp_path, tiny_orders):
    model = _model(tiny_orders, max_len=3, metric="lift", aggregate="sum")
    path = xsell.save_model(model, tmp_path / "rules.xsell")
    loaded = xsell.load_model(path)
    assert isinstance(loaded, AssociationRules)
    assert loaded.get_params() == model.get_params()
    assert loaded.n_rules == 16
    assert loaded.training_summary_ == {"orders": 4, "items": 4, "customers": 0, "lines": 10}
    assert loaded.recommend(["a", "c"]).scores.tolist() == [pytest.approx(14 / 3), pytest.approx(22 / 9)]
    _assert_same_answers(model, loaded, ["a", "b", "c", "d", "zzz"],
                         {"b1": ["a"], "b2": ["a", "c"], "b3": ["d", "b"], "b4": ["nope"], "b5": ["a", "b", "c"]})


def test_round_trip_of_the_synthetic_shop(tmp_path, shop):
    model = AssociationRules(min_support=0.001, max_len=3, min_confidence=0.05).fit(shop.orders)
    loaded = xsell.load_model(xsell.save_model(model, tmp_path / "shop.xsell"))
    ids = model.items_.ids
    popular = ids[model.popular_[:20]].tolist()
    baskets = {f"b{i}": [popular[i], popular[(i * 7 + 3) % 20], popular[(i * 3 + 1) % 20]] for i in range(20)}
    baskets["unknown"] = ["no such item"]
    _assert_same_answers(model, loaded, popular + ["no such item"], baskets)
    assert sorted(loaded.arrays_) == sorted(model.arrays_)
    for name, array in model.arrays_.items():
        np.testing.assert_array_equal(loaded.arrays_[name], array, err_msg=name)


def test_inspect_model_shows_the_rules_model(tmp_path, tiny_orders):
    model = _model(tiny_orders, max_len=3)
    manifest = xsell.inspect_model(xsell.save_model(model, tmp_path / "rules.xsell"))
    assert manifest["model_type"] == "association_rules"
    assert manifest["params"] == model.get_params()
    assert manifest["state"] == {"n_orders": 4}
    assert manifest["items"] == {"kind": "str", "count": 4}
    # 10 rules item -> item; 6 rules pair -> item over 5 distinct pairs (ab, ac, ad, bc, cd)
    arrays = manifest["arrays"]
    assert arrays["item_counts"] == {"dtype": "<i8", "shape": [4]}
    assert arrays["r1_indptr"] == {"dtype": "<i8", "shape": [5]}
    assert arrays["r1_items"] == {"dtype": "<i4", "shape": [10]}
    assert arrays["a2_items"] == {"dtype": "<i4", "shape": [5, 2]}
    assert arrays["r2_indptr"] == {"dtype": "<i8", "shape": [6]}
    assert arrays["r2_items"] == {"dtype": "<i4", "shape": [6]}
    for table, n in (("r1", 10), ("r2", 6)):
        for stat in ("scores", "support", "confidence", "lift"):
            assert arrays[f"{table}_{stat}"] == {"dtype": "<f8", "shape": [n]}
    assert arrays["items_order"] == {"dtype": "<i4", "shape": [4]}  # the ids' sorted order (look-ups)
    assert len(arrays) == 15


def _crafted(tmp_path: Path, tiny_orders, name: str, value: np.ndarray) -> Path:
    saved = xsell.save_model(_model(tiny_orders, max_len=3), tmp_path / "valid.xsell")
    members = _members(saved)
    members[f"{name}.npy"] = _npy(value)
    return _write_zip(tmp_path / "crafted.xsell", members)


@pytest.mark.parametrize("bad", [4, -1])
def test_out_of_range_rule_items_are_refused(tmp_path, tiny_orders, bad):
    model = _model(tiny_orders, max_len=3)
    items = model.arrays_["r1_items"].copy()
    items[2] = bad  # n_items is 4: valid indices are 0..3
    path = _crafted(tmp_path, tiny_orders, "r1_items", items)
    with pytest.raises(ModelFileError, match=_exact(f"{path}: invalid model content (r1_items out of range 0..3)")):
        xsell.load_model(path)
    items = model.arrays_["r2_items"].copy()
    items[0] = bad
    path = _crafted(tmp_path, tiny_orders, "r2_items", items)
    with pytest.raises(ModelFileError, match=_exact(f"{path}: invalid model content (r2_items out of range 0..3)")):
        xsell.load_model(path)


def test_bad_antecedent_pairs_and_row_pointers_are_refused(tmp_path, tiny_orders):
    model = _model(tiny_orders, max_len=3)
    pairs = model.arrays_["a2_items"].copy()
    pairs[0] = pairs[0][::-1]  # (b, a): not increasing
    path = _crafted(tmp_path, tiny_orders, "a2_items", pairs)
    with pytest.raises(ModelFileError, match=_exact(
            f"{path}: invalid model content (a2_items must hold increasing item pairs in range)")):
        xsell.load_model(path)
    pairs = model.arrays_["a2_items"].copy()
    pairs[[0, 1]] = pairs[[1, 0]]
    path = _crafted(tmp_path, tiny_orders, "a2_items", pairs)
    with pytest.raises(ModelFileError, match=_exact(
            f"{path}: invalid model content (a2_items must be sorted and distinct)")):
        xsell.load_model(path)
    indptr = model.arrays_["r1_indptr"].copy()
    indptr[-1] += 1
    path = _crafted(tmp_path, tiny_orders, "r1_indptr", indptr)
    with pytest.raises(ModelFileError, match=_exact(
            f"{path}: invalid model content (r1_indptr is not a valid row pointer)")):
        xsell.load_model(path)
