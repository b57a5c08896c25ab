"""Catalog scale (issue 11, target 5): fit, load, every request path and batch on 5M orders x 900k items.

Run (needs the bench extras: pip install -e '.[bench]'; about 4 minutes on 2 busy cores, peak RSS
about 4 GB in implicit's fit, 1.5 GB in xsell's):

    python benchmarks/scale.py                                   # 5M orders x 900k items
    python benchmarks/scale.py --orders 1000000 --items 200000   # a smaller log
    python benchmarks/scale.py --quick                           # 200k x 36k, fewer calls: does it run?
    python benchmarks/scale.py --json scale.json                 # also keep the figures
    python benchmarks/scale.py --no-peers                        # without X.T@X and implicit's fit
    python benchmarks/scale.py --reuse                           # requests only, on the cached model

Every step runs in a child process, one after the other, so the parent stays small and each peak
is its own (the machine is shared; memory matters):
  fit        `synthetic_log(orders, items, seed=0)` generated, then `xsell.CoOccurrence()` (defaults:
             100 neighbours, all cores) fitted once after a warm-up fit on a tiny log (imports and
             compiled kernels, shown apart): CPU time (every thread), wall time, and the peak RSS
             above the RSS with the log loaded (the fitted model included), as benchmarks/cooccurrence.py
             measures it; then `save_model` to --cache (default /tmp/xsell-bench-cache,
             `cooc-<orders>x<items>-seed0.xsell`, the file benchmarks/latency.py reuses). The child also
             writes the log's order x item CSR and the request baskets next to it.
  peers      (unless --no-peers) a bare X.T @ X on the int32 CSR (scipy, one thread) and implicit's
             CosineRecommender(K=100).fit on the float32 CSR (all cores), each in its own child, same
             figures; implicit's model is saved to the cache for benchmarks/latency.py.
  requests   a fresh child, the model file in the page cache: `import xsell` + xsell.models (one-off),
             the first `load_model` (memory-mapped) and --loads - 1 more, the first then the second
             recommend of a 5-item basket (two baskets), then per call (CPU µs, time.process_time_ns,
             median of --repeats repeat medians of --calls calls after 10% warm-up; wall beside):
             recommend of 1, 5 and 20 items (real orders of the log, their first n distinct items,
             as lists of str ids), also_bought; `recommend_batch` of --batch 5-item baskets (a
             basket_id, item_id DataFrame; baskets per CPU second of the whole call, --repeats);
             a catalog for the model's items (price lognormal, category = item index // 50,
             in_stock True) through `xsell.load_catalog`; `xsell.Engine(model, catalog)` construction
             (CPU and wall s, --repeats); `engine.cross_sell(basket of 5, k=5)` and
             `engine.up_sell(first item of the basket, k=5)`.
Values are the median, with [min-max] over the repeats. Targets are issue 11's (at 900k items where
it gives one per size); "met" reads the CPU figure (the machine is shared; wall is shown beside), the
fit's wall against implicit's wall. Progress goes to stderr; the table (markdown) to stdout.
"""

from __future__ import annotations

# Only the standard library at module level: the request child times its own imports.
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import fmt_mb, median, settle_memory, spread, timed  # noqa: E402  (benchmarks/ helpers)

K = 10
NEIGHBORS = 100
SEED = 0
BASKETS = (1, 5, 20)
TODAY_PEAK_MB_1M_50K = 227.0  # issue 11: CoOccurrence fit peak above the data, 1M x 50k, before the issue


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    import psutil
    return float(psutil.Process().memory_info().rss) / 2**20


def hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def files(cache: Path, n_orders: int, n_items: int) -> dict[str, Path]:
    key = f"{n_orders}x{n_items}-seed{SEED}"
    return {"model": cache / f"cooc-{key}.xsell", "implicit": cache / f"implicit-cosine{NEIGHBORS}-{key}.npz",
            "baskets": cache / f"scale-baskets-{key}.npz", "csr": cache / f"scale-csr-{key}.npz"}


# -- child: generate and fit ---------------------------------------------------------------
def child_fit(a: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    import xsell
    from xsell.datasets import synthetic_log
    paths = files(a.cache, a.orders, a.items)
    rss0, t0 = rss_mb(), time.perf_counter()
    xsell.CoOccurrence().fit(synthetic_log(2_000, 200, seed=1))  # imports and compiled kernels
    out: dict[str, Any] = {"warmup": {"s": time.perf_counter() - t0, "mb": rss_mb() - rss0}}
    t0, c0 = time.perf_counter(), time.process_time()
    orders = synthetic_log(a.orders, a.items, seed=SEED)
    out["generate"] = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    sizes = np.bincount(orders.order_index, minlength=orders.n_orders)
    out["log"] = {"orders": orders.n_orders, "items": orders.n_items, "lines": orders.n_lines,
                  "items_occurring": int((np.bincount(orders.item_index, minlength=orders.n_items) > 0).sum()),
                  "orders_with": {str(n): int((sizes >= n).sum()) for n in (1, 5, 20, 50)}}
    log(f"  fit child: {orders} generated in {out['generate']['wall']:.1f} s")
    settle_memory()
    base = rss_mb()
    model, fig = timed(lambda: xsell.CoOccurrence().fit(orders), base)
    out["fit"] = fig
    out["data_mb"] = base
    log(f"  fit child: fit {fig['wall']:.1f} s wall, {fig['cpu']:.1f} s CPU, peak +{fmt_mb(fig['peak_mb'])}")
    t0, c0 = time.perf_counter(), time.process_time()
    xsell.save_model(model, paths["model"])
    out["save"] = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                   "mb": paths["model"].stat().st_size / 2**20}
    del model
    gc.collect()
    # request baskets: real orders, their first n distinct items (lines are sorted by item index)
    x = orders.order_item_matrix(np.int32)
    ids = orders.items.ids
    rng = np.random.default_rng(2)
    arrays: dict[str, Any] = {}
    for n in BASKETS:
        picked = rng.permutation(np.flatnonzero(sizes >= n))[: a.calls]
        arrays[f"b{n}"] = np.stack([ids[x.indices[x.indptr[o]: x.indptr[o] + n]] for o in picked.tolist()])
    arrays["also"] = ids[rng.choice(orders.item_index, a.calls)]
    five = np.flatnonzero(sizes >= 5)[: a.batch]  # the first `batch` orders with >= 5 items
    starts = x.indptr[five]
    arrays["batch_item"] = ids[x.indices[(starts[:, None] + np.arange(5)).ravel()]]
    arrays["batch_basket"] = np.repeat(np.arange(len(five)), 5)
    np.savez(paths["baskets"], **arrays)
    if a.peers:
        np.savez(paths["csr"], indptr=x.indptr, indices=x.indices, shape=np.array(x.shape))
    out["abs_peak_mb"] = hwm_mb()
    return out


def load_csr(path: Path, dtype: Any) -> Any:
    import numpy as np
    import scipy.sparse as sp
    z = np.load(path)
    m = sp.csr_matrix((np.ones(len(z["indices"]), dtype=dtype), z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    m.has_sorted_indices = True
    return m


def child_xtx(a: argparse.Namespace) -> dict[str, Any]:
    """A bare X.T @ X on the same int32 CSR (scipy, one thread): the floor issue 11 compares the fit's CPU with."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    x = load_csr(files(a.cache, a.orders, a.items)["csr"], np.int32)
    settle_memory()
    with threadpool_limits(1):
        prod, fig = timed(lambda: x.T @ x, rss_mb())
    return {"fit": fig, "nnz": int(prod.nnz), "abs_peak_mb": hwm_mb()}


def child_implicit(a: argparse.Namespace) -> dict[str, Any]:
    """implicit's fit, timed as the others, and its model saved for benchmarks/latency.py."""
    import warnings

    import numpy as np
    from implicit.nearest_neighbours import CosineRecommender
    warnings.simplefilter("ignore")
    paths = files(a.cache, a.orders, a.items)
    CosineRecommender(K=NEIGHBORS).fit(load_csr(paths["csr"], np.float32)[:2000], show_progress=False)  # warm-up
    x = load_csr(paths["csr"], np.float32)
    settle_memory()
    peer = CosineRecommender(K=NEIGHBORS)  # num_threads=0: all cores
    _, fig = timed(lambda: peer.fit(x, show_progress=False), rss_mb())
    tmp = paths["implicit"].with_name(paths["implicit"].stem + ".tmp.npz")
    peer.save(str(tmp))
    os.replace(tmp, paths["implicit"])
    return {"fit": fig, "abs_peak_mb": hwm_mb()}


# -- child: requests -----------------------------------------------------------------------
def per_call(fn: Callable[[Any], Any], args: list[Any], repeats: int) -> dict[str, Any]:
    """Median CPU and wall µs per call over `args`, `repeats` times (10% warm-up first)."""
    for x in args[: max(1, len(args) // 10)]:
        fn(x)
    cpu_medians, wall_medians = [], []
    pc, pf = time.process_time_ns, time.perf_counter_ns
    for _ in range(repeats):
        cpu, wall = [], []
        for x in args:
            c0, w0 = pc(), pf()
            fn(x)
            w1, c1 = pf(), pc()
            cpu.append(c1 - c0)
            wall.append(w1 - w0)
        cpu_medians.append(statistics.median(cpu) / 1e3)
        wall_medians.append(statistics.median(wall) / 1e3)
    return {"cpu": cpu_medians, "wall": wall_medians}


def calibration() -> float:
    """CPU µs of sum(range(500)) in pure Python (median of 2,000): how fast the machine runs the
    interpreter right now (a busy sibling core or shared cache slows CPU time too)."""
    cpu = []
    for _ in range(2_000):
        c0 = time.process_time_ns()
        sum(range(500))
        cpu.append(time.process_time_ns() - c0)
    return statistics.median(cpu) / 1e3


def child_requests(a: argparse.Namespace) -> dict[str, Any]:
    pc, pf = time.process_time_ns, time.perf_counter_ns
    out: dict[str, Any] = {}

    def since(t: tuple[int, int]) -> dict[str, float]:
        return {"cpu": (pc() - t[0]) / 1e3, "wall": (pf() - t[1]) / 1e3}

    t = (pc(), pf())
    import xsell
    import xsell.io  # noqa: F401
    import xsell.models.cooccurrence  # noqa: F401  (numpy, pandas, scipy, numba kernels)
    out["import"] = since(t)
    import numpy as np
    import pandas as pd
    paths = files(a.cache, a.orders, a.items)
    z = np.load(paths["baskets"])
    b = {n: [row.tolist() for row in z[f"b{n}"]] for n in BASKETS}
    t = (pc(), pf())
    model = xsell.load_model(paths["model"])
    out["load"] = since(t)
    t = (pc(), pf())
    model.recommend(b[5][0], k=K)
    out["first"] = since(t)
    t = (pc(), pf())
    model.recommend(b[5][1], k=K)
    out["second"] = since(t)
    again = []
    for _ in range(a.loads - 1):
        t = (pc(), pf())
        xsell.load_model(paths["model"])
        again.append(since(t))
    out["load_again"] = {"cpu": [x["cpu"] for x in again], "wall": [x["wall"] for x in again]}
    log(f"  request child: import {out['import']['wall'] / 1e3:,.0f} ms, load {out['load']['wall'] / 1e3:,.1f} ms "
        f"wall, first request {out['first']['cpu']:,.0f} µs CPU, second {out['second']['cpu']:,.0f} µs CPU")
    out["calibration"] = [calibration()]
    for n in BASKETS:
        out[f"recommend{n}"] = per_call(lambda q: model.recommend(q, k=K), b[n], a.repeats)
        log(f"  request child: recommend {n}: {median(out[f'recommend{n}']['cpu']):,.1f} µs CPU")
    out["also"] = per_call(lambda i: model.also_bought(i, k=K), z["also"].tolist(), a.repeats)
    log(f"  request child: also_bought: {median(out['also']['cpu']):,.1f} µs CPU")
    frame = pd.DataFrame({"basket_id": z["batch_basket"], "item_id": z["batch_item"]})
    n_batch = int(frame["basket_id"].nunique())
    model.recommend_batch(frame.head(5_000), k=K)  # warm-up
    cpu, wall = [], []
    for _ in range(a.repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        model.recommend_batch(frame, k=K)
        cpu.append(n_batch / max(time.process_time() - c0, 1e-9))
        wall.append(n_batch / max(time.perf_counter() - w0, 1e-9))
    out["batch"] = {"cpu": cpu, "wall": wall, "n": n_batch}
    log(f"  request child: recommend_batch {n_batch:,} baskets: {median(cpu):,.0f} per CPU-s")
    del frame
    ids = model.items_.ids
    rng = np.random.default_rng(7)
    catalog_frame = pd.DataFrame({"item_id": ids, "price": np.round(rng.lognormal(3.0, 0.8, len(ids)), 2),
                                  "category": np.char.add("c", (np.arange(len(ids)) // 50).astype(str)),
                                  "in_stock": True})
    t = (pc(), pf())
    try:
        catalog = xsell.load_catalog(catalog_frame)
    except Exception as exc:  # report, do not stop the other figures
        out["catalog_error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["catalog"] = since(t)
    cons_cpu, cons_wall = [], []
    engine = None
    for _ in range(a.repeats):
        engine = None
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            engine = xsell.Engine(model, catalog)
        except Exception as exc:
            out["engine_error"] = f"{type(exc).__name__}: {exc}"
            return out
        cons_cpu.append(time.process_time() - c0)
        cons_wall.append(time.perf_counter() - w0)
    out["engine"] = {"cpu": cons_cpu, "wall": cons_wall}
    log(f"  request child: Engine(model, catalog) {median(cons_wall):.2f} s wall")
    assert engine is not None
    out["cross_sell"] = per_call(lambda q: engine.cross_sell(q, k=5), b[5], a.repeats)
    log(f"  request child: cross_sell: {median(out['cross_sell']['cpu']):,.1f} µs CPU")
    firsts = [q[0] for q in b[5]]
    try:
        out["up_sell"] = per_call(lambda i: engine.up_sell(i, k=5), firsts, a.repeats)
        log(f"  request child: up_sell: {median(out['up_sell']['cpu']):,.1f} µs CPU")
    except Exception as exc:
        out["up_sell_error"] = f"{type(exc).__name__}: {exc}"
    out["calibration"].append(calibration())
    out["abs_peak_mb"] = hwm_mb()
    return out


# -- parent ------------------------------------------------------------------------------------
def run_child(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--orders", str(a.orders),
           "--items", str(a.items), "--cache", str(a.cache), "--calls", str(a.calls), "--repeats", str(a.repeats),
           "--loads", str(a.loads), "--batch", str(a.batch)] + ([] if a.peers else ["--no-peers"])
    res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    log(f"{kind} child done in {time.perf_counter() - t0:.0f} s")
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def rows_of(r: dict[str, Any], a: argparse.Namespace) -> list[tuple[str, str, str, str, str, str]]:
    """(metric, value, wall, unit, target, met) per figure."""
    big = a.items >= 900_000
    rows: list[tuple[str, str, str, str, str, str]] = []

    def yes(ok: bool | None) -> str:
        return "" if ok is None else ("yes" if ok else "no")

    def add(metric: str, cpu: list[float] | float, wall: list[float] | float, unit: str, target: str = "",
            ok: bool | None = None, fmt: str = "{:,.1f}") -> None:
        cpu_l = cpu if isinstance(cpu, list) else [cpu]
        wall_l = wall if isinstance(wall, list) else [wall]
        rows.append((metric, spread(cpu_l, fmt.format), fmt.format(median(wall_l)), unit, target, yes(ok)))

    fit = r["fit"]
    add("log: generate synthetic_log (not a target)", fit["generate"]["cpu"], fit["generate"]["wall"], "s (CPU; wall)",
        fmt="{:,.1f}")
    xtx, imp = r.get("xtx"), r.get("implicit")
    ratio_cpu = fit["fit"]["cpu"] / xtx["fit"]["cpu"] if xtx else None
    ratio_wall = fit["fit"]["wall"] / imp["fit"]["wall"] if imp else None
    add("CoOccurrence().fit(orders)", fit["fit"]["cpu"], fit["fit"]["wall"], "s (CPU; wall)",
        "CPU <= 1.1x bare X.T@X; wall <= implicit's",
        None if ratio_cpu is None or ratio_wall is None else (ratio_cpu <= 1.1 and ratio_wall <= 1.0))
    if xtx and ratio_cpu is not None:
        add(f"  bare X.T@X (scipy, 1 thread; {xtx['nnz']:,} entries); fit CPU / this = {ratio_cpu:.2f}x",
            xtx["fit"]["cpu"], xtx["fit"]["wall"], "s (CPU; wall)", "fit CPU <= 1.1x", ratio_cpu <= 1.1)
    if imp and ratio_wall is not None:
        add(f"  implicit CosineRecommender(K=100).fit, all cores; fit wall / this = {ratio_wall:.2f}x",
            imp["fit"]["cpu"], imp["fit"]["wall"], "s (CPU; wall)", "fit wall <= 1x", ratio_wall <= 1.0)
    peak = fit["fit"]["peak_mb"]
    if (a.orders, a.items) == (1_000_000, 50_000):  # the one size issue 11 gives today's peak for
        rows.append(("fit peak RSS above the loaded log (model included)", fmt_mb(peak), "", "",
                     f"<= 0.4x today's {TODAY_PEAK_MB_1M_50K:g} MB = {0.4 * TODAY_PEAK_MB_1M_50K:.0f} MB",
                     yes(peak <= 0.4 * TODAY_PEAK_MB_1M_50K)))
    else:
        rows.append(("fit peak RSS above the loaded log (model included)", fmt_mb(peak), "", "",
                     "<= 0.4x today's (issue 11 gives today's only at 1M x 50k)", ""))
    for name, res in (("X.T@X", xtx), ("implicit fit", imp)):
        if res:
            rows.append((f"  {name} peak RSS above its input", fmt_mb(res["fit"]["peak_mb"]), "", "",
                         f"xsell / this = {peak / max(res['fit']['peak_mb'], 1e-9):.2f}x", ""))
    rows.append(("fit child's absolute peak RSS (log + fit)", fmt_mb(fit["abs_peak_mb"]), "", "", "24 GB machine", ""))
    add("save_model", fit["save"]["cpu"], fit["save"]["wall"], "s (CPU; wall)", fmt="{:,.2f}")
    rows.append(("model file size", f"{fit['save']['mb']:,.0f}", "", "MB", "", ""))
    q = r["requests"]
    add("one-off imports in a fresh process (xsell + xsell.models)", q["import"]["cpu"] / 1e3, q["import"]["wall"] / 1e3,
        "ms")
    load_target = 50.0 if big else 10.0
    add("load_model, first in a fresh process", q["load"]["cpu"] / 1e3, q["load"]["wall"] / 1e3, "ms",
        f"<= {load_target:g} ms" + ("" if big else " (1M x 50k target)"), q["load"]["cpu"] / 1e3 <= load_target,
        fmt="{:,.2f}")
    if q["load_again"]["cpu"]:
        again_wall = [w / 1e3 for w in q["load_again"]["wall"]]
        add(f"load_model again in that process ({len(again_wall)} loads)",
            [c / 1e3 for c in q["load_again"]["cpu"]], again_wall, "ms",
            f"<= {load_target:g} ms" + ("" if big else " (1M x 50k target)"), median(q["load_again"]["cpu"]) / 1e3 <= load_target,
            fmt="{:,.2f}")
    extra = (q["first"]["cpu"] - q["second"]["cpu"]) / 1e3
    add("first request after the load (5 items)", q["first"]["cpu"], q["first"]["wall"], "µs",
        "<= second + 1 ms", extra <= 1.0)
    add("second request (5 items)", q["second"]["cpu"], q["second"]["wall"], "µs")
    for n, target in zip(BASKETS, (2.0, 10.0, 25.0)):
        f = q[f"recommend{n}"]
        add(f"recommend, {n} item{'s' if n > 1 else ''}", f["cpu"], f["wall"], "µs", f"<= {target:g} µs",
            median(f["cpu"]) <= target)
    add("also_bought", q["also"]["cpu"], q["also"]["wall"], "µs", "<= 2 µs", median(q["also"]["cpu"]) <= 2.0)
    bt = q["batch"]
    add(f"recommend_batch, {bt['n']:,} 5-item baskets", bt["cpu"], bt["wall"], "baskets per CPU-s (wall: per s)",
        ">= 150,000 (1M x 50k model)", median(bt["cpu"]) >= 150_000, fmt="{:,.0f}")
    for key in ("catalog_error", "engine_error", "up_sell_error"):
        if key in q:
            rows.append((key.replace("_", " "), q[key], "", "", "", "no"))
    if "catalog" in q:
        add("load_catalog(frame)", q["catalog"]["cpu"] / 1e6, q["catalog"]["wall"] / 1e6, "s", fmt="{:,.2f}")
    if "engine" in q:
        add("Engine(model, catalog) construction", q["engine"]["cpu"], q["engine"]["wall"], "s",
            "<= 0.5 s" + ("" if big else " (900k target)"), median(q["engine"]["cpu"]) <= 0.5, fmt="{:,.2f}")
    if "cross_sell" in q:
        add("engine.cross_sell, 5 items, k=5, default rules", q["cross_sell"]["cpu"], q["cross_sell"]["wall"], "µs",
            "<= 150 µs", median(q["cross_sell"]["cpu"]) <= 150.0)
    if "up_sell" in q:
        add("engine.up_sell, k=5", q["up_sell"]["cpu"], q["up_sell"]["wall"], "µs", "<= 50 µs, flat in size",
            median(q["up_sell"]["cpu"]) <= 50.0)
    if "calibration" in q:
        rows.append(("calibration: sum(range(500)), pure Python, before the per-call rows; after the Engine rows",
                     "; ".join(f"{c:.2f}" for c in q["calibration"]), "", "µs CPU",
                     "compare runs by it (shared machine)", ""))
    if "abs_peak_mb" in q:
        rows.append(("request child's absolute peak RSS", fmt_mb(q["abs_peak_mb"]), "", "", "", ""))
    return rows


def markdown(rows: list[tuple[str, str, str, str, str, str]], r: dict[str, Any], a: argparse.Namespace) -> str:
    lg = r["fit"]["log"]
    out = ["| metric | value (CPU: median [min-max]) | wall (median) | unit | target (issue 11) | met |",
           "|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    with_n = ", ".join(f">= {n}: {c:,}" for n, c in lg["orders_with"].items())
    out.append("")
    out.append(f"Log: synthetic_log({a.orders:,}, {a.items:,}, seed=0): {lg['lines']:,} lines, "
               f"{lg['items_occurring']:,} of {lg['items']:,} items occur; orders with n distinct items {with_n}. "
               f"Per call: {a.calls:,} calls (fewer distinct baskets are cycled), {a.repeats} repeats, 10% warm-up; "
               f"batch and Engine: {a.repeats} repeats. Warm-up fit on a tiny log before the measured fit "
               f"(imports, kernels): {r['fit']['warmup']['s']:.1f} s, +{fmt_mb(r['fit']['warmup']['mb'])}.")
    return "\n".join(out)


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, help="orders in the log (default 5,000,000)")
    ap.add_argument("--items", type=int, help="items in the log (default 900,000)")
    ap.add_argument("--quick", action="store_true", help="200k orders x 36k items, 500 calls, 10k batch baskets")
    ap.add_argument("--calls", type=int, help="calls per path and repeat (default 2,000)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    ap.add_argument("--loads", type=int, default=5, help="load_model calls in the request child (default 5)")
    ap.add_argument("--batch", type=int, help="5-item baskets for recommend_batch (default 100,000)")
    ap.add_argument("--no-peers", dest="peers", action="store_false", help="skip the X.T@X and implicit fits")
    ap.add_argument("--reuse", action="store_true", help="skip the fit: requests on the cached model and baskets")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/xsell-bench-cache"), help="default %(default)s")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.orders = a.orders or (200_000 if a.quick else 5_000_000)
    a.items = a.items or (36_000 if a.quick else 900_000)
    a.calls = a.calls or (500 if a.quick else 2_000)
    a.batch = a.batch or (10_000 if a.quick else 100_000)
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse(sys.argv[1:] if argv is None else argv)
    if a.child:
        res = {"fit": child_fit, "requests": child_requests, "implicit": child_implicit,
               "xtx": child_xtx}[a.child](a)
        print(json.dumps(res))
        return
    a.cache.mkdir(parents=True, exist_ok=True)
    paths = files(a.cache, a.orders, a.items)
    t_all = time.perf_counter()
    log(f"{a.orders:,} orders x {a.items:,} items; cache {a.cache}")
    r: dict[str, Any] = {}
    cached = a.cache / f"scale-fit-{a.orders}x{a.items}-seed{SEED}.json"
    if a.reuse and paths["model"].exists() and paths["baskets"].exists() and cached.exists():
        r.update(json.loads(cached.read_text()))
        log("fit figures and model from the cache (--reuse)")
    else:
        log("fit child: generate the log, fit, save")
        r["fit"] = run_child("fit", a)
        if a.peers:
            log("X.T@X child")
            r["xtx"] = run_child("xtx", a)
            log("implicit child")
            r["implicit"] = run_child("implicit", a)
            paths["csr"].unlink(missing_ok=True)
        cached.write_text(json.dumps({k: r[k] for k in ("fit", "xtx", "implicit") if k in r}))
    paths["model"].read_bytes()  # the page cache holds the file: the child measures a new process, not the disk
    log("request child")
    r["requests"] = run_child("requests", a)
    rows = rows_of(r, a)
    print(markdown(rows, r, a), flush=True)
    log(f"all done in {time.perf_counter() - t_all:.0f} s")
    if a.json:
        a.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "results": r,
                                      "rows": rows}, indent=1))
        log(f"figures written to {a.json}")


if __name__ == "__main__":
    main()
