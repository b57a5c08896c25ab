"""Item-item models with a dense weight matrix: EASE, and popularity.

EASE (Steck 2019): with G = X^T X + lambda I over the order x item matrix X,
P = G^-1 and B = -P / diag(P) with a zero diagonal; a basket x scores x B.
B is dense (items x items float64): above `max_items` EASE refuses with a
message that says the memory it would need and what to use instead.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.kernels import requests as kernels
from xsell.models.params import Int, Number
from xsell.models.base import Recommender, mark_basket_items
from xsell.models.schema import Array, Schema, Values


# peak memory of an EASE fit per items^2, measured (benchmarks: 34.4 B at 8,000 items, 41 B at 4,000): the
# dense Gram matrix, and inside numpy's inverse an identity, a working copy and the result (8 B each)
_FIT_BYTES = 35
_NO_ITEMS = np.empty(0, dtype=np.int32)
_NO_VALUES = np.empty(0, dtype=np.float64)


def row_neighbours(weights: np.ndarray, item: int) -> tuple[np.ndarray, np.ndarray]:
    """An item's neighbours in a dense items x items weight matrix: its row, best first, itself left out."""
    scores = weights[item].astype(np.float64)
    scores[item] = -np.inf
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])]
    return order.astype(np.int32), scores[order]


class DenseItemModel(Recommender):
    """Scores a basket as the sum of its items' rows of a dense items x items matrix `weights_`."""

    weights_: np.ndarray
    dense_scores: ClassVar[bool] = True

    def _candidates(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = sp.csr_matrix((np.ones(len(basket)), basket, [0, len(basket)]), shape=(1, self.n_items))
        scores = self._score_dense(row, np.full(1, -1, dtype=np.int64))[0]
        return np.arange(self.n_items, dtype=np.int32), np.asarray(scores, dtype=np.float64)

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return row_neighbours(self.weights_, item)

    def _rank(self, query: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # basket @ weights and its top k in two compiled passes (the same floats as the sparse product)
        scores = kernels.dense_rows(self.weights_, query, np.ones(len(query)), False, _NO_ITEMS, _NO_VALUES, 0.0)
        items, values = kernels.dense_topk(scores, excluded, min(k, len(scores)), False, False)
        return items, values

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        return np.asarray(baskets @ self.weights_)


class EASE(DenseItemModel):
    """EASE: a closed-form linear item-item model (Steck 2019).

    Parameters:
      l2: the ridge penalty lambda (default 200).
      max_items: refuse catalogs larger than this (the dense matrix needs 8 bytes per item pair;
        the inversion about three times that) (default 20,000: 3.2 GB).
    """

    model_type: ClassVar[str] = "ease"

    constraints = {"l2": Number(0.0, low_open=True), "max_items": Int(1)}
    schema = Schema(arrays=(Array("weights", "<f8", ("items", "items")), Array("item_counts", "<i8", ("items",))),
                    checks=(Values("weights"), Values("item_counts", low=0)))
    l2: float
    max_items: int

    def __init__(self, *, l2: float = 200.0, max_items: int = 20_000) -> None:
        self._set_params(locals())

    def _fit(self, orders: Orders) -> None:
        n = orders.n_items
        if n > self.max_items:
            gigabytes = n * n * _FIT_BYTES / 1e9
            raise InputError(f"EASE needs a dense items x items matrix: {n:,} items would take about "
                             f"{gigabytes:,.1f} GB (limit max_items={self.max_items:,}); use CoOccurrence or "
                             f"ItemKNN, or fit on the most frequent items")
        x = orders.order_item_matrix(np.float64)
        gram = np.asarray((x.T @ x).todense())
        gram[np.diag_indices(n)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = inverse / (-np.diag(inverse))
        weights[np.diag_indices(n)] = 0.0
        self.items_ = orders.items
        self.weights_ = kernels.read_only(weights)
        counts = orders.item_counts()
        self.item_counts_ = counts
        self._set_popular(counts.astype(np.float64))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "item_counts": self.item_counts_}

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        self.items_ = items
        self.weights_ = kernels.read_only(arrays["weights"])
        self.item_counts_ = arrays["item_counts"]
        self._set_popular(self.item_counts_.astype(np.float64))


class Popular(Recommender):
    """The most popular items (orders holding each), optionally over the last `days` of orders."""

    model_type: ClassVar[str] = "popular"

    constraints = {"days": Number(0.0, low_open=True, none=True)}
    schema = Schema(arrays=(Array("item_counts", "<f8", ("items",)),), checks=(Values("item_counts", low=0),))
    days: float | None

    def __init__(self, *, days: float | None = None) -> None:
        self._set_params(locals())

    def _fit(self, orders: Orders) -> None:
        keep = np.ones(orders.n_lines, dtype=bool)
        if self.days is not None:
            times = orders.order_times()[orders.order_index]
            keep = times >= times.max() - int(self.days * 86_400e9)
        counts = np.bincount(orders.item_index[keep], minlength=orders.n_items).astype(np.float64)
        self.items_ = orders.items
        self.item_counts_ = counts
        self._set_popular(counts)

    def _candidates(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(self.n_items, dtype=np.int32), self.item_counts_.astype(np.float64)

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        cand, scores = self._candidates(np.array([item]))
        order = np.lexsort((cand, -scores))
        order = order[cand[order] != item]
        return cand[order], scores[order]

    def _score_matrix(self, baskets: sp.csr_matrix, k: int) -> sp.csr_matrix:
        # the k + (basket size) most popular items hold each basket's top k
        n_rows = baskets.shape[0]
        head = self.popular_[: k + int(np.diff(baskets.indptr).max(initial=0))]
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), len(head))
        cols = np.tile(head, n_rows).astype(np.int64)
        scores = np.tile(self.item_counts_[head], n_rows)
        return mark_basket_items(rows, cols, scores, baskets)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_counts": self.item_counts_}

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        self.items_ = items
        self.item_counts_ = arrays["item_counts"]
        self._set_popular(self.item_counts_)
