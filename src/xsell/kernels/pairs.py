"""Pair-counting kernels (mining/pairs.py): the lower triangle of X^T X, one row at a time, filtered
as it is counted.

X is the binary orders x items matrix, given as the order lines (sorted by order then item, one per
distinct pair). Row i of the lower triangle holds, for every item j < i, the number of orders that
hold both; it is accumulated in a dense per-thread vector from the lines of item i, keeping only
entries >= the floor. Rows are independent, so blocks of rows run on several threads (`nogil`), each
with its own scratch vectors and output buffer; `fill_symmetric` mirrors the kept entries into the
symmetric CSR that `PairCounts` holds, with sorted rows.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def index_orders(order_index: np.ndarray, item_index: np.ndarray, order_ptr: np.ndarray,
                 item_counts: np.ndarray) -> int:
    """Check the lines and count them into order_ptr (zeros, n_orders + 1: the lines of order o
    are order_ptr[o]:order_ptr[o + 1]) and item_counts (zeros, n_items).

    Returns 0 when fine, 1 for an index out of range, 2 for lines not sorted by (order, item)
    or repeated (the counts are then incomplete).
    """
    n_orders = len(order_ptr) - 1
    n_items = len(item_counts)
    prev_o, prev_i = -1, -1
    for line in range(len(item_index)):
        o = order_index[line]
        i = item_index[line]
        if o < 0 or o >= n_orders or i < 0 or i >= n_items:
            return 1
        if o < prev_o or (o == prev_o and i <= prev_i):
            return 2
        prev_o, prev_i = o, i
        order_ptr[o + 1] += 1
        item_counts[i] += 1
    for o in range(n_orders):
        order_ptr[o + 1] += order_ptr[o]
    return 0


@numba.njit(cache=True, nogil=True)
def index_items(order_index: np.ndarray, item_index: np.ndarray, order_ptr: np.ndarray,
                item_counts: np.ndarray, floor: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The lines that can add to a kept pair, grouped by item: (item_ptr, work, longest offset).

    A line of item i counts when i is in at least `floor` orders (no pair of i can reach the floor
    otherwise) and it is not its order's first line (an order's lines are sorted by item, so the
    lines before it are its items below i: all that row i of the lower triangle needs). work[i]
    is the number of those earlier lines over i's lines: the steps row i takes, the cost to
    balance blocks by. The longest offset sets the width of the offsets `fill_item_lines` keeps.
    """
    n_items = len(item_counts)
    item_ptr = np.zeros(n_items + 1, dtype=np.int64)
    work = np.zeros(n_items, dtype=np.int64)
    longest = 0
    for line in range(len(item_index)):
        i = item_index[line]
        offset = line - order_ptr[order_index[line]]
        if offset > 0 and item_counts[i] >= floor:
            item_ptr[i + 1] += 1
            work[i] += offset
            longest = max(longest, offset)
    for i in range(n_items):
        item_ptr[i + 1] += item_ptr[i]
    return item_ptr, work, longest


@numba.njit(cache=True, nogil=True)
def fill_item_lines(order_index: np.ndarray, item_index: np.ndarray, order_ptr: np.ndarray,
                    item_counts: np.ndarray, floor: int, item_ptr: np.ndarray, starts: np.ndarray,
                    offsets: np.ndarray) -> None:
    """For each line `index_items` counted for item i, in line order at item_ptr[i]...: the first
    line of its order (starts) and its distance from it (offsets), so that row i reads the items
    below i of each of its orders as item_index[start:start + offset] without a lookup."""
    cursor = item_ptr[:-1].copy()
    for line in range(len(item_index)):
        i = item_index[line]
        start = order_ptr[order_index[line]]
        if line > start and item_counts[i] >= floor:
            at = cursor[i]
            starts[at] = start
            offsets[at] = line - start
            cursor[i] = at + 1


@numba.njit(cache=True, nogil=True)
def count_lower_rows(r0: int, r1: int, floor: int, item_ptr: np.ndarray, starts: np.ndarray,
                     offsets: np.ndarray, item_index: np.ndarray,
                     bound: np.ndarray, scan_ratio: int, acc: np.ndarray, touched: np.ndarray,
                     out_indices: np.ndarray, out_counts: np.ndarray, pos: int, lower_len: np.ndarray,
                     col_len: np.ndarray) -> tuple[int, int]:
    """Count rows r0, r0 + 1, ... of the lower triangle into the output buffers from `pos` on, each
    row's kept columns ascending, until r1 or until the next row might not fit (row i keeps at most
    bound[i] entries). Returns (the first row not counted, the position after the last entry).

    lower_len[i] gets row i's kept entries; col_len[j] += 1 for each kept (i, j). acc (int32) and
    touched (int32) are scratch vectors over the items; acc is zero on entry and left zero. A row
    whose touched columns are more than 1/scan_ratio of its width is read back by scanning acc[:i]
    (in column order already); a sparser row sorts its kept columns.
    """
    cap = len(out_indices)
    n = pos
    for i in range(r0, r1):
        if n + bound[i] > cap:
            return i, n
        t = 0
        for p in range(item_ptr[i], item_ptr[i + 1]):
            first = starts[p]
            for q in range(first, first + offsets[p]):  # the order's items below i
                j = item_index[q]
                a = acc[j] + 1
                acc[j] = a
                if a == 1:
                    touched[t] = j
                    t += 1
        start = n
        if t * scan_ratio > i:
            for j in range(i):
                a = acc[j]
                if a != 0:
                    if a >= floor:
                        out_indices[n] = j
                        out_counts[n] = a
                        col_len[j] += 1
                        n += 1
                    acc[j] = 0
        else:
            for s in range(t):
                j = touched[s]
                if acc[j] >= floor:
                    out_indices[n] = j
                    n += 1
                else:
                    acc[j] = 0
            out_indices[start:n].sort()
            for s in range(start, n):
                j = out_indices[s]
                out_counts[s] = acc[j]
                acc[j] = 0
                col_len[j] += 1
        lower_len[i] = n - start
    return r1, n


@numba.njit(cache=True, nogil=True)
def fill_symmetric(r0: int, r1: int, lower_len: np.ndarray, chunk_indices: np.ndarray,
                   chunk_counts: np.ndarray, indptr: np.ndarray, cursor: np.ndarray,
                   indices: np.ndarray, counts: np.ndarray) -> None:
    """Place the lower-triangle rows r0:r1 of one chunk in the symmetric CSR: row i's own entries
    (columns < i, ascending) open row i, and each (i, j) is also appended to row j at cursor[j],
    which starts where row j's own entries end. Chunks must come in row order: row j's entries
    above the diagonal then arrive in ascending i, so every row ends up sorted."""
    p = 0
    for i in range(r0, r1):
        dst = indptr[i]
        for _ in range(lower_len[i]):
            j = chunk_indices[p]
            c = chunk_counts[p]
            indices[dst] = j
            counts[dst] = c
            dst += 1
            at = cursor[j]
            indices[at] = i
            counts[at] = c
            cursor[j] = at + 1
            p += 1


@numba.njit(cache=True, nogil=True)
def neighbour_lengths(indptr: np.ndarray, counts: np.ndarray, floor: int, k: int) -> np.ndarray:
    """Entries each row keeps in the neighbour table: those with count >= floor, at most k."""
    n_rows = len(indptr) - 1
    lengths = np.zeros(n_rows, dtype=np.int64)
    for i in range(n_rows):
        m = 0
        for p in range(indptr[i], indptr[i + 1]):
            if counts[p] >= floor:
                m += 1
        lengths[i] = min(m, k)
    return lengths


@numba.njit(cache=True, nogil=True)
def _smallest(keys: np.ndarray, m: int, take: int, heap: np.ndarray) -> np.ndarray:
    """The `take` smallest of keys[:m] (distinct), ascending, in heap[:take] (a max-heap on the way:
    O(m log take), where np.partition would cost seconds more to compile)."""
    for s in range(take):  # the first `take` keys, heapified by sifting each up
        key = keys[s]
        c = s
        while c > 0:
            parent = (c - 1) >> 1
            if heap[parent] >= key:
                break
            heap[c] = heap[parent]
            c = parent
        heap[c] = key
    for s in range(take, m):
        key = keys[s]
        if key >= heap[0]:
            continue
        c = 0  # replace the largest and sift it down
        while True:
            child = 2 * c + 1
            if child >= take:
                break
            if child + 1 < take and heap[child + 1] > heap[child]:
                child += 1
            if heap[child] <= key:
                break
            heap[c] = heap[child]
            c = child
        heap[c] = key
    best = heap[:take]
    best.sort()
    return best


@numba.njit(cache=True, nogil=True)
def neighbour_rows(r0: int, r1: int, indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray,
                   floor: int, row_power: np.ndarray, col_power: np.ndarray, shrinkage: float, k: int,
                   out_ptr: np.ndarray, out_indices: np.ndarray, out_scores: np.ndarray,
                   out_counts: np.ndarray, keys: np.ndarray, heap: np.ndarray, count_of: np.ndarray) -> None:
    """Rows r0:r1 of the neighbour table: each row's pairs with count >= floor scored
    float32(damp * c / (row_power[i] * col_power[j])), damp = c / (c + shrinkage) (1 without
    shrinkage), and its k best kept, best first, ties to the lower column, into out_*[out_ptr[i]:].

    The float64 arithmetic is the numpy expression's, operation for operation, so the float32
    scores are the same bits; the order is models/_topk.py's (float32 score descending, column
    ascending), read from one uint64 key per pair: the score's bits inverted, then the column.
    keys (uint64, as long as the longest row), heap (uint64, k long) and count_of (int32, over the
    items) are scratch.
    """
    one = np.empty(1, dtype=np.float32)
    one_bits = one.view(np.uint32)
    out_bits = out_scores.view(np.uint32)
    low = np.uint64(0xFFFFFFFF)
    for i in range(r0, r1):
        m = 0
        for p in range(indptr[i], indptr[i + 1]):
            c = counts[p]
            if c < floor:
                continue
            j = indices[p]
            cf = np.float64(c)
            damp = cf / (cf + shrinkage) if shrinkage > 0 else 1.0
            one[0] = np.float32(damp * cf / (row_power[i] * col_power[j]))
            # scores are > 0, so their bits order as the floats do; inverted: best first
            keys[m] = ((low - np.uint64(one_bits[0])) << np.uint64(32)) | np.uint64(j)
            count_of[j] = c
            m += 1
        take = min(m, k)
        if take <= 0:
            continue
        if m > 4 * take:  # a long row: keep its `take` smallest keys in a max-heap, then sort those
            best = _smallest(keys, m, take, heap)
        else:
            keys[:m].sort()
            best = keys[:take]
        dst = out_ptr[i]
        for s in range(take):
            key = best[s]
            j = np.int64(key & low)
            out_indices[dst] = j
            out_bits[dst] = np.uint32(low - (key >> np.uint64(32)))
            out_counts[dst] = count_of[j]
            dst += 1


@numba.njit(cache=True, nogil=True)
def merged_lengths(old_ptr: np.ndarray, old_indices: np.ndarray, add_ptr: np.ndarray,
                   add_indices: np.ndarray) -> np.ndarray:
    """Entries of each row after adding a second count table with the same rows (both with each
    row's columns strictly ascending; `old` may have fewer rows: the rest are empty)."""
    n_rows = len(add_ptr) - 1
    n_old = len(old_ptr) - 1
    lengths = np.empty(n_rows, dtype=np.int64)
    for i in range(n_rows):
        s, e = (old_ptr[i], old_ptr[i + 1]) if i < n_old else (0, 0)
        a, b = add_ptr[i], add_ptr[i + 1]
        m = e - s
        while a < b:  # each added column not in the old row is one more entry
            j = add_indices[a]
            while s < e and old_indices[s] < j:
                s += 1
            if s == e or old_indices[s] != j:
                m += 1
            a += 1
        lengths[i] = m
    return lengths


@numba.njit(cache=True, nogil=True)
def merge_rows(old_ptr: np.ndarray, old_indices: np.ndarray, old_counts: np.ndarray, add_ptr: np.ndarray,
               add_indices: np.ndarray, add_counts: np.ndarray, out_ptr: np.ndarray, out_indices: np.ndarray,
               out_counts: np.ndarray) -> bool:
    """Write old + add row by row into out (out_ptr from `merged_lengths`), columns ascending, the
    counts of a column in both added. Returns False when a sum does not fit int32 (out incomplete)."""
    n_rows = len(add_ptr) - 1
    n_old = len(old_ptr) - 1
    top = np.int64(2**31 - 1)
    for i in range(n_rows):
        s, e = (old_ptr[i], old_ptr[i + 1]) if i < n_old else (0, 0)
        a, b = add_ptr[i], add_ptr[i + 1]
        d = out_ptr[i]
        if a == b:  # most rows: a copy
            for p in range(s, e):
                out_indices[d] = old_indices[p]
                out_counts[d] = old_counts[p]
                d += 1
            continue
        while s < e or a < b:
            if a == b or (s < e and old_indices[s] < add_indices[a]):
                out_indices[d] = old_indices[s]
                out_counts[d] = old_counts[s]
                s += 1
            elif s == e or add_indices[a] < old_indices[s]:
                out_indices[d] = add_indices[a]
                out_counts[d] = add_counts[a]
                a += 1
            else:
                total = np.int64(old_counts[s]) + np.int64(add_counts[a])
                if total > top:
                    return False
                out_indices[d] = old_indices[s]
                out_counts[d] = np.int32(total)
                s += 1
                a += 1
            d += 1
    return True
