"""Answers as plain Python values: what `json.dumps`, Flask's `jsonify` and FastAPI take as they are.

numpy scalars (np.float64, np.int64, np.str_, np.bool_) are not JSON-serialisable, and a float that is
not finite (an unknown margin is NaN) is not JSON at all: `json.dumps` writes `NaN`, which strict
parsers refuse, and FastAPI's response refuses it outright. Here numbers become int/float, ids str or
int, flags bool, and NaN or an infinity becomes None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def plain_value(value: Any) -> Any:
    """One value as a plain Python one (None for NaN, an infinity, pd.NA or NaT)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def plain_list(values: Any) -> list[Any]:
    """A column (array, Series or list) as a list of plain Python values."""
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    if isinstance(values, np.ndarray):
        out: list[Any] = values.tolist()  # numpy scalars to int, float, str, bool in one C pass
        if values.dtype.kind == "f":
            if not np.isfinite(values).all():
                return [v if math.isfinite(v) else None for v in out]
            return out
        if values.dtype.kind in "iubU":
            return out
        return [plain_value(v) for v in out]
    return [plain_value(v) for v in values]


def plain_records(columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Columns (name -> equally long array or list) as one dict per row, in column order."""
    names = list(columns)
    lists = [plain_list(columns[name]) for name in names]
    return [dict(zip(names, row)) for row in zip(*lists)]


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain dicts (column names as strings)."""
    return plain_records({str(name): frame[name] for name in frame.columns})
