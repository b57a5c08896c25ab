"""Contract of every registered fitted model: k checks, what never comes back, the popular fallback,
one request = the batch (exactly), also_bought, customers and model files.

`model` is fitted once per registered model for this module (see conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from tests.contract.helpers import (K, LONER, SOLO, UNKNOWN_CUSTOMER, UNKNOWN_ITEMS, assert_no_problems,
                                    assert_same_answer, batch_answers, expected_popular, mismatch,
                                    raises_exactly, requests_frame)

BAD_K = [0, -1, 1.5, True, "3"]


@pytest.mark.parametrize("use", ["recommend", "recommend_batch", "also_bought"])
@pytest.mark.parametrize("k", BAD_K, ids=[repr(k) for k in BAD_K])
def test_bad_k_raises_input_error(model, popular, use, k):
    item = popular[0][0]
    call = {"recommend": lambda: model.recommend([item], k=k),
            "recommend_batch": lambda: model.recommend_batch({"b": [item]}, k=k),
            "also_bought": lambda: model.also_bought(item, k=k)}[use]
    with raises_exactly(xsell.InputError, f"k must be a whole number >= 1, got {k!r}"):
        call()


def test_basket_and_excluded_items_never_come_back(model, baskets, popular, known_customers):
    everything = model.n_items  # k = the whole catalogue: nothing is cut off, only left out
    chosen = {b: baskets[b] for b in ("b00", "b01", "b02", "b06", "b07", "b08", "b04", "solo")}  # 1, 3, 8 items
    for basket_id, basket in chosen.items():
        exclude = [item for item, _ in popular[:6] if item not in basket][:3] + [UNKNOWN_ITEMS[0]]
        for customer in (None, known_customers[0]):
            got = set(model.recommend(basket, k=everything, exclude=exclude, customer=customer).items)
            assert not got & (set(basket) | set(exclude)), (basket_id, customer)
    frame = model.recommend_batch(chosen, k=everything)
    for basket_id, (items, _, _) in batch_answers(frame).items():
        assert not set(items) & set(chosen[basket_id]), basket_id


def test_unknown_ids_are_ignored(model, baskets, known_customers):
    for basket_id in ("b00", "b01", "b02", "b03"):
        basket = baskets[basket_id]
        noisy = [UNKNOWN_ITEMS[0], *basket[:1], UNKNOWN_ITEMS[1], *basket[1:], UNKNOWN_ITEMS[0]]
        for customer in (None, known_customers[1]):
            assert_same_answer(model.recommend(noisy, k=K, customer=customer),
                               model.recommend(basket, k=K, customer=customer), f"{basket_id} {customer}")


def test_fallback_is_the_popular_items(model, popular):
    want_items, want_scores = expected_popular(popular, K)
    for basket in ([], list(UNKNOWN_ITEMS)):
        rec = model.recommend(basket, k=K)
        assert (rec.items, rec.scores.tolist(), rec.fallback) == (want_items, want_scores, True), basket
    top = popular[0][0]
    left_items, left_scores = expected_popular(popular, K, excluded=[top])
    rec = model.recommend([], k=K, exclude=[top])
    assert (rec.items, rec.scores.tolist(), rec.fallback) == (left_items, left_scores, True)
    normal = model.recommend([top, popular[1][0]], k=K)
    assert normal.fallback is False
    assert 0 < len(normal) <= K  # fewer when fewer items have evidence (item-KNN scores only those)


def test_batch_counts_fallback_baskets(model, popular):
    top, second = popular[0][0], popular[1][0]
    baskets = {"n1": [top], "e": [], "n2": [top, second], "u": list(UNKNOWN_ITEMS), "n3": [second]}
    frame = model.recommend_batch(baskets, k=K)
    assert frame.attrs["fallback_baskets"] == 2
    answers = batch_answers(frame)
    want_items, want_scores = expected_popular(popular, K)
    for basket_id in ("e", "u"):
        assert answers[basket_id][:2] == (want_items, want_scores), basket_id


def test_recommend_equals_batch_anonymous(model, baskets):
    answers = batch_answers(model.recommend_batch(baskets, k=K))
    fallbacks, problems = 0, []
    for basket_id, basket in baskets.items():
        one = model.recommend(basket, k=K)
        fallbacks += one.fallback
        problems.append(mismatch(basket_id, one, answers.get(basket_id)))
    assert_no_problems(problems)
    assert model.recommend_batch(baskets, k=K).attrs["fallback_baskets"] == fallbacks


def test_recommend_equals_batch_with_customers(model, customer_requests):
    """A customer_id column: known customers, unknown ones, null (None in recommend), and known
    customers with an empty basket (a line without item) or no candidate at all (LONER with SOLO)."""
    frame = model.recommend_batch(requests_frame(customer_requests), k=K)
    answers = batch_answers(frame)
    fallbacks, problems = 0, []
    for basket_id, items, customer in customer_requests:
        one = model.recommend(items, k=K, customer=customer)
        fallbacks += one.fallback
        problems.append(mismatch(basket_id, one, answers.get(basket_id)))
    assert_no_problems(problems)
    assert frame.attrs["fallback_baskets"] == fallbacks


def test_recommend_for_customer(model, popular, bought, known_customers):
    if not type(model).uses_customers:
        name = type(model).__name__
        with raises_exactly(xsell.InputError, f"{name} does not use customers; use ALS, BPR, ItemKNN or "
                                              f"Hybrid for recommend_for_customer"):
            model.recommend_for_customer(known_customers[0], k=K)
        return
    for customer in [*known_customers, LONER]:
        history = bought[customer]
        extra = [item for item, _ in popular if item not in history][:2]
        rec = model.recommend_for_customer(customer, k=K, exclude=extra)
        assert not set(rec.items) & (history | set(extra)), customer
        assert len(rec) > 0, customer  # a request whose scoring finds nothing gets the popular items
        assert_same_answer(rec, model.recommend([], k=K, exclude=sorted(history | set(extra)), customer=customer),
                           customer)
        assert_same_answer(model.recommend_for_customer(customer, k=K, exclude_bought=False),
                           model.recommend([], k=K, customer=customer), customer)
    rec = model.recommend_for_customer(UNKNOWN_CUSTOMER, k=K, exclude=[popular[0][0]])
    want_items, want_scores = expected_popular(popular, K, excluded=[popular[0][0]])
    assert (rec.items, rec.scores.tolist(), rec.fallback) == (want_items, want_scores, True)


def test_also_bought(model, popular):
    everything = model.n_items
    for item in [item for item, _ in popular[:5] + popular[-3:]] + [SOLO]:
        rec = model.also_bought(item, k=everything)
        assert item not in rec.items
        assert len(set(rec.items)) == len(rec)
        assert (np.diff(rec.scores) <= 0).all(), item
        assert rec.fallback is False
    rec = model.also_bought(UNKNOWN_ITEMS[0], k=K)
    assert (rec.items, rec.scores.tolist(), rec.fallback) == (*expected_popular(popular, K), True)


def test_save_load_round_trip(model, tmp_path, baskets, customer_requests, popular):
    path = xsell.save_model(model, tmp_path / "model.xsell")
    loaded = xsell.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert repr(loaded) == repr(model)
    for basket_id, items, customer in customer_requests:
        assert_same_answer(loaded.recommend(items, k=K, customer=customer),
                           model.recommend(items, k=K, customer=customer), basket_id)
    for item in [item for item, _ in popular[:10]] + [SOLO, UNKNOWN_ITEMS[0]]:
        assert_same_answer(loaded.also_bought(item, k=K), model.also_bought(item, k=K), item)
    for requests in (baskets, requests_frame(customer_requests)):
        want, got = model.recommend_batch(requests, k=K), loaded.recommend_batch(requests, k=K)
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs == want.attrs
    if type(model).uses_customers:
        for customer in {c for _, _, c in customer_requests if c is not None}:
            assert_same_answer(loaded.recommend_for_customer(customer, k=K),
                               model.recommend_for_customer(customer, k=K), customer)


def test_k_beyond_the_catalogue_batch_equals_single(model, baskets, customer_requests):
    k = model.n_items + 5
    requests = [r for r in customer_requests if r[0].endswith("/none") or r[0].startswith(("empty", "loner"))]
    requests += [r for r in customer_requests if r[0] in ("b00/known", "b02/known", "b04/unknown")]
    answers = batch_answers(model.recommend_batch(requests_frame(requests), k=k))
    for basket_id, items, customer in requests:
        one = model.recommend(items, k=k, customer=customer)
        got = answers.get(basket_id, ([], [], []))[0]
        assert (len(got), set(got)) == (len(one), set(one.items)), basket_id
        assert len(one) <= model.n_items


def test_batch_explanations_equal_single(model, baskets):
    """recommend_batch(explain=True) carries recommend(...).to_frame()'s explanation columns with the
    same values, row for row; `because` (co-occurrence) names a basket item for every basket, also
    one-item baskets, where the single answer leaves it out (it can only be that item)."""
    frame = model.recommend_batch(baskets, k=K, explain=True)
    plain = model.recommend_batch(baskets, k=K)
    pd.testing.assert_frame_equal(frame[list(plain.columns)], plain)
    problems = []
    for basket_id, basket in baskets.items():
        one = model.recommend(basket, k=K).to_frame()
        got = frame[frame["basket_id"] == basket_id].reset_index(drop=True)
        for name in one.columns[2:]:
            want = one[name].astype(object).tolist()
            have = got[name].astype(object).tolist()
            if [None if pd.isna(v) else v for v in want] != [None if pd.isna(v) else v for v in have]:
                problems.append(f"{basket_id} {name}: batch {have} != single {want}")
        if "because" in got.columns and "because" not in one.columns:
            known = [item for item in basket if item in set(model.items_.ids.tolist())]
            want_because = known[:1] * len(got) if not model.recommend(basket, k=K).fallback else [None] * len(got)
            have_because = [None if pd.isna(v) else v for v in got["because"].astype(object)]
            if have_because != want_because:
                problems.append(f"{basket_id} because: batch {have_because} != {want_because}")
    assert_no_problems(problems)
    extra = set(frame.columns) - set(plain.columns)
    assert extra == set(model.recommend(baskets["b00"], k=K).to_frame().columns[2:]) | (
        {"because"} if "because" in frame.columns else set())
