"""Measurement helpers shared by the benchmark scripts: peak memory, formatting, atomic writes."""

from __future__ import annotations

import ctypes
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


class PeakMeter:
    """Peak RSS from here on: resets the kernel's high-water mark (VmHWM) when it
    can, else polls psutil every 2 ms in a thread."""

    def __init__(self) -> None:
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
            self._hwm = True
        except OSError:
            self._hwm = False
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        import psutil
        proc = psutil.Process()
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, proc.memory_info().rss)

    def peak_mb(self) -> float:
        if self._hwm:
            return _status_kb("VmHWM") / 1024
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        return self._peak / 2**20


def settle_memory() -> None:
    """Free what loading left behind so the baseline RSS is the live data."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def timed(call: Callable[[], Any], baseline_mb: float) -> tuple[Any, dict[str, float]]:
    """Run call() once from a trimmed heap: (result, {"wall", "cpu", "peak_mb"}). cpu is the
    process CPU time (every thread's); peak_mb is the RSS peak during the call above
    `baseline_mb`, the result included (it is still alive when the peak is read)."""
    settle_memory()
    meter = PeakMeter()
    c0, t0 = time.process_time(), time.perf_counter()
    result = call()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return result, {"wall": wall, "cpu": cpu, "peak_mb": meter.peak_mb() - baseline_mb}


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """Median with [min-max] over the repeats ("x" alone for one value)."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def median(values: Sequence[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def fmt_mb(mb: float) -> str:
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def emit(table: str, markdown_path: Path | None) -> None:
    """Print the table, and write it atomically to `markdown_path` when one was given."""
    print(table)
    if markdown_path:
        write_atomic(markdown_path, table)
        log(f"table written to {markdown_path}")


def block_us(fn: Callable[[Any], Any], args: Sequence[Any]) -> float:
    """CPU µs per call of `fn` over `args`, timed as one block (one pair of clock reads around the loop):
    what `timeit` reports. Per-call timing reads the CPU clock twice per call; that read is a system call
    (about 0.5 µs each here) and leaves the caches colder for the call it times, so on micro-second paths
    the per-call median overstates the cost by about 1 µs (`harness_us`)."""
    c0 = time.process_time_ns()
    for a in args:
        fn(a)
    return (time.process_time_ns() - c0) / max(len(args), 1) / 1e3


def harness_us(samples: int = 2_000) -> float:
    """The per-call harness's own cost: median CPU µs it reports for a call that does nothing."""
    def nothing(_: Any) -> None:
        return None

    cpu, wall = [], []
    for a in range(samples):  # the clock reads and list appends of the scripts' per_call
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        nothing(a)
        cpu.append(time.process_time_ns() - c0)
        wall.append(time.perf_counter_ns() - w0)
    cpu.sort()
    return cpu[len(cpu) // 2] / 1e3


def per_call(fn: Callable[[Any], Any], args: Sequence[Any], repeats: int) -> dict[str, float]:
    """CPU and wall µs per call of `fn` over `args`, `repeats` times (10% warm-up first): the median of the
    repeats' per-call medians, their lowest and highest, the median wall; and each repeat's calls timed again
    as one block (`block_us`): block, block_lo, block_hi."""
    for a in args[: max(1, len(args) // 10)]:
        fn(a)
    cpu_medians, wall_medians, blocks = [], [], []
    for _ in range(repeats):
        cpu, wall = [], []
        for a in args:
            c0, w0 = time.process_time_ns(), time.perf_counter_ns()
            fn(a)
            cpu.append(time.process_time_ns() - c0)
            wall.append(time.perf_counter_ns() - w0)
        cpu_medians.append(statistics.median(cpu) / 1e3)
        wall_medians.append(statistics.median(wall) / 1e3)
        blocks.append(block_us(fn, args))
    return {"cpu": statistics.median(cpu_medians), "lo": min(cpu_medians), "hi": max(cpu_medians),
            "wall": statistics.median(wall_medians), "block": statistics.median(blocks),
            "block_lo": min(blocks), "block_hi": max(blocks)}
