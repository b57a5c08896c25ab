"""Model parameters, declared once: each model lists its constraints in a table next to `__init__`;
`Recommender` checks them, and derives `get_params` and `__repr__` from `__init__`'s signature.

    class EASE(Recommender):
        constraints = {"l2": Number(0.0, low_open=True), "max_items": Int(1)}

        def __init__(self, *, l2: float = 200.0, max_items: int = 20_000) -> None:
            self._set_params(locals())

Every keyword of `__init__` must have a constraint (checked when the class is defined) and every
constraint a keyword, so a new parameter cannot be left unchecked or unsaved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from xsell.checks import check_int, check_number
from xsell.errors import InputError


class Constraint:
    """What one parameter accepts; `check(name, value)` returns the value to keep or raises InputError."""

    def check(self, name: str, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Constraint):
    """A whole number >= low (bools and floats refused); None too with none=True."""

    low: int
    none: bool = False

    def check(self, name: str, value: Any) -> int | None:
        return check_int(name, value, self.low, allow_none=self.none)


@dataclass(frozen=True)
class Number(Constraint):
    """A finite real number in [low, high] ((low, ...] with low_open); None too with none=True."""

    low: float = 0.0
    high: float | None = None
    low_open: bool = False
    none: bool = False

    def check(self, name: str, value: Any) -> float | None:
        return check_number(name, value, self.low, self.high, low_open=self.low_open, allow_none=self.none)


@dataclass(frozen=True)
class Choice(Constraint):
    """One of a few strings."""

    choices: tuple[str, ...]

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise InputError(f"{name} must be one of {', '.join(self.choices)}; got {value!r}")
        return str(value)  # a numpy string kept as a plain str


@dataclass(frozen=True)
class Custom(Constraint):
    """A check shared with another layer (e.g. the rule miner's), called as check(value)."""

    function: Callable[[Any], Any]

    def check(self, name: str, value: Any) -> Any:
        return self.function(value)


SEED = Int(0, none=True)
"""random_state: a whole number >= 0, or None for a different model each run."""

__all__ = ["SEED", "Choice", "Constraint", "Custom", "Int", "Number"]
