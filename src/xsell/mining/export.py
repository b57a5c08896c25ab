"""Mine rules into a file for review: Parquet or CSV, with the counts behind every share.

Parquet keeps antecedents and consequents as lists (list<string> for text ids, list<int64> for whole
numbers: the ids as the orders give them); CSV writes them as `a & b` for people to read (an id that
itself holds " & " reads ambiguously there: Parquet is the exact form)."""

from __future__ import annotations

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
    mirrored_dropped: int = 0


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
    """Write a rules frame (`mine_rules`) atomically: .parquet with antecedents and consequents as list
    columns, .csv with them as `a & b`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise InputError(f"rules output {out} must end in .parquet or .csv")
    table = pa.Table.from_pandas(frame.drop(columns=["antecedents", "consequents"]), preserve_index=False)
    for at, col in enumerate(("antecedents", "consequents")):
        items = item_lists(frame[col])
        if suffix == ".csv":
            items = pc.binary_join(pc.cast(items, pa.list_(pa.string())), " & ")
        table = table.add_column(at, col, items)
    table = table.replace_schema_metadata(None)

    def write(tmp: str) -> None:
        if suffix == ".csv":
            table.to_pandas().to_csv(tmp, index=False)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)

    atomic_write(out, write)


def item_lists(column: pd.Series) -> Any:
    """A column of id tuples as an Arrow list array, converted by Arrow (no Python loop per rule):
    list<string> for text ids, list<int64> for whole numbers; list<string> when empty."""
    import pyarrow as pa

    lists = pa.array(column.tolist())
    return lists if len(lists) and not pa.types.is_null(lists.type.value_type) else \
        pa.array(column.tolist(), type=pa.list_(pa.string()))


def check_rules_output(output: str | os.PathLike[str]) -> None:
    """InputError unless `output` names a .parquet or .csv file in an existing folder: checked before the
    orders are read (xsell rules) and before mining."""
    if Path(output).suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError(f"rules output {output} must end in .parquet or .csv")
    check_output_path(output)


def mine_rules_to_file(orders: Orders, output: str | os.PathLike[str], *, min_support: float,
                       min_confidence: float = 0.0, max_len: int = 2, min_lift: float | None = None,
                       sort_by: str | None = "lift", top: int | None = None,
                       max_basket_items: int | None | str = "auto",
                       progress: Callable[[str], None] | None = None,
                       drop_mirrored: bool = False) -> RulesSummary:
    """Mine rules with their counts (`mine_rules(counts=True)`) and write them (`write_rules`); InputError
    (with a suggestion) when no rule survives."""
    check_rules_output(output)  # before mining, which may take minutes
    start = time.perf_counter()
    frame = mine_rules(orders, min_support, min_confidence, max_len, min_lift=min_lift, sort_by=sort_by,
                       top=top, max_basket_items=max_basket_items, progress=progress, counts=True,
                       drop_mirrored=drop_mirrored)
    if len(frame) == 0:
        raise InputError(_no_rules_message(orders, frame, min_support, min_confidence, min_lift))
    if progress:
        progress("writing")
    write_rules(frame, output)
    return RulesSummary(len(frame), dict(frame.attrs["itemsets"]), int(frame.attrs["n_orders"]),
                        int(frame.attrs["skipped_baskets"]), time.perf_counter() - start, str(output),
                        int(frame.attrs["mirrored_dropped"]))
