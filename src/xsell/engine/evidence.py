"""Co-purchase evidence: how likely an item is to be added to a basket, and the counts behind it.

Probability of an item j being added to a basket B (calibrated on the training orders): for each
basket item i, p_ij = (n_ij + m b_j) / (n_i + m) is the share of training orders holding i that also
held j, shrunk towards j's base rate b_j = n_j / N with m = `smoothing` pseudo-orders (so a pair seen
twice does not claim 100%); the basket combines them as 1 - prod_i (1 - p_ij) (each basket item an
independent chance), at least b_j.

The counts come from a fitted CoOccurrence (the engine's model itself, or one fitted on the training
orders), read through its public fitted arrays and mapped onto the engine model's items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.models._topk import topk_rows
from xsell.models.cooccurrence import CoOccurrence


class Evidence:
    """Counts, base rates and pair probabilities over a model's items (internal indices).

    n_orders: training orders N; counts: orders holding each item (n_i); base: n_i / N;
    pair: n_ij; conf: p_ij (smoothed); logq: log(1 - p_ij), all items x items CSR, built on first use
    (batches; `prepare`): a single request reads the source's neighbour rows directly (`request_args`),
    so building an engine costs O(items), not O(pairs).
    """

    __slots__ = ("n_orders", "counts", "base", "smoothing", "_source", "_remap", "_request", "_matrices")

    def __init__(self, source: CoOccurrence, items: IdMap | None, smoothing: float) -> None:
        """`source`: a fitted CoOccurrence; `items`: the model's items when `source` has other items (None:
        the same items in the same order)."""
        n_src = len(source.items_)
        n = n_src if items is None else len(items)
        counts = np.zeros(n, dtype=np.float64)
        if items is None:
            remap = None
            counts[:] = source.item_counts_
        else:
            remap = items.to_internal(source.items_.ids)
            ok = remap >= 0
            counts[remap[ok]] = source.item_counts_[ok]
        self.n_orders = float(source.n_orders_)
        self.counts = counts
        self.base = counts / max(self.n_orders, 1.0)
        self.smoothing = float(smoothing)
        self._source = source
        self._remap = remap
        self._matrices: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix] | None = None
        source_of = np.empty(0, dtype=np.int64)  # the source's index of each model item (empty: the same)
        if remap is not None:
            source_of = np.full(n, -1, dtype=np.int64)
            mapped = remap >= 0
            source_of[remap[mapped]] = np.flatnonzero(mapped)
        self._request = tuple(read_only(a) if isinstance(a, np.ndarray) else a for a in (
            source_of, source.neighbor_indptr_, source.neighbor_indices_, source.neighbor_counts_, counts,
            self.base, self.smoothing))

    def request_args(self) -> tuple[object, ...]:
        """What `kernels.engine.cross_sell_shortlist` reads of the evidence: (source_of: the source's index of
        each model item, -1 none, empty when the source's items are the model's; the source's neighbour indptr,
        indices and counts; counts, base, smoothing)."""
        return self._request

    def _build(self) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        """(pair, conf, logq), built on first use. Two threads asking at once may both build them (the same
        arrays; one reference wins): no lock to hold across a fork or to refuse pickling."""
        built = self._matrices
        if built is not None:
            return built
        source, remap, smoothing = self._source, self._remap, self.smoothing
        n_src, n = len(source.items_), len(self.counts)
        if remap is None:
            remap = np.arange(n)
        rows = np.repeat(np.arange(n_src, dtype=np.int64), np.diff(source.neighbor_indptr_))
        r, c = remap[rows], remap[source.neighbor_indices_]
        keep = (r >= 0) & (c >= 0)
        r, c = r[keep], c[keep]
        n_ij = source.neighbor_counts_[keep].astype(np.float64)
        pair = sp.csr_matrix((n_ij, (r, c)), shape=(n, n))
        p = (n_ij + smoothing * self.base[c]) / (self.counts[r] + smoothing)
        p = np.clip(p, 0.0, 1.0 - 1e-12)
        conf = sp.csr_matrix((p, (r, c)), shape=(n, n))
        logq = sp.csr_matrix((np.log1p(-p), (r, c)), shape=(n, n))
        self._matrices = built = (pair, conf, logq)
        return built

    def prepare(self) -> None:
        """Build the matrices batches use (before worker processes are forked, so they share them)."""
        self._build()

    @property
    def pair(self) -> sp.csr_matrix:
        return self._build()[0]

    @property
    def conf(self) -> sp.csr_matrix:
        return self._build()[1]

    @property
    def logq(self) -> sp.csr_matrix:
        return self._build()[2]

    def probability_pairs(self, basket: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The probability of a candidate being added for many (basket row r, candidate c) pairs: one sparse
        product."""
        logs = (basket @ self.logq).tocsr()
        logs.sort_indices()
        n = np.int64(self.logq.shape[0])
        keys = np.repeat(np.arange(logs.shape[0], dtype=np.int64), np.diff(logs.indptr)) * n + logs.indices
        want = r * n + c
        at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        found = (keys[at] == want) if len(keys) else np.zeros(len(want), bool)
        total = np.where(found, logs.data[at] if len(keys) else 0.0, 0.0)
        return self.from_logs(total, c)

    def from_logs(self, logsum: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The probability of candidates c from their summed log(1 - p_ij) over the basket: at least the base rate."""
        p: np.ndarray = np.maximum(1.0 - np.exp(logsum), self.base[c])
        return p

    def share(self, item: int, together: float) -> float:
        """The share of the orders holding `item` that held `together` orders with another item."""
        return together / max(float(self.counts[item]), 1.0)


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view (the kernels compile once for read-only arrays)."""
    view = a.view()
    view.flags.writeable = False
    return view


def evidence_source(model: object, orders: Orders | None) -> CoOccurrence | None:
    """Where the counts come from: a CoOccurrence fitted on `orders` when given, else the model itself when it
    is a CoOccurrence, else None (the engine then needs the orders)."""
    if orders is not None:
        return CoOccurrence(min_count=1, neighbors=200).fit(orders)
    return model if isinstance(model, CoOccurrence) else None


def substitutes(orders: Orders, items: IdMap, top: int = 20, min_customers: int = 3) -> sp.csr_matrix | None:
    """Items bought by the same customers but rarely in the same order, top `top` per item, in the
    model's index space (`items`): score = customer cosine x (1 - orders together / customers in common).
    None without customers in the orders."""
    if orders.customers is None or orders.customer_index is None:
        return None
    c = (orders.customer_item_matrix(np.float32) > 0).astype(np.float32).tocsr()
    x = orders.order_item_matrix(np.float32)
    common = (c.T @ c).tocsr()
    together = (x.T @ x).tocsr()
    common.setdiag(0)
    common.eliminate_zeros()
    common.data[common.data < min_customers] = 0
    common.eliminate_zeros()
    rows = np.repeat(np.arange(common.shape[0]), np.diff(common.indptr))
    n_c = np.asarray(c.sum(axis=0)).ravel()
    cos = common.data / np.sqrt(n_c[rows] * n_c[common.indices])
    both = np.asarray(together[rows, common.indices]).ravel()
    score = cos * (1.0 - np.minimum(both / common.data, 1.0))
    score[score <= 0] = -np.inf
    indptr, cols, values, _ = topk_rows(common.indptr, common.indices, score, top)
    lengths = np.diff(indptr)
    remap = items.to_internal(orders.items.ids).astype(np.int64)  # the model's one rule for matching an id
    n = len(items)
    r = remap[np.repeat(np.arange(len(lengths)), lengths)]
    cc = remap[cols]
    ok = (r >= 0) & (cc >= 0)
    return sp.csr_matrix((values[ok], (r[ok], cc[ok])), shape=(n, n))


__all__ = ["Evidence", "evidence_source", "read_only", "substitutes"]
