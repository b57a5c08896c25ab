"""What the engine answers (`Suggestions`) and how it reads what it is asked (ids, baskets, thresholds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xsell.data.baskets import ID_TYPES, basket_quantities, item_id, plain
from xsell.data.idmap import IdMap
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


def check_customer(customer: Any) -> None:
    if customer is not None and (not isinstance(customer, ID_TYPES) or isinstance(customer, (bool, np.bool_))):
        raise InputError(f"customer must be one customer id (a string or a number), got {plain(customer)!r}")


def check_threshold(value: Any) -> float | None:
    if value is None:
        return None
    if not (_number(value) and np.isfinite(value) and value > 0):
        raise InputError(f"threshold must be a finite number > 0, got {value!r}")
    return float(value)


def parse_basket(st: Snapshot, basket: Any, items: IdMap) -> tuple[np.ndarray, np.ndarray, float]:
    """(known item indices, quantities, basket value) of one basket (`xsell.data.baskets.basket_quantities`:
    ids or a mapping id -> quantity); unpriced items add 0 to the value."""
    idx, qty = basket_quantities(items, basket)
    with np.errstate(over="ignore"):
        value = float(st.price0[idx] @ qty) if len(idx) else 0.0
    if not np.isfinite(value):
        raise InputError(f"basket value overflows ({value}): check the basket quantities")
    return idx, qty, value

__all__ = ["Suggestions", "check_customer", "check_threshold", "item_id", "money", "parse_basket", "plain"]
