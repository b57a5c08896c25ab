"""Per-request latency and batch rate across catalog sizes and basket sizes: xsell beside implicit.

Run (needs the bench extras: pip install -e '.[bench]'; about 4 minutes for the four sizes on 2 busy
cores once the models are cached, plus a few for the batch table (mostly implicit's batch call), about 8
more the first time, mostly implicit's fit at 900k):

    python benchmarks/latency.py                                  # 5k, 50k, 200k, 900k items
    python benchmarks/latency.py --items 5000,50000 --json lat.json   # some sizes; keep the figures
    python benchmarks/latency.py --quick                          # small logs, fewer calls: does it run?
    python benchmarks/latency.py --no-batch                       # without the recommend_batch table
    python benchmarks/latency.py --batch-baskets 100000           # bigger batches (default 20,000)

The first run at a size generates the log and fits both models in a child process (a few seconds at
5k items, minutes at 900k) and caches them under --cache (default /tmp/xsell-bench-cache), keyed by
the log's size: `cooc-<orders>x<items>-seed0.xsell` (xsell.save_model) and
`implicit-cosine100-<orders>x<items>-seed0.npz` (implicit's own save). Later runs load them.
`--refit` fits again. The log is generated again in every run (it is where the baskets come from).

Data: `synthetic_log(orders, items, seed=0)` for each catalog size in --items (default 5k, 50k, 200k,
900k), with 1M orders up to 200k items and 5M above, so that most items occur (--orders sets one count
for all; --quick uses a tenth). Models: `xsell.CoOccurrence()` (defaults, 100 neighbours) and
implicit's `CosineRecommender(K=100)` fitted on the same orders x items matrix (float32 CSR, all
cores), each measured as loaded from its file (xsell: `load_model`, memory-mapped).

What is measured, in this process, xsell and implicit interleaved repeat by repeat:
  recommend   baskets of 1, 5, 20, 50 items: real orders of the log with at least that many distinct
              items (their first n distinct items; an order's lines are sorted by item index, which in
              the synthetic log is popularity order), up to --calls distinct orders, cycled when there
              are fewer (50-item orders are rare: their count is in the log). xsell gets a list of
              Python str ids, as a web request delivers them: `model.recommend(ids, k=10)`; implicit
              its natural input, a 1-row float32 user_items CSR of the basket's item indices:
              `recommend(0, row, N=10, filter_already_liked_items=True)`.
  also_bought xsell `also_bought(id, k=10)` vs implicit `similar_items(index, N=11)` (it returns the
              item itself first), items drawn from the order lines (popular items as often as in traffic).
  calibration a fixed piece of pure Python (sum(range(500))), CPU µs, before and after each size's
              request rows: on a shared machine CPU time still slows with a busy sibling core or cache
              (2x swings between runs seen); compare rows of runs with their calibration.
  Each path: --calls calls per repeat (default 2,000) after 10% warm-up, --repeats repeats (default 3).
  A repeat gives the median CPU time per call (time.process_time_ns: not the time the machine spends
  on other work) and the median wall time; the table shows the median of the repeat medians, the
  spread (lowest-highest repeat median), the median wall µs and xsell's CPU over implicit's.
              Each repeat then times the same calls again as one block (one pair of clock reads around
              the loop, as timeit does): the block-timed CPU µs per call and its ratio. Reading the CPU
              clock is a system call that costs about 1 µs per timed call itself (benchmarks/_measure.py,
              harness_us), so on micro-second paths the block figure is the call's own cost.
  start-up    --loads fresh subprocesses per tool (default 5), after the model file was read once (page
              cache warm, process new). Each measures, in order: `import xsell` and then the first
              import of xsell.models (numpy, pandas, scipy, numba and the compiled kernels: the process's
              one-off import cost; implicit: `import implicit.nearest_neighbours`); the first
              `load_model` in the process (implicit: `CosineRecommender.load`); the first and then the
              second `recommend` of a 5-item basket (two different baskets); then --loads - 1 further
              loads in the same process. Rows show the median over the subprocesses (spread: best-worst),
              in µs like the rest. One unmeasured child runs first (page cache; numba's on-disk cache
              refreshed if a kernel's source changed since it was compiled).
  recommend_batch  (a second table; --no-batch skips it) issue 11's target: xsell's batch rate at 20-item
              baskets >= 3x implicit's, per CPU-second (1, 5 and 50 items shown too). Per catalog size
              and basket size n: B baskets (--batch-baskets, default 20,000; --quick 2,000) of exactly n
              distinct items, the request rows' baskets: the same shuffled orders, the request rows'
              --calls first, then further ones, cycled when fewer than B orders have n items. All inputs
              are built before the clock. xsell: a pandas DataFrame of basket_id, item_id lines (str
              ids, as a user has them) -> `model.recommend_batch(frame, k=10)` -> DataFrame, end to end;
              and the same baskets with the frame already parsed (`parse_baskets` before the clock):
              `rank_baskets(parsed, 10)`, arrays out, as implicit's. implicit: the baskets as a B x items
              float32 CSR user_items of item indices, its batch API: `recommend(np.arange(B), user_items,
              N=10, filter_already_liked_items=True)`. Threads: both run on one. xsell's batch is one
              compiled pass (no thread pool); implicit's ItemItemRecommender.recommend with an array of
              userids loops over the rows in Python (implicit.utils._batch_call: slices user_items[i],
              calls the one-row scorer, which holds a lock), and num_threads only applies to its fit. The
              table's CPU/wall column shows what each call used. Each repeat is one call over the B
              baskets, timed with time.process_time (the whole process, all threads) and perf_counter.
              There are --repeats repeats, interleaved xsell, xsell (parsed), implicit, after one warm-up
              call each on the first B/10 baskets. Rows show baskets per CPU-second and per wall-second
              (median of the repeats, spread lowest-highest), xsell/implicit for both, and at 20 items
              the verdict `>= 3x implicit PASS/MISS` (CPU-s ratio, recommend_batch end to end). The
              notes give the rate implicit's own request rows imply (1-row CSRs built in advance, no
              batch loop), for comparison.
Progress goes to stderr; the tables (markdown) to stdout; --json keeps the figures (the batch rows under
"batch").
"""

from __future__ import annotations

# Only the standard library at module level: the start-up child (--child) times its own imports.
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import block_us  # noqa: E402  (the standard library only)

HERE = Path(__file__).resolve().parent
SIZES = (5_000, 50_000, 200_000, 900_000)
BASKETS = (1, 5, 20, 50)
K = 10
NEIGHBORS = 100
SEED = 0


def log(message: str) -> None:
    print(f"[latency {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def default_orders(n_items: int) -> int:
    return 1_000_000 if n_items <= 200_000 else 5_000_000


def cache_paths(cache: Path, n_orders: int, n_items: int) -> dict[str, Path]:
    key = f"{n_orders}x{n_items}-seed{SEED}"
    return {"xsell": cache / f"cooc-{key}.xsell", "implicit": cache / f"implicit-cosine{NEIGHBORS}-{key}.npz"}


# -- timing ------------------------------------------------------------------------------------
def run_repeat(fn: Callable[[Any], Any], args: list[Any]) -> tuple[float, float, float]:
    """(median CPU µs, median wall µs) per call over `args`, then the same calls timed as one block (CPU µs
    per call: no clock read per call, which costs about 1 µs of CPU itself: `_measure.harness_us`)."""
    cpu, wall = [], []
    pc, pf = time.process_time_ns, time.perf_counter_ns
    for a in args:
        c0, w0 = pc(), pf()
        fn(a)
        w1, c1 = pf(), pc()
        cpu.append(c1 - c0)
        wall.append(w1 - w0)
    return statistics.median(cpu) / 1e3, statistics.median(wall) / 1e3, block_us(fn, args)


def calibration() -> float:
    """CPU µs of a fixed piece of pure Python (sum(range(500)), median of 2,000): how fast this machine
    runs the interpreter right now. CPU time leaves out time on other work, but not a shared core's or
    cache's slowdown; on a busy machine this moves by 2x between runs, and the rows move with it."""
    cpu = []
    for _ in range(2_000):
        c0 = time.process_time_ns()
        sum(range(500))
        cpu.append(time.process_time_ns() - c0)
    return statistics.median(cpu) / 1e3


def per_call_pair(paths: dict[str, tuple[Callable[[Any], Any], list[Any]]], repeats: int) -> dict[str, dict[str, float]]:
    """Each tool's median CPU/wall µs per call, its repeats interleaved with the other tool's
    (10% warm-up of each first), so both see the same machine load."""
    for fn, args in paths.values():
        for a in args[: max(1, len(args) // 10)]:
            fn(a)
    samples: dict[str, list[tuple[float, float, float]]] = {tool: [] for tool in paths}
    for _ in range(repeats):
        for tool, (fn, args) in paths.items():
            samples[tool].append(run_repeat(fn, args))
    out = {}
    for tool, s in samples.items():
        cpu = [c for c, _, _ in s]
        out[tool] = {"cpu": statistics.median(cpu), "lo": min(cpu), "hi": max(cpu),
                     "wall": statistics.median([w for _, w, _ in s]), "block": statistics.median([b for _, _, b in s])}
    return out


# -- fitting (child process) -------------------------------------------------------------------
def child_fit(n_orders: int, n_items: int, xsell_path: Path, implicit_path: Path) -> None:
    """Generate the log, fit both models and save them (a child: its memory is freed on exit)."""
    import warnings

    import numpy as np

    import xsell
    from xsell.datasets import synthetic_log
    warnings.simplefilter("ignore")  # implicit: input format and BLAS threads
    t0 = time.perf_counter()
    orders = synthetic_log(n_orders, n_items, seed=SEED)
    log(f"  child: {orders} generated in {time.perf_counter() - t0:.1f} s")
    if not xsell_path.exists():
        t0, c0 = time.perf_counter(), time.process_time()
        model = xsell.CoOccurrence().fit(orders)
        log(f"  child: xsell CoOccurrence fit {time.perf_counter() - t0:.1f} s wall, "
            f"{time.process_time() - c0:.1f} s CPU")
        xsell.save_model(model, xsell_path)
        del model
        gc.collect()
    if not implicit_path.exists():
        from implicit.nearest_neighbours import CosineRecommender
        x = orders.order_item_matrix(np.float32)
        t0, c0 = time.perf_counter(), time.process_time()
        peer = CosineRecommender(K=NEIGHBORS)  # num_threads=0: all cores
        peer.fit(x, show_progress=False)
        log(f"  child: implicit CosineRecommender fit {time.perf_counter() - t0:.1f} s wall, "
            f"{time.process_time() - c0:.1f} s CPU")
        tmp = implicit_path.with_name(implicit_path.stem + ".tmp.npz")
        peer.save(str(tmp))
        os.replace(tmp, implicit_path)


def ensure_models(n_orders: int, n_items: int, cache: Path, refit: bool) -> dict[str, Path]:
    paths = cache_paths(cache, n_orders, n_items)
    cache.mkdir(parents=True, exist_ok=True)
    if refit:
        for p in paths.values():
            p.unlink(missing_ok=True)
    if all(p.exists() for p in paths.values()):
        log(f"{n_items:,} items: models from the cache ({paths['xsell'].name}, {paths['implicit'].name})")
        return paths
    log(f"{n_items:,} items: fitting in a child process (cached under {cache})")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "fit", str(n_orders), str(n_items),
                    str(paths["xsell"]), str(paths["implicit"])], check=True)
    log(f"{n_items:,} items: fitted and saved in {time.perf_counter() - t0:.0f} s")
    return paths


# -- start-up (fresh child processes) ----------------------------------------------------------
def child_startup(tool: str, model_path: str, baskets_json: str, loads: int) -> None:
    """Time imports, the first load, the first and second request, further loads; print JSON."""
    pc, pf = time.process_time_ns, time.perf_counter_ns
    out: dict[str, Any] = {}

    def mark() -> tuple[int, int]:
        return pc(), pf()

    def since(t: tuple[int, int]) -> dict[str, float]:
        return {"cpu": (pc() - t[0]) / 1e3, "wall": (pf() - t[1]) / 1e3}

    b1, b2 = json.loads(baskets_json)
    if tool == "xsell":
        t = mark()
        import xsell
        out["import"] = since(t)
        t = mark()
        import xsell.io  # noqa: F401
        import xsell.models.cooccurrence  # noqa: F401  (numpy, pandas, scipy, numba kernels)
        out["import_models"] = since(t)
        t = mark()
        model = xsell.load_model(model_path)
        out["load"] = since(t)
        t = mark()
        model.recommend(b1["ids"], k=K)
        out["first"] = since(t)
        t = mark()
        model.recommend(b2["ids"], k=K)
        out["second"] = since(t)
        again = []
        for _ in range(loads - 1):
            t = mark()
            xsell.load_model(model_path)
            again.append(since(t))
    else:
        t = mark()
        import numpy as np
        import scipy.sparse as sp
        from implicit.nearest_neighbours import CosineRecommender
        out["import"] = since(t)
        t = mark()
        peer = CosineRecommender.load(model_path)
        out["load"] = since(t)
        n = peer.similarity.shape[0]

        def row(b: dict[str, Any]) -> Any:
            idx = np.asarray(b["index"], dtype=np.int32)
            return sp.csr_matrix((np.ones(len(idx), np.float32), idx, np.array([0, len(idx)], np.int32)),
                                 shape=(1, n))
        r1, r2 = row(b1), row(b2)  # the request's input, built before the clock as xsell's id lists are
        t = mark()
        peer.recommend(0, r1, N=K, filter_already_liked_items=True)
        out["first"] = since(t)
        t = mark()
        peer.recommend(0, r2, N=K, filter_already_liked_items=True)
        out["second"] = since(t)
        again = []
        for _ in range(loads - 1):
            t = mark()
            CosineRecommender.load(model_path)
            again.append(since(t))
    if again:
        out["load_again"] = {"cpu": statistics.median(a["cpu"] for a in again),
                             "wall": statistics.median(a["wall"] for a in again)}
    print(json.dumps(out))


def startup(tool: str, model_path: Path, baskets: list[dict[str, Any]], loads: int) -> list[dict[str, Any]]:
    """`loads` fresh children, after one unmeasured child: it reads the file into the page cache and
    lets numba refresh its on-disk cache if a kernel's source changed since it was written (a
    recompile, seconds, is a cost of editing xsell, not of starting a process)."""
    model_path.read_bytes()
    runs = []
    for i in range(loads + 1):
        res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "startup", tool,
                              str(model_path), json.dumps(baskets), str(loads)],
                             check=True, capture_output=True, text=True)
        run = json.loads(res.stdout.strip().splitlines()[-1])
        if i == 0:
            log(f"  {tool}: priming child (not counted): load {run['load']['cpu'] / 1e3:,.1f} ms CPU, "
                f"first request {run['first']['cpu']:,.0f} µs CPU")
        else:
            runs.append(run)
    return runs


def summarize(runs: list[dict[str, Any]], key: str) -> dict[str, float] | None:
    if key not in runs[0]:
        return None
    cpu = [r[key]["cpu"] for r in runs]
    return {"cpu": statistics.median(cpu), "lo": min(cpu), "hi": max(cpu),
            "wall": statistics.median([r[key]["wall"] for r in runs])}


# -- one catalog size --------------------------------------------------------------------------
def measure_size(n_items: int, n_orders: int, args: argparse.Namespace
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """This size's request, also_bought, calibration and start-up rows, and its batch rows."""
    import warnings

    import numpy as np
    import scipy.sparse as sp

    import xsell
    from implicit.nearest_neighbours import CosineRecommender
    from xsell.datasets import synthetic_log
    warnings.simplefilter("ignore")

    paths = ensure_models(n_orders, n_items, args.cache, args.refit)
    t0 = time.perf_counter()
    orders = synthetic_log(n_orders, n_items, seed=SEED)
    occurring = int((np.bincount(orders.item_index, minlength=orders.n_items) > 0).sum())
    log(f"{n_items:,} items: {orders} in {time.perf_counter() - t0:.1f} s; {occurring:,} items occur")
    model = xsell.load_model(paths["xsell"])
    peer = CosineRecommender.load(str(paths["implicit"]))
    n_peer = peer.similarity.shape[0]
    ids = orders.items.ids
    x = orders.order_item_matrix(np.float32)
    sizes = np.diff(x.indptr)
    rng = np.random.default_rng(2)
    label = f"{orders.n_orders:,} x {n_items:,}"
    rows: list[dict[str, Any]] = []

    def add(path: str, basket: str, figures: Mapping[str, dict[str, float] | None], note: str = "") -> None:
        ours, theirs = figures.get("xsell"), figures.get("implicit")
        for tool, f in (("xsell", ours), ("implicit", theirs)):
            if f is None:
                continue
            ratio = ours["cpu"] / theirs["cpu"] if (tool == "xsell" and ours and theirs) else None
            block_ratio = (ours["block"] / theirs["block"] if (tool == "xsell" and ours and theirs and "block" in ours
                                                                and "block" in theirs) else None)
            rows.append({"path": path, "items": n_items, "log": label, "basket": basket, "tool": tool,
                         **f, "ratio": ratio, "block_ratio": block_ratio, "note": note})
        text = "; ".join(f"{t} {f['cpu']:,.1f} µs CPU" for t, f in figures.items() if f)
        log(f"{n_items:,} items: {path} {basket}: {text}")

    def one_row(idx: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(len(idx), np.float32), idx.astype(np.int32),
                              np.array([0, len(idx)], np.int32)), shape=(1, n_peer))

    rows.append({"path": "calibration: sum(range(500)), pure Python (before this size's rows)", "items": n_items,
                 "log": label, "basket": "", "tool": "-", **dict.fromkeys(("cpu", "lo", "hi"), calibration()),
                 "wall": None, "ratio": None, "note": ""})
    five: list[dict[str, Any]] = []
    batch_orders: dict[int, np.ndarray] = {}  # basket size -> the batch's distinct orders
    for n in BASKETS:
        eligible = np.flatnonzero(sizes >= n)
        if len(eligible) == 0:
            log(f"{n_items:,} items: no order has {n} distinct items; row left out")
            continue
        shuffled = rng.permutation(eligible)
        picked = shuffled[: args.calls]  # the batch takes more of the same order: its first baskets are these
        batch_orders[n] = shuffled[: args.batch_baskets]
        idx = [x.indices[x.indptr[o]: x.indptr[o] + n] for o in picked.tolist()]
        ours_in = [ids[i].tolist() for i in idx]  # Python str ids, as a request delivers them
        theirs_in = [one_row(i) for i in idx]
        reps = -(-args.calls // len(picked))
        ours_in, theirs_in = (ours_in * reps)[: args.calls], (theirs_in * reps)[: args.calls]
        if n == 5:
            five = [{"ids": ours_in[j], "index": idx[j].tolist()} for j in (0, 1)]
        fallback = sum(model.recommend(b, k=K).fallback for b in ours_in[: len(picked)])
        note = f"{len(picked):,} distinct orders" + (f", {fallback} xsell fallbacks" if fallback else "")
        res = per_call_pair({
            "xsell": (partial(model.recommend, k=K), ours_in),
            "implicit": (partial(peer.recommend, 0, N=K, filter_already_liked_items=True), theirs_in),
        }, args.repeats)
        add("recommend", str(n), res, note)

    items = rng.choice(orders.item_index, args.calls)
    res = per_call_pair({
        "xsell": (partial(model.also_bought, k=K), ids[items].tolist()),
        "implicit": (partial(peer.similar_items, N=K + 1), items.tolist()),
    }, args.repeats)
    add("also_bought / similar_items", "1 (item)", res)

    rows.append({"path": "calibration: sum(range(500)), pure Python (after the request rows)", "items": n_items,
                 "log": label, "basket": "", "tool": "-", **dict.fromkeys(("cpu", "lo", "hi"), calibration()),
                 "wall": None, "ratio": None, "note": ""})
    batch: list[dict[str, Any]] = []
    if not args.no_batch:
        batch = measure_batch(model, peer, x, ids, batch_orders, n_items, label, args)
    del model, peer, x, orders  # freed before the start-up children
    gc.collect()
    if five and args.loads > 0:
        log(f"{n_items:,} items: start-up, {args.loads} fresh subprocesses per tool")
        ours = startup("xsell", paths["xsell"], five, args.loads)
        theirs = startup("implicit", paths["implicit"], five, args.loads)
        for r in ours:
            r["import_total"] = {m: r["import"][m] + r["import_models"][m] for m in ("cpu", "wall")}
        add("`import xsell` (fresh process)", "", {"xsell": summarize(ours, "import")})
        add("then the first import of xsell.models (numpy, pandas, scipy, numba kernels)", "",
            {"xsell": summarize(ours, "import_models")})
        add("one-off import cost, both together; implicit: `import implicit.nearest_neighbours`", "",
            {"xsell": summarize(ours, "import_total"), "implicit": summarize(theirs, "import")})
        add("load_model, first in a fresh process; implicit: CosineRecommender.load", "",
            {"xsell": summarize(ours, "load"), "implicit": summarize(theirs, "load")})
        if args.loads > 1:
            add(f"load_model again in that process (median of {args.loads - 1})", "",
                {"xsell": summarize(ours, "load_again"), "implicit": summarize(theirs, "load_again")})
        add("first request after the load", "5", {"xsell": summarize(ours, "first"), "implicit": summarize(theirs, "first")})
        add("second request", "5", {"xsell": summarize(ours, "second"), "implicit": summarize(theirs, "second")})
    return rows, batch


# -- recommend_batch --------------------------------------------------------------------------
BATCH_TARGET_BASKET = 20  # issue 11: recommend_batch's rate at 20-item baskets >= 3x implicit's (CPU-s)
BATCH_TARGET_RATIO = 3.0
# Threads each batch call runs on (checked in the sources; the CPU/wall column shows what they used):
BATCH_THREADS = {
    "xsell": "1: one compiled pass over the baskets (kernels.baskets_topk, no thread pool)",
    "implicit": "1: recommend(userids, ...) loops over the rows in Python (implicit.utils._batch_call), one "
                "scorer behind a lock; num_threads applies to fit only",
}


def batch_repeat(call: Callable[[], Any], n_baskets: int) -> tuple[float, float, float]:
    """One timed call over `n_baskets` baskets: (baskets per CPU-second, per wall-second, CPU/wall).
    CPU is time.process_time: the whole process, every thread. The result stays alive until both
    clocks are read (its freeing is not timed)."""
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    out = call()
    w1, c1 = time.perf_counter(), time.process_time()
    del out
    cpu, wall = max(c1 - c0, 1e-9), max(w1 - w0, 1e-9)
    return n_baskets / cpu, n_baskets / wall, cpu / wall


def per_batch(paths: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], n_baskets: int,
              repeats: int) -> dict[str, dict[str, float]]:
    """Each path's rates as median (and lowest-highest) of `repeats` calls, its repeats interleaved
    with the other paths' (after one warm-up call of each on the first tenth of the baskets).
    paths: name -> (warm-up call, timed call)."""
    for warm, _ in paths.values():
        warm()
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, (_, call) in paths.items():
            samples[name].append(batch_repeat(call, n_baskets))
    out = {}
    for name, got in samples.items():
        cpu, wall = [c for c, _, _ in got], [w for _, w, _ in got]
        out[name] = {"cpu": statistics.median(cpu), "cpu_lo": min(cpu), "cpu_hi": max(cpu),
                     "wall": statistics.median(wall), "wall_lo": min(wall), "wall_hi": max(wall),
                     "busy": statistics.median(b for _, _, b in got)}
    return out


def measure_batch(model: Any, peer: Any, x: Any, ids: Any, batch_orders: Mapping[int, Any], n_items: int,
                  label: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """recommend_batch rows of one size: per basket size, --batch-baskets baskets (the request rows'
    orders first, then more of the same shuffled orders, cycled when there are fewer), each an order's
    first n distinct items. xsell: a basket_id, item_id DataFrame of str ids (built before the clock)
    -> recommend_batch -> DataFrame, and the same with the frame already parsed (rank_baskets: arrays
    out, as implicit's); implicit: a B x items float32 CSR -> recommend(np.arange(B), ...)."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    n_peer = peer.similarity.shape[0]
    ids_obj = ids.astype(object)  # Python str ids, one object per item, shared by the frames' lines
    rows: list[dict[str, Any]] = []
    for n, distinct in batch_orders.items():
        b = args.batch_baskets
        chosen = np.resize(distinct, b)  # cycled, in the same order, when there are fewer orders
        starts = x.indptr[chosen]
        flat = x.indices[(starts[:, None] + np.arange(n)).ravel()]  # each order's first n distinct items
        basket_ids = np.array([f"b{j}" for j in range(b)], dtype=object)
        frame = pd.DataFrame({"basket_id": np.repeat(basket_ids, n), "item_id": ids_obj[flat]})
        user_items = sp.csr_matrix((np.ones(b * n, np.float32), flat.astype(np.int32),
                                    np.arange(0, b * n + 1, n, dtype=np.int32)), shape=(b, n_peer))
        users = np.arange(b)
        w = max(1, b // 10)  # warm-up: the first tenth of the baskets
        warm_frame, warm_items, warm_users = frame.iloc[: w * n], user_items[:w], users[:w]
        parsed, warm_parsed = model.parse_baskets(frame), model.parse_baskets(warm_frame)
        result = model.recommend_batch(frame, k=K)  # a check, untimed: every basket answered
        answered = int(result["basket_id"].nunique())
        fallback = int(result.attrs.get("fallback_baskets", 0))
        del result
        res = per_batch({
            "xsell": (partial(model.recommend_batch, warm_frame, k=K), partial(model.recommend_batch, frame, k=K)),
            "xsell-parsed": (partial(model.rank_baskets, warm_parsed, K), partial(model.rank_baskets, parsed, K)),
            "implicit": (partial(peer.recommend, warm_users, warm_items, N=K, filter_already_liked_items=True),
                         partial(peer.recommend, users, user_items, N=K, filter_already_liked_items=True)),
        }, b, args.repeats)
        theirs = res["implicit"]
        note = (f"{len(distinct):,} distinct orders" + (", cycled" if len(distinct) < b else "")
                + (f"; {answered:,} baskets in xsell's frame" if answered != b else "")
                + (f", {fallback} xsell fallbacks" if fallback else ""))
        calls = {"xsell": f"recommend_batch(frame, k={K}): DataFrame in and out",
                 "xsell-parsed": f"rank_baskets(parse_baskets(frame), {K}): frame parsed before the clock, arrays out",
                 "implicit": f"recommend(np.arange(B), user_items, N={K}, filter_already_liked_items=True): CSR in, arrays out"}
        for name, f in res.items():
            tool = "implicit" if name == "implicit" else "xsell"
            ratio = f["cpu"] / theirs["cpu"] if tool == "xsell" else None
            ratio_wall = f["wall"] / theirs["wall"] if tool == "xsell" else None
            verdict = ""
            if name == "xsell" and n == BATCH_TARGET_BASKET:
                verdict = f">= {BATCH_TARGET_RATIO:g}x implicit {'PASS' if ratio >= BATCH_TARGET_RATIO else 'MISS'}"
            rows.append({"path": "recommend_batch", "items": n_items, "log": label, "basket": n, "baskets": b,
                         "tool": tool, "call": calls[name], "threads": BATCH_THREADS[tool].split(":")[0], **f,
                         "ratio": ratio, "ratio_wall": ratio_wall, "verdict": verdict, "note": note})
        log(f"{n_items:,} items: recommend_batch {n}-item baskets x {b:,}: "
            + "; ".join(f"{name} {f['cpu']:,.0f}/CPU-s" for name, f in res.items()))
        del frame, user_items, parsed, warm_parsed
        gc.collect()
    return rows


# -- output -----------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]]) -> str:
    out = ["| path | items | basket size | tool | CPU µs (median of repeat medians) | spread | wall µs | "
           "xsell/implicit (CPU) | CPU µs, block-timed | xsell/implicit (block) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else ""
        block = f"{r['block']:,.1f}" if r.get("block") is not None else ""
        block_ratio = f"{r['block_ratio']:.2f}" if r.get("block_ratio") is not None else ""
        cells = (f"{r['cpu']:,.2f} | | " if r["tool"] == "-" else
                 f"{r['cpu']:,.1f} | {r['lo']:,.1f}-{r['hi']:,.1f} | {r['wall']:,.1f}")
        out.append(f"| {r['path']} | {r['items']:,} | {r['basket']} | {r['tool']} | {cells} | {ratio} | {block} "
                   f"| {block_ratio} |")
    return "\n".join(out)


def notes(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    logs = sorted({(r["items"], r["log"]) for r in rows})
    lines = [f"Logs (orders x items): {', '.join(label for _, label in logs)}. Requests: {args.calls:,} calls per "
             f"repeat, {args.repeats} repeats, 10% warm-up; start-up rows: median (spread best-worst) over "
             f"{args.loads} fresh subprocesses."]
    lines += [f"- {r['items']:,} items, {r['path']} {r['basket']}: {r['note']}" for r in rows
              if r["note"] and r["tool"] == "xsell"]
    return "\n".join(lines)


def batch_table(rows: list[dict[str, Any]]) -> str:
    out = ["| path | items | basket size | baskets (B) | tool | call | threads (CPU/wall) | baskets per CPU-s "
           "(median of repeats) | spread | baskets per wall-s | spread | xsell/implicit (CPU-s) | "
           "xsell/implicit (wall-s) | issue 11 target (20 items) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratios = (f"{r['ratio']:.2f} | {r['ratio_wall']:.2f}" if r["ratio"] is not None else " | ")
        out.append(f"| {r['path']} | {r['items']:,} | {r['basket']} | {r['baskets']:,} | {r['tool']} | {r['call']} | "
                   f"{r['threads']} ({r['busy']:.2f}) | {r['cpu']:,.0f} | {r['cpu_lo']:,.0f}-{r['cpu_hi']:,.0f} | "
                   f"{r['wall']:,.0f} | {r['wall_lo']:,.0f}-{r['wall_hi']:,.0f} | {ratios} | {r['verdict']} |")
    return "\n".join(out)


def batch_notes(rows: list[dict[str, Any]], requests: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The batch table's method, and per size and basket size the rate implicit's request rows imply."""
    lines = [f"recommend_batch: one call over B baskets per repeat, {args.repeats} repeats interleaved xsell, "
             f"xsell (parsed), implicit, after one warm-up call each on B/10 baskets; baskets per second of "
             f"process CPU (time.process_time, all threads) and of wall time, median (spread lowest-highest); "
             f"input built before the clock. Threads: " + "; ".join(f"{t} {d}" for t, d in BATCH_THREADS.items())
             + f". Target: xsell's recommend_batch (DataFrame in and out) at {BATCH_TARGET_BASKET}-item baskets "
             f">= {BATCH_TARGET_RATIO:g}x implicit's rate per CPU-s."]
    single = {(r["items"], r["basket"]): r["cpu"] for r in requests
              if r["path"] == "recommend" and r["tool"] == "implicit"}
    ours = {(r["items"], r["basket"]): r["cpu"] for r in rows if r["call"].startswith("recommend_batch")}
    for r in rows:
        if r["tool"] != "implicit":
            continue
        key = (r["items"], r["basket"])
        text = f"- {r['items']:,} items, {r['basket']}-item baskets: {r['note']}"
        us = single.get((r["items"], str(r["basket"])))
        if us:
            text += (f"; implicit's request rows imply {1e6 / us:,.0f} baskets per CPU-s (1-row CSRs built "
                     f"in advance, one call each): its batch call reaches {r['cpu'] * us / 1e6:.2f}x that, "
                     f"xsell's recommend_batch {ours[key] * us / 1e6:.2f}x")
        lines.append(text)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # before any heavy import: the start-up child times its own
        kind, rest = argv[1], argv[2:]
        if kind == "fit":
            child_fit(int(rest[0]), int(rest[1]), Path(rest[2]), Path(rest[3]))
        else:
            child_startup(rest[0], rest[1], rest[2], int(rest[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default=",".join(map(str, SIZES)), help="catalog sizes (default 5000,50000,200000,900000)")
    ap.add_argument("--orders", type=int, help="orders of every log (default 1M up to 200k items, 5M above)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the orders, 500 calls, 2 loads: a quick check")
    ap.add_argument("--calls", type=int, help="calls per path and repeat (default 2,000)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per path (default 3)")
    ap.add_argument("--loads", type=int, help="fresh subprocesses per tool for the start-up rows (default 5; 0: none)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/xsell-bench-cache"), help="fitted models (default %(default)s)")
    ap.add_argument("--refit", action="store_true", help="fit again even when the cache has the models")
    ap.add_argument("--batch-baskets", type=int, help="baskets per recommend_batch call (default 20,000; --quick 2,000)")
    ap.add_argument("--no-batch", action="store_true", help="skip the recommend_batch table")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    args.calls = args.calls or (500 if args.quick else 2_000)
    args.loads = args.loads if args.loads is not None else (2 if args.quick else 5)
    args.batch_baskets = args.batch_baskets or (2_000 if args.quick else 20_000)
    sizes = [int(s) for s in args.items.split(",") if s.strip()]

    import xsell
    log(f"xsell {xsell.__version__} from {Path(xsell.__file__).parent}; {len(os.sched_getaffinity(0))} cores")
    t_all = time.perf_counter()
    rows: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    for n_items in sizes:
        n_orders = args.orders or default_orders(n_items) // (10 if args.quick else 1)
        t0 = time.perf_counter()
        size_rows, size_batch = measure_size(n_items, n_orders, args)
        rows += size_rows
        batch += size_batch
        gc.collect()
        log(f"{n_items:,} items done in {time.perf_counter() - t0:.0f} s")
    text = table(rows) + "\n\n" + notes(rows, args)
    if batch:
        text += "\n\n" + batch_table(batch) + "\n\n" + batch_notes(batch, rows, args)
    print(text, flush=True)
    log(f"all done in {time.perf_counter() - t_all:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"xsell": str(Path(xsell.__file__).parent), "args": {
            "items": sizes, "calls": args.calls, "repeats": args.repeats, "loads": args.loads, "quick": args.quick,
            "batch_baskets": None if args.no_batch else args.batch_baskets},
            "rows": rows, "batch": batch}, indent=1))
        log(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
