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
def _compare(chars: np.ndarray, row: int, key: np.ndarray) -> int:
    """-1, 0 or 1 as ids[row] is below, equal to or above `key` (code points; rows NUL-padded)."""
    width = chars.shape[1]
    for c in range(width):
        a = chars[row, c]
        b = key[c] if c < len(key) else 0
        if a != b:
            return -1 if a < b else 1
    return 0 if len(key) <= width else -1


@numba.njit(cache=True, nogil=True)
def find_str(chars: np.ndarray, order: np.ndarray, key: np.ndarray) -> int:
    """Position of the string whose UTF-32 code points are `key` among the fixed-width unicode ids
    viewed as uint32 rows `chars` (ids[order] ascending), or -1."""
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
