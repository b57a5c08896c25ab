"""Finding one id among a map's ids by binary search over their sorted order: no hash table of
every id to build (a dict of 900k ids costs about 0.4 s and 100 MB per process), so the first
request after a load is as fast as the next, and memory-mapped ids stay shared between processes."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def find_int(ids: np.ndarray, order: np.ndarray, key: int) -> int:
    """Position of `key` in int64 `ids` (ids[order] ascending), or -1."""
    lo, hi = 0, len(order)
    while lo < hi:
        mid = (lo + hi) >> 1
        if ids[order[mid]] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(order) and ids[order[lo]] == key:
        return int(order[lo])
    return -1


@numba.njit(cache=True, nogil=True)
def _compare(chars: np.ndarray, row: int, key: bytes) -> int:
    """-1, 0 or 1 as ids[row] is below, equal to or above `key` (UTF-32-LE bytes): code point by code
    point, rows NUL-padded."""
    width = chars.shape[1]
    n = len(key) // 4
    for c in range(width):
        a = chars[row, c]
        b = np.uint32(0)
        if c < n:
            b = (np.uint32(key[4 * c]) | (np.uint32(key[4 * c + 1]) << 8) | (np.uint32(key[4 * c + 2]) << 16)
                 | (np.uint32(key[4 * c + 3]) << 24))
        if a != b:
            return -1 if a < b else 1
    return 0 if n <= width else -1


@numba.njit(cache=True, nogil=True)
def find_str(chars: np.ndarray, order: np.ndarray, key: bytes) -> int:
    """Position of the string encoded as UTF-32-LE `key` among the fixed-width unicode ids viewed as
    uint32 rows `chars` (ids[order] ascending), or -1. (bytes, not an array: numba takes them as they
    are, where np.frombuffer would cost more than the search.)"""
    lo, hi = 0, len(order)
    while lo < hi:
        mid = (lo + hi) >> 1
        if _compare(chars, order[mid], key) < 0:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(order) and _compare(chars, order[lo], key) == 0:
        return int(order[lo])
    return -1


@numba.njit(cache=True, nogil=True)
def sorts_strictly(chars: np.ndarray, order: np.ndarray) -> bool:
    """True when `order` is a permutation of the rows and the rows it lists ascend strictly."""
    n = chars.shape[0]
    if len(order) != n:
        return False
    seen = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        r = order[i]
        if r < 0 or r >= n or seen[r]:
            return False
        seen[r] = True
    width = chars.shape[1]
    for i in range(1, n):
        a, b = order[i - 1], order[i]
        cmp = 0
        for c in range(width):
            if chars[a, c] != chars[b, c]:
                cmp = -1 if chars[a, c] < chars[b, c] else 1
                break
        if cmp >= 0:
            return False
    return True


def _warm_up() -> None:
    """Load each kernel's compiled code for the types IdMap passes (read-only ids and order, as a model
    file gives them), at import: not at a process's first look-up (see kernels/requests.py)."""
    ints = np.array([1, 2], dtype=np.int64)
    chars = np.array([[97], [98]], dtype=np.uint32)
    order = np.array([0, 1], dtype=np.int32)
    for array in (ints, chars, order):
        array.setflags(write=False)
    find_int(ints, order, 1)
    find_str(chars, order, "a".encode("utf-32-le"))
    for rows in (chars, ints.reshape(-1, 1)):
        sorts_strictly(rows, order)
        sorts_strictly(rows, order.copy())  # a writable order (given in memory, not read from a file)


_warm_up()
