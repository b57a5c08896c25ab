"""The compiled request kernels (xsell/kernels) answer exactly what the scipy/numpy expressions they
replace compute: the same items in the same order and the same float64 scores, bit for bit, on
thousands of real baskets of the synthetic shop. The references here are those expressions, kept in
the models for the paths the kernels do not take (a batch of dense scores, an empty basket with a
customer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import xsell


def _baskets(shop, n: int = 1500) -> tuple[list[list[str]], list]:
    """Real orders of the shop cut to 1-20 distinct items, with the order's customer id."""
    orders = shop.orders
    rng = np.random.default_rng(7)
    lists = pd.Series(orders.item_index).groupby(orders.order_index).unique()
    customer_of = orders.customer_index[np.searchsorted(orders.order_index, lists.index)]
    out, customers = [], []
    for pos in rng.choice(len(lists), n, replace=False):
        size = int(rng.choice([1, 2, 3, 5, 8, 20]))
        out.append(orders.items.ids[lists.iloc[pos][:size]].tolist())
        customers.append(orders.customers.ids[customer_of[pos]].item())
    return out, customers


def _ranked(scores: np.ndarray, candidates: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """The k best candidates, highest score first, ties to the lower index: the library's one rule."""
    order = np.lexsort((candidates, -scores))[:k]
    return candidates[order].tolist(), scores[order]


def _row(model, basket: list[str]) -> sp.csr_matrix:
    idx = np.unique(model.items_.indices_of(basket))
    return sp.csr_matrix((np.ones(len(idx)), idx, [0, len(idx)]), shape=(1, model.n_items))


@pytest.mark.parametrize("params", [{}, {"neighbors": 5, "alpha": 0.2, "shrinkage": 0.0}, {"neighbors": None}])
def test_cooccurrence_kernel_equals_the_sparse_product(shop, params) -> None:
    model = xsell.CoOccurrence(**params).fit(shop.orders)
    table = model.score_matrix()  # float64 neighbour scores, -inf on the diagonal: the batch path of 0.1
    for basket in _baskets(shop)[0]:
        product = (_row(model, basket) @ table).tocsr()
        keep = product.data > -np.inf
        items, scores = _ranked(product.data[keep], product.indices[keep], 10)
        got = model.recommend(basket, k=10)
        if not items:
            assert got.fallback
            continue
        assert got.indices.tolist() == items
        np.testing.assert_array_equal(got.scores, scores)
        assert got.scores.dtype == np.float64


@pytest.mark.parametrize("name", ["ease", "hybrid", "itemknn"])
def test_dense_request_kernels_equal_the_matrix_expressions(shop, name) -> None:
    make = {"ease": lambda: xsell.EASE(), "hybrid": lambda: xsell.Hybrid(history_weight=0.4),
            "itemknn": lambda: xsell.ItemKNN(num_threads=1)}[name]
    model = make().fit(shop.orders)
    baskets, customers = _baskets(shop, 800)
    for basket, customer in zip(baskets, customers):
        for who in ([None, customer] if model.uses_customers else [None]):
            cidx = model._customer_of(who)
            row = _row(model, basket)
            dense = model._score_dense(row, np.array([cidx], dtype=np.int64))[0].astype(np.float64)
            dense[row.indices] = -np.inf
            ok = np.isfinite(dense) & ((dense > 0) if model.positive_scores else True)
            candidates = np.flatnonzero(ok)
            items, scores = _ranked(dense[candidates], candidates, 10)
            got = model.recommend(basket, k=10, customer=who)
            if not items:
                assert got.fallback
                continue
            assert got.indices.tolist() == items, (basket, who)
            np.testing.assert_array_equal(got.scores, scores)


def test_a_one_item_basket_is_the_items_neighbour_row(shop, shop_model) -> None:
    for basket in _baskets(shop, 300)[0]:
        got = shop_model.recommend(basket[:1], k=7)
        row = shop_model.also_bought(basket[0], k=7)
        assert got.items == row.items and got.fallback == row.fallback
        np.testing.assert_array_equal(got.scores, row.scores)


def test_kernels_leave_their_scratch_vectors_zero(shop, shop_model) -> None:
    """The per-thread scratch vectors are reused by the next request: a request must leave them as it
    found them, also when it excluded items or found nothing."""
    for basket in _baskets(shop, 200)[0]:
        shop_model.recommend(basket, k=3, exclude=[basket[0]])
    acc, mark = shop_model._scratch()
    assert not acc.any() and not mark.any()


@pytest.mark.parametrize("aggregate", ["max", "sum"])
def test_rules_kernel_equals_the_matched_rules_reduction(shop, aggregate) -> None:
    """Rules with one antecedent: the kernel's best (or summed) entry per candidate equals the numpy
    reduction over every matching rule (AssociationRules._candidates), one basket and a batch alike."""
    model = xsell.AssociationRules(min_support=0.002, aggregate=aggregate).fit(shop.orders)
    baskets = _baskets(shop, 1000)[0]
    for basket in baskets:
        query = np.unique(model.items_.indices_of(basket)).astype(np.int32)
        candidates, scores = model._candidates(query)
        keep = ~np.isin(candidates, query)
        items, values = _ranked(scores[keep], candidates[keep].astype(np.int64), 10)
        got = model.recommend(basket, k=10)
        if not items:
            assert got.fallback
            continue
        assert got.indices.tolist() == items
        np.testing.assert_array_equal(got.scores, values)
    frame = pd.DataFrame([(i, item) for i, b in enumerate(baskets) for item in b], columns=["basket_id", "item_id"])
    batch = model.recommend_batch(frame, k=10)
    one = [(i, r + 1, item, s) for i, b in enumerate(baskets) for r, (item, s) in enumerate(model.recommend(b, k=10))]
    assert list(zip(batch["basket_id"].astype(int), batch["rank"], batch["item_id"].astype(str), batch["score"])) == one


# -- catalog ids matched to the model's (xsell.kernels.engine.match_utf8, behind Catalog.align) ---------------

def _fnv1a(text: str) -> int:
    """FNV-1a 64 over the code points, the hash the match partitions and joins on."""
    h = 14695981039346656037
    for ch in text:
        h = ((h ^ ord(ch)) * 1099511628211) & (2**64 - 1)
    return h


def _aligned_prices(model_ids: list[str], catalog_ids: list[str]) -> np.ndarray:
    """Catalog.align over an IdMap of `model_ids`: each model item's catalog price (NaN: not in the
    catalog); the price of catalog row r is r + 1, so a price names the row it came from."""
    from xsell.data.idmap import IdMap

    frame = pd.DataFrame({"item_id": pd.array(catalog_ids, dtype="string"),
                          "price": np.arange(1.0, len(catalog_ids) + 1)})
    return xsell.load_catalog(frame).align(IdMap(np.array(model_ids, dtype=str))).price


@pytest.mark.parametrize("seed", range(6))
def test_catalog_ids_match_the_model_ids_exactly(seed) -> None:
    rng = np.random.default_rng(seed)
    alphabet = list("abcXYZ019-_ é漢😀")
    n = [1, 40, 3000, 9000, 5000, 12000][seed]  # more than 2,048 ids: several partitions
    words = {"".join(rng.choice(alphabet, rng.integers(1, 9))) for _ in range(n)}
    model_ids = sorted(words)
    rng.shuffle(model_ids)
    strangers = ["".join(rng.choice(alphabet, rng.integers(1, 11))) for _ in range(200)] + ["a\x00b"]
    catalog_ids = [i for i in model_ids if rng.random() < 0.8] + strangers
    if seed % 2:  # a catalog starting in the model's order, then not
        catalog_ids = model_ids[: len(model_ids) // 2] + catalog_ids
    catalog_ids = list(dict.fromkeys(catalog_ids))
    if seed % 3 == 0:
        rng.shuffle(catalog_ids)
    row = {c: r for r, c in enumerate(catalog_ids)}
    want = np.array([row.get(i, -1) + 1.0 for i in model_ids])
    want[want == 0] = np.nan
    np.testing.assert_array_equal(_aligned_prices(model_ids, catalog_ids), want)


def test_catalog_ids_sharing_a_hash_still_match_exactly() -> None:
    # two different ids with the same 64-bit FNV-1a hash (found by a birthday search): the join must
    # confirm each match by the strings and find the right one of the two
    first, second = "\u4f1c\u852dA", "\u4f1f\u86cd\U0007e49a"
    assert first != second and _fnv1a(first) == _fnv1a(second)
    others = [f"sku-{i}" for i in range(5000)]
    for model_ids in ([first, second, *others], [second, *others, first]):
        for catalog_ids in ([*others[::-1], second, first], [second, *others[:10]], [first]):
            row = {c: r for r, c in enumerate(catalog_ids)}
            want = np.array([row.get(i, -1) + 1.0 for i in model_ids])
            want[want == 0] = np.nan
            np.testing.assert_array_equal(_aligned_prices(model_ids, catalog_ids), want)


# -- order-line summaries (xsell.kernels.orders, behind Orders.item_prices and customer_item_matrix) ----------

@pytest.mark.parametrize("seed", range(4))
def test_item_prices_are_pandas_group_medians(seed) -> None:
    from xsell.kernels.orders import group_medians

    rng = np.random.default_rng(seed)
    n_groups = [1, 7, 300, 2000][seed]
    groups = rng.integers(0, n_groups, 5000).astype(np.int32)
    values = np.round(rng.lognormal(1.0, 1.0, 5000), [2, 0, 3, 1][seed])  # ties, and even counts
    values[rng.random(5000) < 0.1] = np.nan  # skipped, as pandas skips them
    values[groups == 0] = np.nan  # a group with no value: NaN
    s = pd.Series(values).groupby(groups).median()
    want = np.full(n_groups, np.nan)
    want[s.index.to_numpy()] = s.to_numpy()
    got = group_medians(values, groups, n_groups)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))  # bit for bit, NaN where NaN


@pytest.mark.parametrize("seed", range(4))
def test_customer_item_counts_are_scipys_summed_duplicates(seed) -> None:
    from xsell.kernels.orders import count_pairs_csr

    rng = np.random.default_rng(seed)
    n_rows, n_cols = [(1, 1), (5, 40), (300, 50), (2000, 3000)][seed]
    rows = rng.integers(-1, n_rows, 8000).astype(np.int32)  # -1: an anonymous line, left out
    cols = rng.integers(0, n_cols, 8000).astype(np.int32)
    known = rows >= 0
    want = sp.csr_matrix((np.ones(int(known.sum())), (rows[known], cols[known])), shape=(n_rows, n_cols))
    want.sum_duplicates()
    indptr, indices, counts = count_pairs_csr(rows, cols, n_rows, n_cols)
    assert np.array_equal(indptr, want.indptr) and np.array_equal(indices, want.indices)
    assert np.array_equal(counts, want.data)


def test_orders_summaries_equal_their_pandas_and_scipy_expressions(shop) -> None:
    orders = shop.orders
    s = pd.Series(orders.price).groupby(orders.item_index).median()
    want = np.full(orders.n_items, np.nan)
    want[s.index.to_numpy()] = s.to_numpy()
    assert np.array_equal(orders.item_prices().view(np.int64), want.view(np.int64))
    known = orders.customer_index >= 0
    ref = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                         (orders.customer_index[known], orders.item_index[known])),
                        shape=(orders.n_customers, orders.n_items))
    ref.sum_duplicates()
    got = orders.customer_item_matrix(np.float32)
    for name in ("indptr", "indices", "data"):
        assert getattr(got, name).dtype == getattr(ref, name).dtype, name
        assert np.array_equal(getattr(got, name), getattr(ref, name)), name


def test_merging_a_batch_with_its_fallback_keeps_lexsorts_order() -> None:
    from xsell.models.base import merge_ranked

    rng = np.random.default_rng(5)
    for _ in range(300):
        n, m = int(rng.integers(0, 200)), int(rng.integers(0, 50))
        main = (np.sort(rng.integers(0, 40, n)), rng.integers(1, 6, n), rng.random(n))
        extra = (rng.integers(0, 40, m), rng.integers(1, 6, m), rng.random(m))  # rows may repeat main's
        merged = tuple(np.concatenate([a, b]) for a, b in zip(main, extra))
        order = np.lexsort((merged[1], merged[0]))
        for got, want in zip(merge_ranked(main, extra), (a[order] for a in merged)):
            assert np.array_equal(got, want)
