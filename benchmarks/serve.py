"""Serving over HTTP on loopback: requests/s and latency of `xsell serve` (FastAPI + uvicorn) beside the
dependency-free examples/server.py (http.server), for also-bought and cross-sell.

Run (needs the serve extra: pip install -e '.[serve]'; psutil from the bench extra is used when present;
about 2 minutes with the defaults):

    python benchmarks/serve.py
    python benchmarks/serve.py --threads 8 --seconds 3 --repeats 5
    python benchmarks/serve.py --synthetic --markdown serve.md   # the synthetic shop; keep the table

Data: ../shared/data/online_retail when present (`load_online_retail`, as benchmarks/requests.py reads it),
else the synthetic shop (`synthetic_shop(0)`, with its catalog); a `CoOccurrence()` fitted on it and saved
with `save_model`. Requests: also-bought of items drawn from the order lines (popular items as often as in
real traffic) and cross-sell of 3-item baskets (the first 3 distinct items of real orders with at least 3),
k = 5, in a shuffled order fixed by --seed; the same requests for both servers.

Servers, each in its own process on 127.0.0.1, started once and measured in turn, repeat by repeat:
  xsell serve   `xsell.serve.run(model, catalog=..., port=..., access_log=False)`: uvicorn with whatever it
                finds installed (the loop and HTTP parser are named under the table), endpoints run in
                FastAPI's thread pool; the access log is off, as the stdlib server logs nothing either
  stdlib        `python examples/server.py model [--catalog ...]`: http.server, a thread per connection;
                it answers HTTP/1.0 and closes the connection after every response, so each of its
                requests also pays a TCP connect (its design, measured as it is)
Client: --threads threads (default 4) in this process, each with one http.client connection (keep-alive
where the server allows it), sending requests back to back for --seconds seconds (default 5) or
--max-requests per thread, whichever comes first, after 1 s of warm-up per server and endpoint; every
answer is read whole and its status checked (errors: a status other than 200 or a failed connection).
A cell is one such run; --repeats runs (default 3) per cell, interleaved. Rows show the median over the
repeats and the spread [lowest-highest] of: requests/s (answers over wall seconds), p50 and p99 latency
(send to last byte read, per request, over all threads of the run), and the CPU seconds of the server
process (user + system, all threads) and of this client process during the run; the CPU per request
figures divide them by the answers. Client and server share the machine's cores: compare rows of one run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import cores, emit, log, median  # noqa: E402

import xsell  # noqa: E402
from xsell.datasets import load_online_retail, shared_online_retail, synthetic_shop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "server.py"
K = 5


# -- data and requests -------------------------------------------------------------------------------
def data(synthetic: bool, folder: Path) -> tuple[str, Any, Path, Path | None]:
    """(label, orders, model file, catalog file or None)."""
    path = None if synthetic else shared_online_retail()
    catalog = None
    if path is not None:
        orders, label = load_online_retail(path), "Online Retail"
    else:
        shop = synthetic_shop(0)
        orders, label = shop.orders, "synthetic shop"
        catalog = folder / "catalog.csv"
        shop.catalog.to_csv(catalog, index=False)
    log(f"fitting CoOccurrence on {label} ({orders.n_lines:,} lines)")
    model = xsell.CoOccurrence().fit(orders)
    model_path = xsell.save_model(model, folder / "model.xsell")
    return f"{label}: {len(model.items_):,} items, {orders.summary()['orders']:,} orders", orders, model_path, catalog


def requests(orders: Any, count: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """endpoint -> [(xsell serve path, stdlib path)]: the same requests in the same order for both servers."""
    rng = random.Random(seed)
    ids = orders.items.ids
    lines = orders.item_index
    items = [str(ids[lines[rng.randrange(len(lines))]]) for _ in range(count)]
    baskets: list[list[str]] = []
    order_index = orders.order_index
    start = 0
    while start < len(order_index) and len(baskets) < 20 * count:  # orders' lines are contiguous
        end = start
        while end < len(order_index) and order_index[end] == order_index[start]:
            end += 1
        distinct = list(dict.fromkeys(str(ids[i]) for i in lines[start:end]))
        if len(distinct) >= 3:
            baskets.append(distinct[:3])
        start = end
    baskets = [baskets[rng.randrange(len(baskets))] for _ in range(count)]
    return {
        "also-bought": [(f"/also-bought?item={quote(i)}&k={K}",) * 2 for i in items],
        "cross-sell (3 items)": [("/cross-sell?" + "&".join(f"items={quote(i)}" for i in b) + f"&k={K}",
                                  f"/cross-sell?items={quote(','.join(b))}&k={K}") for b in baskets],
    }


# -- servers -----------------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A server process on loopback: started, waited for, its CPU time read, stopped."""

    def __init__(self, name: str, command: list[str], port: int) -> None:
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise SystemExit(f"{name} did not start:\n{self.log.read().decode(errors='replace')}")
            time.sleep(0.1)
        log(f"{name} serving on port {port} (pid {self.proc.pid})")

    def cpu(self) -> float:
        """CPU seconds (user + system) of the server process so far."""
        try:
            import psutil

            times = psutil.Process(self.proc.pid).cpu_times()
            return float(times.user + times.system)
        except ImportError:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_servers(model: Path, catalog: Path | None, only: str | None) -> list[Server]:
    """The servers asked for, started in turn (each stopped again if a later one fails to start)."""
    xport, sport = free_port(), free_port()
    code = (f"from xsell.serve import run; run({str(model)!r}, catalog={str(catalog) if catalog else None!r}, "
            f"port={xport}, access_log=False, log_level='warning')")
    flags = ["--catalog", str(catalog)] if catalog else []
    commands = {"xsell serve": ([sys.executable, "-c", code], xport),
                "stdlib": ([sys.executable, str(EXAMPLE), str(model), *flags, "--port", str(sport)], sport)}
    started: list[Server] = []
    try:
        for name, (command, port) in commands.items():
            if only in (None, name):
                started.append(Server(name, command, port))
    except BaseException:
        for server in started:
            server.stop()
        raise
    return started


# -- the client --------------------------------------------------------------------------------------
def load(port: int, paths: Sequence[str], threads: int, seconds: float, max_requests: int
         ) -> tuple[list[float], int, float]:
    """`threads` clients sending `paths` (each thread from its own offset, cycling) for `seconds` or
    `max_requests` each: (latencies in s, errors, wall s)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = latencies[n], 0
        offset = n * len(paths) // threads
        start.wait()
        end = deadline[0]
        for i in range(max_requests):
            path = paths[(offset + i) % len(paths)]
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
            mine.append(time.perf_counter() - t0)
        conn.close()
        errors[n] = bad

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    return [x for own in latencies for x in own], sum(errors), wall


def percentile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure(server: Server, paths: Sequence[str], args: argparse.Namespace) -> dict[str, float]:
    load(server.port, paths, args.threads, 1.0, args.max_requests)  # warm-up
    c0, s0 = time.process_time(), server.cpu()
    latencies, errors, wall = load(server.port, paths, args.threads, args.seconds, args.max_requests)
    client_cpu, server_cpu = time.process_time() - c0, server.cpu() - s0
    latencies.sort()
    n = len(latencies)
    return {"rps": (n - errors) / wall, "p50": percentile(latencies, 0.50) * 1e3,
            "p99": percentile(latencies, 0.99) * 1e3, "errors": errors, "requests": n,
            "server_cpu": server_cpu, "client_cpu": client_cpu,
            "server_us": server_cpu / max(n, 1) * 1e6, "client_us": client_cpu / max(n, 1) * 1e6}


def table(rows: dict[tuple[str, str], list[dict[str, float]]], args: argparse.Namespace, label: str) -> str:
    def cell(runs: list[dict[str, float]], key: str, fmt: Callable[[float], str]) -> str:
        values = [r[key] for r in runs]
        if len(values) == 1:
            return fmt(values[0])
        return f"{fmt(median(values))} [{fmt(min(values))}-{fmt(max(values))}]"

    def num(v: float) -> str:
        return f"{v:,.0f}"

    def ms(v: float) -> str:
        return f"{v:.2f}"

    def s(v: float) -> str:
        return f"{v:.2f}"

    out = [f"Loopback, {args.threads} client threads, {args.seconds:g} s per run, {args.repeats} runs per row "
           f"(median [lowest-highest]), k={K}; {label}; {cores()} cores.", "",
           "| server | endpoint | requests/s | p50 ms | p99 ms | errors / requests | server CPU s | client CPU s "
           "| server CPU µs/request |", "|---|---|---|---|---|---|---|---|---|"]
    for (server, endpoint), runs in rows.items():
        out.append(f"| {server} | {endpoint} | {cell(runs, 'rps', num)} | {cell(runs, 'p50', ms)} | "
                   f"{cell(runs, 'p99', ms)} | {sum(int(r['errors']) for r in runs):,} / "
                   f"{sum(int(r['requests']) for r in runs):,} | {cell(runs, 'server_cpu', s)} | "
                   f"{cell(runs, 'client_cpu', s)} | {cell(runs, 'server_us', num)} |")
    out += ["", _stack()]
    return "\n".join(out)


def _stack() -> str:
    import importlib.metadata as md
    import importlib.util

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "absent"

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (f"xsell serve: fastapi {version('fastapi')}, starlette {version('starlette')}, uvicorn "
            f"{version('uvicorn')} ({loop} loop, {parser} parser), pydantic {version('pydantic')}; "
            f"Python {sys.version.split()[0]}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=4, help="client threads, one connection each (default 4)")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per run (default 5)")
    ap.add_argument("--max-requests", type=int, default=200_000, help="requests per thread and run at most")
    ap.add_argument("--repeats", type=int, default=3, help="runs per server and endpoint (default 3)")
    ap.add_argument("--requests", type=int, default=5_000, help="distinct requests per endpoint (default 5,000)")
    ap.add_argument("--synthetic", action="store_true", help="the synthetic shop even when Online Retail is there")
    ap.add_argument("--only", choices=["xsell serve", "stdlib"], help="one server")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    if args.threads < 1 or args.seconds <= 0 or args.repeats < 1:
        ap.error("--threads, --seconds and --repeats must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        label, orders, model, catalog = data(args.synthetic, Path(tmp))
        paths = requests(orders, args.requests, args.seed)
        servers = start_servers(model, catalog, args.only)
        rows: dict[tuple[str, str], list[dict[str, float]]] = {}
        try:
            for repeat in range(args.repeats):
                for server in servers:
                    for endpoint, pairs in paths.items():
                        chosen = [p[0] if server.name == "xsell serve" else p[1] for p in pairs]
                        result = measure(server, chosen, args)
                        rows.setdefault((server.name, endpoint), []).append(result)
                        log(f"run {repeat + 1}/{args.repeats} {server.name} {endpoint}: {result['rps']:,.0f}/s, "
                            f"p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, {int(result['errors'])} errors")
        finally:
            for server in servers:
                server.stop()
    emit(table(rows, args, label), args.markdown)


if __name__ == "__main__":
    main()
