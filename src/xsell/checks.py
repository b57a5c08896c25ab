"""Parameter checks shared by every layer (models, mining, evaluation, engine, batch): one wording for
each kind of bad value. Imports nothing of xsell but its errors, so any module may use it."""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import numpy as np

from xsell.errors import InputError


@overload
def check_int(name: str, value: Any, low: int, allow_none: Literal[False] = False) -> int: ...
@overload
def check_int(name: str, value: Any, low: int, allow_none: bool) -> int | None: ...


def check_int(name: str, value: Any, low: int, allow_none: bool = False) -> int | None:
    """A whole number >= low (bools and floats refused); None too when allow_none."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be a whole number >= {low}{' or None' if allow_none else ''}, "
                         f"got {value!r}")
    return int(value)


@overload
def check_number(name: str, value: Any, low: float = 0.0, high: float | None = None, *,
                 low_open: bool = False, allow_none: Literal[False] = False) -> float: ...
@overload
def check_number(name: str, value: Any, low: float = 0.0, high: float | None = None, *,
                 low_open: bool = False, allow_none: bool) -> float | None: ...


def check_number(name: str, value: Any, low: float = 0.0, high: float | None = None, *,
                 low_open: bool = False, allow_none: bool = False) -> float | None:
    """A finite real number (inf and NaN refused) in [low, high] ((low, high] with low_open); strings and bools refused."""
    if value is None and allow_none:
        return None
    span = f"{'>' if low_open else '>='} {low:g}" if high is None else \
        f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a number {span}{' or None' if allow_none else ''}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < low or (low_open and v == low) or (high is not None and v > high):
        raise InputError(f"{name} must be {span}{' or None' if allow_none else ''}, got {value!r}")
    return v
