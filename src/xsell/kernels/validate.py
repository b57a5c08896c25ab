"""One-pass content checks of arrays read from a model file (untrusted): row pointers, index
ranges, numbers (NaN, infinities, a floor), rows sorted best first and text ids. Each kernel reads its arrays once, allocates nothing of their size and returns a small
result, so the caller (`xsell.models.schema`) raises the one message each check has always raised.

The loops are written as reductions the compiler vectorises (minimum, maximum, counts: no early
exit inside a pass), so a check runs at about memory speed: the arrays of a 900k-item model (about
120 MB) are read in a few milliseconds.

The kernels trust nothing they read: every index they follow is bounds-checked (or clipped) first,
so they are safe on any input, valid or not. `xsell.models.schema` passes read-only views, so arrays
mapped from a file and arrays in memory share one compiled specialisation per dtype.
"""

from __future__ import annotations

import numba
import numpy as np

# codes returned by csr()
CSR_OK, CSR_BAD_POINTER, CSR_BAD_INDEX = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _pointer_ok(indptr: np.ndarray, end: int) -> bool:
    """indptr runs from 0 to `end` and never decreases."""
    n = len(indptr)
    if n == 0 or indptr[0] != 0 or indptr[n - 1] != end:
        return False
    drops = 0
    for i in range(1, n):
        drops += indptr[i] < indptr[i - 1]
    return drops == 0


@numba.njit(cache=True, nogil=True)
def csr(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> int:
    """CSR_OK when indptr runs from 0 to len(indices) without decreasing and every index is in
    0..n_cols - 1; CSR_BAD_POINTER or CSR_BAD_INDEX otherwise (the pointer is checked first)."""
    if not _pointer_ok(indptr, len(indices)):
        return CSR_BAD_POINTER
    if len(indices) == 0:
        return CSR_OK
    lo = indices[0]
    hi = indices[0]
    for j in range(len(indices)):
        v = indices[j]
        lo = min(lo, v)
        hi = max(hi, v)
    return CSR_OK if lo >= 0 and hi < n_cols else CSR_BAD_INDEX


@numba.njit(cache=True, nogil=True)
def floats(values: np.ndarray, low: float, has_low: bool, nan_ok: bool, posinf_ok: bool) -> bool:
    """True when no value is NaN (unless nan_ok), infinite (+inf allowed when posinf_ok) or below
    `low` (when has_low; NaN is never below it)."""
    n = len(values)
    top = np.inf if posinf_ok else np.finfo(np.float64).max
    bottom = max(low, -np.finfo(np.float64).max) if has_low else -np.finfo(np.float64).max
    within = np.int64(0)
    for j in range(n):  # the usual case: count the values in [bottom, top] (NaN never is)
        x = np.float64(values[j])
        within += (x >= bottom) & (x <= top)
    if within == n:
        return True
    if not nan_ok:
        return False
    nan = 0
    for j in range(n):
        y = values[j]
        nan += y != y
    return bool(within + nan == n)


@numba.njit(cache=True, nogil=True)
def at_least(values: np.ndarray, low: int) -> bool:
    """True when every (integer) value is >= low."""
    if len(values) == 0:
        return True
    lo = values[0]
    for j in range(len(values)):
        lo = min(lo, values[j])
    return bool(lo >= low)


@numba.njit(cache=True, nogil=True)
def rows_sorted(indptr: np.ndarray, scores: np.ndarray) -> bool:
    """True when within every row of the CSR (indptr, scores) no score is above the one before it.

    For a valid row pointer (0 .. len(scores), never decreasing: check it first). Counts, in one
    branch-free pass, the positions whose score is above the one before, and the non-empty rows
    whose first score is above the last of the rows before: sorted rows iff the counts agree
    (every rise is then at a row start). Safe for any indptr (positions are clipped)."""
    n = len(scores)
    rises = 0
    for p in range(1, n):
        rises += scores[p] > scores[p - 1]
    at_starts = 0
    for r in range(len(indptr) - 1):
        start = indptr[r]
        if start < indptr[r + 1] and 0 < start < n:
            at_starts += scores[start] > scores[start - 1]
    return rises == at_starts


@numba.njit(cache=True, nogil=True)
def text_ids(codes: np.ndarray, width: int) -> bool:
    """True when no id holds a NUL before another character, a surrogate or a code point above
    U+10FFFF. `codes`: the ids' UTF-32 code points, each id `width` of them, NUL-padded, one after
    the other (the flat uint32 view of a unicode array).

    One pass over the code points as one run: the highest, the surrogates, the places where a NUL is
    followed by a character; then a pass over the boundaries between two ids, counting those places
    that fall on one (a shorter id's padding, then the next id): the ids are valid iff no code point
    is out of range and the two counts agree."""
    total = len(codes)
    if width <= 0 or total == 0:
        return True
    high = codes[0]
    surrogates = 0
    surrogates += (high >= 0xD800) & (high <= 0xDFFF)
    rises = 0
    for k in range(1, total):
        v = codes[k]
        high = max(high, v)
        surrogates += (v >= 0xD800) & (v <= 0xDFFF)
        rises += (codes[k - 1] == 0) & (v != 0)
    at_bounds = 0
    for k in range(width, total, width):
        at_bounds += (codes[k - 1] == 0) & (codes[k] != 0)
    return high <= 0x10FFFF and surrogates == 0 and rises == at_bounds


@numba.njit(cache=True, nogil=True)
def text_hashes(codes: np.ndarray, width: int) -> np.ndarray:
    """A 64-bit FNV-1a hash of each id (`width` UTF-32 code points each, as in `text_ids`): equal ids
    hash equal, so ids whose hashes are all distinct are distinct (sorting the hashes is far cheaper
    than sorting the strings)."""
    n = len(codes) // width if width > 0 else 0
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        h = np.uint64(14695981039346656037)
        for c in range(i * width, i * width + width):
            h = (h ^ np.uint64(codes[c])) * np.uint64(1099511628211)
        out[i] = h
    return out
