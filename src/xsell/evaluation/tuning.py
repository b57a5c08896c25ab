"""Choose the Hybrid's weights on a validation split cut from the training orders.

The test orders are never looked at: the training orders are split again
(the later part validates), every grid point is scored there, and the best
by hit rate (then NDCG) wins. One EASE inversion per l2 value; the decay and
the history weight are re-applied to the fitted model, so a grid of 96
points costs about 4 fits.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.evaluation.protocol import (basket_completion, check_quantile, check_split, check_task, check_whole,
                                       evaluate, leave_last_out, next_order, temporal_split)

GRID: dict[str, tuple[float, ...]] = {
    "l2": (25.0, 50.0, 100.0, 200.0),
    "tau_days": (30.0, 90.0, 180.0, 365.0),
    "history_weight": (0.0, 0.1, 0.2, 0.3, 0.5, 0.8),
}


def validation_task(train: Orders, *, task: str, split: str, quantile: float, seed: int) -> tuple[Orders, Any]:
    """(fit part, task on the validation part) cut from `train` the way the test was cut."""
    check_task(task)
    check_split(split)
    fit_part, valid = leave_last_out(train) if split == "leave-last-out" else temporal_split(train, quantile=quantile)
    made = next_order(fit_part, valid) if task == "next-order" else basket_completion(fit_part, valid, seed=seed)
    if made.n_baskets == 0:
        raise InputError("the validation split has no test baskets; tune on more history or without --tune")
    return fit_part, made


def tune_hybrid(train: Orders, *, k: int = 10, task: str = "basket-completion", split: str = "temporal",
                quantile: float = 0.85, seed: int = 0, grid: Mapping[str, Sequence[float]] | None = None,
                max_items: int = 20_000, progress: Callable[[str], None] | None = None
                ) -> tuple[dict[str, float], pd.DataFrame]:
    """Best Hybrid parameters on a validation split of `train`, and every grid point's scores.

    grid: lists for l2, tau_days and history_weight (defaults in `GRID`).
    """
    from xsell.models.hybrid import Hybrid

    k = check_whole("k", k, 1)
    check_task(task)
    check_split(split)
    if split == "temporal":
        check_quantile(quantile)
    grid = {**GRID, **(grid or {})}
    unknown = set(grid) - set(GRID)
    if unknown:
        raise InputError(f"unknown grid parameter(s) {', '.join(sorted(unknown))}; tune {', '.join(GRID)}")
    for name, values in grid.items():
        _check_grid(name, values)
    say = progress or (lambda _m: None)
    fit_part, valid = validation_task(train, task=task, split=split, quantile=quantile, seed=seed)
    rows = []
    total = len(grid["l2"]) * len(grid["tau_days"]) * len(grid["history_weight"])
    for step, l2 in enumerate(grid["l2"], 1):
        say(f"tuning hybrid ({step}/{len(grid['l2'])}: l2={l2:g}, {total // len(grid['l2'])} weightings, "
            f"{valid.n_baskets:,} validation baskets)")
        model = Hybrid(l2=l2, max_items=max_items).fit(fit_part)
        for tau in grid["tau_days"]:
            model.tau_days = float(tau)
            model.set_decay(fit_part)
            for weight in grid["history_weight"]:
                model.history_weight = float(weight)
                m = evaluate(model, valid, fit_part, k=k)
                rows.append({"l2": float(l2), "tau_days": float(tau), "history_weight": float(weight),
                             "hit_rate": m["hit_rate"], "ndcg": m["ndcg"]})
    table = pd.DataFrame(rows).sort_values(["hit_rate", "ndcg"], ascending=False, kind="stable")
    best = table.iloc[0]
    return {name: float(best[name]) for name in GRID}, table.reset_index(drop=True)


def _check_grid(name: str, values: Any) -> None:
    """A grid axis: a non-empty list of finite numbers (> 0, or >= 0 for history_weight)."""
    low = "0" if name == "history_weight" else "> 0"
    wording = f"grid[{name!r}] must be a non-empty list of finite numbers {'>= 0' if low == '0' else low}"
    if isinstance(values, (str, bytes)) or not hasattr(type(values), "__iter__"):
        raise InputError(f"{wording}, got {values!r}")
    values = list(values)
    ok = bool(values)
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or v < 0 or (v == 0 and low != "0"):
            ok = False
    if not ok:
        raise InputError(f"{wording}, got {values!r}")
