"""CLI habits scripts rely on (issue 12, section 2), run through the real `xsell` entry point in a subprocess:
--config (and XSELL_CONFIG) with the command line winning, --quiet, --verbose logging, --drop-item and
--keep-placeholders, a date and a time column as the timestamp, choices refused before any data is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import xsell

CONFIG = """\
[orders]
columns = { order_id = "Transaction", item_id = "Item", timestamp = ["Date", "Time"] }
drop_items = ["Tea"]

[fit]
model = "ease"

[fit.ease]
l2 = 50

[fit.cooccurrence]
neighbors = 7
"""


def _xsell(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture
def bakery(tmp_path: Path) -> Path:
    """A till export: ';'-separated, date and time in two columns, the till's NONE for 'no item'."""
    rows = [(o, item) for o in range(1, 41) for item in (["Bread", "Coffee"] if o % 2 else ["Bread", "Tea", "NONE"])]
    frame = pd.DataFrame(rows, columns=["Transaction", "Item"])
    frame["Date"] = [f"2016-10-{10 + o % 20:02d}" for o in frame["Transaction"]]
    frame["Time"] = "09:58:11"
    frame.to_csv(tmp_path / "bakery.csv", sep=";", index=False)
    (tmp_path / "xsell.toml").write_text(CONFIG)
    return tmp_path


def test_a_config_file_sets_every_command_and_the_command_line_wins(bakery: Path) -> None:
    done = _xsell(bakery, "--config", "xsell.toml", "fit", "bakery.csv", "-o", "ease.xsell", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("100 lines read from bakery.csv; 40 lines with placeholder or dropped items (Tea 20, NONE "
                           "20) left out; 60 lines kept\n")
    assert json.loads(done.stdout) == {"output": "ease.xsell", "model": "ease", "items": 2, "orders": 40,
                                       "lines": 60}
    manifest = xsell.inspect_model(bakery / "ease.xsell")
    assert manifest["params"]["l2"] == 50.0
    assert manifest["training"]["first_order"] == "2016-10-10T09:58:11"  # Date+Time from [orders]
    # the command line wins: another model (its own [fit.cooccurrence] table applies), Tea kept
    done = _xsell(bakery, "fit", "bakery.csv", "-o", "cooc.xsell", "--model", "cooccurrence", "--drop-item", "Coffee",
                  env={"XSELL_CONFIG": "xsell.toml"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("100 lines read from bakery.csv; 40 lines with placeholder or dropped items "
                                  "(Coffee 20, NONE 20) left out;")
    assert xsell.inspect_model(bakery / "cooc.xsell")["params"]["neighbors"] == 7
    assert xsell.load_model(bakery / "cooc.xsell").items_.ids.tolist() == ["Bread", "Tea"]


@pytest.mark.parametrize("config, message", [
    ('[fit]\nmodle = "ease"\n',
     "[fit] has no option 'modle'; its options: column, drop-item, json, keep-counts, keep-placeholders, keep-returns, layout, "
     "max-len, metric, min-count, min-support, model, neighbors, output, param, seed, sep, since, threads"),
    ("[fitt]\n", "unknown table [fitt]; allowed: [orders], [fit], [update], [diff], [rules], [evaluate]"),
    ('[orders]\ncolumn = { item_id = "Item" }\n',
     "unknown key 'column' in [orders]; allowed: columns, layout, sep, keep_returns, drop_items, keep_placeholders"),
    ("[fit\n", "cannot read config file {path}: "),
])
def test_a_bad_config_is_a_usage_error_naming_the_key(bakery: Path, config: str, message: str) -> None:
    path = bakery / "bad.toml"
    path.write_text(config)
    done = _xsell(bakery, "--config", str(path), "fit", "bakery.csv", "-o", "m.xsell")
    assert done.returncode == 2
    assert done.stderr.startswith("error: Invalid value for '--config': " +
                                  ("" if message.startswith("cannot") else f"config {path}: ") +
                                  message.format(path=path)), done.stderr
    assert done.stderr.count("\n") == 1 and not (bakery / "m.xsell").exists()


def test_quiet_prints_only_results_and_verbose_logs_the_library(bakery: Path) -> None:
    columns = ["-c", "order_id=Transaction", "-c", "item_id=Item", "-c", "timestamp=Date+Time"]
    quiet = _xsell(bakery, "-q", "fit", "bakery.csv", "-o", "m.xsell", *columns)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert quiet.stdout == "saved m.xsell: cooccurrence, 3 items, 40 orders, 4 neighbour pairs\n"
    loud = _xsell(bakery, "-v", "fit", "bakery.csv", "-o", "m.xsell", *columns)
    logged = [line.split("] ", 1)[1] for line in loud.stderr.splitlines() if line.startswith("[")]
    assert logged[0].startswith("xsell.data: loaded 40 orders of 3 items from bakery.csv in ")
    assert logged[1] == "xsell.models: fitting CoOccurrence on 40 orders, 3 items, 80 lines"
    assert logged[2].startswith("xsell.models: fitted CoOccurrence in ")
    assert "20 lines with placeholder or dropped items (NONE 20) left out" in loud.stderr


def test_placeholders_kept_on_request_and_a_time_alone_refused(bakery: Path) -> None:
    kept = _xsell(bakery, "-q", "fit", "bakery.csv", "-o", "m.xsell", "-c", "order_id=Transaction",
                  "-c", "item_id=Item", "--keep-placeholders", "--json")
    assert json.loads(kept.stdout)["items"] == 4  # Bread, Coffee, Tea, NONE
    alone = _xsell(bakery, "fit", "bakery.csv", "-o", "m.xsell", "-c", "order_id=Transaction", "-c", "item_id=Item",
                   "-c", "timestamp=Time")
    assert alone.returncode == 1
    assert alone.stderr.startswith("error: column 'timestamp' (column 'Time') holds times of day without a date")
    assert alone.stderr.rstrip().endswith("(xsell: --column timestamp=DATE+Time)")


REPORT = "100 lines read from bakery.csv; 40 lines with placeholder or dropped items (Tea 20, NONE 20) left out; " \
         "60 lines kept"


def test_the_orders_table_of_a_config_reads_orders_for_rules_score_and_demo(bakery: Path) -> None:
    """[orders] (columns with Date+Time, drop_items) applies wherever orders are read, not only to fit; -q keeps
    each command's stderr empty."""
    rules = _xsell(bakery, "--config", "xsell.toml", "rules", "bakery.csv", "-o", "r.csv", "--min-support", "0.1",
                   "--json")
    assert rules.returncode == 0, rules.stderr
    assert rules.stderr == REPORT + "\n"
    assert json.loads(rules.stdout)["rules"] == 2  # Bread -> Coffee and back: Tea and NONE left out
    quiet = _xsell(bakery, "--config", "xsell.toml", "-q", "rules", "bakery.csv", "-o", "r.csv", "--min-support",
                   "0.1", "--max-len", "3")
    assert (quiet.returncode, quiet.stderr) == (0, "")

    assert _xsell(bakery, "--config", "xsell.toml", "-q", "fit", "bakery.csv", "-o", "m.xsell", "--model",
                  "cooccurrence").returncode == 0
    pd.DataFrame({"basket_id": [1, 2], "item_id": ["Bread", "Coffee"]}).to_csv(bakery / "b.csv", index=False)
    score = ["score", "m.xsell", "b.csv", "-o", "s.csv", "--mode", "cross-sell", "--orders", "bakery.csv",
             "--workers", "1"]
    scored = _xsell(bakery, "--config", "xsell.toml", *score)
    assert scored.returncode == 0, scored.stderr
    assert scored.stderr == REPORT + "\n"
    assert pd.read_csv(bakery / "s.csv")["item_id"].tolist() == ["Coffee", "Bread"]
    quiet = _xsell(bakery, "--config", "xsell.toml", "-q", *score)
    assert (quiet.returncode, quiet.stderr) == (0, "")

    demo = _xsell(bakery, "--config", "xsell.toml", "demo", "--orders", "bakery.csv")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.splitlines()[0] == f"Your orders: {REPORT}"
    # without the config, the same commands name the missing column: the config was what made them work
    bare = _xsell(bakery, "demo", "--orders", "bakery.csv")
    assert bare.returncode == 1 and bare.stderr.startswith("error: missing required column 'order_id' in bakery.csv")


def test_log_records_go_to_the_stderr_of_each_run_in_one_process(bakery: Path) -> None:
    """main() called twice in one process (a test runner, a notebook) with stderr replaced in between: each run's
    -v records land in that run's stderr, not in the first run's (closed) stream."""
    code = """
import contextlib, io, sys
from xsell.cli import main
for run in range(2):
    sys.argv = ["xsell", "-v", "fit", "bakery.csv", "-o", f"m{run}.xsell", "-c", "order_id=Transaction",
                "-c", "item_id=Item"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main()
        except SystemExit as exc:
            assert exc.code == 0, err.getvalue()
    print(run, sum("xsell.models: fitted CoOccurrence" in line for line in err.getvalue().splitlines()))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=bakery, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "0 1\n1 1\n"), done.stderr


def test_errors_reaching_the_cli_name_the_cli_option_too(bakery: Path) -> None:
    """A library message that advises a Python keyword also names the option a shell user types."""
    columns = ["-c", "order_id=Transaction", "-c", "item_id=Item"]
    untimed = _xsell(bakery, "-q", "evaluate", "bakery.csv", *columns, "--models", "popular")
    assert untimed.returncode == 1
    assert untimed.stderr == ("error: these orders have no timestamp column; map one with columns={'timestamp': NAME} "
                              "(xsell: --column timestamp=NAME)\n")
    assert _xsell(bakery, "-q", "fit", "bakery.csv", "-o", "e.xsell", "--model", "ease", *columns).returncode == 0
    pd.DataFrame({"basket_id": [1], "item_id": ["Bread"]}).to_csv(bakery / "b.csv", index=False)
    engine = _xsell(bakery, "score", "e.xsell", "b.csv", "-o", "s.csv", "--mode", "cross-sell")
    assert engine.returncode == 1
    assert engine.stderr == ("error: an Engine over EASE needs the training orders for its probabilities and reasons: "
                             "Engine(model, orders=orders) (xsell score: --orders FILE)\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal")
def test_score_on_a_terminal_shows_lines_counted_and_time_elapsed_on_csv_input(tmp_path: Path) -> None:
    """A CSV's length is unknown until its end, so the bar itself cannot fill: the line count and the elapsed
    time say how far the run got (on stderr, the terminal; stdout keeps the one summary line)."""
    import pty
    import re

    from xsell.datasets import synthetic_log

    log = synthetic_log(n_orders=20_000, n_items=300, seed=0)
    xsell.save_model(xsell.CoOccurrence(min_count=1).fit(log), tmp_path / "m.xsell")
    lines = log.to_frame()[["order_id", "item_id"]].rename(columns={"order_id": "basket_id"})
    lines.to_csv(tmp_path / "b.csv", index=False)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", "from xsell.cli import main; main()", "score", "m.xsell", "b.csv",
                             "-o", "out.csv", "--chunk-lines", "5000", "--workers", "1"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal's other end closed: the process is done
            break
        if not data:
            break
        shown += data
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait(timeout=60) == 0
    assert stdout == f"wrote out.csv: 20,000 baskets (0 with no known item got popular items), {20_000 * 10:,} rows\n"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))  # colours and cursor moves
    counts = [int(n.replace(",", "")) for n in re.findall(r"scoring baskets [━ ]*([\d,]+) lines \d:\d\d:\d\d", text)]
    assert counts and max(counts) > 0 and max(counts) <= len(lines), text[-500:]


def test_score_sep_applies_to_the_baskets_and_the_catalog(bakery: Path) -> None:
    columns = ["-c", "order_id=Transaction", "-c", "item_id=Item"]
    assert _xsell(bakery, "-q", "fit", "bakery.csv", "-o", "m.xsell", *columns).returncode == 0
    pd.DataFrame({"basket_id": [1, 2], "item_id": ["Bread", "Coffee"]}).to_csv(bakery / "b.txt", index=False, sep="|")
    pd.DataFrame({"item_id": ["Bread", "Coffee", "Tea", "NONE"], "price": [2.0, 3.0, 2.5, 0.0],
                  "category": ["bakery", "drinks", "drinks", "none"]}).to_csv(bakery / "c.txt", index=False, sep="|")
    done = _xsell(bakery, "-q", "score", "m.xsell", "b.txt", "-o", "s.csv", "--mode", "cross-sell", "--catalog",
                  "c.txt", "--sep", "|", "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["baskets"] == 2
    scored = pd.read_csv(bakery / "s.csv")
    assert scored.groupby("basket_id")["item_id"].first().to_dict() == {1: "Coffee", 2: "Bread"}
    assert scored.loc[scored["item_id"] == "Coffee", "price"].tolist() == [3.0]  # the catalog's price, read with '|'
