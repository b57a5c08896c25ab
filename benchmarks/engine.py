"""Streaming batch scoring through the engine: `xsell score --mode ...` throughput and memory.

Run (about 3 minutes):

    python benchmarks/engine.py
    python benchmarks/engine.py --orders 300000     # a quicker, smaller input

Model: CoOccurrence on synthetic_log(1_000_000, 50_000, seed=0). Input: the orders of
synthetic_log(N, 50_000, seed=1) (default N = 1.7M: about 10M lines) written as a
basket_id, item_id Parquet file; a synthetic catalog (lognormal prices, cost 60% of price,
200 categories, families of 3 variants, 5% out of stock). Each row runs `score_file` (what
`xsell score` runs) in a fresh subprocess: read in chunks of 500,000 lines, score, write
Parquet atomically. Time is wall time end to end (read, score, write); memory is the peak
RSS of the subprocess above its RSS after loading the model (constant memory: it must not
grow with the input; the smaller input shows it); with workers, also the largest worker's
absolute peak RSS (model shared copy-on-write from the fork). k = 5; catalog, objective margin
and threshold 50 for cross-sell and uplift.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import PeakMeter, log, settle_memory  # noqa: E402

import xsell  # noqa: E402
from xsell.datasets import synthetic_log  # noqa: E402

TARGET = 50_000


def _catalog(ids: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = len(ids)
    price = np.round(rng.lognormal(2.5, 0.7, n), 2)
    return pd.DataFrame({"item_id": ids, "price": price, "cost": np.round(price * 0.6, 2),
                         "category": [f"c{i % 200}" for i in range(n)], "parent": [f"f{i // 3}" for i in range(n)],
                         "in_stock": rng.random(n) > 0.05})


def _child(args: argparse.Namespace) -> None:
    from xsell.batch import score_file

    model = xsell.load_model(args.model)
    engine = None
    if args.mode != "recommend":
        engine = xsell.Engine(model, xsell.load_catalog(args.catalog), xsell.BusinessRules(objective="margin"),
                              threshold=50.0)
    settle_memory()
    meter = PeakMeter()
    base = meter.peak_mb()
    start = time.perf_counter()
    summary = score_file(model, args.input, args.output, k=5, engine=engine, mode=args.mode,
                         workers=int(args.workers))
    seconds = time.perf_counter() - start
    import resource

    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker's peak
    print(json.dumps({"seconds": seconds, "baskets": summary.baskets, "lines": summary.lines,
                      "rows": summary.rows_written, "memory_mb": meter.peak_mb() - base, "worker_mb": worker_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1_700_000, help="orders in the scored input")
    ap.add_argument("--child", nargs=6, metavar=("MODE", "MODEL", "CATALOG", "INPUT", "OUTPUT", "WORKERS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        ns = argparse.Namespace(**dict(zip(("mode", "model", "catalog", "input", "output", "workers"), args.child)))
        _child(ns)
        return
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        log("fitting CoOccurrence on synthetic_log(1,000,000, 50,000)")
        train = synthetic_log(1_000_000, 50_000, seed=0)
        model = xsell.CoOccurrence().fit(train)
        xsell.save_model(model, d / "model.xsell")
        _catalog(train.items.ids).to_parquet(d / "catalog.parquet")
        inputs = {}
        for n in sorted({args.orders, max(args.orders // 10, 1000)}):
            log(f"writing {n:,} baskets")
            frame = synthetic_log(n, 50_000, seed=1).to_frame()
            frame = frame.rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]]
            frame.to_parquet(d / f"baskets_{n}.parquet")
            inputs[n] = len(frame)
            del frame
        del train, model
        rows = []
        for n, lines in inputs.items():
            for mode, workers in (("recommend", 1), ("cross-sell", 1), ("cross-sell", 2), ("uplift", 2)):
                log(f"{mode} on {n:,} baskets ({lines:,} lines), {workers} worker(s)")
                cmd = [sys.executable, __file__, "--child", mode, str(d / "model.xsell"), str(d / "catalog.parquet"),
                       str(d / f"baskets_{n}.parquet"), str(d / f"out_{mode}_{n}.parquet"), str(workers)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                rows.append((mode, workers, n, lines, json.loads(done.stdout.strip().splitlines()[-1])))
    print("| tool | data | time | memory | baskets/s | target |")
    print("|---|---|---|---|---|---|")
    for mode, workers, n, lines, r in rows:
        rate = r["baskets"] / r["seconds"]
        verdict = "" if mode == "recommend" else (" PASS" if rate >= TARGET else " MISS")
        print(f"| xsell score --mode {mode} --workers {workers} | {n:,} baskets, {lines:,} lines, Parquet in/out | "
              f"{r['seconds']:.1f} s | +{r['memory_mb']:.0f} MB"
              + (f", each worker <= {r['worker_mb']:,.0f} MB peak" if workers > 1 else "")
              + f" | {rate:,.0f} | "
              f"{'>= 50,000/s' + verdict if mode != 'recommend' else 'reference: the model alone'} |")


if __name__ == "__main__":
    main()
