"""Benchmark xsell.mining.mine_rules against mlxtend, efficient-apriori and Spark MLlib FPGrowth.

Run (about 15 minutes; needs the bench extras: pip install -e '.[bench]', and
pyspark plus a Java 17+ runtime for the Spark rows, which are skipped without them):

    python benchmarks/rules.py
    python benchmarks/rules.py --only synthetic-100k --tools xsell,mlxtend    # quick run
    python benchmarks/rules.py --markdown rules.md

Data (the same baskets for every tool):
  synthetic-100k  synthetic_log(100_000, 5_000, seed=0), min_support 0.0005
  online-retail   UCI Online Retail, lines with a customer, min_support 0.005;
                  skipped when ../shared/data/online_retail is absent
  synthetic-1m    synthetic_log(1_000_000, 50_000, seed=0), min_support 0.0005,
                  pairs only; mlxtend is not run there: the row gives the one-hot
                  memory it would need (its fpgrowth calls DataFrame.values, which
                  makes the sparse frame a dense n_orders x n_items bool array)
Tasks: pairs (max_len=2) and rules of up to 3 items (max_len=3), min_confidence 0,
every basket kept (max_basket_items=None).

What is measured:
  time     one tool's whole path from the loaded Orders (and, for the peers, its
           order x item CSR) to the rules, best of up to 3 runs (no more runs once
           20 s have gone): xsell mine_rules (DataFrame with external ids out);
           mlxtend the sparse one-hot frame + fpgrowth(use_colnames) +
           association_rules; efficient-apriori the list of tuples + apriori;
           Spark createDataFrame from Python lists + FPGrowth.fit +
           associationRules collected (session start and a tiny warm-up fit are
           not timed).
  memory   each tool runs in a fresh subprocess of this script: peak RSS during its
           runs above the RSS after loading the data, "+delta (absolute peak)".
           For Spark this is the Python driver; the JVM (a child process) is polled
           every 20 ms and shown as "JVM +delta (peak)", spark.driver.memory 4g.
  rules    "identical": the same set of (frozenset antecedent, frozenset consequent)
           and every metric equal to 1e-9 relative (inf == inf). mlxtend is compared
           on all of xsell's metric columns; efficient-apriori and Spark on support,
           confidence and lift. Spark has no max_len (it mines every length; its
           rules are cut to max_len items) and makes only 1-item consequents, so it
           is compared with xsell's rules that have a 1-item consequent. Spark runs
           once per data set and serves both tasks.
Results go to stdout as a markdown table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
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

REPEATS, REPEAT_BUDGET_S = 3, 20.0
REL_TOL = 1e-9
TARGET_PAIR_SPEEDUP, TARGET_PAIR_MEMORY = 50.0, 0.1
TARGET_TRIPLE_SPEEDUP = 5.0
TARGET_1M_S, TARGET_1M_MB = 15.0, 3 * 1024
SPARK_MEMORY, SPARK_STACK = "4g", "64m"
TOOLS = ("xsell", "mlxtend", "efficient-apriori", "spark")
DATASETS = ("synthetic-100k", "online-retail", "synthetic-1m")
METRICS = ["antecedent_support", "consequent_support", "support", "confidence", "lift", "leverage",
           "conviction", "zhangs_metric", "jaccard", "certainty", "kulczynski"]
FEW_METRICS = ["support", "confidence", "lift"]
COLUMNS = ("tool", "data", "task", "time", "memory", "rules", "ratio/status")


@dataclass(frozen=True)
class Case:
    dataset: str
    max_len: int
    min_support: float

    @property
    def task(self) -> str:
        what = "pairs" if self.max_len == 2 else f"up to {self.max_len} items"
        return f"{what} (max_len={self.max_len}), min_support {self.min_support:g}"

    @property
    def name(self) -> str:
        return f"{self.dataset}-len{self.max_len}"


CASES = (
    Case("synthetic-100k", 2, 0.0005),
    Case("synthetic-100k", 3, 0.0005),
    Case("online-retail", 2, 0.005),
    Case("online-retail", 3, 0.005),
    Case("synthetic-1m", 2, 0.0005),
)


@dataclass
class Row:
    tool: str
    data: str
    task: str
    time: str
    memory: str = ""
    rules: str = ""
    status: str = ""


# -- data ---------------------------------------------------------------------------
def load_dataset(name: str) -> xsell.Orders | None:
    """The Orders of one data set, or None when Online Retail is not on this machine."""
    if name == "synthetic-100k":
        return synthetic_log(100_000, 5_000, seed=0)
    if name == "synthetic-1m":
        return synthetic_log(1_000_000, 50_000, seed=0)
    path = shared_online_retail()
    return None if path is None else load_online_retail(path, require_customer=True)


def data_label(name: str, orders: xsell.Orders) -> str:
    return f"{name}: {orders.n_orders:,} orders x {orders.n_items:,} items, {len(orders.item_index):,} lines"


# -- memory (child side) ----------------------------------------------------------------


class ChildrenMeter:
    """Peak summed RSS of this process's child processes (Spark's JVM), polled every 20 ms."""

    def __init__(self) -> None:
        import psutil
        self._me = psutil.Process()
        self.baseline = self.now_mb()
        self._peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def now_mb(self) -> float:
        import psutil
        total = 0
        for child in self._me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, self.now_mb())

    def peak_mb(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self._peak, self.now_mb())


def rss_mb() -> float:
    import psutil
    return float(psutil.Process().memory_info().rss) / 2**20


# -- rule frames in one shape (child side, untimed) -----------------------------------------
def rule_key(antecedent: Any, consequent: Any) -> str:
    """(frozenset antecedent, frozenset consequent) as one string: ids sorted, joined."""
    return "\x1f".join(sorted(map(str, antecedent))) + "\x1e" + "\x1f".join(sorted(map(str, consequent)))


def normalised(antecedents: Sequence[Any], consequents: Sequence[Any], metrics: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"key": [rule_key(a, c) for a, c in zip(antecedents, consequents, strict=True)],
                          "n_consequent": [len(c) for c in consequents],
                          "n_items": [len(a) + len(c) for a, c in zip(antecedents, consequents, strict=True)]})
    for name, values in metrics.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame


# -- the tools (child side) -------------------------------------------------------------
def repeat_runs(run: Callable[[], tuple[dict[str, float], Any]]) -> tuple[list[dict[str, float]], Any]:
    """Up to REPEATS runs, no new one after REPEAT_BUDGET_S; each returns (phase times, result)."""
    runs: list[dict[str, float]] = []
    result, spent = None, 0.0
    while len(runs) < REPEATS and (not runs or spent < REPEAT_BUDGET_S):
        result = None  # free the previous run's output before the next one
        phases, result = run()
        runs.append(phases)
        spent += sum(phases.values())
    return runs, result


def run_xsell(orders: xsell.Orders, case: Case) -> tuple[list[dict[str, float]], pd.DataFrame]:
    from xsell.mining import mine_rules

    def once() -> tuple[dict[str, float], Any]:
        t0 = time.perf_counter()
        rules = mine_rules(orders, min_support=case.min_support, min_confidence=0.0, max_len=case.max_len,
                           max_basket_items=None, sort_by=None)
        return {"mine_rules": time.perf_counter() - t0}, rules

    runs, rules = repeat_runs(once)
    return runs, normalised(rules["antecedents"], rules["consequents"], {m: rules[m] for m in METRICS})


def run_mlxtend(orders: xsell.Orders, case: Case, x: Any) -> tuple[list[dict[str, float]], pd.DataFrame]:
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    ids = orders.items.ids
    n_orders = orders.n_orders

    def once() -> tuple[dict[str, float], Any]:
        t0 = time.perf_counter()
        frame = pd.DataFrame.sparse.from_spmatrix(x.tocsc(), columns=ids)
        t1 = time.perf_counter()
        frequent = fpgrowth(frame, min_support=case.min_support, use_colnames=True, max_len=case.max_len)
        t2 = time.perf_counter()
        rules = association_rules(frequent, num_itemsets=n_orders, metric="confidence", min_threshold=0.0)
        t3 = time.perf_counter()
        return {"one-hot": t1 - t0, "fpgrowth": t2 - t1, "rules": t3 - t2}, rules

    runs, rules = repeat_runs(once)
    renamed = {"antecedent_support": "antecedent support", "consequent_support": "consequent support"}
    return runs, normalised(list(rules["antecedents"]), list(rules["consequents"]),
                            {m: rules[renamed.get(m, m)] for m in METRICS})


def run_efficient_apriori(orders: xsell.Orders, case: Case, x: Any) -> tuple[list[dict[str, float]], pd.DataFrame]:
    from efficient_apriori import apriori
    ids = orders.items.ids.tolist()
    indptr, indices = x.indptr.tolist(), x.indices.tolist()

    def once() -> tuple[dict[str, float], Any]:
        t0 = time.perf_counter()
        transactions = [tuple(ids[j] for j in indices[indptr[i]:indptr[i + 1]]) for i in range(len(indptr) - 1)]
        t1 = time.perf_counter()
        _, rules = apriori(transactions, min_support=case.min_support, min_confidence=0.0,
                           max_length=case.max_len)
        t2 = time.perf_counter()
        return {"tuples": t1 - t0, "apriori": t2 - t1}, rules

    runs, rules = repeat_runs(once)
    return runs, normalised([r.lhs for r in rules], [r.rhs for r in rules],
                            {"support": [r.support for r in rules], "confidence": [r.confidence for r in rules],
                             "lift": [r.lift for r in rules]})


def spark_environment() -> None:
    """JAVA_HOME from the java on PATH when unset; Spark bound to the loopback address."""
    if not os.environ.get("JAVA_HOME"):
        java = shutil.which("java")
        if java:
            os.environ["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def start_spark() -> Any:
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").appName("xsell-rules-bench")
             .config("spark.driver.memory", SPARK_MEMORY)
             # FPGrowth's FP-trees are (de)serialised recursively: Online Retail's long baskets
             # overflow the default 1 MB thread stack (java.lang.StackOverflowError)
             .config("spark.driver.extraJavaOptions", f"-Xss{SPARK_STACK}")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_spark(orders: xsell.Orders, case: Case, x: Any) -> tuple[list[dict[str, float]], pd.DataFrame, dict[str, Any]]:
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F
    t0 = time.perf_counter()
    spark = start_spark()
    extra: dict[str, Any] = {"spark_version": spark.version}
    # a tiny untimed fit so the first timed run does not pay for class loading alone
    tiny = spark.createDataFrame([(0, ["a", "b"]), (1, ["a", "b", "c"])], "id long, items array<string>")
    FPGrowth(itemsCol="items", minSupport=0.5, minConfidence=0.0).fit(tiny).associationRules.collect()
    extra["session_start_s"] = time.perf_counter() - t0
    ids = orders.items.ids.tolist()
    indptr, indices = x.indptr.tolist(), x.indices.tolist()
    settle_memory()
    extra["py_baseline_mb"] = rss_mb()
    jvm = ChildrenMeter()
    meter = PeakMeter()

    def once() -> tuple[dict[str, float], Any]:
        t0 = time.perf_counter()
        baskets = [(i, [ids[j] for j in indices[indptr[i]:indptr[i + 1]]]) for i in range(len(indptr) - 1)]
        frame = spark.createDataFrame(baskets, "id long, items array<string>")
        t1 = time.perf_counter()
        model = FPGrowth(itemsCol="items", minSupport=case.min_support, minConfidence=0.0).fit(frame)
        t2 = time.perf_counter()
        rules = model.associationRules.where(F.size("antecedent") < case.max_len).collect()
        t3 = time.perf_counter()
        return {"createDataFrame": t1 - t0, "fit": t2 - t1, "rules": t3 - t2}, rules

    runs, rules = repeat_runs(once)
    extra["py_peak_mb"] = meter.peak_mb()
    extra["jvm_baseline_mb"], extra["jvm_peak_mb"] = jvm.baseline, jvm.peak_mb()
    spark.stop()
    frame = normalised([r.antecedent for r in rules], [r.consequent for r in rules],
                       {"support": [r.support for r in rules], "confidence": [r.confidence for r in rules],
                        "lift": [r.lift for r in rules]})
    return runs, frame, extra


def run_onehot_only(orders: xsell.Orders, x: Any) -> dict[str, Any]:
    """Build mlxtend's input frame once (not fpgrowth) and size it."""
    t0 = time.perf_counter()
    frame = pd.DataFrame.sparse.from_spmatrix(x.tocsc(), columns=orders.items.ids)
    seconds = time.perf_counter() - t0
    return {"frame_s": seconds, "frame_arrays_mb": float(frame.memory_usage(deep=True).sum()) / 2**20}


def import_tool(tool: str) -> None:
    if tool == "xsell":
        import xsell.mining  # noqa: F401
    elif tool == "mlxtend":
        import mlxtend.frequent_patterns  # noqa: F401
    elif tool == "efficient-apriori":
        import efficient_apriori  # noqa: F401
    elif tool == "spark":
        import pyspark.ml.fpm  # noqa: F401


def child_main(tool: str, case: Case, out: Path) -> None:
    """Run `tool` on `case` in this fresh process; rules to `out`, times and memory as JSON."""
    warnings.simplefilter("ignore")
    if tool == "spark":
        spark_environment()
    orders = load_dataset(case.dataset)
    assert orders is not None
    x = None if tool == "xsell" else orders.order_item_matrix(bool)  # the peers get their CSR for free
    import_tool(tool)  # before the baseline: imports are not the tool's mining memory
    if tool == "spark":
        runs, rules, extra = run_spark(orders, case, x)
        report = {"runs": runs, "baseline_mb": extra.pop("py_baseline_mb"), "peak_mb": extra.pop("py_peak_mb"),
                  **extra}
    else:
        settle_memory()
        baseline = rss_mb()
        meter = PeakMeter()
        if tool == "mlxtend-frame":
            assert x is not None
            extra = run_onehot_only(orders, x)
            print(json.dumps({"baseline_mb": baseline, "peak_mb": meter.peak_mb(), "nnz": int(x.nnz),
                              "n_orders": orders.n_orders, "n_items": orders.n_items, **extra}))
            return
        if tool == "xsell":
            runs, rules = run_xsell(orders, case)
        elif tool == "mlxtend":
            runs, rules = run_mlxtend(orders, case, x)
        else:
            runs, rules = run_efficient_apriori(orders, case, x)
        report = {"runs": runs, "baseline_mb": baseline, "peak_mb": meter.peak_mb()}
    rules.to_pickle(out)
    print(json.dumps(report))


def in_subprocess(tool: str, case: Case, out: Path, timeout: float) -> dict[str, Any]:
    """Run one tool in a fresh child; {"error": why} when it fails or times out."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool, "--dataset", case.dataset,
           "--max-len", str(case.max_len), "--min-support", repr(case.min_support), "--out", str(out)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        for line in lines[-15:]:
            log(f"  {tool} stderr: {line}")
        last = lines[-1] if lines else f"exit code {done.returncode}"
        return {"error": last[:200]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- comparing rule sets (parent side) -----------------------------------------------------
@dataclass
class Comparison:
    ours: int           # xsell rules considered
    theirs: int         # the peer's rules
    only_ours: int
    only_theirs: int
    max_rel: float      # over the common rules and the compared metrics
    worst: str          # the metric with the largest difference

    @property
    def same_set(self) -> bool:
        return self.only_ours == 0 and self.only_theirs == 0

    @property
    def identical(self) -> bool:
        return self.same_set and self.max_rel <= REL_TOL

    def describe(self) -> str:
        if self.same_set:
            head = f"same {self.ours:,} rules"
        else:
            head = (f"rule sets differ: {self.only_ours:,} only in xsell, {self.only_theirs:,} only here "
                    f"(xsell {self.ours:,})")
        if self.max_rel == 0:
            return f"{head}; every compared metric bit-identical"
        return f"{head}; max rel diff {self.max_rel:.1e} ({self.worst})"


def relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(|a|, |b|); 0 where equal (inf == inf, nan == nan), inf where one is inf or nan."""
    with np.errstate(divide="ignore", invalid="ignore"):
        diff: np.ndarray = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff[same] = 0.0
    diff[np.isnan(diff)] = np.inf
    return diff


def compare(ours: pd.DataFrame, theirs: pd.DataFrame, metrics: Sequence[str]) -> Comparison:
    if ours["key"].duplicated().any() or theirs["key"].duplicated().any():
        raise AssertionError("a tool returned the same rule twice")
    both = ours.merge(theirs, on="key", how="outer", suffixes=("_x", "_y"), indicator=True)
    common = both[both["_merge"] == "both"]
    max_rel, worst = 0.0, "-"
    for m in metrics:
        diff = relative_difference(common[f"{m}_x"].to_numpy(float), common[f"{m}_y"].to_numpy(float))
        if len(diff) and (worst == "-" or diff.max() > max_rel):
            max_rel, worst = float(diff.max()), m
    return Comparison(len(ours), len(theirs), int((both["_merge"] == "left_only").sum()),
                      int((both["_merge"] == "right_only").sum()), max_rel, worst)


# -- formatting ---------------------------------------------------------------------


def best_run(res: dict[str, Any]) -> dict[str, float]:
    return min(res["runs"], key=lambda phases: sum(phases.values()))


def total_s(res: dict[str, Any]) -> float:
    return sum(best_run(res).values())


def time_cell(res: dict[str, Any]) -> str:
    phases = best_run(res)
    text = fmt_s(sum(phases.values()))
    if len(phases) > 1:
        text += " (" + " + ".join(f"{name} {fmt_s(s)}" for name, s in phases.items()) + ")"
    return text + f", best of {len(res['runs'])}"


def delta_mb(res: dict[str, Any]) -> float:
    return float(res["peak_mb"] - res["baseline_mb"])


def memory_cell(res: dict[str, Any]) -> str:
    return f"+{fmt_mb(delta_mb(res))} ({fmt_mb(res['peak_mb'])})"


# -- the benchmark steps (parent side) ----------------------------------------------------
def spark_available() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark not installed (pip install pyspark)"
    spark_environment()
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "no Java runtime (Spark needs Java 17+)"
    return None


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.tools = args.tools
        self.tmp = tmp
        self.timeout = args.timeout
        self.spark_runs: dict[tuple[str, float], tuple[dict[str, Any], Path]] = {}
        self.spark_missing = spark_available() if "spark" in self.tools else None
        self.rows: list[Row] = []
        self.targets: list[str] = []

    def rules_path(self, tool: str, case: Case) -> Path:
        return self.tmp / f"{case.name}-{tool}.pkl"

    def run(self, tool: str, case: Case, label: str) -> dict[str, Any]:
        log(f"{label}: {tool}, {case.task} (fresh subprocess)")
        t0 = time.perf_counter()
        res = in_subprocess(tool, case, self.rules_path(tool, case), self.timeout)
        log(f"  done in {time.perf_counter() - t0:.1f} s" + (f": FAILED {res['error']}" if "error" in res else ""))
        return res

    def case(self, case: Case, cases: Sequence[Case]) -> None:
        orders = load_dataset(case.dataset)
        if orders is None:
            log(f"{case.dataset}: data not found (../shared/data/online_retail), skipped")
            return
        label = data_label(case.dataset, orders)
        rows: list[Row] = []
        ours = self.run("xsell", case, case.dataset)
        if "error" in ours:
            self.rows.append(Row("xsell", label, case.task, "-", "", "", f"failed: {ours['error']}"))
            return
        our_rules = pd.read_pickle(self.rules_path("xsell", case))
        xsell_row = Row("xsell", label, case.task, time_cell(ours), memory_cell(ours), f"{len(our_rules):,}")
        rows.append(xsell_row)
        status: list[str] = []
        if "mlxtend" in self.tools and case.dataset == "synthetic-1m":
            rows.append(self.onehot_row(case, label, orders))
        elif "mlxtend" in self.tools:
            status += self.mlxtend(case, label, ours, our_rules, rows)
        if "efficient-apriori" in self.tools:
            rows.append(self.efficient_apriori(case, label, ours, our_rules))
        if "spark" in self.tools:
            rows.append(self.spark(case, label, ours, our_rules, cases))
        if case.dataset == "synthetic-1m":
            t, peak = total_s(ours), ours["peak_mb"]
            ok = t <= TARGET_1M_S and peak < TARGET_1M_MB
            status.append(f"target <= {TARGET_1M_S:g} s and peak < {fmt_mb(TARGET_1M_MB)}: "
                          f"{fmt_s(t)}, peak {fmt_mb(peak)} {verdict(ok)}")
            self.targets.append(f"{label}, pairs in <= {TARGET_1M_S:g} s and < {fmt_mb(TARGET_1M_MB)}: "
                                f"{fmt_s(t)}, peak {fmt_mb(peak)} -> {verdict(ok)}")
        xsell_row.status = "; ".join(status) if status else "reference"
        self.rows += rows

    def mlxtend(self, case: Case, label: str, ours: dict[str, Any], our_rules: pd.DataFrame,
                rows: list[Row]) -> list[str]:
        res = self.run("mlxtend", case, case.dataset)
        if "error" in res:
            rows.append(Row("mlxtend", label, case.task, "-", "", "", f"failed: {res['error']}"))
            return []
        theirs = pd.read_pickle(self.rules_path("mlxtend", case))
        cmp = compare(our_rules, theirs, METRICS)
        rows.append(Row("mlxtend", label, case.task, time_cell(res), memory_cell(res), f"{len(theirs):,}",
                        "peer; " + cmp.describe()))
        speedup = total_s(res) / total_s(ours)
        mem_ratio = delta_mb(ours) / max(delta_mb(res), 1e-9)
        if case.max_len == 2:
            ok_time, ok_mem = speedup >= TARGET_PAIR_SPEEDUP, mem_ratio < TARGET_PAIR_MEMORY
            parts = [f"{speedup:.1f}x faster than mlxtend (>= {TARGET_PAIR_SPEEDUP:g}x) {verdict(ok_time)}",
                     f"memory {mem_ratio:.3f} of mlxtend's (< {TARGET_PAIR_MEMORY:g}) {verdict(ok_mem)}",
                     f"identical rules {verdict(cmp.identical)} (max rel diff {cmp.max_rel:.1e})"]
            ok = ok_time and ok_mem and cmp.identical
        else:
            ok_time = speedup >= TARGET_TRIPLE_SPEEDUP
            parts = [f"{speedup:.1f}x faster than mlxtend (>= {TARGET_TRIPLE_SPEEDUP:g}x) {verdict(ok_time)}",
                     f"identical rules {verdict(cmp.identical)} (max rel diff {cmp.max_rel:.1e})"]
            ok = ok_time and cmp.identical
        self.targets.append(f"{label}, {case.task}: " + "; ".join(parts) + f" -> {verdict(ok)}")
        return parts

    def onehot_row(self, case: Case, label: str, orders: xsell.Orders) -> Row:
        res = self.run("mlxtend-frame", case, case.dataset)
        dense_mb = orders.n_orders * orders.n_items / 2**20
        text = (f"dense bool one-hot {orders.n_orders:,} x {orders.n_items:,} = "
                f"{orders.n_orders * orders.n_items:.2e} B ({fmt_mb(dense_mb)})")
        if "error" in res:
            return Row("mlxtend", label, case.task, "not run", "", "-",
                       f"not run: fpgrowth would need the {text}; sparse frame: failed {res['error']}")
        sparse = (f"the sparse frame itself is {fmt_mb(res['frame_arrays_mb'])} of arrays "
                  f"({res['nnz']:,} values x 5 B), +{fmt_mb(delta_mb(res))} RSS to build, "
                  f"{fmt_s(res['frame_s'])}")
        return Row("mlxtend", label, case.task, "not run", f"needs >= {fmt_mb(dense_mb)}", "-",
                   f"not run: fpgrowth sums DataFrame.values, which densifies the sparse frame into the "
                   f"{text}; {sparse}")

    def efficient_apriori(self, case: Case, label: str, ours: dict[str, Any], our_rules: pd.DataFrame) -> Row:
        res = self.run("efficient-apriori", case, case.dataset)
        if "error" in res:
            return Row("efficient-apriori", label, case.task, "-", "", "", f"failed: {res['error']}")
        theirs = pd.read_pickle(self.rules_path("efficient-apriori", case))
        cmp = compare(our_rules, theirs, FEW_METRICS)
        return Row("efficient-apriori", label, case.task, time_cell(res), memory_cell(res), f"{len(theirs):,}",
                   f"peer; xsell {total_s(res) / total_s(ours):.1f}x faster; {cmp.describe()}")

    def spark(self, case: Case, label: str, ours: dict[str, Any], our_rules: pd.DataFrame,
              cases: Sequence[Case]) -> Row:
        task = case.task + "; Spark mines every length, 1-item consequents"
        if self.spark_missing:
            return Row("spark", label, task, "-", "", "", f"skipped: {self.spark_missing}")
        key = (case.dataset, case.min_support)
        if key not in self.spark_runs:
            widest = max((c for c in cases if (c.dataset, c.min_support) == key), key=lambda c: c.max_len)
            res = self.run("spark", widest, case.dataset)
            self.spark_runs[key] = (res, self.rules_path("spark", widest))
        res, path = self.spark_runs[key]
        if "error" in res:
            return Row("spark", label, task, "-", "", "", f"failed: {res['error']}")
        theirs = pd.read_pickle(path)
        theirs = theirs[theirs["n_items"] <= case.max_len]
        comparable = our_rules[our_rules["n_consequent"] == 1]
        cmp = compare(comparable, theirs, FEW_METRICS)
        memory = (f"driver +{fmt_mb(delta_mb(res))} ({fmt_mb(res['peak_mb'])}); JVM "
                  f"+{fmt_mb(res['jvm_peak_mb'] - res['jvm_baseline_mb'])} ({fmt_mb(res['jvm_peak_mb'])})")
        shared = "" if case.max_len == max(c.max_len for c in cases if (c.dataset, c.min_support) == key) \
            else "same run as the wider task; "
        return Row("spark", label, task, time_cell(res), memory, f"{len(theirs):,}",
                   f"peer (Spark {res['spark_version']}, local[2], session start "
                   f"{fmt_s(res['session_start_s'])} not timed); {shared}"
                   f"xsell {total_s(res) / total_s(ours):.1f}x faster; vs xsell's 1-item-consequent rules: "
                   f"{cmp.describe()}")


# -- output and entry point ----------------------------------------------------------------
def markdown(rows: list[Row], targets: list[str]) -> str:
    cells = [COLUMNS] + [(r.tool, r.data, r.task, r.time, r.memory, r.rules, r.status) for r in rows]
    lines = ["| " + " | ".join(c.replace("|", "/") for c in cell) + " |" for cell in cells]
    lines.insert(1, "|" + "|".join("---" for _ in COLUMNS) + "|")
    note = ("time: best of up to 3 runs from loaded data to rules (peers' input preparation included); "
            "memory: peak RSS of the tool's own subprocess above its RSS after loading the data "
            "(absolute peak in brackets); rules compared as frozenset pairs, metrics to 1e-9 relative")
    summary = "\n".join(f"- {t}" for t in targets)
    return "\n".join(lines) + f"\n\n{note}\n" + (f"\nTargets:\n{summary}\n" if targets else "")


def tool_list(text: str) -> tuple[str, ...]:
    tools = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or "xsell" not in tools:
        raise argparse.ArgumentTypeError(f"tools are a comma list of {', '.join(TOOLS)} including xsell")
    return tools


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=DATASETS, action="append", help="run this data set only (repeatable)")
    p.add_argument("--tools", type=tool_list, default=TOOLS, help=f"comma list (default {','.join(TOOLS)})")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool run (default 1800)")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table to PATH")
    p.add_argument("--child", choices=TOOLS + ("mlxtend-frame",), help=argparse.SUPPRESS)
    p.add_argument("--dataset", choices=DATASETS, help=argparse.SUPPRESS)
    p.add_argument("--max-len", type=int, help=argparse.SUPPRESS)
    p.add_argument("--min-support", type=float, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.child, Case(args.dataset, args.max_len, args.min_support), args.out)
        return
    cases = [c for c in CASES if not args.only or c.dataset in args.only]
    with tempfile.TemporaryDirectory(prefix="xsell-rules-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        for case in cases:
            bench.case(case, cases)
    table = markdown(bench.rows, bench.targets)
    emit(table, args.markdown)


if __name__ == "__main__":
    main()
