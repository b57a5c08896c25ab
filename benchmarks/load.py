"""Benchmark start-up: `load_model` of a co-occurrence model, and the first requests after it.

Run (the first run fits and caches the models under --cache, about 10 minutes; later runs reuse them):

    python benchmarks/load.py
    python benchmarks/load.py --only 50k --repeats 5
    python benchmarks/load.py --package /tmp/xsell-head/src --label HEAD   # another copy of xsell

`--package` runs the measured children with that folder first on sys.path, e.g. HEAD's code
(`git archive HEAD src | tar -x -C /tmp/xsell-head`), so both sides are measured in the same run
on the same fitted arrays. Each side writes its own model file with its own `save_model`.

Data (issue 11, target 2):
  50k    synthetic_log(1,000,000 orders, 50,000 items, seed 0), CoOccurrence(neighbors=100)
  900k   synthetic_log(5,000,000 orders, 900,000 items, seed 0), CoOccurrence(neighbors=100)
  900k-shuffled  the same model with its item ids shuffled (SKU ids assigned to the internal indices
         at random): the synthetic ids happen to be in internal order, a real catalog's are not (its
         internal order is the order items were first seen), which matters for the stored id order
The fitted arrays are cached as .npy files (independent of the model-file format); each side
writes its model file from them with its own `save_model` (the model built by `from_file`).

What is measured, all in child processes started fresh, with the model file in the page cache
(it is read once before each child starts):
  first load       the first `load_model` in a fresh process (`import xsell` done before; the
                   compiled kernels, if the code uses any, load on that first call); `--children`
                   fresh processes, the spread is over them
  load (repeat)    further `load_model` calls in one process, median of `--repeats`
  import numba     the cost of importing numba in a fresh process (a per-process cost that any
                   compiled kernel pays once, shown apart)
  memory           of a second load in that process (code and kernels already in memory): the
                   growth of its private resident memory (RssAnon), and the resident pages of the
                   model file it maps (shared with every process that maps the same file)
  1st request,     model.recommend(5-item basket, k=10) right after the first load, then a
  2nd request      second 5-item basket
  file size
CPU ms is the process's CPU time (user + system, all threads), wall ms the elapsed time; both are
the median over the runs, and spread is min..max of wall.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASETS: dict[str, tuple[int, int]] = {"50k": (1_000_000, 50_000), "900k": (5_000_000, 900_000),
                                        "900k-shuffled": (5_000_000, 900_000)}
SOURCE = {"900k-shuffled": "900k"}  # the same fitted arrays, its item ids shuffled
NEIGHBORS = 100
TARGETS_MS = {"50k": 10.0, "900k": 50.0, "900k-shuffled": 50.0}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the fitted arrays (cached, format-independent) -------------------------------------------------
def source_folder(cache: Path, name: str) -> Path:
    return cache / f"{name}.arrays"


def prepare_source(cache: Path, name: str) -> Path:
    """Fit the model once and keep its arrays, ids and manifest facts as plain .npy / JSON."""
    import numpy as np

    import xsell
    from xsell.datasets import synthetic_log

    folder = source_folder(cache, name)
    if (folder / "meta.json").exists():
        return folder
    n_orders, n_items = DATASETS[name]
    log(f"{name}: generating synthetic_log({n_orders:,}, {n_items:,}) and fitting (once; cached in {folder})")
    start = time.perf_counter()
    orders = synthetic_log(n_orders, n_items, seed=0)
    model = xsell.CoOccurrence(neighbors=NEIGHBORS).fit(orders)
    del orders
    log(f"{name}: fitted in {time.perf_counter() - start:.0f} s: {model.n_items:,} items, "
        f"{len(model.neighbor_indices_):,} neighbour entries")
    state, arrays = model.file_state()
    tmp = folder.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    np.save(tmp / "items.npy", model.items_.ids)
    for key, value in arrays.items():
        np.save(tmp / f"{key}.npy", value)
    meta = {"model_type": model.model_type, "params": model.get_params(), "state": state,
            "training": model.training_summary_, "arrays": sorted(arrays)}
    (tmp / "meta.json").write_text(json.dumps(meta, default=lambda v: v.item()))
    tmp.rename(folder)
    return folder


def write_model_file(folder: Path, path: Path, shuffle: bool) -> None:
    """(child) The model file of the cached arrays, written by this side's `save_model`."""
    import numpy as np

    import xsell
    from xsell.data.idmap import IdMap
    from xsell.models.registry import MODELS

    meta = json.loads((folder / "meta.json").read_text())
    arrays = {key: np.load(folder / f"{key}.npy") for key in meta["arrays"]}
    ids = np.load(folder / "items.npy")
    if shuffle:
        ids = ids[np.random.default_rng(0).permutation(len(ids))]
    cls = MODELS[meta["model_type"]].cls
    model = cls.from_file(meta["params"], meta["state"], arrays, IdMap(ids))
    model.training_summary_ = meta["training"]
    xsell.save_model(model, path)


# -- measuring (child side) ----------------------------------------------------------------------------
def _memory_kb() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile", "RssShmem"):
                out[key] = int(line.split()[1])
    return out


def _timed(call: Any) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, (time.process_time() - cpu) * 1e3, (time.perf_counter() - wall) * 1e3


def child_numba() -> dict[str, Any]:
    _, cpu, wall = _timed(lambda: __import__("numba"))
    return {"cpu": cpu, "wall": wall}


def _mapped_mb(path: str) -> float:
    """Resident MB of this process's mappings of `path` (the model file's pages it maps)."""
    real, total, inside = os.path.realpath(path), 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0] and not line.startswith(("Rss", "Size")):
                inside = line.rstrip().endswith(" " + real)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total / 1024


def child_first(path: str) -> dict[str, Any]:
    import gc

    import xsell

    xsell.load_model  # noqa: B018  (resolves the lazy attribute: imports xsell.io)
    model, cpu, wall = _timed(lambda: xsell.load_model(path))
    ids, popular = model.items_.ids, model.popular_
    n = len(ids)
    first = ids[popular[[0, 10, 100, 300, 900]]].tolist()  # 5 items of the popular 1000 (full rows)
    second = ids[popular[[1, 20, 200, 500, 999]]].tolist()
    recs1, cpu1, wall1 = _timed(lambda: model.recommend(first, k=10))
    recs2, cpu2, wall2 = _timed(lambda: model.recommend(second, k=10))
    answer = [recs1.items, recs1.scores.tolist()]
    # the model's own memory: a second load, with the code (numba, kernels) already in memory
    del model, recs1, recs2, ids, popular
    gc.collect()
    before = _memory_kb()
    model = xsell.load_model(path)
    after = _memory_kb()
    return {"cpu": cpu, "wall": wall, "anon_mb": (after["RssAnon"] - before["RssAnon"]) / 1024,
            "file_mb": _mapped_mb(path), "req1": (cpu1, wall1), "req2": (cpu2, wall2), "items": n,
            "answer": answer}


def child_repeat(path: str, repeats: int) -> dict[str, Any]:
    import gc

    import xsell

    model = xsell.load_model(path)  # the first load (kernels, imports) is not counted here
    del model
    gc.collect()
    cpu, wall = [], []
    for _ in range(repeats):
        model, c, w = _timed(lambda: xsell.load_model(path))
        del model
        gc.collect()
        cpu.append(c)
        wall.append(w)
    return {"cpu": cpu, "wall": wall}


def child_main(args: argparse.Namespace) -> None:
    if args.child == "write":
        write_model_file(Path(args.source), Path(args.path), args.shuffle)
        out: dict[str, Any] = {}
    elif args.child == "numba":
        out = child_numba()
    elif args.child == "first":
        out = child_first(args.path)
    else:
        out = child_repeat(args.path, args.repeats)
    print(json.dumps(out))


# -- driving -----------------------------------------------------------------------------------------
def run_child(package: str | None, *argv: str) -> dict[str, Any]:
    env = dict(os.environ)
    if package:
        env["PYTHONPATH"] = package + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *argv],
                            capture_output=True, text=True, env=env, cwd=str(HERE), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child {argv} failed:\n{result.stderr}")
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def warm(path: Path) -> None:
    """Read the file once so that it is in the page cache (not mapped by this process)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}"


def spread(values: list[float]) -> str:
    return f"{min(values):.1f}..{max(values):.1f}" if len(values) > 1 else ""


def measure(name: str, cache: Path, package: str | None, label: str, children: int, repeats: int,
            resave: bool) -> list[tuple[str, ...]]:
    folder = prepare_source(cache, SOURCE.get(name, name))
    path = cache / f"{name}.{label}.xsell"
    if resave or not path.exists():
        log(f"{name}: writing {path.name} with {label}'s save_model")
        start = time.perf_counter()
        run_child(package, "write", "--source", str(folder), "--path", str(path),
                  *(["--shuffle"] if name in SOURCE else []))
        log(f"{name}: written in {time.perf_counter() - start:.1f} s")
    size_mb = path.stat().st_size / 2**20
    data = f"{label} {name}"
    firsts = []
    for _ in range(children):
        warm(path)
        firsts.append(run_child(package, "first", "--path", str(path)))
    warm(path)
    repeat = run_child(package, "repeat", "--path", str(path), "--repeats", str(repeats))
    numba_runs = [run_child(package, "numba") for _ in range(min(children, 3))]
    answers = {json.dumps(f["answer"]) for f in firsts}
    assert len(answers) == 1, "the first request answered differently between runs"
    target = TARGETS_MS[name]
    rows = [
        (data, "file size", "", f"{size_mb:,.0f} MB", ""),
        (data, f"first load, fresh process ({len(firsts)} runs)", ms([f["cpu"] for f in firsts]),
         ms([f["wall"] for f in firsts]), spread([f["wall"] for f in firsts])),
        (data, f"load, repeated in one process (median of {repeats}; target <= {target:g} ms)",
         ms(repeat["cpu"]), ms(repeat["wall"]), spread(repeat["wall"])),
        (data, "import numba, fresh process (once per process, apart from the above)",
         ms([r["cpu"] for r in numba_runs]), ms([r["wall"] for r in numba_runs]),
         spread([r["wall"] for r in numba_runs])),
        (data, "memory of a load: MB private (anon) / MB of the file mapped (shared)", "",
         f"{statistics.median(f['anon_mb'] for f in firsts):,.0f} / "
         f"{statistics.median(f['file_mb'] for f in firsts):,.0f}", ""),
        (data, "1st recommend after load (5 items)", ms([f["req1"][0] for f in firsts]),
         ms([f["req1"][1] for f in firsts]), spread([f["req1"][1] for f in firsts])),
        (data, "2nd recommend after load (5 items)", ms([f["req2"][0] for f in firsts]),
         ms([f["req2"][1] for f in firsts]), spread([f["req2"][1] for f in firsts])),
    ]
    log(f"{name} ({label}): first load {ms([f['wall'] for f in firsts])} ms, repeated {ms(repeat['wall'])} ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default="/tmp/xsell-bench-load", help="where fitted arrays and model files go")
    parser.add_argument("--only", choices=sorted(DATASETS), action="append", help="one dataset (repeatable)")
    parser.add_argument("--package", help="a folder holding another copy of the xsell package (measured first)")
    parser.add_argument("--label", default="HEAD", help="the name of the --package side in the table")
    parser.add_argument("--children", type=int, default=3, help="fresh processes for the first load")
    parser.add_argument("--repeats", type=int, default=7, help="loads in one process")
    parser.add_argument("--keep-files", action="store_true", help="reuse model files written by an earlier run")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--shuffle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sides = ([(args.package, args.label)] if args.package else []) + [(None, "xsell")]
    rows: list[tuple[str, ...]] = []
    for name in args.only or list(DATASETS):
        for package, label in sides:
            rows += measure(name, cache, package, label, args.children, args.repeats, not args.keep_files)
    header = ("data", "metric", "CPU ms", "wall ms", "spread (wall)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
