"""Killing a writer at seeded random moments: saving a model, `xsell score -o out.parquet --workers 2` and
`xsell rules -o rules.csv`, each sent SIGKILL or SIGTERM three times while it works.

After every kill: the previous output is byte-identical (a model file: complete, its arrays byte-identical),
no worker process is alive a second later; after SIGTERM no temporary file is left at all, the command has
exited within a second with one line on stderr and exit code 143; after SIGKILL the next run removes the
killed runs' temporary files. Reads /proc, so Linux only.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

import xsell
from xsell.datasets import synthetic_log
from xsell.files import atomic_write
from tests._fuzz import scaled

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# a program embedding xsell turns SIGTERM into an exception itself (the `xsell` command does it in main)
SAVE_LOOP = """
import signal, sys
import xsell
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
model = xsell.load_model(sys.argv[1])
print("ready", file=sys.stderr, flush=True)
for _ in iter(int, 1) if sys.argv[3] == "forever" else range(int(sys.argv[3])):
    xsell.save_model(model, sys.argv[2])
"""


def children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found |= {int(c) for c in fh.read().split()}
        except OSError:
            pass
    return found


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A model, orders and baskets large enough that a kill within 0.5 s of the writer getting to
    work lands before it finishes; small ones for the run after a kill."""
    root = tmp_path_factory.mktemp("inputs")
    log = synthetic_log(n_orders=40_000, n_items=3_000, seed=0)
    xsell.save_model(xsell.CoOccurrence(min_count=1).fit(log), root / "model.xsell")
    log.to_frame()[["order_id", "item_id"]].to_csv(root / "orders.csv", index=False)
    log.to_frame()[["order_id", "item_id"]].head(2_000).to_csv(root / "orders-small.csv", index=False)
    baskets = synthetic_log(n_orders=20_000, n_items=3_000, seed=1).to_frame()
    baskets = baskets.rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]]
    baskets.to_parquet(root / "baskets.parquet")
    # unsorted, so `xsell score` regroups it first; three times the lines, so that scoring the partitions
    # takes about 3 s after the workers start: a Ctrl-C 0.2-0.5 s later lands well before the end even
    # when a loaded machine makes this test notice the workers late
    shuffled = synthetic_log(n_orders=60_000, n_items=3_000, seed=2).to_frame()
    shuffled = shuffled.rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]]
    shuffled.sample(frac=1, random_state=0).to_parquet(root / "baskets-shuffled.parquet")
    baskets.head(2_000).to_parquet(root / "baskets-small.parquet")
    return root


def command(scenario: str, inputs: Path, out: Path, small: bool = False) -> list[str]:
    cli = [sys.executable, "-m", "xsell.cli"]
    suffix = "-small" if small else ""
    if scenario == "save":
        return [sys.executable, "-c", SAVE_LOOP, str(inputs / "model.xsell"), str(out), "1" if small else "forever"]
    if scenario == "score":
        return cli + ["score", str(inputs / "model.xsell"), str(inputs / f"baskets{suffix}.parquet"), "-o", str(out),
                      "--workers", "2", "--chunk-lines", "2000", "--no-progress"]
    return cli + ["rules", str(inputs / f"orders{suffix}.csv"), "-o", str(out), "--max-len", "3",
                  "--min-support", "0.02" if small else "0.001"]


OUTPUT = {"save": "model.xsell", "score": "out.parquet", "rules": "rules.csv"}
PREVIOUS = b"the previous run's output\n"


def ready(scenario: str, out: Path, pid: int, stderr: Path) -> bool:
    """The writer is at work: the model loaded (save), the output's temporary file made and both
    workers started (score), the orders read (rules)."""
    if scenario == "score":
        return any(name.startswith(f".{out.name}.{pid}.") for name in temps(out.parent)) and \
            len(children(pid)) == 2
    text = stderr.read_text() if stderr.exists() else ""
    return ("ready" if scenario == "save" else "lines kept") in text


def same_model(path: Path, reference: Path) -> bool:
    """A complete model file holding the reference's arrays byte for byte (only `created` may differ)."""
    with zipfile.ZipFile(path) as got, zipfile.ZipFile(reference) as want:
        if got.testzip() is not None or got.namelist() != want.namelist():
            return False
        manifests = [json.loads(z.read("manifest.json")) for z in (got, want)]
        for manifest in manifests:
            manifest.pop("created")
        return manifests[0] == manifests[1] and all(got.read(n) == want.read(n) for n in got.namelist()
                                                    if n != "manifest.json")


def kill_at_work(scenario: str, inputs: Path, out: Path, signum: int, delay: float
                 ) -> tuple[int, int | None, float, set[int], list[str]]:
    """Start the writer, send `signum` `delay` s after it got to work: (pid, exit code or None when it
    finished first, seconds from the signal to the exit, its child processes, its stderr lines)."""
    errors = out.parent / "stderr.txt"
    with open(errors, "w") as err:
        proc = subprocess.Popen(command(scenario, inputs, out), stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60
        while not ready(scenario, out, proc.pid, errors):
            assert proc.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "the writer never got to work"
            time.sleep(0.005)
        workers: set[int] = set()
        until = time.monotonic() + delay
        while time.monotonic() < until and proc.poll() is None:
            workers |= children(proc.pid)
            time.sleep(0.005)
        workers |= children(proc.pid)
        if proc.poll() is not None:
            return proc.pid, None, 0.0, workers, errors.read_text().splitlines()
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=30)
        took = time.monotonic() - sent
    return proc.pid, proc.returncode, took, workers, errors.read_text().splitlines()


def alive_after(pids: set[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.02)
    return sorted(pid for pid in pids if running(pid))


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("scenario", ["save", "score", "rules"])
def test_a_killed_writer_leaves_the_previous_output_and_no_debris(scenario, signum, inputs, tmp_path):
    out = tmp_path / OUTPUT[scenario]
    out.write_bytes(PREVIOUS)
    rng = random.Random(f"{scenario}-{signum.name}")
    killed = []
    for delay in [rng.uniform(0.02, 0.5) for _ in range(scaled(3))]:
        pid, code, took, workers, lines = kill_at_work(scenario, inputs, out, signum, delay)
        assert code is not None, f"{scenario} finished within {delay:.2f} s: make its input larger"
        assert len(workers) == (2 if scenario == "score" else 0)
        killed.append(pid)
        assert alive_after(workers, 1.0) == []
        if scenario == "save":  # each finished save replaces the file: the old one, or a complete new one
            assert out.read_bytes() == PREVIOUS or same_model(out, inputs / "model.xsell")
        else:
            assert out.read_bytes() == PREVIOUS
        assert not any("Traceback" in line for line in lines), lines
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
            continue
        assert code == 128 + signal.SIGTERM
        assert temps(tmp_path) == []
        assert took < 1.0, f"exited {took:.2f} s after SIGTERM"
        if scenario == "score":
            assert lines == ["error: interrupted by SIGTERM"]
        elif scenario == "rules":
            assert lines[-1] == "error: interrupted by SIGTERM"
            assert [line for line in lines if line.startswith("error")] == [lines[-1]]
    if signum == signal.SIGKILL:
        left = temps(tmp_path)
        assert all(int(name.split(".")[-3]) in killed for name in left), left  # only the killed runs' files
        finished = subprocess.run(command(scenario, inputs, out, small=True), capture_output=True, text=True,
                                  timeout=120)  # the next run
        assert finished.returncode == 0, finished.stderr
        assert temps(tmp_path) == []
        assert out.read_bytes() != PREVIOUS


def test_ctrl_c_stops_a_regrouping_score_its_workers_and_removes_its_partitions(inputs, tmp_path):
    """Ctrl-C reaches the whole process group, workers included: the command alone answers."""
    out = tmp_path / "out.parquet"
    out.write_bytes(PREVIOUS)
    errors = tmp_path / "stderr.txt"
    args = [sys.executable, "-m", "xsell.cli", "score", str(inputs / "model.xsell"),
            str(inputs / "baskets-shuffled.parquet"), "-o", str(out), "--workers", "2", "--chunk-lines", "2000",
            "--no-progress"]
    with open(errors, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 60
        # regrouping: the partitions' folder is there, and the workers scoring them
        while not (any((tmp_path / name).is_dir() for name in temps(tmp_path)) and len(children(proc.pid)) == 2):
            assert proc.poll() is None and time.monotonic() < deadline, errors.read_text()
            time.sleep(0.005)
        workers: set[int] = set()
        until = time.monotonic() + random.Random(7).uniform(0.2, 0.5)
        while time.monotonic() < until:
            workers |= children(proc.pid)
            time.sleep(0.005)
        assert proc.poll() is None
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        took = time.monotonic() - sent
    assert (proc.returncode, errors.read_text().splitlines()) == (130, ["error: interrupted"])
    assert took < 1.0, f"exited {took:.2f} s after Ctrl-C"
    assert alive_after(workers, 1.0) == []
    assert temps(tmp_path) == [] and out.read_bytes() == PREVIOUS


def test_the_next_write_removes_dead_writers_temporary_files_only(tmp_path):
    """Temporary files of a dead process go; a live process's, other targets' and foreign names stay."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        names = {
            f".out.csv.{dead_pid}.abc123_x.tmp": False,  # a killed writer of out.csv: removed
            f".out.csv.{sleeper.pid}.def456.tmp": True,  # a live writer: kept
            f".out.csv.{os.getpid()}.ghi789.tmp": True,  # this process: kept
            f".other.csv.{dead_pid}.abc123.tmp": True,  # another target: kept
            ".out.csv.abc123.tmp": True,  # no pid (older xsell): kept
            f".out.csv.{dead_pid}.a.b.tmp": True,  # not a name atomic_write makes: kept
        }
        for name in names:
            (tmp_path / name).write_text("partial")
        (tmp_path / f".out.csv.{dead_pid}.partsdir.tmp").mkdir()  # a dead run's partition folder: removed
        (tmp_path / f".out.csv.{dead_pid}.partsdir.tmp" / "part-000.parquet").write_text("x")
        atomic_write(tmp_path / "out.csv", lambda tmp: Path(tmp).write_text("done"))
        kept = sorted(n for n, keep in names.items() if keep)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["out.csv"])
        assert (tmp_path / "out.csv").read_text() == "done"
    finally:
        sleeper.kill()
        sleeper.wait()


# a signal landing in a finalizer is reported by Python as "Exception ignored", not raised: not a leak
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_signals_at_random_moments_never_leave_a_temporary_file(inputs, tmp_path):
    """Two seconds of SIGTERM every 0-20 ms (turned into an exception, as `xsell` does) while saving:
    wherever one lands, even right after the temporary file is created, the file goes."""
    import threading

    class Stopped(BaseException):
        pass

    armed = False

    def handler(signum, frame):
        if armed:
            raise Stopped

    model = xsell.load_model(inputs / "model.xsell")
    previous = signal.signal(signal.SIGTERM, handler)
    done = threading.Event()

    def send() -> None:
        rng = random.Random(11)
        while not done.wait(rng.uniform(0.0, 0.02)):
            os.kill(os.getpid(), signal.SIGTERM)

    # a signal landing in a finalizer ("Exception ignored") is handed to sys.unraisablehook; pytest's hook
    # formats a traceback, and the next signal landing inside that formatting fails the test from within
    # pytest (9.x: "Failed to process unraisable exception"): count them in a hook that only appends
    ignored: list[Any] = []
    hook = sys.unraisablehook
    sys.unraisablehook = ignored.append
    sender = threading.Thread(target=send)
    sender.start()
    stopped = saved = 0
    left: list[str] = []
    try:
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            try:
                armed = True
                xsell.save_model(model, tmp_path / "model.xsell")
                armed = False
                saved += 1
            except Stopped:
                armed = False
                stopped += 1
            left += temps(tmp_path)
    finally:
        armed = False
        done.set()
        sender.join()
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook
    assert left == [] and stopped > 20, (left, stopped, saved, len(ignored))


def test_interrupting_the_write_removes_the_temporary_file(tmp_path):
    def write(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    (tmp_path / "out.csv").write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "out.csv", write)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert (tmp_path / "out.csv").read_text() == "previous"
