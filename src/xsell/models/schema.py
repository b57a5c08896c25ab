"""What a model file holds, declared once per model: its arrays (dtype and shape) and the checks
their content must pass. `Recommender` writes, checks and restores a model from it; `xsell.io`
reads the manifest, asks the schema which arrays of which dtype and shape the file must hold, and
refuses anything else before a byte of an array is read.

    schema = Schema(
        arrays=(Array("item_counts", "<i8", ("items",)),
                Array("neighbor_indptr", "<i8", ("items+1",)),
                Array("neighbor_indices", "<i4", ("pairs",)), ...),
        checks=(Csr("neighbor", "neighbor_indptr", "neighbor_indices"), Values("item_counts", low=0), ...))

A dimension is a number, "items" (the model's items), "NAME+1" or a free name ("pairs"): a free
name takes its size from the first array that uses it, and every other array using it must agree.
A model whose dimensions depend on its state (e.g. ALS keeps customer factors only when fitted on
customers) sets them in `Recommender._dims`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

import numpy as np

from xsell.errors import InputError

Dim = Union[int, str]


@dataclass(frozen=True)
class Array:
    """One array of the file: `name`.npy, numpy dtype string (None: ids, int64 or unicode), shape."""

    name: str
    dtype: str | None
    shape: tuple[Dim, ...]


@dataclass(frozen=True)
class Values:
    """Numbers a model can serve: no NaN (unless nan: 'unknown'), no infinity (posinf: +inf is a real
    value), none below `low`."""

    name: str
    low: float | None = None
    nan: bool = False
    posinf: bool = False

    def run(self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> None:
        check_values(self.name, arrays[self.name], low=self.low, nan=self.nan, posinf=self.posinf)


@dataclass(frozen=True)
class Csr:
    """A row pointer and its column indices: from 0 to len(indices), never decreasing, columns in range."""

    name: str
    indptr: str
    indices: str
    columns: str = "items"

    def run(self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> None:
        indices_name = None if self.indices == f"{self.name}_indices" else self.indices
        check_csr(self.name, arrays[self.indptr], arrays[self.indices], dims[self.columns], indices_name)


@dataclass(frozen=True)
class SortedRows:
    """Each row of a CSR score table runs best first (the top-k floors rely on it)."""

    scores: str
    indptr: str

    def run(self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> None:
        check_sorted_rows(self.scores, arrays[self.indptr], arrays[self.scores])


Check = Union[Values, Csr, SortedRows]


@dataclass(frozen=True)
class Schema:
    """A model file's arrays and the content checks run, in order, on a file being loaded and on a
    model being saved."""

    arrays: tuple[Array, ...]
    checks: tuple[Check, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arrays)

    def free_dims(self, n_items: int, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
        """The size of every named dimension, from the shapes a manifest declares (first use wins;
        an array the manifest lacks binds nothing: the file is then refused for lacking it)."""
        dims: dict[str, int] = {"items": n_items}
        for array in self.arrays:
            shape = shapes.get(array.name)
            for axis, dim in enumerate(array.shape):
                if isinstance(dim, str) and "+" not in dim and dim not in dims:
                    dims[dim] = int(shape[axis]) if shape is not None and axis < len(shape) else 0
        return dims

    def spec(self, dims: Mapping[str, int]) -> dict[str, tuple[str | None, tuple[int, ...]]]:
        """name -> (dtype, shape) every array must have."""
        return {a.name: (a.dtype, tuple(_size(d, dims) for d in a.shape)) for a in self.arrays}

    def check(self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> None:
        for rule in self.checks:
            rule.run(arrays, dims)


def _size(dim: Dim, dims: Mapping[str, int]) -> int:
    if isinstance(dim, int):
        return dim
    if dim.endswith("+1"):
        return dims[dim[:-2]] + 1
    return dims[dim]


# -- the content checks themselves (also used by models for their state-dependent checks) ----------
def check_values(name: str, values: np.ndarray, *, low: float | None = None, nan: bool = False,
                 posinf: bool = False) -> None:
    """Refuse loaded numbers a model cannot serve: NaN (unless it means 'unknown': nan=True),
    infinities (unless +inf is a real value of the metric: posinf=True) and values below `low`."""
    if values.dtype.kind == "f":
        if values.size == 0 or (np.isfinite(values).all() and (low is None or values.min() >= low)):
            return  # the usual case, with one temporary array (EASE weights can be gigabytes)
        bad = np.isnan(values) if not nan else np.zeros(values.shape, dtype=bool)
        bad |= np.isneginf(values) if posinf else np.isinf(values)
        if low is not None:
            bad |= values < low
        if bad.any():
            if nan:
                rule = f"be >= {low:g} or NaN" if low is not None else "not be infinite"
            else:
                rule = "not be NaN or -inf" if posinf else "be finite"
                rule += f" and >= {low:g}" if low is not None else ""
            raise InputError(f"{name} must {rule}")
    elif low is not None and values.size and values.min() < low:
        raise InputError(f"{name} must be >= {low:g}")


def check_csr(name: str, indptr: np.ndarray, indices: np.ndarray, n_cols: int, indices_name: str | None = None
              ) -> None:
    """Validate loaded CSR arrays: a row pointer from 0 to len(indices), never decreasing; columns in range."""
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise InputError(f"{name}_indptr is not a valid row pointer")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_cols):
        raise InputError(f"{indices_name or name + '_indices'} out of range 0..{n_cols - 1}")


def check_sorted_rows(name: str, indptr: np.ndarray, scores: np.ndarray) -> None:
    """Each row of a (validated) CSR score table must run best first: the top-k floors rely on it."""
    if len(scores) < 2:
        return
    starts = np.zeros(len(scores), dtype=bool)
    starts[indptr[:-1][indptr[:-1] < len(scores)]] = True
    if ((scores[1:] > scores[:-1]) & ~starts[1:]).any():
        raise InputError(f"rows of {name} must be sorted best first")


def check_ids(name: str, ids: np.ndarray) -> None:
    """External ids from a file: distinct, and text ids valid Unicode without NUL characters."""
    if ids.dtype.kind == "U" and ids.size and ids.dtype.itemsize:
        codes = ids.view(np.uint32).reshape(len(ids), -1)
        zero = codes == 0
        inner_nul = (np.maximum.accumulate(zero, axis=1) & ~zero).any()  # NUL before another character
        if inner_nul or (codes > 0x10FFFF).any() or ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
            raise InputError(f"{name} holds an id that is not valid text (NUL, surrogate or out-of-range "
                             f"character)")
    if len(np.unique(ids)) != len(ids):
        raise InputError(f"{name} holds duplicate ids")


__all__ = ["Array", "Check", "Csr", "Schema", "SortedRows", "Values", "check_csr", "check_ids",
           "check_sorted_rows", "check_values"]
