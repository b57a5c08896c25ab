"""The nightly cycle from the CLI (issue 13): Online Retail cut into days; fit once, then every day
`xsell update`, `xsell diff` against the served model, and publish (an atomic rename) unless the diff
alarms.

Run (about 2-4 minutes on 2 cores; needs ../shared/data/online_retail):

    python benchmarks/nightly.py                      # the last 30 trading days as nightly batches
    python benchmarks/nightly.py --days 60 --fail-above 0.02 --markdown nightly.md

What it does, in a temporary folder, each step a real `xsell` process (the console script beside this
Python):
  day files    the cleaned orders (`load_online_retail`), one Parquet file per calendar day; the days
               before the last --days are the history
  fit          `xsell fit history.parquet --keep-counts 1 -o served.xsell`
  each day     `xsell update served.xsell day.parquet -o candidate.xsell` (the candidate holds every
               order so far; it is the base of the next day's update whether or not it was published)
               `xsell diff served.xsell candidate.xsell --fail-above F --json` (exit 3: alarm)
               publish: os.replace(candidate -> served.xsell) when the diff passed; otherwise the
               served model stays and the day is counted as held back
The table: per step, median [min-max] wall and CPU seconds of the child process (CPU of every thread,
from wait4) and its peak RSS. Last: whether the final candidate equals `CoOccurrence(keep_counts=1)
.fit(all orders)` array for array (update through the CLI is exact), how many days alarmed, and the
largest changed share seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import emit, fmt_s, log, spread  # noqa: E402

import xsell  # noqa: E402
from xsell.datasets import load_online_retail, shared_online_retail  # noqa: E402

XSELL = Path(sys.executable).with_name("xsell")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30, help="the last N trading days become nightly batches")
    ap.add_argument("--fail-above", type=float, default=0.05, help="xsell diff --fail-above")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = ap.parse_args()
    source = shared_online_retail()
    if source is None:
        raise SystemExit("needs ../shared/data/online_retail/online_retail.parquet")
    import resource

    orders = load_online_retail(source)
    frame = orders.to_frame()
    day = frame["timestamp"].dt.normalize()
    days = np.sort(day.unique())
    nightly = days[-args.days:]
    log(f"{orders.n_orders:,} orders over {len(days)} trading days; the last {len(nightly)} are nightly batches")
    rows: dict[str, list[dict[str, float]]] = {"fit (history)": [], "update (1 day)": [], "diff": [],
                                               "publish (rename)": []}
    alarms, shares, new_orders = 0, [], []
    with tempfile.TemporaryDirectory(prefix="xsell-nightly-") as tmp:
        folder = Path(tmp)
        frame[day < nightly[0]].to_parquet(folder / "history.parquet", index=False)
        for n, d in enumerate(nightly):
            part = frame[day == d]
            new_orders.append(part["order_id"].nunique())
            part.to_parquet(folder / f"day{n:03d}.parquet", index=False)

        def child(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[subprocess.CompletedProcess[str], dict[str, float]]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run([str(XSELL), "--quiet", *argv], cwd=folder, capture_output=True, text=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode not in ok:
                raise SystemExit(f"xsell {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            return proc, {"wall": wall, "cpu": cpu, "rss": after.ru_maxrss / 1024}

        _, m = child(["fit", "history.parquet", "--keep-counts", "1", "-o", "served.xsell"])
        rows["fit (history)"].append(m)
        os.replace(folder / "served.xsell", folder / "base.xsell")
        (folder / "served.xsell").write_bytes((folder / "base.xsell").read_bytes())
        base = "base.xsell"
        for n in range(len(nightly)):
            _, m = child(["update", base, f"day{n:03d}.parquet", "-o", "candidate.xsell"])
            rows["update (1 day)"].append(m)
            proc, m = child(["diff", "served.xsell", "candidate.xsell", "--fail-above", str(args.fail_above),
                             "--json"], ok=(0, 3))
            rows["diff"].append(m)
            shares.append(json.loads(proc.stdout)["summary"]["changed_share"])
            # the candidate is the next day's base (it holds every order so far), published or not
            (folder / "next.xsell").write_bytes((folder / "candidate.xsell").read_bytes())
            if proc.returncode == 3:
                alarms += 1
            else:
                start = time.perf_counter()
                os.replace(folder / "candidate.xsell", folder / "served.xsell")  # what the server reloads
                rows["publish (rename)"].append({"wall": time.perf_counter() - start, "cpu": float("nan"),
                                                 "rss": float("nan")})
            os.replace(folder / "next.xsell", folder / "base.xsell")
            base = "base.xsell"
            log(f"day {n + 1}/{len(nightly)}: {new_orders[n]} orders, changed share {shares[-1]:.2%}"
                f"{' ALARM' if proc.returncode == 3 else ''}")
        final = xsell.load_model(folder / "base.xsell")
        refit = xsell.CoOccurrence(keep_counts=1).fit(xsell.load_orders(frame))
        same = _same(final, refit)

    lines = ["| step | runs | wall | CPU | peak RSS |", "|---|---|---|---|---|"]
    for name, values in rows.items():
        if not values:
            continue
        walls = [v["wall"] for v in values]
        cpus = [v["cpu"] for v in values if v["cpu"] == v["cpu"]]
        rss = [v["rss"] for v in values if v["rss"] == v["rss"]]
        lines.append(f"| {name} | {len(values)} | {spread(walls, fmt_s)} | {spread(cpus, fmt_s) if cpus else '-'} | "
                     f"{f'{max(rss):.0f} MB' if rss else '-'} |")
    lines.append("")
    lines.append(f"Online Retail: {orders.n_orders:,} orders; history {orders.n_orders - sum(new_orders):,} orders, "
                 f"then {len(nightly)} days of {min(new_orders)}-{max(new_orders)} orders (median "
                 f"{int(np.median(new_orders))}).")
    lines.append(f"Changed share per day (diff at k=10): median {np.median(shares):.2%}, max {max(shares):.2%}; "
                 f"days held back by --fail-above {args.fail_above:g}: {alarms}.")
    lines.append(f"Final model equals CoOccurrence(keep_counts=1).fit(all orders) array for array: "
                 f"{'yes' if same else 'NO'}.")
    emit("\n".join(lines), args.markdown)


def _same(a: xsell.CoOccurrence, b: xsell.CoOccurrence) -> bool:
    sa, aa = a.file_state()
    sb, ab = b.file_state()
    if sa["n_orders"] != sb["n_orders"] or sorted(aa) != sorted(ab):
        return False
    if not np.array_equal(a.items_.ids.astype(str), b.items_.ids.astype(str)):
        return False
    return all(aa[name].dtype == ab[name].dtype and np.array_equal(aa[name], ab[name]) for name in aa)


if __name__ == "__main__":
    main()
