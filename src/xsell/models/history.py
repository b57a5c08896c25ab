"""What a customer-aware model knows of its customers, held by the model (composition, not a base
class): the customer id map and the customers x items history (orders holding each item), the
model-file part that stores them, and the request rows that add a known customer's history to a
basket. ALS, BPR, ItemKNN and Hybrid each hold one as `customer_history_`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap, extend_ids
from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.models.schema import Array, Csr, Values, check_ids

# what the model file holds about the customers (with the items' order counts, which every
# customer-aware model keeps for its popular fallback)
HISTORY_ARRAYS = (Array("item_counts", "<i8", ("items",)), Array("customers", None, ("customers",)),
                  Array("history_indptr", "<i8", ("customers+1",)), Array("history_indices", "<i4", ("history",)),
                  Array("history_data", "<f4", ("history",)))
HISTORY_CHECKS = (Csr("history", "history_indptr", "history_indices"), Values("history_data", low=0),
                  Values("item_counts", low=0))


class CustomerHistory:
    """customers: the id map (None: the orders named no customer); matrix: customers x items CSR,
    orders of each customer holding each item. A customer without lines in the training orders (a
    split's customer map also holds the test customers) counts as unknown: anonymous."""

    def __init__(self, customers: IdMap | None, matrix: sp.csr_matrix) -> None:
        self.customers = customers
        self.matrix = matrix
        self.known = np.diff(matrix.indptr) > 0  # per customer: has lines in the training orders

    @classmethod
    def from_orders(cls, orders: Orders) -> "CustomerHistory":
        if orders.customers is None or orders.customer_index is None:
            empty = sp.csr_matrix((np.empty(0, np.float32), np.empty(0, np.int32), np.zeros(1, np.int64)),
                                  shape=(0, orders.n_items))
            return cls(None, empty)
        return cls(orders.customers, orders.customer_item_matrix(np.float32))

    def index_of(self, customer: Any) -> int:
        """Internal index of a known customer with history; -1 for None, unknown or without lines."""
        if customer is None or self.customers is None:
            return -1
        idx = self.customers.index_of(customer, "customer")
        return idx if idx >= 0 and self.known[idx] else -1

    def bought(self, customer: int) -> np.ndarray:
        """The items (internal indices, sorted) a known customer bought."""
        m = self.matrix
        return m.indices[m.indptr[customer]:m.indptr[customer + 1]]

    def request_rows(self, baskets: sp.csr_matrix, customers: np.ndarray, weigh: Callable[[sp.csr_matrix], sp.csr_matrix],
                     history_weight: float) -> sp.csr_matrix:
        """Per request: 1 per basket item plus the known customer's history (weighed by `weigh`),
        scaled so its top item weighs `history_weight` next to a basket (1 for a request without a
        basket). Column indices sorted: a request sums the same floats alone and in a batch."""
        rows = baskets.astype(np.float32)
        known = customers >= 0
        if known.any():
            pick = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32), (np.flatnonzero(known), customers[known])),
                                 shape=(baskets.shape[0], self.matrix.shape[0]))
            hist = weigh((pick @ self.matrix).tocsr())
            peak = hist.max(axis=1).toarray().ravel()
            alone = np.diff(baskets.indptr) == 0
            scale = np.where(alone, 1.0, history_weight) / np.maximum(peak, 1e-12)
            rows = (rows + sp.diags(scale.astype(np.float32)) @ hist).tocsr()
            rows.sort_indices()
        return rows

    def merged(self, orders: Orders, items: IdMap, item_at: np.ndarray) -> "CustomerHistory":
        """This history with `orders` added: customers of the orders appended when new, items over
        `items` (the old ones first; `item_at`: each of the orders' item indices there)."""
        if orders.customers is None or orders.customer_index is None:
            raise InputError("the new orders name no customers")
        known = orders.customer_index >= 0
        base = self.customers if self.customers is not None else IdMap(orders.customers.ids[:0])
        customers, cust_at = extend_ids(base, orders.customers.ids)
        # each (customer, item) once per order: the lines are distinct (order, item) pairs already
        add = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                             (cust_at[orders.customer_index[known]], item_at[orders.item_index[known]])),
                            shape=(len(customers), len(items)))
        old = self.matrix
        grown = sp.csr_matrix((old.data, old.indices, np.concatenate(
            [old.indptr, np.full(len(customers) - old.shape[0], old.indptr[-1], dtype=old.indptr.dtype)])),
            shape=(len(customers), len(items)))
        out = (grown + add).tocsr()
        out.sort_indices()
        return CustomerHistory(customers, out.astype(np.float32))

    # -- model files -------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The HISTORY_ARRAYS but item_counts."""
        m = self.matrix
        ids = self.customers.ids if self.customers is not None else np.empty(0, dtype=np.int64)
        return {"customers": ids, "history_indptr": m.indptr.astype(np.int64),
                "history_indices": m.indices.astype(np.int32), "history_data": m.data.astype(np.float32)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], n_items: int) -> "CustomerHistory":
        """From arrays that passed HISTORY_CHECKS; InputError for ids that are not valid."""
        ids = arrays["customers"]
        check_ids("customers", ids)
        matrix = sp.csr_matrix((arrays["history_data"], arrays["history_indices"], arrays["history_indptr"]),
                               shape=(len(ids), n_items))
        return cls(IdMap(ids) if len(ids) else None, matrix)


def fitted_on(state: Mapping[str, Any]) -> str:
    """The state's `fitted_on` ('customers' or 'orders'); InputError otherwise."""
    if state.get("fitted_on") not in ("customers", "orders"):
        raise InputError("state fitted_on must be 'customers' or 'orders'")
    return str(state["fitted_on"])


__all__ = ["HISTORY_ARRAYS", "HISTORY_CHECKS", "CustomerHistory", "fitted_on"]
