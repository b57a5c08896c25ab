"""Baskets as the models, the engine and batch scoring take them: one parser, one shape.

A request names items by the shop's ids; `query_indices` turns one basket into sorted unique
internal indices (unknown ids left out) and `parse_baskets` turns many (a DataFrame of basket_id,
item_id[, customer_id] lines, or a mapping basket_id -> item ids) into a `Baskets`: basket ids,
a basket row and an internal item index per line, and a customer per basket. Every matching of an
id goes through `IdMap` (`xsell.data.idmap.match_key`: 7, 7.0 and '7' are one id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import MAX_ID_LENGTH, IdMap, NotAnIdError, describe, short_repr
from xsell.errors import InputError


@dataclass(frozen=True)
class Baskets:
    """Many baskets over a model's items.

    ids: basket ids (ints or strings), one per basket, in first-seen order.
    rows: the basket (position in `ids`) of each line. items: each line's internal item index,
    -1 for an id the model does not know (or a line without an item). customers: per basket the
    internal index of its customer (-1 unknown), or None when no customer was given.
    """

    ids: np.ndarray
    rows: np.ndarray
    items: np.ndarray
    customers: np.ndarray | None
    n_items: int

    def __len__(self) -> int:
        return len(self.ids)

    def matrix(self) -> sp.csr_matrix:
        """baskets x items, 1.0 where a basket holds a known item (each item counted once)."""
        known = self.items >= 0
        m = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float64), (self.rows[known], self.items[known])),
                          shape=(len(self.ids), self.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def query_indices(items: IdMap, ids: Iterable[Any], what: str = "basket") -> np.ndarray:
    """Sorted unique internal indices of the known ids among `ids` (one id alone counts as a list of
    one); a container among them, or a mapping for `ids`, raises InputError naming `what`."""
    return np.array(sorted(set(known_indices(items, ids, what))), dtype=np.int32)


def known_indices(items: IdMap, ids: Iterable[Any], what: str = "basket") -> list[int]:
    """The internal indices of the known ids among `ids`, in the given order, repeats kept (see
    `query_indices`)."""
    if not isinstance(ids, (list, tuple)):  # cheap checks first: this is on the request path
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            ids = [ids]
        elif isinstance(ids, Mapping):
            raise InputError(f"{what} must be a list of item ids, not {describe(ids)}")
        elif isinstance(ids, pd.DataFrame):  # iterating it would give its column names
            hint = " (for many baskets use recommend_batch)" if what == "basket" else ""
            raise InputError(f"{what} must be a list of item ids, not a DataFrame{hint}")
        else:
            ids = list(ids)
    return items.indices_of(ids, what)


ID_TYPES = (str, int, np.integer, np.str_, bytes, float, np.floating)


def plain(value: Any) -> Any:
    """np.str_('a') shown as 'a' in messages."""
    return value.item() if isinstance(value, np.generic) else value


def item_id(item: Any, what: str) -> Any:
    """One item id as given, once it is one: a list, dict, None or bool is no id (a cheap type check)."""
    if type(item) is str:  # the common case first: this is on the request path
        return item
    if isinstance(item, ID_TYPES) and not isinstance(item, (bool, np.bool_)):
        return item
    if what == "item":
        raise InputError(f"item must be one item id (a string or a number), got {plain(item)!r}")
    raise InputError(f"{what} item ids must be strings or numbers, got {plain(item)!r} ({type(item).__name__}); "
                     f"a basket is a list of item ids or a mapping item id -> quantity")


def basket_quantities(items: IdMap, basket: Any) -> tuple[np.ndarray, np.ndarray]:
    """(known item indices, quantities) of one basket given as item ids (each counted once, as a batch
    counts a basket's lines) or as a mapping id -> quantity (each a finite number > 0; 42 and '42' are
    one item, their quantities added); unknown ids are left out. What the engine takes per request."""
    if basket is None:
        raise InputError("basket must be a list of item ids or a mapping item id -> quantity, not None "
                         "(an empty basket is [])")
    if isinstance(basket, pd.DataFrame):  # iterating it would read its column names as item ids
        raise InputError("basket must be a list of item ids or a mapping item id -> quantity, not a DataFrame "
                         "(for many baskets use score_batch)")
    index_of = items.index_of  # the one rule for matching an id
    known: dict[int, float] = {}
    if isinstance(basket, Mapping):
        for item, qty in basket.items():
            if isinstance(qty, (bool, np.bool_)) or not isinstance(qty, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(qty) or qty <= 0:
                raise InputError(f"basket quantity of {plain(item)!r} must be a number > 0, "
                                 f"got {plain(qty)!r}")
            i = index_of(item_id(item, "basket"))
            known[i] = known.get(i, 0.0) + float(qty)
    else:
        if isinstance(basket, (str, bytes)) or not hasattr(basket, "__iter__"):
            basket = [basket]
        known = dict.fromkeys((index_of(item_id(item, "basket")) for item in basket), 1.0)
    known.pop(-1, None)  # ids the model does not know
    idx = np.fromiter(known.keys(), dtype=np.int64, count=len(known))
    qty = np.fromiter(known.values(), dtype=np.float64, count=len(known))
    return idx, qty


def parse_baskets(baskets: Any, items: IdMap, customers_map: IdMap | None = None,
                  has_history: np.ndarray | None = None) -> Baskets:
    """Many baskets (a DataFrame of basket_id, item_id lines, optionally customer_id; or a mapping
    basket_id -> item ids) over `items`. Customers are mapped when `customers_map` is given (a
    customer-aware model); `has_history` marks the customers that count as known (others -1)."""
    customers = None
    if isinstance(baskets, pd.DataFrame):
        if not baskets.columns.is_unique:
            twice = baskets.columns[baskets.columns.duplicated()].unique()
            raise InputError(f"baskets frame has duplicate column names: {', '.join(map(str, twice))}; "
                             f"each column must appear once")
        missing = [c for c in ("basket_id", "item_id") if c not in baskets.columns]
        if missing:
            raise InputError(f"baskets frame lacks column(s) {', '.join(missing)}; it has: "
                             f"{', '.join(map(str, baskets.columns))}")
        has_customer = "customer_id" in baskets.columns
        # with a customer_id column a line may carry no item: an empty basket for that customer
        for col in ("basket_id",) if has_customer else ("basket_id", "item_id"):
            if baskets[col].isna().any():
                bad = np.flatnonzero(baskets[col].isna().to_numpy())[:5]
                raise InputError(f"baskets column '{col}' has null values; first rows (0-based): "
                                 f"{', '.join(map(str, bad))}")
        _check_basket_ids(baskets["basket_id"].to_numpy(), "baskets column 'basket_id'", "row", " (0-based)")
        codes, uniques = pd.factorize(baskets["basket_id"], sort=False)
        basket_ids = np.asarray(uniques)
        cols = _column_to_internal(items, baskets["item_id"])  # nulls (no item) are -1
        if has_customer and customers_map is not None:
            mapped = _column_to_internal(customers_map, baskets["customer_id"]).astype(np.int64)
            ok = mapped >= 0
            if has_history is not None:
                mapped[ok] = np.where(has_history[mapped[ok]], mapped[ok], -1)
            # a basket's customer: its first line that names a known one
            first = np.full(len(basket_ids), -1, dtype=np.int64)
            order = np.flatnonzero(mapped >= 0)[::-1]
            first[codes[order]] = mapped[order]
            customers = first
        return Baskets(_plain_ids(basket_ids), codes.astype(np.int64), cols, customers, len(items))
    if isinstance(baskets, Mapping):
        keys = list(baskets.keys())
        _check_basket_ids(np.fromiter(keys, dtype=object, count=len(keys)), "the keys of baskets", "position")
        basket_ids = np.asarray(keys)
        lists = []
        for key, value in baskets.items():
            if isinstance(value, str):  # one id alone, as recommend takes it
                lists.append([value])
            elif isinstance(value, (bytes, Mapping)) or not hasattr(value, "__iter__"):
                raise InputError(f"baskets[{short_repr(key)}] must be a list of item ids, not "
                                 f"{describe(value)}")
            else:
                lists.append(list(value))
        sizes = np.fromiter((len(v) for v in lists), np.int64, len(lists))
        codes = np.repeat(np.arange(len(lists)), sizes)
        flat = np.fromiter((x for v in lists for x in v), dtype=object, count=int(sizes.sum()))
        try:
            cols = items.to_internal(flat)
        except NotAnIdError as exc:
            row = int(codes[exc.position])
            at = exc.position - int(sizes[:row].sum())
            raise InputError(f"baskets[{short_repr(keys[row])}] must hold item ids (strings or integers), "
                             f"not {describe(exc.value)} at position {at}"
                             ) from None
        return Baskets(_plain_ids(basket_ids), codes.astype(np.int64), cols, customers, len(items))
    raise InputError("baskets must be a DataFrame with basket_id and item_id columns "
                     f"or a mapping basket_id -> item ids, not {type(baskets).__name__}")


def _plain_ids(basket_ids: np.ndarray) -> np.ndarray:
    return basket_ids if basket_ids.dtype.kind in "iuU" else basket_ids.astype(str)


def _column_to_internal(idmap: IdMap, column: pd.Series) -> np.ndarray:
    """Internal indices of a baskets frame column (-1 unknown or null); a container in a cell
    raises InputError naming the column and the row."""
    if len(column) > 1000 and (pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_string_dtype(column)):
        # strings or integers only (no True beside 1, no 1.0): each distinct id is matched once
        codes, uniques = pd.factorize(column, sort=False)
        found = idmap.to_internal(np.asarray(uniques))
        out: np.ndarray = np.where(codes >= 0, found[np.maximum(codes, 0)], -1).astype(np.int32)
        return out
    try:
        return idmap.to_internal(column.to_numpy())
    except NotAnIdError as exc:
        raise InputError(f"baskets column '{column.name}' must hold ids (strings or integers), not "
                         f"{describe(exc.value)} at row {exc.position} (0-based)"
                         ) from None


def _check_basket_ids(values: np.ndarray, where: str, unit: str, note: str = "") -> None:
    """Basket ids must be ids of one type: 1 and '1' would become one basket id in the output; string
    ids at most MAX_ID_LENGTH characters, checked before any fixed-width array is built (one id of
    20,000 characters among 200,000 would make the output's ids take 16 GB)."""
    if values.dtype.kind == "U":
        if values.dtype.itemsize // 4 > MAX_ID_LENGTH:
            _check_id_lengths(pd.Series(values.astype(object)), where, unit, note)
        return
    if values.dtype.kind != "O":
        return
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "string":
        _check_id_lengths(pd.Series(values, copy=False), where, unit, note)
    if inferred in ("string", "integer", "empty"):
        return
    kinds: dict[str, None] = {}
    for position, v in enumerate(values.tolist()):
        if isinstance(v, (str, bytes)) or not hasattr(type(v), "__iter__"):
            kind = ("str" if isinstance(v, str) else "bool" if isinstance(v, (bool, np.bool_))
                    else "int" if isinstance(v, (int, np.integer)) else
                    "float" if isinstance(v, (float, np.floating)) else type(v).__name__)
            kinds[kind] = None
        else:
            raise InputError(f"{where} must hold ids (strings or integers), not {describe(v)} "
                             f"at {unit} {position}{note}")
    if len(kinds) > 1:
        names = list(kinds)
        raise InputError(f"{where} {'mix' if where.startswith('the keys') else 'mixes'} ids of different types ({', '.join(names[:-1])} and {names[-1]}); "
                         f"give every basket id the same type")


def _check_id_lengths(values: pd.Series, where: str, unit: str, note: str) -> None:
    """Refuse a string id longer than MAX_ID_LENGTH characters (vectorised), naming the first."""
    lengths = values.str.len().to_numpy(dtype=np.float64, na_value=0.0)
    long = np.flatnonzero(lengths > MAX_ID_LENGTH)
    if len(long):
        have = "have" if where.startswith("the keys") else "has"
        raise InputError(f"{where} {have} an id of {int(lengths[long[0]]):,} characters at {unit} {int(long[0])}"
                         f"{note}; ids may be at most {MAX_ID_LENGTH} characters")


__all__ = ["ID_TYPES", "Baskets", "basket_quantities", "item_id", "parse_baskets", "plain", "query_indices"]
