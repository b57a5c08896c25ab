"""The hostile-input suites, run longer than the test suite runs them.

The tests keep every hostile case the reviews found (bad orders, crafted model files, bad requests,
bad engine input, bad batch files, hostile HTTP requests) plus property-based and kill tests. This
script runs those same files with XSELL_FUZZ_SCALE times more Hypothesis examples and kill rounds,
each suite in its own pytest process, and prints a table: suite, tests, passed, failed, wall time,
CPU time (children included) and peak memory of the pytest process.

    python benchmarks/hostile.py                 # scale 10 (about 10x the examples and kill rounds)
    python benchmarks/hostile.py --scale 50 --only properties,kill
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUITES = {
    "orders": ["tests/test_hostile_orders.py"],
    "model-files": ["tests/test_hostile_model_files.py"],
    "requests": ["tests/test_hostile_requests.py"],
    "engine": ["tests/test_hostile_engine.py", "tests/test_engine_threads.py"],
    "batch": ["tests/test_hostile_batch.py"],
    "server": ["tests/test_server_hostile.py"],
    "properties": ["tests/test_orders_properties.py", "tests/test_request_properties.py"],
    "kill": ["tests/test_kill_safety.py"],
}


def run_suite(files: list[str], scale: int) -> dict[str, object]:
    env = {**os.environ, "XSELL_FUZZ_SCALE": str(scale)}
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", *files]
        proc = subprocess.Popen(command,
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this suite's own CPU and peak memory (with its children)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        output = out.read()
    lines = output.strip().splitlines()
    tail = lines[-1] if lines else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error|skipped)", tail)}
    return {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0) + counts.get("error", 0),
            "skipped": counts.get("skipped", 0), "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "code": proc.returncode, "output": output}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="times the test suite's examples and kill rounds")
    parser.add_argument("--only", default="", help="comma-separated suites: " + ", ".join(SUITES))
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s] or list(SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        print(f"error: unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    print("| suite | scale | tests | passed | failed | skipped | wall s | CPU s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for name in chosen:
        r = run_suite(SUITES[name], args.scale)
        total = r["passed"] + r["failed"] + r["skipped"]  # type: ignore[operator]
        print(f"| {name} | {args.scale} | {total} | {r['passed']} | {r['failed']} | {r['skipped']} | "
              f"{r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_mb']:.0f} |", flush=True)
        if r["code"] != 0:
            failed = True
            sys.stderr.write(str(r["output"])[-4000:] + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
