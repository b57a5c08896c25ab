"""Business rules for what may be shown (named apart from association rules on purpose)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from xsell.checks import check_int
from xsell.errors import InputError

OBJECTIVES = ("probability", "revenue", "margin")


_NESTED = (list, tuple, set, frozenset, dict, np.ndarray)


def _ids(values: Iterable[Any] | None, name: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, (str, bytes)):
        raise InputError(f"{name} must be a list of ids, not one string")
    if isinstance(values, dict) or not hasattr(values, "__iter__"):
        raise InputError(f"{name} must be a list of ids, not {type(values).__name__}")
    out = []
    for v in values:
        if v is None or isinstance(v, _NESTED):
            raise InputError(f"{name} must be a list of ids (strings or numbers), got {v!r} in it")
        out.append(str(v))
    return frozenset(out)


def _pairs(values: Iterable[Any] | None, name: str) -> tuple[tuple[str, str], ...]:
    if values is None:
        return ()
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise InputError(f"{name} must be a list of (item, item) pairs, not {type(values).__name__}")
    out = []
    for i, pair in enumerate(values):
        if (not isinstance(pair, (list, tuple, np.ndarray)) or len(pair) != 2
                or any(v is None or isinstance(v, _NESTED) for v in pair)):
            raise InputError(f"{name}[{i}] must be a pair (item, item), got {pair!r}")
        out.append((str(pair[0]), str(pair[1])))
    return tuple(out)


def _number(value: Any) -> bool:
    """A real number, not a bool (True is not a price) and not text."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class BusinessRules:
    """What the engine may show, per request or in batch.

    exclude_items, exclude_categories: never shown. allow: if given, only these items.
    in_stock_only (default True): leave out items the catalog marks out of stock.
    min_price, max_price: the price band of what is shown.
    max_per_category: at most this many suggestions from one category.
    pin: (item, shown) pairs: with `item` in the basket (or viewed), `shown` comes first, always.
    block: (item, never) pairs: with `item` in the basket (or viewed), `never` is never shown.
    objective: rank by probability, expected revenue, or expected margin.
    """

    exclude_items: frozenset[str] = field(default_factory=frozenset)
    exclude_categories: frozenset[str] = field(default_factory=frozenset)
    allow: frozenset[str] | None = None
    in_stock_only: bool = True
    min_price: float | None = None
    max_price: float | None = None
    max_per_category: int | None = None
    pin: tuple[tuple[str, str], ...] = ()
    block: tuple[tuple[str, str], ...] = ()
    objective: str = "revenue"

    def __init__(self, *, exclude_items: Iterable[Any] | None = None, exclude_categories: Iterable[Any] | None = None,
                 allow: Iterable[Any] | None = None, in_stock_only: bool = True, min_price: float | None = None,
                 max_price: float | None = None, max_per_category: int | None = None,
                 pin: Iterable[Any] | None = None, block: Iterable[Any] | None = None,
                 objective: str = "revenue") -> None:
        if not isinstance(objective, str) or objective not in OBJECTIVES:
            raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
        for name, value in (("min_price", min_price), ("max_price", max_price)):
            if value is not None and not (_number(value) and np.isfinite(value) and value >= 0):
                raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
        if min_price is not None and max_price is not None and min_price > max_price:
            raise InputError(f"min_price {min_price} is above max_price {max_price}")
        if max_per_category is not None:
            check_int("max_per_category", max_per_category, 1)
        if not isinstance(in_stock_only, (bool, np.bool_)):
            raise InputError(f"in_stock_only must be True or False, got {in_stock_only!r}")
        set_ = object.__setattr__
        set_(self, "exclude_items", _ids(exclude_items, "exclude_items"))
        set_(self, "exclude_categories", _ids(exclude_categories, "exclude_categories"))
        set_(self, "allow", None if allow is None else _ids(allow, "allow"))
        set_(self, "in_stock_only", bool(in_stock_only))
        set_(self, "min_price", None if min_price is None else float(min_price))
        set_(self, "max_price", None if max_price is None else float(max_price))
        set_(self, "max_per_category", None if max_per_category is None else int(max_per_category))
        set_(self, "pin", _pairs(pin, "pin"))
        set_(self, "block", _pairs(block, "block"))
        set_(self, "objective", objective)

    def with_objective(self, objective: str | None) -> "BusinessRules":
        if objective is None or objective == self.objective:
            return self
        fields = {f: getattr(self, f) for f in ("exclude_items", "exclude_categories", "allow", "in_stock_only",
                                                "min_price", "max_price", "max_per_category", "pin", "block")}
        return BusinessRules(**fields, objective=objective)
