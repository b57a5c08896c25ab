"""Per-request cost of every request path, in CPU microseconds, and the batch rates beside them.

Run (about 2 minutes):

    python benchmarks/requests.py                         # prints a markdown table
    python benchmarks/requests.py --json after.json       # also keep the figures
    python benchmarks/requests.py --compare before.json after.json   # side by side, after / before

Uses only xsell's public API, so the same script measures an older checkout too
(`PYTHONPATH=/path/to/old/src python benchmarks/requests.py --json before.json`).

Data: the synthetic shop (`synthetic_shop(0)`: 12,000 orders, 360 items, 1,500 customers, a
catalog with prices, categories and families). Baskets are real orders of the shop (their first
1, 5 or 20 distinct items), as lists of Python str ids (what a web request delivers). With
../shared/data/online_retail present, EASE and Hybrid are also measured on Online Retail (3,900
items, real customers): their cost grows with the catalog. Each path runs `--calls` calls after 10% warm-up; a repeat gives the median
CPU time per call (time.process_time_ns, which does not count time the machine spends on other
work) and the median wall time; the table shows the median of `--repeats` repeats and, as the
spread, the lowest and highest repeat median. Each repeat also times the same calls as one block
(one pair of clock reads around the loop, as `timeit` does): the "block" column, CPU µs per call.
Reading the CPU clock is a system call; the per-call harness's own cost (an empty call timed the same
way) is printed under the table, about 1 µs here, which on micro-second paths the per-call median
includes and the block figure does not. Batch rows: baskets (or items) per CPU second over the whole
call, same repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

import xsell
from xsell.datasets import load_online_retail, shared_online_retail, synthetic_shop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import harness_us, per_call  # noqa: E402

MODELS: dict[str, Callable[[], Any]] = {
    "cooccurrence": lambda: xsell.CoOccurrence(),
    "association_rules": lambda: xsell.AssociationRules(min_support=0.002),
    "itemknn": lambda: xsell.ItemKNN(num_threads=1),
    "ease": lambda: xsell.EASE(),
    "als": lambda: xsell.ALS(factors=64, iterations=10, num_threads=1),
    "bpr": lambda: xsell.BPR(factors=64, iterations=30),
    "hybrid": lambda: xsell.Hybrid(),
    "popular": lambda: xsell.Popular(),
}


def log(message: str) -> None:
    print(f"[requests {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rate(fn: Callable[[], Any], units: int, repeats: int) -> dict[str, float]:
    """Units per CPU second (and per wall second) of one whole call, `repeats` times."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(units / max(time.process_time() - c0, 1e-9))
        wall.append(units / max(time.perf_counter() - w0, 1e-9))
    return {"cpu": statistics.median(cpu), "lo": min(cpu), "hi": max(cpu), "wall": statistics.median(wall)}


def measure(calls: int, repeats: int) -> list[dict[str, Any]]:
    shop = synthetic_shop(0)
    orders = shop.orders
    ids = orders.items.ids
    order_items = pd.Series(ids[orders.item_index]).groupby(orders.order_index).unique()
    # ids as a web request delivers them: Python str (not numpy scalars)
    big = [v.tolist() for v in order_items if len(v) >= 5][:calls]
    ones = [v[:1].tolist() for v in order_items][:calls]
    fives = [v[:5] for v in big]
    twenties = [v.tolist()[:20] for v in order_items if len(v) >= 20][:calls]
    customers = orders.customers.ids[orders.customer_index[np.searchsorted(orders.order_index, order_items.index)]]
    with_customer = list(zip(fives, customers[: len(fives)].tolist()))
    frame = pd.DataFrame([(i, item) for i, basket in enumerate(fives * (20_000 // max(len(fives), 1) + 1))
                          for item in basket][: 100_000], columns=["basket_id", "item_id"])
    n_batch = int(frame["basket_id"].nunique())
    rows: list[dict[str, Any]] = []

    def add(path: str, unit: str, figures: dict[str, float]) -> None:
        rows.append({"path": path, "unit": unit, **figures})
        log(f"{path}: {figures['cpu']:,.1f} {unit}")

    fitted = {}
    for name, make in MODELS.items():
        log(f"fitting {name}")
        model = make().fit(orders)
        fitted[name] = model
        add(f"{name} recommend, 1 item", "µs", per_call(lambda b: model.recommend(b, k=10), ones, repeats))
        add(f"{name} recommend, 5 items", "µs", per_call(lambda b: model.recommend(b, k=10), fives, repeats))
        if twenties:
            add(f"{name} recommend, 20 items", "µs", per_call(lambda b: model.recommend(b, k=10), twenties, repeats))
        if getattr(model, "uses_customers", False):
            add(f"{name} recommend, 5 items + customer", "µs",
                per_call(lambda bc: model.recommend(bc[0], k=10, customer=bc[1]), with_customer, repeats))
        add(f"{name} recommend_batch", "baskets/s", rate(lambda: model.recommend_batch(frame, k=10), n_batch, repeats))
    cooc = fitted["cooccurrence"]
    add("cooccurrence also_bought", "µs", per_call(lambda b: cooc.also_bought(b[0], k=10), ones, repeats))
    catalog = xsell.load_catalog(shop.catalog)
    for name in ("cooccurrence", "als"):
        engine = xsell.Engine(fitted[name], catalog, orders=orders, threshold=50.0)
        add(f"Engine({name}) cross_sell, 1 item", "µs", per_call(lambda b: engine.cross_sell(b, k=5), ones, repeats))
        add(f"Engine({name}) cross_sell, 5 items", "µs", per_call(lambda b: engine.cross_sell(b, k=5), fives, repeats))
        add(f"Engine({name}) score_batch", "baskets/s",
            rate(lambda: engine.score_batch(frame, k=5), n_batch, repeats))
    engine = xsell.Engine(cooc, catalog, orders=orders)
    add("Engine up_sell", "µs", per_call(lambda b: engine.up_sell(b[0], k=5), ones, repeats))
    path = shared_online_retail()
    if path is not None:  # a real catalog of 3,900 items: the dense models' cost grows with it
        retail = load_online_retail(path)
        groups = pd.Series(retail.items.ids[retail.item_index]).groupby(retail.order_index).unique()
        orders_of = retail.customer_index[np.searchsorted(retail.order_index, groups.index)]
        pairs = [(v.tolist()[:5], retail.customers.ids[c].item()) for v, c in zip(groups, orders_of)
                 if len(v) >= 5 and c >= 0][:calls]
        for name in ("ease", "hybrid"):
            log(f"fitting {name} on Online Retail")
            model = MODELS[name]().fit(retail)
            add(f"{name} recommend, 5 items (Online Retail)", "µs",
                per_call(lambda bc: model.recommend(bc[0], k=10), pairs, repeats))
            if model.uses_customers:
                add(f"{name} recommend, 5 items + customer (Online Retail)", "µs",
                    per_call(lambda bc: model.recommend(bc[0], k=10, customer=bc[1]), pairs, repeats))
    return rows


def _block(r: dict[str, Any]) -> str:
    """The block-timed CPU µs per call (median of repeats, spread), or empty (batch rows, older JSON)."""
    if "block" not in r:
        return ""
    return f"{r['block']:,.1f} ({r['block_lo']:,.1f}-{r['block_hi']:,.1f})"


def table(rows: list[dict[str, Any]], harness: float | None = None) -> str:
    out = ["| path | unit | CPU per call (median of repeats) | spread (repeat medians) | wall | CPU per call, "
           "block-timed (spread) |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['path']} | {r['unit']} | {r['cpu']:,.1f} | {r['lo']:,.1f}-{r['hi']:,.1f} | {r['wall']:,.1f} "
                   f"| {_block(r)} |")
    if harness is not None:
        out.append(f"\nThe per-call harness's own cost (an empty call timed the same way): {harness:.2f} µs CPU.")
    return "\n".join(out)


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    old = {r["path"]: r for r in before}
    out = ["| path | unit | before CPU (spread) | after CPU (spread) | after / before | before, block-timed | "
           "after, block-timed |", "|---|---|---|---|---|---|---|"]
    for r in after:
        b = old.get(r["path"])
        if b is None:
            continue
        ratio = r["cpu"] / b["cpu"]
        better = "faster" if (ratio < 1) == (r["unit"] == "µs") else "slower"
        out.append(f"| {r['path']} | {r['unit']} | {b['cpu']:,.1f} ({b['lo']:,.1f}-{b['hi']:,.1f}) | "
                   f"{r['cpu']:,.1f} ({r['lo']:,.1f}-{r['hi']:,.1f}) | {ratio:.2f} ({better}) | {_block(b)} | "
                   f"{_block(r)} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000, help="requests per path and repeat (default 1,000)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per path (default 3)")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                    help="print two JSON files side by side instead of measuring")
    args = ap.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        print(compare(before["rows"], after["rows"]))
        return
    log(f"xsell {xsell.__version__} from {Path(xsell.__file__).parent}")
    rows = measure(args.calls, args.repeats)
    harness = harness_us()
    print(table(rows, harness))
    if args.json:
        args.json.write_text(json.dumps({"xsell": str(Path(xsell.__file__).parent), "rows": rows,
                                         "harness_us": harness}, indent=1))


if __name__ == "__main__":
    main()
