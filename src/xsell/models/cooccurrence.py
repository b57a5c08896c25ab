"""Item co-occurrence: "customers who bought X also bought Y".

Two steps, kept apart on purpose:

1. `count_pairs(orders)` -> `PairCounts`: how many orders hold each item and
   each pair of items. This is the only step that reads order lines; a
   scale-out backend (Spark) can produce the same `PairCounts` with
   `PairCounts.from_pairs` for logs that outgrow one machine.
2. `CoOccurrence.from_counts(counts)` (what `fit` does after counting): pair
   statistics, the damped score and a top-k neighbour table per item.

Pair statistics for items i, j in N orders, with n_i orders holding i and
n_ij holding both:
  support = n_ij / N        confidence(i -> j) = n_ij / n_i    lift = n_ij N / (n_i n_j)
  jaccard = n_ij / (n_i + n_j - n_ij)                           cosine = n_ij / sqrt(n_i n_j)
The ranking score (damped, so pairs seen in one or two orders cannot dominate):
  score(i -> j) = n_ij / (n_ij + shrinkage) * n_ij / (n_i^(1 - alpha) * n_j^alpha)
alpha = 0 ranks by confidence (favours popular j), alpha = 0.5 by cosine,
alpha = 1 by n_ij / n_j (favours rare j); the first factor shrinks pairs with few
co-occurrences towards 0. Defaults: alpha 0.5, shrinkage 5.
A basket's score for a candidate j is the sum of score(i -> j) over its items i.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.mining.pairs import PairCounts as PairCounts, count_pairs as count_pairs  # counted in mining
from xsell.mining.pairs import neighbour_table
from xsell.errors import InputError
from xsell.kernels import requests as kernels
from xsell.models.params import Int, Number
from xsell.models._topk import expand_ranges, floor_from_sorted_rows
from xsell.models.base import Recommendations, Recommender, drop_below
from xsell.models.kept import KEPT_ARRAYS, KEPT_CHECKS, KeptCounts, counted_orders
from xsell.models.schema import Array, Csr, Schema, SortedRows, Values


def _pair_stats(c: np.ndarray, ci: np.ndarray, cj: np.ndarray, n: int) -> dict[str, np.ndarray]:
    c = c.astype(np.float64)
    ci = ci.astype(np.float64)
    cj = cj.astype(np.float64)
    return {
        "count": c.astype(np.int64),
        "support": c / n,
        "confidence": c / ci,
        "lift": c * n / (ci * cj),
        "jaccard": c / (ci + cj - c),
        "cosine": c / np.sqrt(ci * cj),
    }


class CoOccurrence(KeptCounts, Recommender):
    """Co-occurrence recommender: also-bought, basket completion, batch scoring.

    Parameters (see the module docstring for the formulas):
      min_count: pairs seen in fewer orders are ignored (default 2).
      min_support: pairs with support n_ij / N below this are ignored (default 0).
      neighbors: neighbours kept per item, best first (default 100; None keeps all).
      alpha: popularity exponent of the score, 0 (confidence) .. 1 (default 0.5, cosine).
      shrinkage: damping of pairs with few co-occurrences (default 5; 0 turns it off).
      keep_counts: keep the counts `update` adds new orders to (default None: not kept, the
        smallest file). 1 keeps every pair: update(A) then update(B) gives, array for array, the
        model a fit on A + B gives. n > 1 keeps pairs seen in at least n orders (a smaller file): a
        pair then loses its count while it is below n, so its count after updates is at most
        (n - 1) x (1 + number of updates) below the exact one, never above.
        Kept with the counts: the number of orders, each item's count and the ids of the orders
        counted (an update refuses orders already in the model).
    """

    model_type: ClassVar[str] = "cooccurrence"
    constraints = {"min_count": Int(1), "min_support": Number(0.0, 1.0), "neighbors": Int(1, none=True),
                   "alpha": Number(0.0, 1.0), "shrinkage": Number(0.0), "keep_counts": Int(1, none=True)}
    schema = Schema(
        arrays=(Array("item_counts", "<i8", ("items",)), Array("neighbor_indptr", "<i8", ("items+1",)),
                Array("neighbor_indices", "<i4", ("pairs",)), Array("neighbor_scores", "<f4", ("pairs",)),
                Array("neighbor_counts", "<i4", ("pairs",)), *KEPT_ARRAYS),
        checks=(Csr("neighbor", "neighbor_indptr", "neighbor_indices"), Values("item_counts", low=0),
                *KEPT_CHECKS, Values("neighbor_counts", low=0),
                Values("neighbor_scores", low=0),  # basket floors assume scores >= 0
                SortedRows("neighbor_scores", "neighbor_indptr")))
    min_count: int
    min_support: float
    neighbors: int | None
    alpha: float
    shrinkage: float
    keep_counts: int | None

    def __init__(self, *, min_count: int = 2, min_support: float = 0.0, neighbors: int | None = 100,
                 alpha: float = 0.5, shrinkage: float = 5.0, keep_counts: int | None = None) -> None:
        self._set_params(locals())

    # -- fitting ---------------------------------------------------------------------
    def _fit(self, orders: Orders) -> None:
        floor = self._count_floor(orders.n_orders)
        if self.keep_counts is None:
            self._build(count_pairs(orders, floor))
            self.kept_ = self.kept_orders_ = None
            return
        counts = count_pairs(orders, min(floor, self.keep_counts))
        self._build(counts)
        self._keep(counts, counted_orders(orders))

    def _rebuild(self, counts: PairCounts) -> None:
        self._build(counts)

    def _count_floor(self, n_orders: int) -> int:
        # support >= min_support  <=>  count >= min_support * N (counts are whole numbers)
        return max(self.min_count, math.ceil(self.min_support * n_orders - 1e-9))

    @classmethod
    def from_counts(cls, counts: PairCounts, **params: Any) -> "CoOccurrence":
        """Build a model from counts made elsewhere (for example by a Spark job)."""
        model = cls(**params)
        model._build(counts)
        model.training_summary_ = {"orders": counts.n_orders, "items": counts.n_items}
        return model

    def _build(self, counts: PairCounts) -> None:
        # one compiled pass per row (mining.pairs.neighbour_table): score the row's pairs, keep its k
        # best; no score, sort key or row index per pair in memory (the numpy version peaked at about
        # 5x the counts' size on top of them), the same arrays bit for bit
        nb_indptr, nb_indices, nb_scores, nb_counts = neighbour_table(
            counts, self._count_floor(counts.n_orders), self.alpha, self.shrinkage, self.neighbors)
        self._set_arrays(counts.items, counts.n_orders, counts.item_counts, nb_indptr, nb_indices, nb_scores,
                         nb_counts)

    def _set_arrays(self, items: IdMap, n_orders: int, item_counts: np.ndarray, nb_indptr: np.ndarray,
                    nb_indices: np.ndarray, nb_scores: np.ndarray, nb_counts: np.ndarray) -> None:
        self.items_ = items
        self.n_orders_ = int(n_orders)
        self.item_counts_ = item_counts
        # read-only views: the model's tables are never written after this (and the kernels see one type
        # whether the arrays were fitted or memory-mapped from a file)
        self.neighbor_indptr_ = kernels.read_only(nb_indptr)
        # row bounds read as Python ints on the request path: a memoryview indexes in 0.04 µs where a numpy
        # scalar or slice costs 0.15-0.3 µs (also_bought and 1-item recommend are about 2 µs in all)
        self._indptr_at = memoryview(cast(Any, self.neighbor_indptr_))  # numpy arrays are buffers
        self.neighbor_indices_ = kernels.read_only(nb_indices)
        self.neighbor_scores_ = kernels.read_only(nb_scores)
        self.neighbor_counts_ = nb_counts
        self._matrix: sp.csr_matrix | None = None
        self._set_popular(item_counts)

    # -- scoring hooks -----------------------------------------------------------------
    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        s, e = self.neighbor_indptr_[item], self.neighbor_indptr_[item + 1]
        return self.neighbor_indices_[s:e], self.neighbor_scores_[s:e]

    def _top_neighbours(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        at = self._indptr_at
        start = at[item]
        end = at[item + 1]
        if end > start + k:
            end = start + k
        return self.neighbor_indices_[start:end], self.neighbor_scores_[start:end]

    def _single(self, item: int, k: int) -> Recommendations | None:
        # one item, nothing else excluded: its neighbour row is the answer (rows run best first with
        # ties to the lower index and never hold the item itself: the schema's SortedRows check)
        cand, scores = self._top_neighbours(item, k)
        if not len(cand):
            return None
        return Recommendations(self, cand, scores, False, [item])

    def _rank(self, query: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # one compiled pass: add each basket item's neighbour row in basket-item order (as the sparse
        # product of the batch path does, so both give the same floats), then keep the k best
        acc, mark = self._scratch()
        items, scores = kernels.basket_topk(self.neighbor_indptr_, self.neighbor_indices_, self.neighbor_scores_,
                                    query, excluded, min(k, len(acc)), acc, mark, False, False)
        return items, scores

    def _topk_batch(self, baskets: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return kernels.baskets_topk(self.neighbor_indptr_, self.neighbor_indices_, self.neighbor_scores_,
                            baskets.indptr.astype(np.int64), baskets.indices.astype(np.int32),
                            min(k, len(self.items_)), len(self.items_), False, False)

    def score_matrix(self) -> sp.csr_matrix:
        """items x items neighbour scores with a -inf diagonal (built once): in a basket product it
        marks each basket's own items -inf while every other entry keeps exactly the same sum."""
        if self._matrix is None:
            n = len(self.items_)
            neighbours = sp.csr_matrix((self.neighbor_scores_.astype(np.float64), self.neighbor_indices_, self.neighbor_indptr_),
                                       shape=(n, n))
            self._matrix = (neighbours + sp.diags(np.full(n, -np.inf), format="csr")).tocsr()
        return self._matrix

    def basket_floor(self, baskets: sp.csr_matrix, k: int) -> np.ndarray:
        """Per basket, an exact lower bound on its k-th best score (scores are >= 0 and add up)."""
        return floor_from_sorted_rows(self.neighbor_indptr_, self.neighbor_scores_, baskets, k)

    def _score_matrix(self, baskets: sp.csr_matrix, k: int) -> sp.csr_matrix:
        return drop_below((baskets @ self.score_matrix()).tocsr(), self.basket_floor(baskets, k))

    # -- explanations --------------------------------------------------------------------
    def _pair_lookup(self, query: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(co-count, score) of query -> each item from the neighbour table; 0 where absent."""
        s, e = self.neighbor_indptr_[query], self.neighbor_indptr_[query + 1]
        row = self.neighbor_indices_[s:e]
        counts = np.zeros(len(items), dtype=np.int64)
        scores = np.zeros(len(items), dtype=np.float64)
        if len(row) == 0 or len(items) == 0:
            return counts, scores
        sorter = np.argsort(row)
        pos = np.minimum(np.searchsorted(row, items, sorter=sorter), len(row) - 1)
        at = sorter[pos]
        found = row[at] == items
        counts[found] = self.neighbor_counts_[s:e][at[found]]
        scores[found] = self.neighbor_scores_[s:e][at[found]]
        return counts, scores

    def _explain(self, query: np.ndarray, items: np.ndarray, fallback: bool) -> dict[str, Any]:
        n = self.n_orders_
        cj = self.item_counts_[items]
        if fallback:
            nan = np.full(len(items), np.nan)
            return {"count": cj, "support": cj / n, "confidence": nan, "lift": nan}
        best_q = np.full(len(items), query[0], dtype=np.int64)
        best_c, best_s = self._pair_lookup(int(query[0]), items)
        for q in query[1:].tolist():
            c, s = self._pair_lookup(q, items)
            better = s > best_s
            best_q[better], best_c[better], best_s[better] = q, c[better], s[better]
        stats = _pair_stats(best_c, self.item_counts_[best_q], cj, n)
        out: dict[str, Any] = {k: stats[k] for k in ("count", "support", "confidence", "lift")}
        if len(query) > 1:
            out["because"] = self.items_.ids[best_q]
        return out

    def _explain_batch(self, baskets: sp.csr_matrix, rows: np.ndarray, items: np.ndarray,
                       fallback: np.ndarray) -> dict[str, Any]:
        n = self.n_orders_
        items = items.astype(np.int64)
        cj = self.item_counts_[items]
        best_q = np.full(len(items), -1, dtype=np.int64)
        best_c = np.zeros(len(items), dtype=np.int64)
        live = np.flatnonzero(~fallback)
        if len(live):
            # every (entry, basket item) pair, basket items in index order as `_explain` walks them
            sizes = np.diff(baskets.indptr)[rows[live]]
            entry = np.repeat(live, sizes)
            q = baskets.indices[expand_ranges(baskets.indptr[rows[live]].astype(np.int64), sizes)].astype(np.int64)
            j = items[entry]
            # the neighbour rows of the basket items involved, as sorted (query, item) keys
            uq = np.unique(q)
            starts = self.neighbor_indptr_[uq].astype(np.int64)
            lengths = self.neighbor_indptr_[uq + 1].astype(np.int64) - starts
            at = expand_ranges(starts, lengths)
            width = np.int64(len(self.items_))
            keys = np.repeat(uq, lengths) * width + self.neighbor_indices_[at]
            order = np.argsort(keys, kind="stable")
            keys, at = keys[order], at[order]
            want = q * width + j
            pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
            found = keys[pos] == want if len(keys) else np.zeros(len(want), dtype=bool)
            c = np.where(found, self.neighbor_counts_[at[pos]] if len(keys) else 0, 0).astype(np.int64)
            s = np.where(found, self.neighbor_scores_[at[pos]] if len(keys) else 0, 0).astype(np.float64)
            # per entry the first basket item with the highest score (ties: the lower index)
            pick = np.lexsort((np.arange(len(entry)), -s, entry))
            first = np.ones(len(pick), dtype=bool)
            first[1:] = entry[pick][1:] != entry[pick][:-1]
            chosen = pick[first]
            best_q[entry[chosen]] = q[chosen]
            best_c[entry[chosen]] = c[chosen]
        stats = _pair_stats(best_c, self.item_counts_[np.maximum(best_q, 0)], cj, n)
        nan = np.full(len(items), np.nan)
        out: dict[str, Any] = {"count": np.where(fallback, cj, stats["count"]),
                               "support": np.where(fallback, cj / n, stats["support"]),
                               "confidence": np.where(fallback, nan, stats["confidence"]),
                               "lift": np.where(fallback, nan, stats["lift"])}
        out["because"] = pd.Categorical.from_codes(best_q, categories=self.item_index())
        return out

    def pairs(self, item: Any = None) -> pd.DataFrame:
        """The neighbour table with every pair statistic, best neighbours first.

        Columns: item_id, other_id, count, support, confidence (item -> other),
        lift, jaccard, cosine, score. `item` limits it to one item's row.
        """
        self._check_fitted()
        n = len(self.items_)
        lengths = np.diff(self.neighbor_indptr_)
        row = np.repeat(np.arange(n), lengths)
        sel = slice(None)
        if item is not None:
            idx = self.items_.index_of(item)
            if idx < 0:
                raise InputError(f"item {item!r} is not in the model")
            sel = slice(int(self.neighbor_indptr_[idx]), int(self.neighbor_indptr_[idx + 1]))
        row = row[sel]
        col = self.neighbor_indices_[sel]
        stats = _pair_stats(self.neighbor_counts_[sel], self.item_counts_[row], self.item_counts_[col],
                            self.n_orders_)
        frame = pd.DataFrame({"item_id": self.items_.ids[row], "other_id": self.items_.ids[col], **stats})
        frame["score"] = self.neighbor_scores_[sel].astype(np.float64)
        return frame

    # -- model files (the arrays: `schema`) -----------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"n_orders": self.n_orders_}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_counts": self.item_counts_.astype(np.int64),
                "neighbor_indptr": self.neighbor_indptr_.astype(np.int64),
                "neighbor_indices": self.neighbor_indices_.astype(np.int32),
                "neighbor_scores": self.neighbor_scores_.astype(np.float32),
                "neighbor_counts": self.neighbor_counts_.astype(np.int32), **self._kept_arrays()}

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        n_orders = state.get("n_orders")
        if not isinstance(n_orders, int) or isinstance(n_orders, bool) or n_orders < 1:
            raise InputError("state n_orders must be a whole number >= 1")
        self._set_arrays(items, n_orders, arrays["item_counts"], arrays["neighbor_indptr"],
                         arrays["neighbor_indices"], arrays["neighbor_scores"], arrays["neighbor_counts"])
        self._restore_kept_counts(arrays, items, n_orders)
