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

import math
from dataclasses import dataclass
from typing import Iterable, Any, Mapping, Union

import numpy as np

from xsell.errors import InputError

Dim = Union[int, str]


@dataclass(frozen=True)
class Array:
    """One array of the file: `name`.npy, numpy dtype string (None: ids, int64 or unicode), shape.
    optional: part of the schema's one optional group (e.g. the counts a model keeps for updates):
    a file holds all of the group or none of it."""

    name: str
    dtype: str | None
    shape: tuple[Dim, ...]
    optional: bool = False


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

    def spec(self, dims: Mapping[str, int], present: Iterable[str] = ()
             ) -> dict[str, tuple[str | None, tuple[int, ...]]]:
        """name -> (dtype, shape) every array must have: the optional group too when any of it is
        `present` (then all of it must be)."""
        with_optional = any(a.optional and a.name in set(present) for a in self.arrays)
        return {a.name: (a.dtype, tuple(_size(d, dims) for d in a.shape)) for a in self.arrays
                if with_optional or not a.optional}

    def check(self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> None:
        """Run the checks; those of the optional group only when the file holds it."""
        for rule in self.checks:
            if all(name in arrays for name in _arrays_of(rule)):
                rule.run(arrays, dims)


def _arrays_of(rule: "Check") -> tuple[str, ...]:
    if isinstance(rule, Values):
        return (rule.name,)
    if isinstance(rule, Csr):
        return (rule.indptr, rule.indices)
    return (rule.scores, rule.indptr)


def _size(dim: Dim, dims: Mapping[str, int]) -> int:
    if isinstance(dim, int):
        return dim
    if dim.endswith("+1"):
        return dims[dim[:-2]] + 1
    return dims[dim]


# -- the content checks themselves (also used by models for their state-dependent checks) ----------
# Arrays of at least this many elements are checked by the compiled one-pass kernels
# (xsell/kernels/validate.py: no temporaries, one read of each array); smaller ones by numpy, so that
# small models, tests and one-shot CLI calls never import numba for checks that take microseconds.
KERNEL_MIN_SIZE = 1 << 16


def _kernels(*arrays: np.ndarray) -> Any:
    """The validation kernels when the arrays are large enough to be worth them, else None."""
    if max(a.size for a in arrays) < KERNEL_MIN_SIZE:
        return None
    from xsell.kernels import validate

    return validate


def _flat(values: np.ndarray) -> np.ndarray:
    """A read-only 1-D view (a copy only for an array that is not C-contiguous): arrays mapped from
    a file and arrays in memory then share one compiled specialisation of a kernel."""
    flat = np.ascontiguousarray(values).reshape(-1).view()
    flat.flags.writeable = False
    return flat


def _values_message(name: str, low: float | None, nan: bool, posinf: bool) -> str:
    if nan:
        rule = f"be >= {low:g} or NaN" if low is not None else "not be infinite"
    else:
        rule = "not be NaN or -inf" if posinf else "be finite"
        rule += f" and >= {low:g}" if low is not None else ""
    return f"{name} must {rule}"


def check_values(name: str, values: np.ndarray, *, low: float | None = None, nan: bool = False,
                 posinf: bool = False) -> None:
    """Refuse loaded numbers a model cannot serve: NaN (unless it means 'unknown': nan=True),
    infinities (unless +inf is a real value of the metric: posinf=True) and values below `low`."""
    kernels = _kernels(values)
    if values.dtype.kind == "f":
        if kernels is not None:
            ok = kernels.floats(_flat(values), -np.inf if low is None else float(low), low is not None, nan, posinf)
            if not ok:
                raise InputError(_values_message(name, low, nan, posinf))
            return
        if values.size == 0 or (np.isfinite(values).all() and (low is None or values.min() >= low)):
            return  # the usual case, with one temporary array
        bad = np.isnan(values) if not nan else np.zeros(values.shape, dtype=bool)
        bad |= np.isneginf(values) if posinf else np.isinf(values)
        if low is not None:
            bad |= values < low
        if bad.any():
            raise InputError(_values_message(name, low, nan, posinf))
    elif low is not None and values.size:
        if kernels is not None and values.dtype.kind == "i":
            if not kernels.at_least(_flat(values), math.ceil(low)):
                raise InputError(f"{name} must be >= {low:g}")
        elif values.min() < low:
            raise InputError(f"{name} must be >= {low:g}")


def check_csr(name: str, indptr: np.ndarray, indices: np.ndarray, n_cols: int, indices_name: str | None = None
              ) -> None:
    """Validate loaded CSR arrays: a row pointer from 0 to len(indices), never decreasing; columns in range."""
    bad_pointer = f"{name}_indptr is not a valid row pointer"
    bad_index = f"{indices_name or name + '_indices'} out of range 0..{n_cols - 1}"
    kernels = _kernels(indptr, indices)
    if kernels is not None and indptr.dtype.kind == indices.dtype.kind == "i":
        code = kernels.csr(_flat(indptr), _flat(indices), int(n_cols))
        if code == kernels.CSR_BAD_POINTER:
            raise InputError(bad_pointer)
        if code == kernels.CSR_BAD_INDEX:
            raise InputError(bad_index)
        return
    if len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise InputError(bad_pointer)
    if len(indices) and (indices.min() < 0 or indices.max() >= n_cols):
        raise InputError(bad_index)


def check_sorted_rows(name: str, indptr: np.ndarray, scores: np.ndarray) -> None:
    """Each row of a (validated) CSR score table must run best first: the top-k floors rely on it."""
    if len(scores) < 2:
        return
    kernels = _kernels(indptr, scores)
    if kernels is not None:
        if not kernels.rows_sorted(_flat(indptr), _flat(scores)):
            raise InputError(f"rows of {name} must be sorted best first")
        return
    starts = np.zeros(len(scores), dtype=bool)
    starts[indptr[:-1][indptr[:-1] < len(scores)]] = True
    if ((scores[1:] > scores[:-1]) & ~starts[1:]).any():
        raise InputError(f"rows of {name} must be sorted best first")


def check_ids(name: str, ids: np.ndarray, *, distinct: bool = True) -> None:
    """External ids from a file: text ids valid Unicode without NUL characters; distinct
    (distinct=False leaves that to the caller, e.g. to `IdMap.set_order` of a stored sorted order,
    which proves it in one pass instead of a sort)."""
    if ids.dtype.kind == "U" and ids.size and ids.dtype.itemsize:
        flat = _flat(ids).view(np.uint32)
        kernels = _kernels(flat)
        if kernels is not None:
            bad = not kernels.text_ids(flat, ids.dtype.itemsize // 4)
        else:
            codes = flat.reshape(len(ids), -1)
            zero = codes == 0
            inner_nul = (np.maximum.accumulate(zero, axis=1) & ~zero).any()  # NUL before another character
            bad = bool(inner_nul or (codes > 0x10FFFF).any() or ((codes >= 0xD800) & (codes <= 0xDFFF)).any())
        if bad:
            raise InputError(f"{name} holds an id that is not valid text (NUL, surrogate or out-of-range "
                             f"character)")
    if distinct and has_duplicates(ids):
        raise InputError(f"{name} holds duplicate ids")


def check_id_length(ids: np.ndarray) -> None:
    """Text ids at most MAX_ID_LENGTH characters long (as `IdMap` requires); cheap unless the ids'
    fixed width is above that."""
    from xsell.data.idmap import MAX_ID_LENGTH

    if ids.dtype.kind == "U" and ids.size and ids.dtype.itemsize // 4 > MAX_ID_LENGTH:
        longest = int(np.char.str_len(ids).max())
        if longest > MAX_ID_LENGTH:
            raise InputError(f"ids must be at most {MAX_ID_LENGTH} characters long; got one of {longest} characters")


def has_duplicates(ids: np.ndarray) -> bool:
    """Whether two ids are equal: a sort of the int ids, or of 64-bit hashes of the text ids (sorting
    strings is about 40x slower), the text ids themselves compared only when two hashes are equal."""
    if len(ids) < 2:
        return False
    if ids.dtype.kind == "U" and ids.dtype.itemsize:
        kernels = _kernels(ids)
        if kernels is None:
            return len(np.unique(ids)) != len(ids)
        keys = kernels.text_hashes(_flat(ids).view(np.uint32), ids.dtype.itemsize // 4)
    elif ids.dtype.kind in "iu":
        keys = ids
    else:
        return len(np.unique(ids)) != len(ids)
    ranked = np.sort(keys)
    if not (ranked[1:] == ranked[:-1]).any():
        return False
    return keys is ids or len(np.unique(ids)) != len(ids)  # a repeated hash: a duplicate, or (rarely) a collision


__all__ = ["KERNEL_MIN_SIZE", "Array", "Check", "Csr", "Schema", "SortedRows", "Values", "check_csr",
           "check_id_length", "check_ids", "check_sorted_rows", "check_values", "has_duplicates"]
