"""Business rules for what may be shown (named apart from association rules on purpose), and `load_rules`,
which reads them from a TOML file."""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field, fields
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


RULE_KEYS = tuple(f.name for f in fields(BusinessRules))  # the keys of a rules file: BusinessRules' keywords


def load_rules(path: str | os.PathLike[str]) -> BusinessRules:
    """BusinessRules from a TOML file whose top-level keys are BusinessRules' keyword names, for example

        exclude_items = ["POST", "85123A"]
        exclude_categories = ["gift cards"]
        in_stock_only = true
        min_price = 2.5
        max_price = 200
        max_per_category = 2
        pin = [["85123A", "71053"]]      # with 85123A in the basket, 71053 comes first
        block = [["22423", "21232"]]
        objective = "margin"             # probability, revenue or margin
        # allow = ["85123A", "71053"]    # if given, only these items are ever shown

    Keys left out keep BusinessRules' defaults. InputError, naming the file: a missing or unreadable file, a
    file that is not UTF-8 or not TOML (with the line), an unknown key (with the allowed ones), a bad value."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover (Python 3.10: the tomli backport, a dependency there)
        import tomli as tomllib

    label = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise InputError(f"rules file not found: {label}") from None
    except IsADirectoryError:
        raise InputError(f"rules file {label} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read rules file {label}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"rules file {label} is not UTF-8 (line {line}); save it as UTF-8") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"rules file {label} is not valid TOML: {_toml_problem(str(exc), text)}") from None
    unknown = [key for key in values if key not in RULE_KEYS]
    if unknown:
        named = ", ".join(_unknown_key(key, values[key]) for key in unknown)
        raise InputError(f"rules file {label} has unknown key{'s' if len(unknown) > 1 else ''} {named}; "
                         f"the keys are {', '.join(RULE_KEYS)}")
    try:
        return BusinessRules(**values)
    except InputError as exc:
        raise InputError(f"rules file {label}: {exc}") from None


def _unknown_key(key: str, value: Any) -> str:
    """An unknown key of a rules file, with a hint: a table (`[rules]`) or the allowed key it is closest to."""
    if isinstance(value, dict):
        return f"'{key}' (a table: write its keys at the top of the file, without [{key}])"
    close = difflib.get_close_matches(key, RULE_KEYS, 1)
    return f"'{key}' (did you mean '{close[0]}'?)" if close else f"'{key}'"


def _toml_problem(message: str, text: str) -> str:
    """tomllib's message as "line N, column M: what": its position moved to the front; an error at the end
    of the document (an unclosed list, a key without a value) gets the file's last line."""
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, flags=re.DOTALL)
    if found:
        what, where = found[1], f"line {found[2]}, column {found[3]}"
    elif message.endswith(" (at end of document)"):
        what, where = message[: -len(" (at end of document)")], f"line {max(len(text.splitlines()), 1)} (end of file)"
    else:
        return message
    return f"{where}: {what[:1].lower()}{what[1:]}"
