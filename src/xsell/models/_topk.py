"""Top-k per row of a CSR matrix, vectorised.

One rule everywhere: highest score first, ties broken by the lower internal
index. `fit` (neighbour tables), `recommend` and `recommend_batch` all rank
with it, so a basket gets the same answer alone or in a batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CHUNK_CELLS = 4_000_000  # dense cells per partition step: bounds extra memory to ~16 MB


def _row_thresholds(indptr: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The k-th largest score of each row (-inf for rows with at most k entries).

    Rows are grouped by length into power-of-two widths and padded into dense
    blocks, so one `np.partition` per block replaces a sort per row.
    """
    lengths = np.diff(indptr)
    n_rows = len(lengths)
    thr = np.full(n_rows, -np.inf, dtype=np.float64)
    long_rows = np.flatnonzero(lengths > k)
    if len(long_rows) == 0:
        return thr
    widths = np.left_shift(1, np.ceil(np.log2(lengths[long_rows])).astype(np.int64))
    for width in np.unique(widths):
        rows_w = long_rows[widths == width]
        per_chunk = max(1, _CHUNK_CELLS // int(width))
        for start in range(0, len(rows_w), per_chunk):
            rows = rows_w[start:start + per_chunk]
            lens = lengths[rows]
            dense = np.full((len(rows), int(width)), np.inf, dtype=scores.dtype)
            row_of = np.repeat(np.arange(len(rows)), lens)
            pos = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
            src = np.repeat(indptr[rows], lens) + pos
            dense[row_of, pos] = -scores[src]
            thr[rows] = -np.partition(dense, k - 1, axis=1)[:, k - 1]
    return thr


def _order_key(scores: np.ndarray, row: np.ndarray) -> np.ndarray:
    """uint64 keys that sort by row ascending, then score descending (float32 precision)."""
    bits = scores.astype(np.float32).view(np.uint32).astype(np.uint64)
    # map IEEE floats to unsigned ints that keep their order, then invert for descending
    negative = bits >= np.uint64(0x80000000)
    mono = np.where(negative, np.uint64(0xFFFFFFFF) - bits, bits | np.uint64(0x80000000))
    return (row.astype(np.uint64) << np.uint64(32)) | (np.uint64(0xFFFFFFFF) - mono)


def topk_rows(
    indptr: np.ndarray, indices: np.ndarray, scores: np.ndarray, k: int | None,
    *, sorted_columns: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the k best entries of each row of a CSR matrix, sorted best first.

    Ties go to the lower column index. Entries with score -inf are dropped
    (that is how excluded items are marked). `k=None` keeps every entry.
    `sorted_columns=True` says each row is already sorted by column, which
    saves one sort. Returns (indptr, indices, scores, source positions).
    """
    n_rows = len(indptr) - 1
    lengths = np.diff(indptr)
    row = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    if k is not None:
        thr = _row_thresholds(indptr, scores, k)
        keep = np.flatnonzero((scores >= thr[row]) & (scores > -np.inf))
    else:
        keep = np.flatnonzero(scores > -np.inf)
    row = row[keep]
    if not sorted_columns:
        # put survivors in column order first, so the stable sort below breaks ties by column
        by_col = np.argsort((row.astype(np.uint64) << np.uint64(32)) | indices[keep].astype(np.uint64))
        keep, row = keep[by_col], row[by_col]
    order = keep[np.argsort(_order_key(scores[keep], row), kind="stable")]
    # float32 keys may tie where float64 scores differ: settle those runs exactly
    order = _refine_ties(order, row, scores, indices)
    if k is not None:
        counts = np.bincount(row, minlength=n_rows)
        rank = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
        sel = rank < k
        order, row = order[sel], row[sel]
    new_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n_rows), out=new_indptr[1:])
    return new_indptr, indices[order], scores[order], order


def _refine_ties(order: np.ndarray, row: np.ndarray, scores: np.ndarray,
                 indices: np.ndarray) -> np.ndarray:
    """Re-sort runs whose float32 keys tie but whose float64 scores differ (rare),
    by (score descending, column ascending)."""
    s = scores[order]
    if len(s) < 2:
        return order
    same32 = (s[1:].astype(np.float32) == s[:-1].astype(np.float32)) & (row[1:] == row[:-1])
    if not (same32 & (s[1:] != s[:-1])).any():
        return order
    idx = np.flatnonzero(same32)
    involved = np.zeros(len(s), dtype=bool)
    involved[idx] = True
    involved[idx + 1] = True
    pos = np.flatnonzero(involved)
    starts = np.ones(len(pos), dtype=bool)
    starts[1:] = ~same32[pos[1:] - 1]
    group = np.cumsum(starts)
    src = order[pos]
    out = order.copy()
    out[pos] = src[np.lexsort((indices[src], -scores[src], group))]
    return out


def topk_dense(candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    # candidates must be sorted by index: the stable sort then breaks ties by index
    """Positions of the k best of one candidate list (sorted by index), best first."""
    n = len(scores)
    if n > 4 * k and n > 2048:
        thr = -np.partition(-scores, k - 1)[k - 1]
        pos = np.flatnonzero(scores >= thr)
        return pos[np.argsort(-scores[pos], kind="stable")][:k]
    # short lists: one stable sort (ties keep the lower index first)
    return np.argsort(-scores, kind="stable")[:k]


def floor_from_sorted_rows(indptr: np.ndarray, scores: np.ndarray, baskets: Any, k: int) -> np.ndarray:
    """A lower bound on each basket's k-th best score when a basket's score for a candidate is
    at least the score one basket item alone gives it (sum of non-negative scores, or max).

    Row j of (indptr, scores) holds item j's candidates sorted best first; it holds at most
    m - 1 of a basket's m items, so its (k + m)-th entry leaves >= k other candidates at or
    above it. The floor is the largest such value over the basket's items (-inf without one).
    """
    sizes = np.diff(baskets.indptr)
    row = np.repeat(np.arange(baskets.shape[0]), sizes)
    item = baskets.indices
    at = indptr[item] + k + sizes[row] - 1
    has = at < indptr[item + 1]
    bound = np.full(len(item), -np.inf)
    bound[has] = scores[at[has]]
    floor = np.full(baskets.shape[0], -np.inf)
    np.maximum.at(floor, row, bound)
    return floor


def expand_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions start .. start + length - 1 of every range, concatenated, without a loop."""
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
