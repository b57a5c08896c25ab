"""Mine rules into a file for review: Parquet (list columns) or CSV (JSON arrays)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.files import atomic_write, check_output_path
from xsell.mining.rules import mine_rules


@dataclass(frozen=True)
class RulesSummary:
    rules: int
    itemsets: dict[int, int]
    n_orders: int
    skipped_baskets: int
    seconds: float
    output: str


def _no_rules_message(orders: Orders, frame: pd.DataFrame, min_support: float, min_confidence: float,
                      min_lift: float | None) -> str:
    pairs = frame.attrs.get("itemsets", {}).get(2, 0)
    if pairs:
        return (f"no rules: {pairs:,} frequent pairs at min_support={min_support:g}, but none passes "
                f"min_confidence={min_confidence:g}" + (f" and min_lift={min_lift:g}" if min_lift else "")
                + "; lower those thresholds")
    from xsell.mining.pairs import count_pairs

    counts = count_pairs(orders)
    best = int(counts.counts.max()) if len(counts.counts) else 0
    if best == 0:
        return "no rules: no two items were ever bought in the same order"
    support = best / orders.n_orders
    return (f"no rules at min_support={min_support:g}: the most frequent pair is in {best:,} of "
            f"{orders.n_orders:,} orders (support {support:.3g}); try --min-support {support:.3g} or lower")


def write_rules(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a rules frame atomically: .parquet keeps item lists, .csv writes them as JSON arrays."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise InputError(f"rules output {out} must end in .parquet or .csv")
    frame = frame.copy()
    for col in ("antecedents", "consequents"):
        if suffix == ".csv":
            frame[col] = [json.dumps([_plain(x) for x in t]) for t in frame[col]]
        else:
            frame[col] = [list(t) for t in frame[col]]
    frame.attrs = {}

    def write(tmp: str) -> None:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)

    atomic_write(out, write)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def mine_rules_to_file(orders: Orders, output: str | os.PathLike[str], *, min_support: float,
                       min_confidence: float = 0.0, max_len: int = 2, min_lift: float | None = None,
                       sort_by: str | None = "lift", top: int | None = None,
                       max_basket_items: int | None | str = "auto",
                       progress: Callable[[str], None] | None = None) -> RulesSummary:
    """Mine rules and write them; InputError (with a suggestion) when no rule survives."""
    if Path(output).suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError(f"rules output {output} must end in .parquet or .csv")
    check_output_path(output)  # before mining, which may take minutes
    start = time.perf_counter()
    frame = mine_rules(orders, min_support, min_confidence, max_len, min_lift=min_lift, sort_by=sort_by,
                       top=top, max_basket_items=max_basket_items, progress=progress)
    if len(frame) == 0:
        raise InputError(_no_rules_message(orders, frame, min_support, min_confidence, min_lift))
    if progress:
        progress("writing")
    write_rules(frame, output)
    return RulesSummary(len(frame), dict(frame.attrs["itemsets"]), int(frame.attrs["n_orders"]),
                        int(frame.attrs["skipped_baskets"]), time.perf_counter() - start, str(output))
