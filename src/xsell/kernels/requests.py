"""Request kernels over a neighbour table (CSR rows of (item, score), each row sorted best first):
a basket's score for a candidate j is the sum of score(i -> j) over the basket's items i, added in
basket-item order (ascending index), exactly as the sparse product `baskets @ table` adds them; the
top k are ranked by score, highest first, ties to the lower index (models/_topk.py's one rule).

`basket_topk` answers one request; `baskets_topk` runs the same code per basket of a CSR batch, so
a basket gets the same floats and the same order alone or in a batch.
"""

from __future__ import annotations

import importlib

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _push(best_i: np.ndarray, best_v: np.ndarray, size: int, k: int, j: int, v: float) -> int:
    """Insert (j, v) into the first `size` entries of a buffer kept best first; return the new size."""
    if size == k:
        if v < best_v[k - 1] or (v == best_v[k - 1] and j > best_i[k - 1]):
            return size
        pos = k - 1
    else:
        pos = size
        size += 1
    while pos > 0 and (best_v[pos - 1] < v or (best_v[pos - 1] == v and best_i[pos - 1] > j)):
        best_v[pos] = best_v[pos - 1]
        best_i[pos] = best_i[pos - 1]
        pos -= 1
    best_v[pos] = v
    best_i[pos] = j
    return size


@numba.njit(cache=True, nogil=True)
def _span(indptr: np.ndarray, row: int, nnz: int) -> tuple[int, int]:
    """Row `row`'s entries, clamped to the table: the tables were validated when the model was built or
    loaded, but a memory-mapped file rewritten in place afterwards must still not make a kernel read or
    write outside its arrays (one predictable compare per row and per entry)."""
    start = min(max(indptr[row], 0), nnz)
    return start, min(max(indptr[row + 1], start), nnz)


@numba.njit(cache=True, nogil=True)
def _one(indptr: np.ndarray, indices: np.ndarray, scores: np.ndarray, query: np.ndarray, q0: int, q1: int,
         excluded: np.ndarray, e0: int, e1: int, k: int, acc: np.ndarray, mark: np.ndarray,
         cand: np.ndarray, best_i: np.ndarray, best_v: np.ndarray, positive: bool, best: bool) -> int:
    """Top k of query[q0:q1] with excluded[e0:e1] left out (and scores <= 0 when `positive`), into
    best_i/best_v; returns how many. A candidate's score is the sum of its entries in the query's rows
    (`best`: their maximum). acc (float64) and mark (uint8) are zero scratch vectors over the items,
    left zero again."""
    for t in range(e0, e1):
        mark[excluded[t]] = 2
    m = 0
    n = len(acc)
    for t in range(q0, q1):
        start, end = _span(indptr, query[t], len(indices))
        for p in range(start, end):
            j = indices[p]
            if j < 0 or j >= n:
                continue
            if mark[j] == 0:
                mark[j] = 1
                cand[m] = j
                m += 1
                if best:
                    acc[j] = scores[p]
                    continue
            if best:
                acc[j] = max(acc[j], scores[p])
            else:
                acc[j] += scores[p]
    size = 0
    for t in range(m):
        j = cand[t]
        v = acc[j]
        acc[j] = 0.0
        mark[j] = 0
        if (size < k or v >= best_v[k - 1]) and not (positive and v <= 0):  # most candidates stop here
            size = _push(best_i, best_v, size, k, j, v)
    for t in range(e0, e1):
        acc[excluded[t]] = 0.0
        mark[excluded[t]] = 0
    return size


@numba.njit(cache=True, nogil=True)
def basket_topk(indptr: np.ndarray, indices: np.ndarray, scores: np.ndarray, query: np.ndarray,
                excluded: np.ndarray, k: int, acc: np.ndarray, mark: np.ndarray, positive: bool, best: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """(items int32, scores float64) of one basket's top k, best first (scores <= 0 left out when
    `positive`: a score of 0 means no evidence; `best`: a candidate's best entry, not the sum)."""
    total = 0
    for t in range(len(query)):
        start, end = _span(indptr, query[t], len(indices))
        total += end - start
    cand = np.empty(total, dtype=np.int32)
    width = min(k, total)
    best_i = np.empty(max(width, 1), dtype=np.int32)
    best_v = np.empty(max(width, 1), dtype=np.float64)
    size = _one(indptr, indices, scores, query, 0, len(query), excluded, 0, len(excluded), width, acc, mark,
                cand, best_i, best_v, positive, best) if width > 0 else 0
    return best_i[:size], best_v[:size]


@numba.njit(cache=True, nogil=True)
def baskets_topk(indptr: np.ndarray, indices: np.ndarray, scores: np.ndarray, b_indptr: np.ndarray,
                 b_indices: np.ndarray, k: int, n_items: int, positive: bool, best: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top k of every basket of a CSR batch (rows sorted ascending, each basket's own items left out):
    (indptr over baskets, items int32, scores float64), best first within each basket."""
    n = len(b_indptr) - 1
    acc = np.zeros(n_items, dtype=np.float64)
    mark = np.zeros(n_items, dtype=np.uint8)
    longest = 0
    for r in range(n):
        total = 0
        for t in range(b_indptr[r], b_indptr[r + 1]):
            start, end = _span(indptr, b_indices[t], len(indices))
            total += end - start
        longest = max(longest, total)
    cand = np.empty(longest, dtype=np.int32)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_i = np.empty(n * k, dtype=np.int32) if n * k <= 1 << 26 else np.empty(0, dtype=np.int32)
    grow = len(out_i) == 0
    if grow:
        out_i = np.empty(1 << 20, dtype=np.int32)
    out_v = np.empty(len(out_i), dtype=np.float64)
    best_i = np.empty(k, dtype=np.int32)
    best_v = np.empty(k, dtype=np.float64)
    at = 0
    for r in range(n):
        size = _one(indptr, indices, scores, b_indices, b_indptr[r], b_indptr[r + 1], b_indices, b_indptr[r],
                    b_indptr[r + 1], k, acc, mark, cand, best_i, best_v, positive, best)
        if at + size > len(out_i):
            bigger = max(2 * len(out_i), at + size)
            new_i = np.empty(bigger, dtype=np.int32)
            new_v = np.empty(bigger, dtype=np.float64)
            new_i[:at] = out_i[:at]
            new_v[:at] = out_v[:at]
            out_i, out_v = new_i, new_v
        out_i[at:at + size] = best_i[:size]
        out_v[at:at + size] = best_v[:size]
        at += size
        out_ptr[r + 1] = at
    return out_ptr, out_i[:at], out_v[:at]


@numba.njit(cache=True, nogil=True)
def dense_topk(scores: np.ndarray, excluded: np.ndarray, k: int, positive: bool, finite: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """(items int32, scores float64) of the k best of a dense score vector, best first, ties to the lower
    index; `excluded` items left out (their scores are overwritten with -inf), and scores <= 0 when
    `positive`; -inf and NaN scores always left out, +inf too when `finite`."""
    n = len(scores)
    for t in range(len(excluded)):
        scores[excluded[t]] = -np.inf
    width = max(min(k, n), 1)
    best_i = np.empty(width, dtype=np.int32)
    best_v = np.empty(width, dtype=np.float64)
    size = 0
    for c in range(n):
        v = scores[c]
        if size == width and v < best_v[width - 1]:  # most entries stop here
            continue
        if v == -np.inf or v != v or (positive and v <= 0) or (finite and v == np.inf):
            continue
        size = _push(best_i, best_v, size, width, c, v)
    return best_i[:size], best_v[:size]


@numba.njit(cache=True, nogil=True)
def dense_rows(weights: np.ndarray, rows: np.ndarray, values: np.ndarray, norm: bool, h_items: np.ndarray,
               h_values: np.ndarray, h_weight: float) -> np.ndarray:
    """A request's dense scores over an items x items weight matrix, with the float operations of the
    numpy/scipy expressions they replace, in their order (so the same bits):
      s = sum_t values[t] * weights[rows[t]]       (scipy's csr @ dense: y += a * x, rows in order)
      if norm: s = s / max(max|s|, 1e-12)          (models.hybrid._rownorm)
      if h_weight > 0: s = s + h_weight * (h / max(max|h|, 1e-12))  with h dense, h[h_items] = h_values."""
    n = weights.shape[1]
    s = np.zeros(n, dtype=np.float64)
    for t in range(len(rows)):
        a = values[t]
        r = rows[t]
        for c in range(n):
            s[c] += a * weights[r, c]
    if norm and n:
        peak = 0.0
        for c in range(n):
            peak = max(peak, abs(s[c]))
        peak = max(peak, 1e-12)
        for c in range(n):
            s[c] = s[c] / peak
    if h_weight > 0 and n:
        h = np.zeros(n, dtype=np.float64)
        peak = 0.0
        for t in range(len(h_items)):
            if h_items[t] < 0 or h_items[t] >= n:  # (see _span)
                continue
            h[h_items[t]] = h_values[t]
            peak = max(peak, abs(h_values[t]))
        peak = max(peak, 1e-12)
        for c in range(n):
            s[c] = s[c] + h_weight * (h[c] / peak)
    return s


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of a model table (memory-mapped tables are read-only already): the kernels are
    compiled for read-only tables, so fitted and loaded models share one compiled version."""
    view = array.view()
    view.setflags(write=False)
    return view


def _warm_up() -> None:
    """Call every kernel once with the argument types the models pass, at import: a process's first
    call of a compiled kernel costs about 0.8 s even from numba's on-disk cache, and that must not be
    the first request after a model is loaded."""
    indptr = read_only(np.array([0, 1, 2], dtype=np.int64))
    indices = read_only(np.array([1, 0], dtype=np.int32))
    scores = read_only(np.ones(2, dtype=np.float32))
    query = np.array([0], dtype=np.int32)
    for values in (scores, read_only(np.ones(2))):  # co-occurrence (float32), item-KNN and rules (float64)
        basket_topk(indptr, indices, values, query, query, 1, np.zeros(2), np.zeros(2, dtype=np.uint8), False,
                    False)
        baskets_topk(indptr, indices, values, np.array([0, 1], dtype=np.int64), query, 1, 2, False, False)
    dense = dense_rows(read_only(np.ones((2, 2))), query, np.ones(1), True, query, np.ones(1), 0.5)
    dense_topk(dense, query, 1, False, True)
    importlib.import_module("xsell.kernels.ids")  # IdMap's look-ups: it warms its own kernels at import


_warm_up()
