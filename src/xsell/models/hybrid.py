"""Hybrid: the basket and the customer's own history together.

    score = norm(q @ B) + history_weight * norm(log(1 + h))

B is an EASE item-item matrix (ridge `l2`); q is the basket, or the
customer's decayed history when the basket is empty (next-order requests);
h is the customer's history with every order line decayed by
exp(-age / tau_days), age counted back from the last training order (no decay
when the orders have no timestamps); norm
divides a row by its largest absolute value, so the two parts are on one
scale and `history_weight` is the share the history gets. Repeat purchases
come from h, complements from B. Without a known customer the model is
EASE with row-normalised scores. `xsell evaluate --tune` (or
`xsell.evaluation.tune_hybrid`) chooses l2, tau_days and history_weight on a
validation split cut from the training orders.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.kernels import requests as kernels
from xsell.models.cf import _CFModel
from xsell.models.history import HISTORY_ARRAYS, HISTORY_CHECKS, CustomerHistory
from xsell.models.schema import Array, Schema, Values
from xsell.models.params import Int, Number
from xsell.models.dense import _NO_ITEMS, _NO_VALUES, EASE, row_neighbours

_DAY_NS = 86_400e9


def _rownorm(m: np.ndarray) -> np.ndarray:
    peak = np.abs(m).max(axis=1, keepdims=True) if m.shape[1] else np.ones((m.shape[0], 1))
    return m / np.maximum(peak, 1e-12)


class Hybrid(_CFModel):
    """EASE on the basket plus the customer's recency-decayed purchases (see the module docstring).

    Parameters: l2=50 (EASE ridge), history_weight=0.3, tau_days=180
    (decay time of a past purchase), max_items=20,000 (as EASE).
    """

    model_type: ClassVar[str] = "hybrid"
    weighting = "count"
    on = "customers"
    schema = Schema(
        arrays=HISTORY_ARRAYS + (Array("weights", "<f8", ("items", "items")), Array("decayed_data", "<f8", ("history",))),
        checks=(Values("weights"), Values("decayed_data", low=0)) + HISTORY_CHECKS)
    constraints = {"l2": Number(0.0, low_open=True), "history_weight": Number(0.0),
                   "tau_days": Number(0.0, low_open=True), "max_items": Int(1)}
    l2: float
    tau_days: float
    max_items: int

    def __init__(self, *, l2: float = 50.0, history_weight: float = 0.3, tau_days: float = 180.0,
                 max_items: int = 20_000) -> None:
        self._set_params(locals())

    def _fit(self, orders: Orders) -> None:
        ease = EASE(l2=self.l2, max_items=self.max_items)
        ease._fit(orders)
        self._fit_common(orders)
        self.weights_ = ease.weights_  # read-only already (EASE)
        self.fitted_on_ = "customers" if self.customers_ is not None else "orders"
        self.set_decay(orders)

    def set_decay(self, orders: Orders) -> None:
        """Rebuild history_ (orders holding each item) and decayed_ (the same cells, each order decayed)
        from `orders` with the current tau_days: the tuner sets tau_days, then calls this, instead of
        refitting the EASE part."""
        if self.customers_ is None or orders.customer_index is None:
            self.decayed_ = sp.csr_matrix((0, orders.n_items))
            return
        known = orders.customer_index >= 0
        if orders.timestamp is None:  # no times: every purchase counts fully (no decay)
            age = np.zeros(int(known.sum()))
        else:
            line_times = orders.order_times()[orders.order_index]  # orders without lines hold int64 max
            age = (line_times.max() - line_times[known]) / _DAY_NS
        shape = (orders.n_customers, orders.n_items)
        coords = (orders.customer_index[known], orders.item_index[known])
        history = sp.csr_matrix((np.ones(len(age), dtype=np.float32), coords), shape=shape)
        history.sum_duplicates()
        self.customer_history_ = CustomerHistory(self.customers_, history)
        self.decayed_ = sp.csr_matrix((np.exp(-age / self.tau_days), coords), shape=shape)
        self.decayed_.sum_duplicates()

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        n_rows = baskets.shape[0]
        known = customers >= 0
        query = baskets.astype(np.float64)
        hist = None
        if known.any():
            pick = sp.csr_matrix((np.ones(int(known.sum())), (np.flatnonzero(known), customers[known])),
                                 shape=(n_rows, self.decayed_.shape[0]))
            hist = (pick @ self.decayed_).tocsr()
            empty = np.diff(baskets.indptr) == 0
            if empty.any():  # no basket: the history is the query of the item-item part
                query = (query + sp.diags(empty.astype(np.float64)) @ hist).tocsr()
        scores = _rownorm(np.asarray(query @ self.weights_))
        if hist is not None and self.history_weight > 0:
            h = hist.copy()
            h.data = np.log1p(h.data)
            scores += self.history_weight * _rownorm(h.toarray())
        return scores

    def _score_one(self, query: np.ndarray, customer: int) -> np.ndarray | None:
        # _score_dense of one request in one compiled pass (the same floats in the same order)
        ones = np.ones(len(query))
        if customer < 0:
            return kernels.dense_rows(self.weights_, query, ones, True, _NO_ITEMS, _NO_VALUES, 0.0)
        if len(query) == 0:  # the history is the query: the general path sums it in scipy's order
            return None
        d = self.decayed_
        lo, hi = d.indptr[customer], d.indptr[customer + 1]
        return kernels.dense_rows(self.weights_, query, ones, True, d.indices[lo:hi].copy(), np.log1p(d.data[lo:hi]),
                          max(self.history_weight, 0.0))

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return row_neighbours(self.weights_, item)  # the EASE matrix's row

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**self._history_arrays(), "weights": self.weights_, "decayed_data": self.decayed_.data.astype(np.float64)}

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        self._restore_history(state, arrays, items)
        self.weights_ = kernels.read_only(arrays["weights"])
        h = self.history_
        self.decayed_ = sp.csr_matrix((arrays["decayed_data"], h.indices, h.indptr), shape=h.shape)
