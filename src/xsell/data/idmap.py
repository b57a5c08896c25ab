"""Maps between the shop's own ids (SKUs, order numbers) and internal indices.

Internal indices are int32 positions 0..n-1 in the order the ids were first
seen (or in the order given). They never leave the library: every public
result speaks in external ids again.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from xsell.errors import InputError


def _as_id_array(values: Any) -> np.ndarray:
    """External ids as a plain numpy array: int64 for integers, unicode otherwise.

    Object arrays are never kept: they cannot be saved without pickle.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "U":
        if not isinstance(values, (np.ndarray, pd.Series, pd.Index)) and \
                not all(isinstance(v, str) for v in values):
            raise InputError("ids must be all strings or all integers, not a mix")
        return arr
    if arr.dtype.kind == "b":
        raise InputError("ids must be strings or integers, not booleans")
    if arr.dtype.kind == "f":
        if len(arr) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise InputError("ids must be strings or integers; got non-integer numbers")
        return arr.astype(np.int64)
    # object / pandas string arrays: all str, or all int
    lst = list(arr.tolist()) if arr.ndim else [arr.item()]
    if all(isinstance(v, str) for v in lst):
        return np.array(lst, dtype=str) if lst else np.array([], dtype="<U1")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lst):
        return np.array(lst, dtype=np.int64)
    raise InputError("ids must be all strings or all integers, not a mix")


class IdMap:
    """A frozen two-way map between external ids and internal int32 indices.

    `ids` holds the external id of each internal index (int64 or unicode).
    `to_internal` is vectorised (a hash index); `index_of` serves single
    look-ups on the request path from a dict built once, lazily.
    """

    __slots__ = ("ids", "_index", "_dict")

    def __init__(self, ids: Any) -> None:
        arr = _as_id_array(ids)
        self.ids: np.ndarray = arr
        self.ids.setflags(write=False)
        self._index: pd.Index | None = None
        self._dict: dict[Any, int] | None = None

    @classmethod
    def from_values(cls, values: Any) -> tuple["IdMap", np.ndarray]:
        """Build a map from a column of ids; return it and the codes of `values`."""
        codes, uniques = pd.factorize(np.asarray(values) if not isinstance(values, pd.Series) else values,
                                      sort=False)
        if (codes < 0).any():
            raise InputError("ids contain nulls")
        return cls(np.asarray(uniques)), codes.astype(np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kind(self) -> str:
        """'int' or 'str': the type external ids have."""
        return "int" if self.ids.dtype.kind == "i" else "str"

    def _pd_index(self) -> pd.Index:
        if self._index is None:
            self._index = pd.Index(self.ids)
        return self._index

    def to_internal(self, values: Iterable[Any]) -> np.ndarray:
        """Internal indices of `values`; -1 where an id is unknown."""
        arr = np.asarray(values if not isinstance(values, (set, frozenset)) else list(values))
        if arr.size == 0:
            return np.empty(0, dtype=np.int32)
        if self.kind == "str" and arr.dtype.kind != "U":
            arr = arr.astype(str) if arr.dtype.kind in "iu" else arr
        return self._pd_index().get_indexer(arr).astype(np.int32)

    def _lookup(self) -> dict[Any, int]:
        if self._dict is None:
            self._dict = {v: i for i, v in enumerate(self.ids.tolist())}
        return self._dict

    def index_of(self, value: Any) -> int:
        """Internal index of one id, or -1 when unknown (fast, for single requests).

        A string id given as an int (or an int id given as a digit string) is
        found too, as users type ids at a command line.
        """
        idx = self._lookup().get(value)
        if idx is None:
            if self.kind == "str" and not isinstance(value, str):
                idx = self._dict.get(str(value)) if self._dict is not None else None
            elif self.kind == "int" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
                idx = self._dict.get(int(value)) if self._dict is not None else None
        return -1 if idx is None else idx

    def indices_of(self, values: Iterable[Any]) -> list[int]:
        """Internal indices of the known ids among `values` (unknown ones left out)."""
        get = self._lookup().get
        out = []
        for v in values:  # a request's handful of ids, not order lines
            idx = get(v)
            if idx is None:
                idx = self.index_of(v)
            if idx >= 0:
                out.append(idx)
        return out

    def to_external(self, indices: np.ndarray) -> np.ndarray:
        """External ids of internal indices (vectorised)."""
        return self.ids[indices]

    def __repr__(self) -> str:
        return f"IdMap({len(self)} {self.kind} ids)"
