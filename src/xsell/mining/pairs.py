"""Item and pair counts of an order log: the one step that reads order lines for co-occurrence.

`count_pairs(orders)` -> `PairCounts`: how many orders hold each item and each pair of items, with
one sparse product X^T X. A scale-out backend (Spark) can produce the same `PairCounts` with
`PairCounts.from_pairs`; `xsell.CoOccurrence.from_counts` builds a model from them, and
`xsell.mining.export` writes pair rules from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.errors import InputError


@dataclass(frozen=True)
class PairCounts:
    """Item and pair counts of an order log: everything a co-occurrence model needs.

    The pair table is a symmetric CSR without diagonal (int64 indptr, int32
    indices in any order within a row, int32 counts), over internal item indices.
    `min_count`: pairs below it were already dropped while counting.
    """

    n_orders: int
    items: IdMap
    item_counts: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    min_count: int = 1

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_pairs(self) -> int:
        """Distinct unordered pairs counted."""
        return len(self.counts) // 2

    @classmethod
    def from_pairs(cls, n_orders: int, items: Any, item_counts: Any,
                   first: Any, second: Any, count: Any) -> "PairCounts":
        """Build from a list of unordered pairs (internal indices), as a scale-out backend gives them.

        Each pair appears once, in either direction; counts must be positive and
        at most the smaller item count.
        """
        item_map = items if isinstance(items, IdMap) else IdMap(items)
        n = len(item_map)
        item_counts = np.asarray(item_counts, dtype=np.int64)
        a = np.asarray(first, dtype=np.int64)
        b = np.asarray(second, dtype=np.int64)
        c = np.asarray(count, dtype=np.int64)
        if item_counts.shape != (n,):
            raise InputError(f"item_counts has shape {item_counts.shape}, expected ({n},)")
        if not (len(a) == len(b) == len(c)):
            raise InputError("first, second and count must have the same length")
        if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
            raise InputError(f"pair indices must be in 0..{n - 1}")
        if (a == b).any():
            raise InputError("a pair joins an item with itself")
        if len(c) and (c.min() < 1 or (c > np.minimum(item_counts[a], item_counts[b])).any()):
            raise InputError("pair counts must be >= 1 and at most the smaller item count")
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = lo * n + hi
        if len(np.unique(key)) != len(key):
            raise InputError("a pair is listed twice")
        m = sp.csr_matrix((np.concatenate([c, c]).astype(np.int32),
                           (np.concatenate([lo, hi]), np.concatenate([hi, lo]))), shape=(n, n))
        m.sort_indices()
        return cls(int(n_orders), item_map, item_counts, m.indptr.astype(np.int64),
                   m.indices.astype(np.int32), m.data.astype(np.int32))

    def to_pairs(self) -> pd.DataFrame:
        """Unordered pairs as a DataFrame item_a, item_b, count (each pair once)."""
        row = np.repeat(np.arange(self.n_items), np.diff(self.indptr))
        upper = row < self.indices
        return pd.DataFrame({"item_a": self.items.ids[row[upper]],
                             "item_b": self.items.ids[self.indices[upper]],
                             "count": self.counts[upper]})


def count_pairs(orders: Orders, min_count: int = 1) -> PairCounts:
    """Count items and item pairs over orders with one sparse product X^T X.

    Pairs seen in fewer than `min_count` orders are dropped here already,
    which keeps memory low on large logs.
    """
    x = orders.order_item_matrix(np.int32)
    co = x.T @ x  # CSR with sorted indices, diagonal included
    n_items = co.shape[0]
    item_counts = np.bincount(x.indices, minlength=n_items).astype(np.int64)
    lengths = np.diff(co.indptr)
    row = np.repeat(np.arange(n_items, dtype=np.int32), lengths)
    keep = row != co.indices
    if min_count > 1:
        keep &= co.data >= min_count
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=n_items), out=indptr[1:])
    indices = co.indices[keep].astype(np.int32, copy=False)
    counts = co.data[keep].astype(np.int32, copy=False)
    return PairCounts(orders.n_orders, orders.items, item_counts, indptr, indices, counts, min_count)


__all__ = ["PairCounts", "count_pairs"]
