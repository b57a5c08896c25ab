"""The co-occurrence model: statistics by hand and against a plain reference, ranking rules,
fallbacks, batch equality, counts from elsewhere."""

from __future__ import annotations

import csv
import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import CoOccurrence, InputError, NotFittedError, PairCounts, count_pairs
from tests.conftest import GROCERIES


def _score(n_ij: float, n_i: float, n_j: float, alpha: float = 0.5, shrinkage: float = 5.0) -> float:
    return n_ij / (n_ij + shrinkage) * n_ij / (n_i ** (1 - alpha) * n_j ** alpha)


# -- hand-computed statistics ---------------------------------------------------------------
def test_also_bought_statistics_by_hand(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    frame = model.also_bought("a").to_frame()
    assert list(frame.columns) == ["item_id", "score", "count", "support", "confidence", "lift"]
    assert frame["item_id"].tolist() == ["b", "c", "d"]  # b and c tie: lower index (seen first) first
    b = frame.iloc[0]
    assert b["count"] == 2
    assert b["support"] == pytest.approx(2 / 4)
    assert b["confidence"] == pytest.approx(2 / 3)
    assert b["lift"] == pytest.approx(2 * 4 / (3 * 3))
    assert b["score"] == pytest.approx(2 / 7 * 2 / 3, rel=1e-6)
    d = frame.iloc[2]
    assert (d["count"], d["support"], d["confidence"], d["lift"]) == (1, 0.25, pytest.approx(1 / 3),
                                                                      pytest.approx(4 / 3))


def test_pairs_has_jaccard_cosine_and_directed_confidence(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    row = model.pairs("d").set_index("other_id").loc["a"]
    assert row["confidence"] == pytest.approx(1.0)  # every order with d has a
    assert row["jaccard"] == pytest.approx(1 / (1 + 3 - 1))
    assert row["cosine"] == pytest.approx(1 / math.sqrt(3))


def test_min_count_and_min_support_drop_rare_pairs(tiny_orders):
    assert "d" not in CoOccurrence(min_count=2).fit(tiny_orders).also_bought("a").items
    # support of (a, d) is 1/4: a floor of 0.3 drops it, 0.25 keeps it
    assert "d" not in CoOccurrence(min_count=1, min_support=0.3).fit(tiny_orders).also_bought("a").items
    assert "d" in CoOccurrence(min_count=1, min_support=0.25).fit(tiny_orders).also_bought("a").items


def test_neighbors_caps_the_table(tiny_orders):
    model = CoOccurrence(min_count=1, neighbors=1).fit(tiny_orders)
    assert model.also_bought("a", k=10).items == ["b"]


@pytest.mark.parametrize("kwargs, message", [
    ({"min_count": 0}, "min_count must be a whole number >= 1, got 0"),
    ({"min_support": 1.5}, "min_support must be in [0, 1], got 1.5"),
    ({"neighbors": 0}, "neighbors must be a whole number >= 1 or None, got 0"),
    ({"alpha": -0.1}, "alpha must be in [0, 1], got -0.1"),
    ({"shrinkage": -1}, "shrinkage must be >= 0, got -1"),
])
def test_bad_parameters_are_refused_at_construction(kwargs, message):
    with pytest.raises(InputError, match=f"^{__import__('re').escape(message)}$"):
        CoOccurrence(**kwargs)


def test_use_before_fit_says_so():
    with pytest.raises(NotFittedError, match=r"^this CoOccurrence is not fitted yet; call fit\(orders\) first$"):
        CoOccurrence().also_bought("a")


def test_fit_refuses_a_dataframe(tiny_frame):
    with pytest.raises(InputError, match=r"^fit expects an Orders \(from xsell.load_orders\), not DataFrame$"):
        CoOccurrence().fit(tiny_frame)


# -- reference on Groceries ----------------------------------------------------------------
def _groceries_frame() -> tuple[pd.DataFrame, list[list[str]]]:
    # csv, not str.split: some names end in a space ("cream cheese "), as in arules
    with GROCERIES.open(newline="") as fh:
        baskets = [sorted(set(row)) for row in csv.reader(fh) if row]
    assert len(baskets) == 9835 and len({i for b in baskets for i in b}) == 169  # the data README's counts
    rows = [(b, item) for b, items in enumerate(baskets) for item in items]
    return pd.DataFrame(rows, columns=["order_id", "item_id"]), baskets


@pytest.mark.skipif(not GROCERIES.exists(), reason="../shared/data/groceries not present")
def test_every_pair_statistic_equals_a_plain_reference_on_groceries():
    frame, baskets = _groceries_frame()
    model = CoOccurrence(min_count=1, neighbors=None).fit(xsell.load_orders(frame))
    n = len(baskets)
    item_n = Counter(i for b in baskets for i in b)
    pair_n = Counter(p for b in baskets for p in itertools.combinations(b, 2))
    ours = model.pairs().set_index(["item_id", "other_id"])
    assert len(ours) == 2 * len(pair_n)  # both directions of every pair, nothing else
    ref = []
    for (i, j), c in pair_n.items():
        for x, y in ((i, j), (j, i)):
            ref.append((x, y, c, c / n, c / item_n[x], c * n / (item_n[x] * item_n[y]),
                        c / (item_n[x] + item_n[y] - c), c / math.sqrt(item_n[x] * item_n[y]),
                        _score(c, item_n[x], item_n[y])))
    ref_frame = pd.DataFrame(ref, columns=["item_id", "other_id", "count", "support", "confidence", "lift",
                                           "jaccard", "cosine", "score"]).set_index(["item_id", "other_id"])
    joined = ref_frame.join(ours.add_suffix("_ours"), how="inner")
    assert len(joined) == len(ref_frame)
    assert (joined["count"] == joined["count_ours"]).all()
    for col in ("support", "confidence", "lift", "jaccard", "cosine"):
        np.testing.assert_allclose(joined[col + "_ours"], joined[col], rtol=1e-12)
    np.testing.assert_allclose(joined["score_ours"], joined["score"], rtol=1e-6)  # stored as float32


@pytest.mark.skipif(not GROCERIES.exists(), reason="../shared/data/groceries not present")
def test_neighbour_order_equals_a_plain_sort_on_groceries():
    frame, _ = _groceries_frame()
    full = CoOccurrence(min_count=1, neighbors=None).fit(xsell.load_orders(frame)).pairs()
    top = CoOccurrence(min_count=1, neighbors=7).fit(xsell.load_orders(frame))
    index = {v: i for i, v in enumerate(top.items_.ids.tolist())}
    full["score32"] = full["score"].astype(np.float32)
    full["other_index"] = full["other_id"].map(index)
    for item in ["whole milk", "yogurt", "baby food", "soda"]:
        rows = full[full["item_id"] == item].sort_values(["score32", "other_index"], ascending=[False, True])
        assert top.also_bought(item, k=7).items == rows["other_id"].head(7).tolist()


# -- requests ------------------------------------------------------------------------------------
def test_recommend_sums_scores_and_never_returns_basket_or_excluded(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    result = model.recommend(["a", "b"], k=5)
    assert result.items == ["c", "d"]
    # c: score(a->c) + score(b->c), both 2/7 * 2/3; d: score(a->d) only, b and d never together
    assert result.scores[0] == pytest.approx(2 * (2 / 7 * 2 / 3), rel=1e-6)
    assert result.scores[1] == pytest.approx(_score(1, 3, 1), rel=1e-6)
    assert model.recommend(["a", "b"], exclude=["c"]).items == ["d"]
    assert result.to_frame()["because"].tolist() == ["a", "a"]


def test_unknown_ids_are_ignored_and_an_unknown_basket_falls_back_to_popular(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    assert model.recommend(["a", "zzz"]).items == model.recommend(["a"]).items
    fallback = model.recommend(["zzz"], k=2)
    assert fallback.fallback is True
    assert fallback.items == ["a", "b"]  # a, b, c each in 3 orders: lower index first
    assert model.recommend(["a"]).fallback is False
    assert model.also_bought("zzz", k=1).fallback is True


def test_k_is_validated(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    with pytest.raises(InputError, match=r"^k must be a whole number >= 1, got 0$"):
        model.recommend(["a"], k=0)


def test_planted_complements_are_found_in_the_top_3(shop, shop_model):
    found = [b in shop_model.also_bought(a, k=3).items for a, b in shop.truth.complements]
    assert np.mean(found) >= 0.95


def test_substitutes_are_not_recommended_together(shop, shop_model):
    # tiers of one product are never in the same order, so they never complete each other
    for group in shop.truth.substitutes[:20]:
        recs = set(shop_model.recommend([group[0]], k=10).items)
        assert not recs & set(group[1:])


# -- batch ------------------------------------------------------------------------------------------
def test_batch_equals_one_by_one_on_real_orders(shop, shop_model):
    lines = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})
    lines = lines[lines["basket_id"].isin(lines["basket_id"].unique()[:400])]
    batch = shop_model.recommend_batch(lines[["basket_id", "item_id"]], k=5)
    for basket_id, items in lines.groupby("basket_id")["item_id"]:
        single = shop_model.recommend(items.tolist(), k=5)
        got = batch[batch["basket_id"] == basket_id]
        assert got["item_id"].tolist() == single.items
        assert np.array_equal(got["score"].to_numpy(), single.scores)  # same floats, not just close
        assert got["rank"].tolist() == list(range(1, len(single) + 1))


def test_batch_accepts_a_mapping_and_flags_fallbacks(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    frame = model.recommend_batch({"x": ["a", "b"], "y": ["nope"]}, k=2)
    assert frame[frame.basket_id == "x"]["item_id"].tolist() == ["c", "d"]
    assert frame[frame.basket_id == "y"]["item_id"].tolist() == ["a", "b"]
    assert frame.attrs["fallback_baskets"] == 1
    assert list(frame.columns) == ["basket_id", "rank", "item_id", "score"]


def test_batch_explanation_by_hand_with_a_tie_and_a_fallback():
    """C is bought once with A and once with B: in basket [B, A] both pairs tie, and the explanation
    names A, the basket item `recommend` names (the lower index); a basket of unknown ids gets the
    popular items with count and support, no confidence, no lift, no `because`."""
    frame = pd.DataFrame({"order_id": ["1", "1", "2", "2", "3", "3", "4", "4"],
                          "item_id": ["A", "C", "B", "C", "A", "D", "B", "E"]})
    model = CoOccurrence(min_count=1).fit(xsell.load_orders(frame))
    batch = model.recommend_batch({"x": ["B", "A"], "y": ["nope"]}, k=3, explain=True)
    x = batch[batch.basket_id == "x"]
    assert x["item_id"].tolist()[0] == "C"
    c = x.iloc[0]
    assert (c["because"], c["count"], c["support"], c["confidence"]) == ("A", 1, 1 / 4, 1 / 2)
    assert c["lift"] == 1 * 4 / (2 * 2)
    single = model.recommend(["B", "A"], k=3).to_frame()
    assert single["because"].tolist() == x["because"].astype(object).tolist()
    y = batch[batch.basket_id == "y"]
    assert y["because"].isna().all() and y["confidence"].isna().all() and y["lift"].isna().all()
    assert y["count"].tolist() == [2, 2, 2] and y["support"].tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(InputError, match=r"^explain must be True or False, got 'yes'$"):
        model.recommend_batch({"x": ["A"]}, explain="yes")


def test_batch_frame_without_item_column_is_refused(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    with pytest.raises(InputError, match=r"^baskets frame lacks column\(s\) item_id; it has: basket_id, sku$"):
        model.recommend_batch(pd.DataFrame({"basket_id": [1], "sku": ["a"]}))


# -- counting apart from building ---------------------------------------------------------------------
def test_counts_from_a_pair_list_build_the_same_model(shop):
    counts = count_pairs(shop.orders)
    pairs = counts.to_pairs()
    index = {v: i for i, v in enumerate(shop.orders.items.ids.tolist())}
    rebuilt = PairCounts.from_pairs(counts.n_orders, shop.orders.items, counts.item_counts,
                                    pairs["item_b"].map(index), pairs["item_a"].map(index), pairs["count"])
    a = CoOccurrence.from_counts(counts)
    b = CoOccurrence.from_counts(rebuilt)
    fitted = CoOccurrence().fit(shop.orders)
    for m in (a, b):
        assert np.array_equal(m.neighbor_indices_, fitted.neighbor_indices_)
        assert np.array_equal(m.neighbor_scores_, fitted.neighbor_scores_)
        assert np.array_equal(m.neighbor_counts_, fitted.neighbor_counts_)


def test_pair_list_with_a_repeated_pair_is_refused(tiny_orders):
    with pytest.raises(InputError, match=r"^a pair is listed twice$"):
        PairCounts.from_pairs(4, ["a", "b"], [3, 3], [0, 1], [1, 0], [2, 2])


def test_known_items_without_neighbours_get_popular_items_flagged(tiny_orders):
    # with min_count=2, d's only pairs (with a and c) were seen once: d has no neighbours
    model = CoOccurrence(min_count=2).fit(tiny_orders)
    assert model.also_bought("d").items == []
    single = model.recommend(["d"], k=2)
    assert single.fallback is True
    assert single.items == ["a", "b"]  # popular, d itself left out
    batch = model.recommend_batch({"x": ["d"], "y": ["a"]}, k=2)
    assert batch[batch.basket_id == "x"]["item_id"].tolist() == ["a", "b"]
    assert batch[batch.basket_id == "y"]["item_id"].tolist() == model.recommend(["a"], k=2).items
    assert batch.attrs["fallback_baskets"] == 1
    assert model.recommend_batch({"z": ["a", "d"]}, k=3)["item_id"].tolist() == model.recommend(["a", "d"], k=3).items


def test_basket_and_exclude_accept_arrays_sets_and_single_ids(tiny_orders):
    model = CoOccurrence(min_count=1).fit(tiny_orders)
    expected = model.recommend(["a", "b"], exclude=["c"]).items
    assert model.recommend(np.array(["a", "b"]), exclude=np.array(["c"])).items == expected
    assert model.recommend({"a", "b"}, exclude={"c"}).items == expected
    assert model.recommend("a").items == model.recommend(["a"]).items


# -- the neighbour table straight from the counts (mining.pairs.neighbour_table) --------------------------
def _numpy_neighbour_table(counts: PairCounts, floor: int, alpha: float, shrinkage: float,
                           k: int | None) -> tuple[np.ndarray, ...]:
    """The reference: every pair scored with numpy, ranked by models/_topk.topk_rows."""
    from xsell.models._topk import topk_rows

    n = counts.n_items
    row = np.repeat(np.arange(n, dtype=np.int32), np.diff(counts.indptr))
    keep = np.flatnonzero(counts.counts >= floor) if floor > counts.min_count else np.arange(len(row))
    c64 = counts.counts[keep].astype(np.float64)
    row, col = row[keep], counts.indices[keep]
    n_i = counts.item_counts.astype(np.float64)
    damp = c64 / (c64 + shrinkage) if shrinkage > 0 else 1.0
    score = (damp * c64 / ((n_i ** (1.0 - alpha))[row] * (n_i ** alpha)[col])).astype(np.float32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    nb_indptr, nb_indices, nb_scores, src = topk_rows(indptr, col, score, k)
    return nb_indptr, nb_indices.astype(np.int32), nb_scores, counts.counts[keep][src].astype(np.int32)


@pytest.mark.parametrize("params", [
    {}, {"min_count": 1, "neighbors": None}, {"min_count": 3, "neighbors": 5},
    {"min_count": 1, "min_support": 0.002, "alpha": 0.0, "shrinkage": 0.0, "neighbors": 1},
    {"alpha": 1.0, "shrinkage": 2.5, "neighbors": 40},
])
def test_neighbour_table_equals_numpy_scores_and_topk_bit_for_bit(shop, params):
    from xsell.datasets import synthetic_log
    from xsell.mining.pairs import neighbour_table

    for orders in (shop.orders, synthetic_log(20_000, 800, seed=3, mean_basket=9.0)):
        model = CoOccurrence(**params)
        floor = model._count_floor(orders.n_orders)
        for counts in (count_pairs(orders, floor), count_pairs(orders, 1)):  # floored already, or not yet
            ref = _numpy_neighbour_table(counts, floor, model.alpha, model.shrinkage, model.neighbors)
            for threads in (1, 2):
                got = neighbour_table(counts, floor, model.alpha, model.shrinkage, model.neighbors, threads=threads)
                for a, b in zip(got, ref, strict=True):
                    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        fitted = model.fit(orders)
        for a, b in zip(ref, (fitted.neighbor_indptr_, fitted.neighbor_indices_, fitted.neighbor_scores_,
                              fitted.neighbor_counts_), strict=True):
            assert a.tobytes() == b.tobytes()  # and the fitted model holds exactly that table


def test_pair_counts_rows_come_sorted_and_give_the_same_pair_list(shop):
    counts = count_pairs(shop.orders, 2)
    row = np.repeat(np.arange(counts.n_items), np.diff(counts.indptr))
    same = row[1:] == row[:-1]
    assert (counts.indices[1:][same] > counts.indices[:-1][same]).all()
    pairs = counts.to_pairs()
    assert len(pairs) == counts.n_pairs and (pairs["count"] >= 2).all()
