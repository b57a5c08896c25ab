"""What the engine answers (`Suggestions`) and how it reads what it is asked (ids, baskets, thresholds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from xsell.data.baskets import ID_TYPES, basket_quantities, item_id, plain
from xsell.data.idmap import IdMap
from xsell.data.records import frame_records, plain_records, plain_value
from xsell.engine.rules import _number
from xsell.engine.snapshot import Snapshot
from xsell.errors import InputError


class Columns:
    """An answer not yet made a frame: its item ids, and `build` giving every column (name -> array or list,
    in column order) when the frame is asked for."""

    __slots__ = ("items", "build")

    def __init__(self, items: np.ndarray, build: Callable[[], dict[str, Any]]) -> None:
        self.items = items
        self.build = build

    def frame(self) -> pd.DataFrame:
        frame: pd.DataFrame = pd.DataFrame(self.build())
        return frame


class _LazyFrame:
    """`Suggestions.frame`: the pandas frame, built from the answer's columns on first use (a request
    answers with arrays; pandas costs more than the request itself). Setting it works as before."""

    def __get__(self, obj: Any, owner: Any = None) -> pd.DataFrame:
        if obj is None:  # no class-level default: `frame` stays a required dataclass field
            raise AttributeError("frame")
        state = obj.__dict__
        frame = state.get("_frame")
        if frame is None:
            columns = state.get("_columns")
            frame = state["_frame"] = columns.frame() if columns is not None else state["frame"]  # else: an old pickle
        assert isinstance(frame, pd.DataFrame)
        return frame

    def __set__(self, obj: Any, value: Any) -> None:
        if isinstance(value, Columns):
            obj.__dict__.update(_frame=None, _columns=value)
        else:
            obj.__dict__.update(_frame=value, _columns=None)


@dataclass
class Suggestions:
    """Ranked suggestions, best first: `.items`, `.to_frame()` (item_id, probability, price,
    expected_revenue, expected_margin, closes_gap, pinned, reason), and for baskets the
    basket's value, the gap to the threshold and the expected uplift of the top k.

    The engine answers with arrays; the pandas frame is built on first use (`to_frame()`, `.frame`)."""

    frame: pd.DataFrame = _LazyFrame()  # type: ignore[assignment]
    basket_value: float = float("nan")
    gap: float = 0.0
    expected_uplift_revenue: float = 0.0
    expected_uplift_margin: float = float("nan")

    @classmethod
    def of(cls, columns: Columns, basket_value: float = float("nan"), gap: float = 0.0,
           expected_uplift_revenue: float = 0.0, expected_uplift_margin: float = float("nan")) -> "Suggestions":
        """An answer from its columns (what the engine returns; the same as `Suggestions(columns, ...)`)."""
        self = cls.__new__(cls)
        self.__dict__.update(_frame=None, _columns=columns, basket_value=basket_value, gap=gap,
                             expected_uplift_revenue=expected_uplift_revenue,
                             expected_uplift_margin=expected_uplift_margin)
        return self

    @property
    def items(self) -> list[Any]:
        columns = self.__dict__.get("_columns")
        if columns is not None:
            ids: list[Any] = columns.items.tolist()
            return ids
        items: list[Any] = self.frame["item_id"].tolist()
        return items

    def __len__(self) -> int:
        columns = self.__dict__.get("_columns")
        if columns is not None:
            return len(columns.items)
        return len(self.frame)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per suggestion, best first, with the columns of `to_frame()` (item_id, probability,
        price, expected_revenue, expected_margin, closes_gap, pinned, reason, ...), as plain Python values
        that `json.dumps` takes: an unknown price or margin (NaN) is None."""
        columns = self.__dict__.get("_columns")
        if columns is not None and self.__dict__.get("_frame") is None:
            return plain_records(columns.build())  # straight from the arrays: no frame is built
        return frame_records(self.frame)

    def to_dict(self) -> dict[str, Any]:
        """The whole answer as plain Python values, ready for JSON: {"suggestions": to_records(),
        "basket_value", "gap", "expected_uplift_revenue", "expected_uplift_margin"} (NaN as None)."""
        return {"suggestions": self.to_records(), "basket_value": plain_value(self.basket_value),
                "gap": plain_value(self.gap), "expected_uplift_revenue": plain_value(self.expected_uplift_revenue),
                "expected_uplift_margin": plain_value(self.expected_uplift_margin)}

    def to_frame(self) -> pd.DataFrame:
        columns = self.__dict__.get("_columns")
        if columns is not None and self.__dict__.get("_frame") is None:
            fresh: pd.DataFrame = columns.frame()  # a new frame of its own, as a copy would be
            return fresh
        return self.frame.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and copied) with its frame, as before the frame was built lazily."""
        return (type(self), (self.frame, self.basket_value, self.gap, self.expected_uplift_revenue,
                             self.expected_uplift_margin))

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
    if not len(idx):
        value = 0.0
    elif st.top_price * sum(qty.tolist()) < 1e300:  # no product nor partial sum can overflow
        value = float(st.price0[idx] @ qty)
    else:
        with np.errstate(over="ignore"):
            value = float(st.price0[idx] @ qty)
    if not math.isfinite(value):
        raise InputError(f"basket value overflows ({value}): check the basket quantities")
    return idx, qty, value

__all__ = ["Columns", "Suggestions", "check_customer", "check_threshold", "item_id", "money", "parse_basket", "plain"]
