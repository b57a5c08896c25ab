"""Item and pair counts of an order log: the one step that reads order lines for co-occurrence.

`count_pairs(orders)` -> `PairCounts`: how many orders hold each item and each pair of items: the
lower triangle of X^T X, counted row by row in compiled kernels (xsell/kernels/pairs.py) on every
core, only the pairs that reach the floor kept. A scale-out backend (Spark) can produce the same
`PairCounts` with `PairCounts.from_pairs`; `xsell.CoOccurrence.from_counts` builds a model from
them (`neighbour_table`: the top-k table, one row at a time), and `xsell.mining.export` writes pair
rules from them.
"""

from __future__ import annotations

import mmap
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import IdMap, extend_ids
from xsell.data.orders import Orders
from xsell.errors import InputError


@dataclass(frozen=True)
class PairCounts:
    """Item and pair counts of an order log: everything a co-occurrence model needs.

    The pair table is a symmetric CSR without diagonal (int64 indptr, int32
    indices, int32 counts), over internal item indices. `count_pairs` and
    `from_pairs` sort each row by index; code reading counts accepts any order.
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


def count_pairs(orders: Orders, min_count: int = 1, *, threads: int | None = None) -> PairCounts:
    """Count items and item pairs over orders: the lower triangle of X^T X, filtered as it is counted.

    Pairs seen in fewer than `min_count` orders are dropped while counting (lines of items in
    fewer orders are not even read), so memory holds little more than the pairs kept: rows of the
    triangle are counted in blocks, each into a dense per-thread vector, and only the entries that
    reach the floor leave it. The result is the symmetric table, each row's columns ascending.
    `threads`: blocks counted at once (None: one per core this process may use).
    """
    from xsell.kernels import pairs as kernels

    n_items = orders.n_items
    item_counts, order_ptr, order_index, item_index = _lines(orders, kernels)
    floor = max(int(min_count), 1)
    if len(item_index) == 0:
        return _pair_counts(orders, item_counts, np.zeros(n_items + 1, dtype=np.int64),
                            np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), min_count)
    # row i reads, for each of its lines, the lines before it in the same order (the items below i)
    item_ptr, work, longest = kernels.index_items(order_index, item_index, order_ptr, item_counts, floor)
    n_steps = int(item_ptr[-1])
    # one width for every usual log (each other width compiles the kernels again, once per install)
    starts = _mapped(n_steps, np.int32 if len(item_index) < _NARROW_STARTS else np.int64)
    offsets = _mapped(n_steps, np.uint16 if longest < _NARROW_OFFSETS else np.int64)
    kernels.fill_item_lines(order_index, item_index, order_ptr, item_counts, floor, item_ptr, starts, offsets)
    del order_ptr, order_index
    # row i keeps at most i entries (its columns below i), and no more than the steps it takes
    bound = np.minimum(np.arange(n_items, dtype=np.int64), work)
    cap = max(int(bound.max()), min(_ARENA_ENTRIES, int(bound.sum())))
    lower_len = np.zeros(n_items, dtype=np.int64)
    chunks: list[tuple[int, int, np.ndarray, np.ndarray]] = []

    def scratch() -> list[Any]:
        return [np.zeros(n_items, dtype=np.int32), np.empty(n_items, dtype=np.int32),  # acc, touched
                np.zeros(n_items, dtype=np.int64),  # this thread's kept entries per column
                [_mapped(cap, np.int32), _mapped(cap, np.int32), 0]]  # arena, position

    def count_block(row: int, end: int, acc: np.ndarray, touched: np.ndarray, col_len: np.ndarray,
                    arena: list[Any]) -> None:
        # rows go into this thread's arena, the kept entries packed, and are placed from there: an
        # arena is allocated whole but only the pages written hold memory (a fresh one when it fills)
        while row < end:
            out_indices, out_counts, pos = arena
            stop, end_pos = kernels.count_lower_rows(
                row, end, floor, item_ptr, starts, offsets, item_index, bound, _SCAN_RATIO,
                acc, touched, out_indices, out_counts, pos, lower_len, col_len)
            if stop > row:
                chunks.append((row, int(stop), out_indices[pos:end_pos], out_counts[pos:end_pos]))
            arena[2] = end_pos
            if stop < end:  # full: the next row might not fit
                arena[:] = [_mapped(cap, np.int32), _mapped(cap, np.int32), 0]
            row = int(stop)

    col_lens = [parts[2] for parts in _run_blocks(work, threads, scratch, count_block)]
    del starts, offsets, item_ptr, bound, work
    upper_len = col_lens.pop()
    for other in col_lens:
        upper_len += other
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(lower_len + upper_len, out=indptr[1:])
    del upper_len
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    counts = np.empty(int(indptr[-1]), dtype=np.int32)
    cursor = indptr[:-1] + lower_len
    chunks.sort(key=lambda chunk: chunk[0], reverse=True)
    while chunks:  # in row order, each chunk freed once placed
        row, stop, chunk_indices, chunk_counts = chunks.pop()
        kernels.fill_symmetric(row, stop, lower_len, chunk_indices, chunk_counts, indptr, cursor,
                               indices, counts)
    return _pair_counts(orders, item_counts, indptr, indices, counts, min_count)


def neighbour_table(counts: PairCounts, floor: int, alpha: float, shrinkage: float, k: int | None,
                    *, threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CoOccurrence's neighbour table straight from the counts, one row at a time: the pairs with
    count >= floor (all of them when the counts were floored at `floor` or above already), scored
    float32(c / (c + shrinkage) * c / (n_i^(1 - alpha) n_j^alpha)), the k best of each row kept
    (None: all), best first, ties to the lower index. Returns (indptr int64, indices int32,
    scores float32, counts int32): the same arrays, bit for bit, as scoring every pair with numpy
    and ranking with models/_topk.topk_rows, without a score or a sort key per pair in memory.
    """
    from xsell.kernels import pairs as kernels

    n_items = counts.n_items
    n_i = counts.item_counts.astype(np.float64)
    row_power, col_power = n_i ** (1.0 - alpha), n_i ** alpha
    keep_from = floor if floor > counts.min_count else np.iinfo(np.int32).min
    widest = int(np.diff(counts.indptr).max()) if n_items else 0
    k = widest if k is None else int(k)
    out_ptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(kernels.neighbour_lengths(counts.indptr, counts.counts, keep_from, k), out=out_ptr[1:])
    out_indices = np.empty(int(out_ptr[-1]), dtype=np.int32)
    out_scores = np.empty(int(out_ptr[-1]), dtype=np.float32)
    out_counts = np.empty(int(out_ptr[-1]), dtype=np.int32)
    shrink = float(shrinkage)

    def scratch() -> Sequence[Any]:
        return (np.empty(max(widest, 1), dtype=np.uint64), np.empty(max(min(k, widest), 1), dtype=np.uint64),
                np.empty(n_items, dtype=np.int32))

    def rows(row: int, end: int, keys: np.ndarray, heap: np.ndarray, count_of: np.ndarray) -> None:
        kernels.neighbour_rows(row, end, counts.indptr, counts.indices, counts.counts, keep_from,
                               row_power, col_power, shrink, k, out_ptr, out_indices, out_scores,
                               out_counts, keys, heap, count_of)

    if n_items:
        _run_blocks(np.diff(counts.indptr), threads, scratch, rows)
    return out_ptr, out_indices, out_scores, out_counts


def merge_counts(old: PairCounts, new: PairCounts, floor: int = 1) -> PairCounts:
    """The counts of two disjoint sets of orders added up: `new`'s items mapped onto `old`'s (items
    only in `new` appended, in their order), pairs at or above `floor` kept. With both counted at
    floor 1, exactly the counts of all the orders together (each row ascending, as count_pairs
    gives it). One compiled pass over `old`'s rows (a copy where `new` adds nothing)."""
    from xsell.kernels import pairs as kernels

    items, at = extend_ids(old.items, new.items.ids)
    n_old = old.n_items
    n = len(items)
    item_counts = np.zeros(n, dtype=np.int64)
    item_counts[:n_old] = old.item_counts
    item_counts[at] += new.item_counts
    # the new pairs over the merged items, rows and their columns ascending (few: a day's orders)
    key = at[np.repeat(np.arange(new.n_items), np.diff(new.indptr))] * n + at[new.indices]
    order = np.argsort(key, kind="stable")
    key = key[order]
    add_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=add_ptr[1:])
    add_indices = (key % n).astype(np.int32)
    add_counts = new.counts[order].astype(np.int32)
    old_ptr = np.ascontiguousarray(old.indptr, dtype=np.int64)
    old_indices = np.ascontiguousarray(old.indices, dtype=np.int32)
    old_counts = np.ascontiguousarray(old.counts, dtype=np.int32)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(kernels.merged_lengths(old_ptr, old_indices, add_ptr, add_indices), out=out_ptr[1:])
    out_indices = np.empty(int(out_ptr[-1]), dtype=np.int32)
    out_counts = np.empty(int(out_ptr[-1]), dtype=np.int32)
    if not kernels.merge_rows(old_ptr, old_indices, old_counts, add_ptr, add_indices, add_counts, out_ptr,
                              out_indices, out_counts):
        raise InputError("a pair count reaches 2**31 orders; counts are kept as int32")
    merged = PairCounts(old.n_orders + new.n_orders, items, item_counts, out_ptr, out_indices, out_counts, 1)
    return prune_counts(merged, floor) if floor > 1 else merged


def prune_counts(counts: PairCounts, floor: int) -> PairCounts:
    """`counts` with only the pairs seen in at least `floor` orders."""
    keep = counts.counts >= floor
    row = np.repeat(np.arange(counts.n_items), np.diff(counts.indptr))
    indptr = np.zeros(counts.n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=counts.n_items), out=indptr[1:])
    return PairCounts(counts.n_orders, counts.items, counts.item_counts, indptr, counts.indices[keep],
                      counts.counts[keep], max(floor, counts.min_count))


_SCAN_RATIO = 32               # a row touching > 1/32 of its columns is read back by a scan, not a sort
_BLOCKS_PER_THREAD = 16        # blocks of rows of about equal work, taken by the threads as they go
_ARENA_ENTRIES = 1 << 24       # kept entries per arena (2 x 64 MB of address space, not of memory)
_PARALLEL_WORK = 1 << 20       # less work (steps, pairs) than this runs on one thread: no pool to start
_MAPPED_BYTES = 1 << 20        # scratch arrays this large get a memory map of their own
_NARROW_STARTS = 2**31         # logs with fewer lines keep int32 line numbers, else int64
_NARROW_OFFSETS = 2**16        # orders with fewer lines keep uint16 offsets, else int64


def _run_blocks(work: np.ndarray, threads: int | None, scratch: Callable[[], Sequence[Any]],
                task: Callable[..., None]) -> list[Sequence[Any]]:
    """Run task(row, end, *scratch) over consecutive row blocks of about equal work, on `threads`
    threads (None: one per core this process may use, or one for little work; the kernels release
    the GIL), each with its own scratch() and taking the next block as it goes. Returns each
    thread's scratch."""
    n_threads = _thread_count(threads) if threads or int(work.sum()) >= _PARALLEL_WORK else 1
    blocks = _blocks(work, n_threads * _BLOCKS_PER_THREAD if n_threads > 1 else 1)
    queue = iter(blocks)
    lock = threading.Lock()

    def worker() -> Sequence[Any]:
        mine = scratch()
        while True:
            with lock:
                block = next(queue, None)
            if block is None:
                return mine
            task(block[0], block[1], *mine)

    n_workers = min(n_threads, len(blocks))
    if n_workers <= 1:
        return [worker()]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="xsell-pairs") as pool:
        futures = [pool.submit(worker) for _ in range(n_workers)]
        return [f.result() for f in futures]


def _lines(orders: Orders, kernels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(item_counts, order_ptr, order_index, item_index) of the order lines, checked: sorted by
    (order, item) without repeats, as `Orders` keeps them (lines given otherwise are sorted and
    merged here, as the binary order x item matrix would see them)."""
    n_orders, n_items = orders.n_orders, orders.n_items
    order_index = np.ascontiguousarray(orders.order_index, dtype=np.int32)
    item_index = np.ascontiguousarray(orders.item_index, dtype=np.int32)
    for attempt in range(2):
        order_ptr = _mapped(n_orders + 1, np.int64, zero=True)
        item_counts = np.zeros(n_items, dtype=np.int64)
        status = kernels.index_orders(order_index, item_index, order_ptr, item_counts)
        if status == 1:
            raise InputError("order lines hold an order or item index out of range")
        if status == 0:
            break
        key = np.unique(order_index.astype(np.int64) * n_items + item_index)
        order_index = (key // n_items).astype(np.int32)
        item_index = (key % n_items).astype(np.int32)
    return item_counts, order_ptr, order_index, item_index


def _mapped(n: int, dtype: Any, zero: bool = False) -> np.ndarray:
    """A scratch array of its own anonymous memory map when large: its pages go back to the
    system as soon as it is freed (a freed heap block may stay in the process and count in its
    memory for good), and only pages written take memory, so it can be sized for the worst case."""
    nbytes = n * np.dtype(dtype).itemsize
    if nbytes < max(_MAPPED_BYTES, 1):
        return np.zeros(n, dtype=dtype) if zero else np.empty(n, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype, count=n)  # zeros, as the system maps them


def _thread_count(threads: int | None) -> int:
    if threads is not None and threads > 0:
        return int(threads)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _blocks(work: np.ndarray, n_blocks: int) -> list[tuple[int, int]]:
    """Consecutive row ranges covering every row, of about equal total work each."""
    n = len(work)
    total = np.cumsum(work)
    edges = np.searchsorted(total, total[-1] * np.arange(1, n_blocks) / n_blocks, side="right")
    bounds = np.unique(np.concatenate([[0], edges, [n]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _pair_counts(orders: Orders, item_counts: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                 counts: np.ndarray, min_count: int) -> PairCounts:
    return PairCounts(orders.n_orders, orders.items, item_counts, indptr, indices, counts, min_count)


__all__ = ["PairCounts", "count_pairs", "merge_counts", "neighbour_table", "prune_counts"]
