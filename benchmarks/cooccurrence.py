"""Benchmark the co-occurrence model against a bare X.T @ X and implicit's CosineRecommender.

Run (a few minutes; needs the bench extras: pip install -e '.[bench]'):

    python benchmarks/cooccurrence.py
    python benchmarks/cooccurrence.py --orders 100000 --items 5000      # quick run
    python benchmarks/cooccurrence.py --only synthetic --markdown bench.md

Datasets: the synthetic log (`synthetic_log`, default 1M orders x 50k items,
seed 0) and UCI Online Retail (lines with a customer only), skipped when
../shared/data/online_retail is absent.

What is measured (targets from the project issue):
  fit        xsell fit (from Orders, building the order x item matrix included)
             vs a bare X.T @ X on the same int32 order x item CSR, vs implicit
             CosineRecommender(K=100).fit on the float32 orders x items matrix.
             Each fit runs in a fresh subprocess (this script with --child), best
             of 3 runs; memory is that child's peak RSS during the fits, shown as
             "+delta over the RSS after loading data (absolute peak)".
  latency    median of per-call perf_counter_ns over 2,000 calls after 200
             warm-up calls; best median of 3 whole repeats.
  batch      recommend_batch on the first 100k orders as a basket_id, item_id
             frame, DataFrame in and out; best of 3.
  load       load_model of the saved model, best of 4 (a first call + 3), and
             the file size; implicit's own load and .npz size as the peer.
Results go to stdout as a markdown table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import xsell

from _measure import (
    emit, fmt_mb, fmt_s, log, PeakMeter, settle_memory, verdict,
)  # benchmarks/ is on sys.path when run
from xsell.datasets import load_online_retail, shared_online_retail, synthetic_log

K = 10                      # recommendations per request
NEIGHBORS = 100             # xsell neighbors and implicit K
CALLS, WARMUP, REPEATS = 2_000, 200, 3
BATCH_BASKETS = 100_000
BASKET_SIZE = 5
TARGET_FIT_RATIO = 2.0      # xsell fit <= 2x X.T @ X
TARGET_FIT_PEAK_MB = 2048   # < 2 GB peak RSS for 1M x 50k
TARGET_ALSO_US, TARGET_REC_US = 20.0, 50.0
TARGET_BATCH_PER_S, TARGET_LOAD_MS = 50_000, 100.0
FIT_TOOLS = ("X.T@X", "xsell", "implicit")
COLUMNS = ("tool", "data", "measure", "value", "memory", "target", "ratio/status")


@dataclass
class Row:
    tool: str
    data: str
    measure: str
    value: str
    memory: str = ""
    target: str = ""
    status: str = ""


# -- data ---------------------------------------------------------------------------
def load_dataset(name: str, n_orders: int, n_items: int) -> xsell.Orders | None:
    """The Orders of one dataset, or None when Online Retail is not on this machine."""
    if name == "synthetic":
        return synthetic_log(n_orders, n_items, seed=0)
    path = shared_online_retail()
    return None if path is None else load_online_retail(path, require_customer=True)


def data_label(name: str, orders: xsell.Orders) -> str:
    return f"{name} {orders.n_orders:,} x {orders.n_items:,}"


# -- memory (child side) ----------------------------------------------------------------


def rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 2**20


# -- fits (child side) -----------------------------------------------------------------
def fit_once(tool: str, orders: xsell.Orders) -> Any:
    """One fit of `tool`; returns what it built (kept alive until the next run)."""
    if tool == "X.T@X":
        x = orders.order_item_matrix(np.int32)  # built before timing, see child_main
        return x.T @ x
    if tool == "xsell":
        orders._matrices.clear()  # fit builds its own matrix every run, as from a fresh load
        return xsell.CoOccurrence(neighbors=NEIGHBORS).fit(orders)
    from implicit.nearest_neighbours import CosineRecommender
    model = CosineRecommender(K=NEIGHBORS)
    model.fit(orders.order_item_matrix(), show_progress=False)
    return model


def child_main(tool: str, dataset: str, n_orders: int, n_items: int, save: str) -> None:
    """Fit `tool` REPEATS times in this fresh process; print times and memory as JSON."""
    warnings.simplefilter("ignore")  # implicit warns about coo input and BLAS threads
    orders = load_dataset(dataset, n_orders, n_items)
    assert orders is not None
    if tool == "X.T@X":
        orders.order_item_matrix(np.int32)    # the bare product gets its matrix for free
    elif tool == "implicit":
        orders.order_item_matrix()            # implicit takes a ready CSR as input
    settle_memory()
    baseline = rss_mb()
    meter = PeakMeter()
    times, result = [], None
    for _ in range(REPEATS):
        result = None  # free the previous run's output before the next one
        t0 = time.perf_counter()
        result = fit_once(tool, orders)
        times.append(time.perf_counter() - t0)
    peak = meter.peak_mb()
    if tool == "xsell":
        xsell.save_model(result, save)
    elif tool == "implicit":
        result.save(save)
    print(json.dumps({"times": times, "baseline_mb": baseline, "peak_mb": peak}))


def fit_in_subprocess(tool: str, dataset: str, args: argparse.Namespace, save: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool, "--dataset", dataset,
           "--orders", str(args.orders), "--items", str(args.items), "--save", str(save)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- timing (parent side) --------------------------------------------------------------
def best_median_us(call: Callable[[Any], Any], queries: Sequence[Any]) -> float:
    """Best of REPEATS medians of CALLS timed calls (cycling over `queries`), in µs.

    Noise on this machine comes in bursts, so one repeat can be slow all
    through; the best median of three is the steady-state latency.
    """
    clock = time.perf_counter_ns
    medians = []
    for _ in range(REPEATS):
        for i in range(WARMUP):
            call(queries[i % len(queries)])
        samples = np.empty(CALLS, dtype=np.int64)
        for i in range(CALLS):
            q = queries[i % len(queries)]
            t0 = clock()
            call(q)
            samples[i] = clock() - t0
        medians.append(float(np.median(samples)) / 1000)
    return min(medians)


def best_seconds(call: Callable[[], Any], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return min(times)


# -- formatting ---------------------------------------------------------------------


def fit_memory(res: dict[str, Any]) -> str:
    return f"+{fmt_mb(res['peak_mb'] - res['baseline_mb'])} ({fmt_mb(res['peak_mb'])})"


# -- the benchmark steps (parent side) ----------------------------------------------------
def bench_fit(dataset: str, label: str, args: argparse.Namespace, tmp: Path) -> tuple[list[Row], dict[str, Path]]:
    """The three fits, each in its own subprocess; returns rows and the saved model paths."""
    res, paths = {}, {"xsell": tmp / f"{dataset}.xsell", "implicit": tmp / f"{dataset}-implicit.npz"}
    for tool in FIT_TOOLS:
        log(f"{label}: fit {tool} in a fresh subprocess (best of {REPEATS})")
        res[tool] = fit_in_subprocess(tool, dataset, args, paths.get(tool, tmp / "unused"))
    t = {tool: min(r["times"]) for tool, r in res.items()}
    xs = res["xsell"]
    ratio = t["xsell"] / t["X.T@X"]
    rows = [
        Row("X.T@X", label, "fit: bare X.T @ X (int32 CSR)", fmt_s(t["X.T@X"]), fit_memory(res["X.T@X"]),
            "", "reference"),
        Row("xsell", label, f"fit CoOccurrence(neighbors={NEIGHBORS})", fmt_s(t["xsell"]), fit_memory(xs),
            f"<= {TARGET_FIT_RATIO:g}x X.T@X; peak < {fmt_mb(TARGET_FIT_PEAK_MB)}",
            f"{ratio:.2f}x X.T@X {verdict(ratio <= TARGET_FIT_RATIO)}; "
            f"peak {verdict(xs['peak_mb'] < TARGET_FIT_PEAK_MB)}; "
            f"{t['xsell'] / t['implicit']:.2f}x implicit"),
        Row("implicit", label, f"fit CosineRecommender(K={NEIGHBORS}), all cores", fmt_s(t["implicit"]),
            fit_memory(res["implicit"]), "", "peer"),
    ]
    return rows, paths


def latency_rows(label: str, measure: str, ours_us: float, peer_us: float, peer_measure: str,
                 target_us: float) -> list[Row]:
    return [
        Row("xsell", label, measure, f"{ours_us:.1f} µs", "", f"<= {target_us:g} µs",
            f"{verdict(ours_us <= target_us)}; {ours_us / peer_us:.2f}x implicit"),
        Row("implicit", label, peer_measure, f"{peer_us:.1f} µs", "", "", "peer"),
    ]


def bench_also_bought(orders: xsell.Orders, label: str, model: Any, peer: Any) -> list[Row]:
    """also_bought on items drawn from order lines (so popular items come up as often as in traffic)."""
    log(f"{label}: also_bought latency")
    rng = np.random.default_rng(1)
    items = rng.choice(orders.item_index, CALLS)
    ext = orders.items.ids[items].tolist()
    ours = best_median_us(lambda item: model.also_bought(item, k=K), ext)
    with_ids = best_median_us(lambda item: model.also_bought(item, k=K).items, ext)
    theirs = best_median_us(lambda i: peer.similar_items(i, N=K + 1), items.tolist())
    rows = latency_rows(label, f"also_bought k={K}, median", ours, theirs,
                        f"similar_items N={K + 1} (itself included), median", TARGET_ALSO_US)
    rows.insert(1, Row("xsell", label, f"also_bought k={K} + .items (external ids), median",
                       f"{with_ids:.1f} µs", "", "", f"{with_ids / theirs:.2f}x implicit"))
    return rows


def five_item_orders(orders: xsell.Orders) -> np.ndarray:
    """Up to CALLS random orders with exactly BASKET_SIZE distinct items."""
    sizes = np.bincount(orders.order_index, minlength=orders.n_orders)
    five = np.flatnonzero(sizes == BASKET_SIZE)
    rng = np.random.default_rng(2)
    return rng.permutation(five)[:CALLS]


def bench_recommend(orders: xsell.Orders, label: str, model: Any, peer: Any) -> list[Row]:
    picked = five_item_orders(orders)
    log(f"{label}: recommend latency ({len(picked):,} distinct {BASKET_SIZE}-item orders, cycled)")
    x = orders.order_item_matrix()
    starts = x.indptr[picked]
    baskets = [orders.items.ids[orders.item_index[s:s + BASKET_SIZE]].tolist() for s in starts.tolist()]
    rows_csr = [x[int(o)] for o in picked]  # implicit wants a one-row user_items CSR per request
    ours = best_median_us(lambda b: model.recommend(b, k=K), baskets)
    theirs = best_median_us(lambda r: peer.recommend(0, r, N=K, filter_already_liked_items=True,
                                                      recalculate_user=False), rows_csr)
    return latency_rows(label, f"recommend {BASKET_SIZE}-item basket k={K}, median", ours, theirs,
                        f"recommend one-row CSR N={K}, median", TARGET_REC_US)


def bench_batch(orders: xsell.Orders, label: str, model: Any, peer: Any) -> list[Row]:
    n = min(BATCH_BASKETS, orders.n_orders)
    lines = orders.order_index < n
    frame = pd.DataFrame({"basket_id": orders.orders.ids[orders.order_index[lines]],
                          "item_id": orders.items.ids[orders.item_index[lines]]})
    log(f"{label}: recommend_batch on the first {n:,} orders ({len(frame):,} lines)")
    ours = n / best_seconds(lambda: model.recommend_batch(frame, k=K))
    x = orders.order_item_matrix()[:n]
    users = np.arange(n)
    log(f"{label}: implicit batch recommend on the same {n:,} baskets")
    theirs = n / best_seconds(lambda: peer.recommend(users, x, N=K, filter_already_liked_items=True))
    return [
        Row("xsell", label, f"recommend_batch {n:,} baskets k={K}, DataFrame in/out",
            f"{ours:,.0f} baskets/s", "", f">= {TARGET_BATCH_PER_S:,}/s",
            f"{verdict(ours >= TARGET_BATCH_PER_S)}; {ours / theirs:.2f}x implicit"),
        Row("implicit", label, f"recommend(userids, user_items) {n:,} rows N={K}, arrays",
            f"{theirs:,.0f} baskets/s", "", "", "peer"),
    ]


def bench_load(label: str, paths: dict[str, Path]) -> list[Row]:
    from implicit.nearest_neighbours import CosineRecommender
    log(f"{label}: load_model")
    first = best_seconds(lambda: xsell.load_model(paths["xsell"]), repeats=1)
    ours = min(first, best_seconds(lambda: xsell.load_model(paths["xsell"])))
    theirs = best_seconds(lambda: CosineRecommender.load(str(paths["implicit"])))
    size, peer_size = paths["xsell"].stat().st_size / 2**20, paths["implicit"].stat().st_size / 2**20
    return [
        Row("xsell", label, f"load_model (best of {REPEATS + 1}; first call {fmt_s(first)})", fmt_s(ours), "",
            f"<= {TARGET_LOAD_MS:g} ms", f"{verdict(ours * 1000 <= TARGET_LOAD_MS)}; "
            f"{ours / theirs:.2f}x implicit"),
        Row("xsell", label, "model file size", f"{size:.1f} MB", "", "", f"{size / peer_size:.2f}x implicit"),
        Row("implicit", label, f"CosineRecommender.load (best of {REPEATS})", fmt_s(theirs), "", "", "peer"),
        Row("implicit", label, "model file size (.npz)", f"{peer_size:.1f} MB", "", "", "peer"),
    ]


def bench_dataset(dataset: str, args: argparse.Namespace, tmp: Path) -> list[Row]:
    log(f"{dataset}: loading data")
    orders = load_dataset(dataset, args.orders, args.items)
    if orders is None:
        log(f"{dataset}: data not found (../shared/data/online_retail), skipped")
        return []
    label = data_label(dataset, orders)
    rows, paths = bench_fit(dataset, label, args, tmp)
    from implicit.nearest_neighbours import CosineRecommender
    model = xsell.load_model(paths["xsell"])
    peer = CosineRecommender.load(str(paths["implicit"]))
    rows += bench_also_bought(orders, label, model, peer)
    rows += bench_recommend(orders, label, model, peer)
    rows += bench_batch(orders, label, model, peer)
    rows += bench_load(label, paths)
    return rows


# -- output and entry point ----------------------------------------------------------------
def markdown(rows: list[Row]) -> str:
    cells = [COLUMNS] + [(r.tool, r.data, r.measure, r.value, r.memory, r.target, r.status) for r in rows]
    lines = ["| " + " | ".join(c) + " |" for c in cells]
    lines.insert(1, "|" + "|".join("---" for _ in COLUMNS) + "|")
    note = ("memory: peak RSS of the fit's own subprocess above its RSS after loading the data "
            "(absolute peak in brackets); latencies: best of 3 medians of 2,000 calls")
    return "\n".join(lines) + f"\n\n{note}\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("online-retail", "synthetic"), help="run one dataset only")
    p.add_argument("--orders", type=int, default=1_000_000, help="synthetic log orders (default 1M)")
    p.add_argument("--items", type=int, default=50_000, help="synthetic log items (default 50k)")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table to PATH")
    p.add_argument("--child", choices=FIT_TOOLS, help=argparse.SUPPRESS)
    p.add_argument("--dataset", choices=("online-retail", "synthetic"), help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.child, args.dataset, args.orders, args.items, args.save)
        return
    warnings.simplefilter("ignore")  # implicit's input-format and thread warnings
    datasets = [args.only] if args.only else ["online-retail", "synthetic"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="xsell-bench-") as tmp:
        for dataset in datasets:
            rows += bench_dataset(dataset, args, Path(tmp))
    table = markdown(rows)
    emit(table, args.markdown)


if __name__ == "__main__":
    main()
