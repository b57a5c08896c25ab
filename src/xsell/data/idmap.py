"""Maps between the shop's own ids (SKUs, order numbers) and internal indices.

Internal indices are int32 positions 0..n-1 in the order the ids were first
seen (or in the order given). They never leave the library: every public
result speaks in external ids again.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np
import pandas as pd

from xsell.errors import InputError


MAX_ID_LENGTH = 256
"""Longest id (order, item, customer, basket) accepted, in characters.

Ids are stored as fixed-width unicode arrays as wide as the longest id, so one
absurdly long id would make every id take its size (a 20,000-character SKU in
a 100 KB file would need gigabytes). Real SKUs and order numbers are far shorter.
"""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_strings(strings: Iterable[str]) -> None:
    """Refuse ids that are too long or hold a NUL character (before numpy pads them).

    numpy unicode arrays drop trailing NULs, so 'A\\x00' would silently become 'A'.
    """
    longest = 0
    for s in strings:  # once per distinct id, not per order line
        if len(s) > longest:
            longest = len(s)
        if "\x00" in s:
            raise InputError("ids must not contain the NUL character ('\\x00')")
    if longest > MAX_ID_LENGTH:
        raise InputError(f"ids must be at most {MAX_ID_LENGTH} characters long; got one of {longest} characters")


def _check_fixed_width(arr: np.ndarray) -> None:
    """The same checks on a numpy unicode array (trailing NULs are already gone there)."""
    width = arr.dtype.itemsize // 4
    if arr.size == 0 or width == 0:
        return
    if width > MAX_ID_LENGTH:
        longest = int(np.char.str_len(arr).max())
        if longest > MAX_ID_LENGTH:
            raise InputError(f"ids must be at most {MAX_ID_LENGTH} characters long; "
                             f"got one of {longest} characters")
    chars = np.ascontiguousarray(arr).reshape(-1).view(np.uint32).reshape(arr.size, width)
    empty = chars == 0
    if (empty[:, :-1] & ~empty[:, 1:]).any():  # a NUL followed by a character
        raise InputError("ids must not contain the NUL character ('\\x00')")


class _Checked:
    """Ids a model file's loader has already validated (`IdMap.from_checked`): taken as they are."""

    __slots__ = ("ids",)

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids


def _as_id_array(values: Any) -> np.ndarray:
    """External ids as a plain numpy array: int64 for integers, unicode otherwise.

    Object arrays are never kept: they cannot be saved without pickle. Refused
    with InputError: a mix of strings and integers, booleans, dates, fractions,
    integers outside int64, ids longer than MAX_ID_LENGTH characters and ids
    holding a NUL character.
    """
    if type(values) is _Checked:  # validated by the loader of a model file: no second pass, no copy
        checked: np.ndarray = values.ids
        return checked
    if isinstance(values, (list, tuple)):
        _check_strings(v for v in values if isinstance(v, str))
        if any(isinstance(v, (bool, np.bool_)) for v in values):  # np.asarray([True, 1]) would give [1, 1]
            raise InputError("ids must be strings or integers, not booleans")
    arr = np.asarray(values)
    if arr.dtype.kind == "i":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "u":
        if arr.size and int(arr.max()) > _INT64_MAX:
            raise InputError(f"ids must be strings or integers within int64; got {int(arr.max())}")
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        if not isinstance(values, (np.ndarray, pd.Series, pd.Index)) and \
                not all(isinstance(v, str) for v in values):
            raise InputError("ids must be all strings or all integers, not a mix")
        _check_fixed_width(arr)
        return arr
    if arr.dtype.kind == "b":
        raise InputError("ids must be strings or integers, not booleans")
    if arr.dtype.kind in "mM":
        raise InputError("ids must be strings or integers, not dates or times")
    if arr.dtype.kind == "f":
        if len(arr) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise InputError("ids must be strings or integers; got non-integer numbers")
        if len(arr) and not np.all((arr >= -(2.0**63)) & (arr < 2.0**63)):
            raise InputError("ids must be strings or integers within int64; got a number beyond that range")
        return arr.astype(np.int64)
    # object / pandas string arrays: all str, or all int
    lst = list(arr.tolist()) if arr.ndim else [arr.item()]
    if all(isinstance(v, str) for v in lst):
        _check_strings(lst)
        return np.array(lst, dtype=str) if lst else np.array([], dtype="<U1")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lst):
        big = [v for v in lst if not _INT64_MIN <= int(v) <= _INT64_MAX]
        if big:
            raise InputError(f"ids must be strings or integers within int64; got {big[0]}")
        return np.array(lst, dtype=np.int64)
    raise InputError("ids must be all strings or all integers, not a mix")


class IdMap:
    """A frozen two-way map between external ids and internal int32 indices.

    `ids` holds the external id of each internal index (int64 or unicode).
    `to_internal` is vectorised (a hash index); `index_of` serves single
    look-ups on the request path: a binary search over the ids' sorted order
    (`order()`), then a dict of the ids found so far.
    """

    __slots__ = ("ids", "_index", "_order", "_seen", "_chars")

    def __init__(self, ids: Any) -> None:
        arr = _as_id_array(ids)
        self.ids: np.ndarray = arr
        self.ids.setflags(write=False)
        self._index: pd.Index | None = None
        self._order: np.ndarray | None = None  # ids' ascending order (order(), set_order)
        self._seen: dict[Any, int] = {}  # ids found by index_of, for the next request
        self._chars: np.ndarray | None = None  # _rows()

    @classmethod
    def from_checked(cls, ids: np.ndarray) -> "IdMap":
        """A map over ids read from a model file and validated there (`xsell.io`: int64, or
        little-endian unicode ids of at most MAX_ID_LENGTH characters without NUL; distinct), kept
        as given: not checked or copied again, so a read-only view on a memory-mapped file stays
        one (shared between the processes that map the file)."""
        if ids.dtype.str != "<i8" and not (ids.dtype.kind == "U" and ids.dtype.str.startswith("<")):
            raise TypeError(f"from_checked takes int64 or unicode ids, not {ids.dtype}")
        return cls(_Checked(ids))

    @classmethod
    def from_values(cls, values: Any) -> tuple["IdMap", np.ndarray]:
        """Build a map from a column of ids; return it and the codes of `values`."""
        if isinstance(values, (list, tuple)):
            _check_strings(v for v in values if isinstance(v, str))  # np.asarray would drop trailing NULs
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

    def to_internal(self, values: Iterable[Any], what: str = "ids") -> np.ndarray:
        """Internal indices of `values` (vectorised); -1 where an id is unknown.

        Matching follows `match_key`, exactly as `index_of` does one id at a
        time. A container (list, dict, ...) among the values raises
        `NotAnIdError` naming `what` and its position.
        """
        arr = _flat_array(values, what)
        out = np.full(len(arr), -1, dtype=np.int32)
        if len(arr) == 0:
            return out
        keys, ok = _match_keys(arr, self.ids.dtype.kind == "i", what)
        if len(keys):
            out[ok] = self._pd_index().get_indexer(pd.Index(keys))  # what get_indexer makes of an array
        return out

    def order(self) -> np.ndarray:
        """The internal indices in ascending order of their ids (int32, a stable argsort; computed once,
        or taken from a model file by `set_order`): what single look-ups binary-search."""
        if self._order is None:
            self._order = np.argsort(self.ids, kind="stable").astype(np.int32)
            self._order.setflags(write=False)
        return self._order

    def set_order(self, order: np.ndarray) -> None:
        """Use `order` (e.g. read from a model file) as `order()`, after checking that it lists every
        internal index once, in strictly ascending order of the ids; InputError otherwise."""
        arr = np.asarray(order)
        if arr.dtype != np.int32 or arr.ndim != 1 or not _kernels().sorts_strictly(self._rows(), arr):
            raise InputError("the id order must list every id once, in ascending order of the ids")
        arr = arr.view()
        arr.setflags(write=False)
        self._order = arr

    def _rows(self) -> np.ndarray:
        """The ids as a 2-D array the kernels compare row by row: int64 (n, 1), or the unicode ids'
        UTF-32 code points (n, width), NUL-padded (a view, built once)."""
        if self._chars is None:
            if self.ids.dtype.kind == "i":
                self._chars = self.ids.reshape(-1, 1)
            else:
                width = self.ids.dtype.itemsize // 4
                self._chars = np.ascontiguousarray(self.ids).view(np.uint32).reshape(len(self.ids), width)
        return self._chars

    def _find(self, key: Any) -> int:
        """Internal index of a key (as `match_key` gives it), or -1: a binary search over `order()`,
        no table of every id to build; hits are remembered for the next request."""
        order = self._order if self._order is not None else self.order()
        if type(key) is int:
            return int(_kernels().find_int(self.ids, order, key))
        try:
            encoded = key.encode("utf-32-le")
        except UnicodeEncodeError:  # a lone surrogate: no id holds one (check_ids), but look it up alike
            encoded = key.encode("utf-32-le", "surrogatepass")
        return int(_kernels().find_str(self._rows(), order, encoded))

    def _get(self, value: Any, what: str, position: int | None) -> int:
        """`index_of` of one value; `position` (in a list) goes into the message for a container."""
        exact = type(value) in _CACHED  # bool and float never share the cache (True == 1, 1.0 == 1)
        if exact:
            idx = self._seen.get(value)
            if idx is not None:
                return idx
        key = match_key(value, self.ids.dtype.kind == "i")
        if key is _NOT_AN_ID:
            if position is None:
                raise NotAnIdError(f"{what} must be an id (a string or an integer), not {describe(value)}", 0, value)
            raise NotAnIdError(f"{what} must hold ids (strings or integers), not {describe(value)} "
                               f"at position {position}", position, value)
        if key is None:
            return -1
        idx = self._find(key)
        if idx >= 0 and exact:  # only ids that exist: the cache never holds more entries than ids
            self._seen[value] = idx
        return idx

    def index_of(self, value: Any, what: str = "id") -> int:
        """Internal index of one id, or -1 when unknown (fast, for single requests).

        Ids match by `match_key`: an int id is found from an integral float or
        its canonical digit string ('1000', not '01000' or '+1000') too, a string
        id from an int, as users type ids at a command line. A container (list,
        dict, ...) raises NotAnIdError naming `what`.
        """
        idx = self._seen.get(value) if type(value) in _CACHED else None
        return idx if idx is not None else self._get(value, what, None)

    def indices_of(self, values: Iterable[Any], what: str = "ids") -> list[int]:
        """Internal indices of the known ids among `values` (unknown ones left out)."""
        seen = self._seen
        if type(values) is list:  # a request's ids, all found before (the cache holds only known ids): one pass
            try:
                hits = [seen[v] for v in values if type(v) is str or type(v) in _CACHED]
            except KeyError:
                hits = None
            if hits is not None and len(hits) == len(values):
                return hits
        out = []
        for position, v in enumerate(values):  # a request's handful of ids, not order lines
            idx = seen.get(v) if type(v) in _CACHED else None
            if idx is None:
                idx = self._get(v, what, position)
            if idx >= 0:
                out.append(idx)
        return out

    def to_external(self, indices: np.ndarray) -> np.ndarray:
        """External ids of internal indices (vectorised)."""
        external: np.ndarray = self.ids[indices]
        return external

    def __repr__(self) -> str:
        return f"IdMap({len(self)} {self.kind} ids)"


def extend_ids(old: IdMap, ids: np.ndarray) -> tuple[IdMap, np.ndarray]:
    """`old` with the distinct `ids` it does not know appended (in their order), and the position of
    every one of `ids` in it (int64). Int ids so far and text ones now (or back): all as text."""
    at = old.to_internal(ids).astype(np.int64)
    fresh = np.flatnonzero(at < 0)
    at[fresh] = len(old) + np.arange(len(fresh))
    if not len(fresh):
        return old, at
    ids_old, ids_new = old.ids, np.asarray(ids)[fresh]
    if ids_old.dtype.kind != ids_new.dtype.kind:
        ids_old, ids_new = ids_old.astype(str), ids_new.astype(str)
    return IdMap(np.concatenate([ids_old, ids_new])), at


def _kernels() -> Any:
    """xsell.kernels.ids, imported on the first look-up (numba is not needed to build or use maps in bulk)."""
    global _KERNELS
    if _KERNELS is None:
        from xsell.kernels import ids

        _KERNELS = ids
    return _KERNELS


_KERNELS: Any = None


# -- matching a given id against the ids of a map (one rule, single and vectorised) ----------------------

class NotAnIdError(InputError):
    """A container (list, dict, set, array, ...) where one id was expected; `position` among the values."""

    def __init__(self, message: str, position: int, value: Any) -> None:
        super().__init__(message)
        self.position = position
        self.value = value


_NOT_AN_ID = object()
# the types whose found ids are remembered: equal values of these types match the same id (np.str_ is a
# str, np.int64 an integer); bool and float are left out because True == 1 and 1.0 == 1 share a hash
_CACHED = frozenset({str, int, np.str_, np.int64})
# the canonical decimal text of an integer: ASCII digits, no sign but '-', no leading zero ('0' alone);
# int() would also take '+7', '007', '-0', ' 7', '7_0' and '٧'
_DIGITS = re.compile(r"0|-?[1-9][0-9]*")
_KEY_MIN, _KEY_MAX = -(2**63), 2**63 - 1


def match_key(value: Any, int_ids: bool) -> Any:
    """The one rule by which a given id matches the ids of a map: the key it is looked up under,
    None when it can match no id, or _NOT_AN_ID for a container.

    Integer ids (int_ids) match only exact equivalents: an int or numpy integer of the same value, a
    float that is a whole number (1000.0, as a column with nulls holds integers), and the canonical
    decimal string of the integer ('1000', '-5', '0'); nothing else: not '+1000', '01000', '-0', '00',
    '1000.0', '1e3', ' 1000' (no whitespace trimmed), 1000.5 or True. String ids match a string exactly (no trimming, no case
    folding), and an int or a whole float by its decimal digits (42 and 42.0 match '42'; 42.5
    never). Booleans, None, NaN and other objects match nothing.
    """
    if isinstance(value, str):
        if not int_ids:
            return value
        if _DIGITS.fullmatch(value) is None:
            return None
        number = int(value)
        return number if _KEY_MIN <= number <= _KEY_MAX else None
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        number = int(value)
    elif isinstance(value, (float, np.floating)):
        f = float(value)
        if not (f.is_integer() and -(2.0**63) <= f < 2.0**63):
            return None
        number = int(f)
    elif isinstance(value, bytes) or not hasattr(type(value), "__iter__"):
        return None
    else:
        return _NOT_AN_ID
    if int_ids:
        return number if _KEY_MIN <= number <= _KEY_MAX else None
    return str(number)


def describe_type(value: Any) -> str:
    name = type(value).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def describe(value: Any) -> str:
    """'a list: ['a']' or 'None', for messages that say what was given instead."""
    return "None" if value is None else f"{describe_type(value)}: {short_repr(value)}"


def short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _flat_array(values: Any, what: str) -> np.ndarray:
    """`values` as a 1-D numpy array without coercion across types (np.asarray would turn a list
    of 1 and '1' into two strings, and a list of lists into a 2-D array)."""
    if isinstance(values, np.ndarray):
        arr = values
    elif isinstance(values, (pd.Series, pd.Index)):
        arr = values.to_numpy()
    else:
        if isinstance(values, (str, bytes)) or not hasattr(type(values), "__iter__"):
            raise InputError(f"{what} must be a list of ids, not {describe(values)}")
        items = values if isinstance(values, (list, tuple)) else list(values)
        arr = np.fromiter(items, dtype=object, count=len(items))
    if arr.ndim != 1:
        raise InputError(f"{what} must be a flat list of ids, got a {arr.ndim}-dimensional array")
    return arr


def _match_keys(arr: np.ndarray, int_ids: bool, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(keys of the values that can match, mask of those values): `match_key` over a 1-D array,
    vectorised for the common column types."""
    kind = arr.dtype.kind
    if kind == "O":
        null = pd.isna(arr)
        present = arr[~null] if null.any() else arr
        inferred = pd.api.types.infer_dtype(present, skipna=False) if len(present) else "empty"
        if inferred == "string":
            kind, arr_ok = "U", present
        elif inferred == "integer":
            try:
                arr_ok, kind = present.astype(np.int64), "i"
            except OverflowError:  # beyond int64: one by one
                arr_ok, kind = present, "O"
        elif inferred == "floating":
            arr_ok, kind = present.astype(np.float64), "f"
        elif inferred in ("empty", "boolean", "bytes"):
            return np.empty(0, dtype=np.int64), np.zeros(len(arr), dtype=bool)
        else:
            arr_ok = present
        try:
            keys, ok = _match_keys_typed(arr_ok, kind, int_ids, what)
        except NotAnIdError as exc:
            if not null.any():
                raise
            position = int(np.flatnonzero(~null)[exc.position])  # the position among all values, nulls too
            raise NotAnIdError(f"{what} must hold ids (strings or integers), not {describe(exc.value)} "
                               f"at position {position}", position, exc.value) from None
        if null.any():
            full = np.zeros(len(arr), dtype=bool)
            full[np.flatnonzero(~null)[ok]] = True
            return keys, full
        return keys, ok
    return _match_keys_typed(arr, kind, int_ids, what)


def _match_keys_typed(arr: np.ndarray, kind: str, int_ids: bool, what: str) -> tuple[np.ndarray, np.ndarray]:
    n = len(arr)
    if kind in "iu":
        if kind == "u":
            ok = arr <= np.uint64(_KEY_MAX)
            ints = arr[ok].astype(np.int64)
        else:
            ok, ints = np.ones(n, dtype=bool), arr.astype(np.int64, copy=False)
        return (ints if int_ids else ints.astype(str)), ok
    if kind == "f":
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(arr) & (arr == np.floor(arr)) & (arr >= -(2.0**63)) & (arr < 2.0**63)
        ints = arr[ok].astype(np.int64)
        return (ints if int_ids else ints.astype(str)), ok
    if kind == "U":
        if not int_ids:
            return arr, np.ones(n, dtype=bool)
        return _digit_keys(arr)
    if kind == "O":  # mixed types: the rule one value at a time
        keys, ok = [], np.zeros(n, dtype=bool)
        for position, v in enumerate(arr.tolist()):
            key = match_key(v, int_ids)
            if key is _NOT_AN_ID:
                raise NotAnIdError(f"{what} must hold ids (strings or integers), not {describe(v)} "
                                   f"at position {position}", position, v)
            if key is not None:
                keys.append(key)
                ok[position] = True
        return np.array(keys, dtype=np.int64 if int_ids else object), ok
    return np.empty(0, dtype=np.int64), np.zeros(n, dtype=bool)  # bytes, booleans, dates: no id


def _digit_keys(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For integer ids: int keys of the strings that are the canonical decimal text of an integer, as
    `match_key` takes them (vectorised with Arrow; strings too long to fit int64 surely are checked one
    by one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(strings, type=pa.string())
    matched = pc.match_substring_regex(text, "^(" + _DIGITS.pattern + ")$")
    ok = matched.fill_null(False).to_numpy(zero_copy_only=False)
    fits = pc.less_equal(pc.utf8_length(text), pa.scalar(18))  # 18 digits fit int64
    short = fits.to_numpy(zero_copy_only=False)
    keys = np.zeros(len(strings), dtype=np.int64)
    quick = ok & short
    if quick.any():
        keys[quick] = pc.cast(pc.filter(text, pa.array(quick)), pa.int64()).to_numpy()
    for position in np.flatnonzero(ok & ~short).tolist():
        key = match_key(str(strings[position]), True)
        if key is None:
            ok[position] = False
        else:
            keys[position] = key
    return keys[ok], ok
