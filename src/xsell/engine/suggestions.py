"""What the engine answers (`Suggestions`) and how it reads what it is asked (ids, baskets, thresholds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from xsell.engine.rules import _number
from xsell.engine.snapshot import Snapshot
from xsell.errors import InputError


@dataclass
class Suggestions:
    """Ranked suggestions, best first: `.items`, `.to_frame()` (item_id, probability, price,
    expected_revenue, expected_margin, closes_gap, pinned, reason), and for baskets the
    basket's value, the gap to the threshold and the expected uplift of the top k."""

    frame: pd.DataFrame
    basket_value: float = float("nan")
    gap: float = 0.0
    expected_uplift_revenue: float = 0.0
    expected_uplift_margin: float = float("nan")

    @property
    def items(self) -> list[Any]:
        items: list[Any] = self.frame["item_id"].tolist()
        return items

    def __len__(self) -> int:
        return len(self.frame)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def __repr__(self) -> str:
        shown = ", ".join(f"{i!r}" for i in self.items[:5])
        return f"Suggestions([{shown}{', ...' if len(self) > 5 else ''}], uplift={self.expected_uplift_revenue:.2f})"


def money(v: float) -> str:
    return f"{v:,.2f}"


def plain(value: Any) -> Any:
    """np.str_('a') shown as 'a' in messages."""
    return value.item() if isinstance(value, np.generic) else value


ID_TYPES = (str, int, np.integer, np.str_, bytes, float, np.floating)


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


def check_customer(customer: Any) -> None:
    if customer is not None and (not isinstance(customer, ID_TYPES) or isinstance(customer, (bool, np.bool_))):
        raise InputError(f"customer must be one customer id (a string or a number), got {plain(customer)!r}")


def check_threshold(value: Any) -> float | None:
    if value is None:
        return None
    if not (_number(value) and np.isfinite(value) and value > 0):
        raise InputError(f"threshold must be a finite number > 0, got {value!r}")
    return float(value)


def parse_basket(st: Snapshot, basket: Any, index_of: Callable[[Any], int]
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """(known item indices, quantities, basket value) from ids (each counted once) or a mapping
    id -> quantity (each a finite number > 0); unknown ids are left out, unpriced items add 0.
    `index_of`: the model's one rule for matching an id (`model.items_.index_of`)."""
    if basket is None:
        raise InputError("basket must be a list of item ids or a mapping item id -> quantity, not None "
                         "(an empty basket is [])")
    if isinstance(basket, pd.DataFrame):  # iterating it would read its column names as item ids
        raise InputError("basket must be a list of item ids or a mapping item id -> quantity, not a DataFrame "
                         "(for many baskets use score_batch)")
    known: dict[int, float] = {}
    if isinstance(basket, Mapping):
        for item, qty in basket.items():
            if not (_number(qty) and np.isfinite(qty) and qty > 0):
                raise InputError(f"basket quantity of {plain(item)!r} must be a number > 0, "
                                 f"got {plain(qty)!r}")
            i = index_of(item_id(item, "basket"))
            known[i] = known.get(i, 0.0) + float(qty)  # 42 and '42' are one item
    else:
        if isinstance(basket, (str, bytes)) or not hasattr(basket, "__iter__"):
            basket = [basket]
        # each item once, as score_batch counts a basket's lines (quantities: a mapping)
        known = dict.fromkeys((index_of(item_id(item, "basket")) for item in basket), 1.0)
    known.pop(-1, None)  # ids the model does not know
    idx = np.fromiter(known.keys(), dtype=np.int64, count=len(known))
    qty = np.fromiter(known.values(), dtype=np.float64, count=len(known))
    with np.errstate(over="ignore"):
        value = float(st.price0[idx] @ qty) if len(idx) else 0.0
    if not np.isfinite(value):
        raise InputError(f"basket value overflows ({value}): check the basket quantities")
    return idx, qty, value


__all__ = ["Suggestions", "check_customer", "check_threshold", "item_id", "money", "parse_basket", "plain"]
