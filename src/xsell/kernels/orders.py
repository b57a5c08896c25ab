"""Per-item and per-customer summaries of order lines in one compiled pass each, where pandas' groupby
and scipy's COO -> CSR conversion cost most of a model's fit around implicit's own (issue 11: the ALS
wrapper within 5% of raw implicit). Both give exactly what the pandas/scipy expressions give (tested
against them in tests/test_kernels.py)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def group_medians(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """`pd.Series(values).groupby(groups).median()` spread over 0..n_groups-1 (NaN for a group with no
    value): NaN values skipped; an even count's median is (upper middle + lower middle) / 2, as pandas
    computes it. `groups` in 0..n_groups-1."""
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(len(values)):
        if not np.isnan(values[i]):
            start[groups[i] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    buf = np.empty(start[n_groups], dtype=np.float64)
    for i in range(len(values)):
        v = values[i]
        if not np.isnan(v):
            g = groups[i]
            buf[fill[g]] = v
            fill[g] += 1
    out = np.full(n_groups, np.nan)
    for g in range(n_groups):
        a, b = start[g], start[g + 1]
        n = b - a
        if n == 0:
            continue
        part = np.partition(buf[a:b], n // 2)  # a selection, not a sort: the middle value(s) only
        upper = part[n // 2]
        if n % 2:
            out[g] = upper
        else:  # the lower middle: the largest value left of the upper middle
            lower = part[0]
            for t in range(1, n // 2):
                if part[t] > lower:
                    lower = part[t]
            out[g] = (upper + lower) / 2
    return out


@numba.njit(cache=True, nogil=True)
def count_pairs_csr(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays (indptr int64, indices int32, counts float64) of how often each (row, col) pair
    occurs among the lines, each row's columns ascending: `sp.csr_matrix((ones, (rows, cols)))` after
    `sum_duplicates()`. Lines with a row < 0 are left out; rows in 0..n_rows-1, cols in 0..n_cols-1."""
    # a radix sort of the lines by (row, col): counting sort by col, then a stable one by row, so each
    # row's columns come out ascending without sorting each row
    col_start = np.zeros(n_cols + 1, dtype=np.int64)
    start = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(len(rows)):
        if rows[i] >= 0:
            col_start[cols[i] + 1] += 1
            start[rows[i] + 1] += 1
    for c in range(n_cols):
        col_start[c + 1] += col_start[c]
    for r in range(n_rows):
        start[r + 1] += start[r]
    row_by_col = np.empty(start[n_rows], dtype=np.int32)  # the lines' rows, in column order
    fill = col_start[:-1].copy()
    for i in range(len(rows)):
        if rows[i] >= 0:
            row_by_col[fill[cols[i]]] = rows[i]
            fill[cols[i]] += 1
    grouped = np.empty(start[n_rows], dtype=np.int32)  # the lines' columns, by row, then column
    fill = start[:-1].copy()
    for c in range(n_cols):
        for t in range(col_start[c], col_start[c + 1]):
            r = row_by_col[t]
            grouped[fill[r]] = c
            fill[r] += 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indices = np.empty(len(grouped), dtype=np.int32)
    counts = np.empty(len(grouped), dtype=np.float64)
    nnz = 0
    for r in range(n_rows):
        for t in range(start[r], start[r + 1]):
            if t > start[r] and grouped[t] == grouped[t - 1]:
                counts[nnz - 1] += 1.0
            else:
                indices[nnz] = grouped[t]
                counts[nnz] = 1.0
                nnz += 1
        indptr[r + 1] = nnz
    return indptr, indices[:nnz], counts[:nnz]
