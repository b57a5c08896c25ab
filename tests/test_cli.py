"""The `xsell` command end to end: files in tmp_path, CliRunner, exact outputs and exit codes."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

import xsell
from xsell.cli import app

runner = CliRunner()


@pytest.fixture
def orders_csv(tmp_path, tiny_frame):
    path = tmp_path / "orders.csv"
    tiny_frame.rename(columns={"order_id": "Invoice", "item_id": "SKU"}).to_csv(path, index=False)
    return path


@pytest.fixture
def model_path(tmp_path, orders_csv):
    path = tmp_path / "m.xsell"
    result = runner.invoke(app, ["fit", str(orders_csv), "-o", str(path), "--column", "order_id=Invoice",
                                 "--column", "item_id=SKU", "--min-count", "1"])
    assert result.exit_code == 0, result.output
    return path


def test_fit_writes_a_model_that_the_api_loads(model_path):
    model = xsell.load_model(model_path)
    assert model.also_bought("a").items == ["b", "c", "d"]


def test_also_bought_prints_a_table_and_json(model_path):
    result = runner.invoke(app, ["also-bought", str(model_path), "a", "-k", "2"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["item_id", "score", "count", "support", "confidence", "lift"]
    assert [line.split()[0] for line in lines[1:]] == ["b", "c"]
    as_json = json.loads(runner.invoke(app, ["also-bought", str(model_path), "a", "--json"]).output)
    assert [r["item_id"] for r in as_json["results"]] == ["b", "c", "d"]
    assert as_json["results"][0]["count"] == 2 and as_json["fallback"] is False


def test_recommend_takes_several_items_and_exclude(model_path):
    result = runner.invoke(app, ["recommend", str(model_path), "a", "b", "--exclude", "c", "--json"])
    assert result.exit_code == 0
    assert [r["item_id"] for r in json.loads(result.output)["results"]] == ["d"]


def test_unknown_basket_says_popular(model_path):
    result = runner.invoke(app, ["recommend", str(model_path), "zzz", "-k", "1"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "(no known item: showing popular items)"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_batch_file(tmp_path, model_path, suffix):
    baskets = pd.DataFrame({"basket_id": ["x", "x", "y", "z"], "item_id": ["a", "b", "d", "nope"]})
    src = tmp_path / f"baskets{suffix}"
    baskets.to_csv(src, index=False) if suffix == ".csv" else baskets.to_parquet(src)
    out = tmp_path / f"out{suffix}"
    result = runner.invoke(app, ["score", str(model_path), str(src), "-o", str(out), "-k", "2",
                                 "--chunk-lines", "1"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "3 baskets (1 with no known item got popular items), 6 rows" in result.output
    got = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert got[got.basket_id == "x"]["item_id"].tolist() == ["c", "d"]  # chunks of 1 line: basket kept whole
    assert got[got.basket_id == "y"]["item_id"].tolist() == ["a", "c"]
    assert got[got.basket_id == "z"]["item_id"].tolist() == ["a", "b"]


def test_inspect_shows_manifest_without_arrays(model_path):
    result = runner.invoke(app, ["inspect", str(model_path), "--json"])
    manifest = json.loads(result.output)
    assert manifest["model_type"] == "cooccurrence"
    assert manifest["training"]["orders"] == 4
    assert manifest["params"]["min_count"] == 1


@pytest.mark.parametrize("args, message", [
    (["fit", "missing.csv", "-o", "m.xsell"], "error: orders file not found: missing.csv"),
    (["fit", "{orders}", "-o", "{tmp}/m.xsell"],
     "error: missing required column 'order_id' in {orders}; its columns are: Invoice, SKU; map yours with "
     "--column order_id=NAME or columns={{'order_id': NAME}}; a file of one basket per line, items split by "
     "commas and no header, reads with layout='baskets' (--layout baskets)"),
    (["fit", "{orders}", "-o", "{tmp}/m.xsell", "--column", "order_id"],
     "error: --column expects ROLE=NAME, for example order_id=InvoiceNo; got 'order_id'"),
    (["also-bought", "{orders}", "a"], "error: {orders} is not an xsell model file (not a zip archive)"),
    (["inspect", "{tmp}/none.xsell"], "error: model file not found: {tmp}/none.xsell"),
    # odd option values: the library's own wording, never "unexpected ... (please report this)"
    (["demo", "--seed", "-1"], "error: seed must be a whole number >= 0, got -1"),
    (["demo", "--orders", "{orders}", "-c", "order_id=Invoice", "-c", "item_id=SKU", "--seed", "-1"],
     "error: seed must be a whole number >= 0, got -1"),
])
def test_errors_are_one_line_with_exit_code_1(tmp_path, orders_csv, args, message):
    fill = {"orders": str(orders_csv), "tmp": str(tmp_path)}
    result = runner.invoke(app, [a.format(**fill) for a in args])
    assert result.exit_code == 1
    assert result.stderr.strip() == message.format(**fill)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["rules", "{orders}", "-o", "{tmp}/r.csv", "--top", "0"], "error: top must be a whole number >= 1, got 0"),
    (["evaluate", "{orders}", "--seed", "-1"], "error: seed must be a whole number >= 0, got -1"),
])
def test_odd_option_values_after_reading_the_orders_end_in_one_error_line(tmp_path, orders_csv, args, message):
    # these are checked once the orders are read: the report line, then the library's error
    fill = {"orders": str(orders_csv), "tmp": str(tmp_path)}
    result = runner.invoke(app, [a.format(**fill) for a in args] + ["-c", "order_id=Invoice", "-c", "item_id=SKU"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"10 lines read from {orders_csv}; 10 lines kept", message]
    assert "please report this" not in result.output


def test_demo_runs_without_download_and_finds_planted_complements():
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0
    assert "Customers who bought P014-B also bought:" in result.output
    found = [line for line in result.output.splitlines() if line.startswith("Planted complements found")]
    n, total = found[0].split(": ")[1].rstrip(".").split(" of ")
    assert int(n) / int(total) >= 0.95


def test_demo_json_holds_the_model_answers_the_text_shows():
    from xsell.datasets import synthetic_shop

    result = runner.invoke(app, ["demo", "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    shop = synthetic_shop(seed=1)
    model = xsell.CoOccurrence().fit(shop.orders)
    items = [a for a, _ in shop.truth.complements[0:9:3]]
    assert [entry["item"] for entry in got["also_bought"]] == items
    assert [entry["suggestions"] for entry in got["also_bought"]] == \
        [model.also_bought(item, k=5).to_records() for item in items]
    assert got["basket"] == items[:2]
    assert got["basket_completion"] == model.recommend(items[:2], k=5).to_records()
    found = sum(b in model.also_bought(a, k=3).items for a, b in shop.truth.complements)
    assert (got["planted_complements_found_in_top_3"], got["planted_complements"]) == (found, 90)
    assert (got["data"], got["seed"], got["orders"], got["items"], got["load_report"]) == (
        "synthetic shop", 1, shop.orders.n_orders, shop.orders.n_items, None)
    text = runner.invoke(app, ["demo", "--seed", "1"]).output
    assert f"Planted complements found in the top 3: {found} of 90." in text


def test_an_empty_item_id_is_an_unknown_item_not_a_bug(model_path):
    result = runner.invoke(app, ["recommend", str(model_path), ""])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "(no known item: showing popular items)"
    assert "please report this" not in result.output


def test_demo_on_your_own_file(orders_csv):
    result = runner.invoke(app, ["demo", "--orders", str(orders_csv), "-c", "order_id=Invoice", "-c", "item_id=SKU"])
    assert result.exit_code == 0, result.output
    assert "Your orders: 10 lines read from" in result.output


TYPER = "<typer's words>"


@pytest.mark.parametrize("args, message, code", [
    (["recommend", "model.xsell"], "error: Missing argument 'ITEM'. (see: xsell recommend --help)", 2),
    (["nosuch"], "error: No such command 'nosuch'. (see: xsell --help)", 2),
    (["fit", "missing.csv", "-o", "m.xsell"], "error: orders file not found: missing.csv", 1),
    (["demo", "--seed", "-1"], "error: seed must be a whole number >= 0, got -1", 1),
    # typer's own words between xsell's parts differ between typer releases (0.16: "0 is not in the range x>=1.")
    (["evaluate", "missing.csv", "-k", "0"],
     "error: Invalid value for '-k' / '--k': " + TYPER + " (see: xsell evaluate --help)", 2),
    # choices are refused before any data is read (missing.csv is never opened)
    (["fit", "missing.csv", "-o", "m.xsell", "--model", "bogus"],
     "error: Invalid value for '--model': " + TYPER + "'bogus' is not one of 'cooccurrence', 'association_rules', "
     "'als', 'bpr', 'itemknn', 'ease', 'popular', 'hybrid', 'cooc', 'rules'. (see: xsell fit --help)", 2),
    (["evaluate", "missing.csv", "--models", "ease,bogus"],
     "error: Invalid value for '--models': 'bogus': choose from cooccurrence, association_rules, als, bpr, itemknn, "
     "ease, popular, hybrid (comma-separated) (see: xsell evaluate --help)", 2),
    (["score", "m.xsell", "b.csv", "-o", "out.csv", "--mode", "sideways"],
     "error: Invalid value for '--mode': " + TYPER + "'sideways' is not one of 'recommend', 'cross-sell', "
     "'up-sell', 'uplift'. (see: xsell score --help)", 2),
    (["score", "m.xsell", "b.csv", "-o", "out.csv", "--objective", "profit"],
     "error: Invalid value for '--objective': " + TYPER + "'profit' is not one of 'probability', 'revenue', "
     "'margin'. (see: xsell score --help)", 2),
    (["evaluate", "missing.csv", "--task", "next-basket"],
     "error: Invalid value for '--task': " + TYPER + "'next-basket' is not one of 'basket-completion', "
     "'next-order'. (see: xsell evaluate --help)", 2),
    (["rules", "missing.csv", "-o", "r.csv", "--sort", "bogus"],
     "error: Invalid value for '--sort': " + TYPER + "'bogus' is not one of 'antecedent_support', "
     "'consequent_support', 'support', 'confidence', 'lift', 'leverage', 'conviction', 'zhangs_metric', 'jaccard', "
     "'certainty', 'kulczynski'. (see: xsell rules --help)", 2),
    (["fit", "missing.csv", "-o", "m.xsell", "--model", "rules", "--metric", "bogus"],
     "error: Invalid value for '--metric': " + TYPER + "'bogus' is not one of 'antecedent_support', "
     "'consequent_support', 'support', 'confidence', 'lift', 'leverage', 'conviction', 'zhangs_metric', 'jaccard', "
     "'certainty', 'kulczynski'. (see: xsell fit --help)", 2),
])
def test_console_script_errors_are_one_line_exit_2_for_usage_1_for_data(tmp_path, args, message, code):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == code
    pattern = ".*".join(re.escape(part) for part in message.split(TYPER))  # click 8.5: "Value error, " dropped
    assert re.fullmatch(pattern, result.stderr.strip()), result.stderr


@pytest.mark.parametrize("args, printed", [(["--version"], f"xsell {xsell.__version__}\n"),
                                            (["version"], f"{xsell.__version__}\n"),  # the bare number, for scripts
                                            (["version", "--json"], json.dumps({"version": xsell.__version__}) + "\n")])
def test_version_is_printed_by_the_console_script_with_exit_0(tmp_path, args, printed):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, printed, "")


@pytest.mark.parametrize("command", [["fit", "{orders}", "-o", "{missing}/m.xsell"],
                                     ["score", "no-such-model.xsell", "{orders}", "-o", "{missing}/out.parquet"],
                                     ["rules", "{orders}", "-o", "{missing}/rules.csv"],
                                     ["evaluate", "{orders}", "--report", "{missing}/report.html"]])
def test_a_missing_output_folder_fails_before_any_input_is_read(tmp_path, orders_csv, command):
    import subprocess
    import sys

    args = [a.format(orders=orders_csv, missing=tmp_path / "missing") for a in command]
    result = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    # one line: no load report (the orders were not read), no complaint about the model file (not opened)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"error: folder does not exist: "
                                                                       f"{tmp_path / 'missing'}\n")


def test_a_rules_file_of_an_unknown_type_is_refused_before_the_orders_are_read(tmp_path, orders_csv):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", "rules", str(orders_csv),
                             "-o", "rules.txt"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "error: rules output rules.txt must end in .parquet or .csv\n")  # no load report before it


def test_fit_rules_and_score_print_json_for_machines(tmp_path, orders_csv):
    import subprocess
    import sys

    def run(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args, "--json"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # stdout is the JSON alone; the load report goes to stderr

    cols = ["--column", "order_id=Invoice", "--column", "item_id=SKU"]
    fit = run("fit", str(orders_csv), "-o", "m.xsell", *cols, "--min-count", "1")
    model = xsell.load_model(tmp_path / "m.xsell")
    assert fit == {"output": "m.xsell", "model": "cooccurrence", "items": 4, "orders": 4, "lines": 10,
                   "neighbour_pairs": len(model.neighbor_indices_)}
    rules = run("rules", str(orders_csv), "-o", "rules.csv", *cols, "--min-support", "0.25")
    written = pd.read_csv(tmp_path / "rules.csv")
    assert {k: rules[k] for k in ("output", "rules", "orders", "skipped_baskets")} == {
        "output": "rules.csv", "rules": len(written), "orders": 4, "skipped_baskets": 0}
    assert rules["itemsets"] == {"1": 4, "2": 5} and rules["seconds"] >= 0
    pd.DataFrame({"basket_id": ["x", "y"], "item_id": ["a", "zzz"]}).to_csv(tmp_path / "b.csv", index=False)
    score = run("score", "m.xsell", "b.csv", "-o", "out.csv", "--workers", "1")
    out = pd.read_csv(tmp_path / "out.csv")
    assert score == {"output": "out.csv", "mode": "recommend", "baskets": 2, "lines": 2, "rows": len(out),
                     "fallback_baskets": 1, "partitions": 0}


def test_every_model_parameter_can_be_set_from_fit(tmp_path, orders_csv):
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", "fit", str(orders_csv),
                               "--column", "order_id=Invoice", "--column", "item_id=SKU", *args],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)

    assert run("-o", "e.xsell", "--model", "ease", "--param", "l2=50", "-p", "max_items=100").returncode == 0
    assert xsell.load_model(tmp_path / "e.xsell").get_params() == {"l2": 50.0, "max_items": 100}
    assert run("-o", "c.xsell", "--neighbors", "7", "--param", "neighbors=2", "--param", "min_count=1").returncode == 0
    cooc = xsell.load_model(tmp_path / "c.xsell")
    assert (cooc.neighbors, cooc.min_count) == (2, 1)  # --param wins over the option
    assert xsell.load_model(tmp_path / "c.xsell").also_bought("a", k=5).items == ["b", "c"]
    for args, message in [
        (["--model", "ease", "--param", "lambda=5"], "--param lambda: ease has no parameter 'lambda'; its parameters: "
                                                     "l2, max_items"),
        (["--model", "ease", "--param", "l2=-1"], "l2 must be > 0, got -1.0"),
        (["--param", "min_count=abc"], "min_count must be a whole number >= 1, got 'abc'"),
        (["--param", "neighbors"], "--param takes NAME=VALUE, got 'neighbors'"),
    ]:
        bad = run("-o", "x.xsell", *args)
        # refused before the orders are read: one line, no load report
        assert (bad.returncode, bad.stdout, bad.stderr) == (1, "", f"error: {message}\n")


@pytest.mark.parametrize("words, cword, expected", [
    ("xsell sc", 1, ["score"]),
    ("xsell score m.xsell b.csv --mode ", 5, ["recommend", "cross-sell", "up-sell", "uplift"]),
    ("xsell fit o.csv --layout ", 4, ["lines", "baskets"]),
])
def test_shell_completion_offers_commands_and_choices(tmp_path, words, cword, expected):
    import os
    import subprocess
    import sys

    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_XSELL_COMPLETE": "complete_bash"}
    done = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'xsell'; "
                           "from xsell.cli import main; main()"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env)
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, expected, "")


def test_every_printing_command_prints_json_through_the_real_entry_point(tmp_path, model_path):
    """also-bought, recommend, for-customer and inspect with --json, run as a user runs them: stdout is one JSON
    document holding what the Python API answers."""
    import subprocess
    import sys

    def run(*args: str) -> Any:
        done = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args, "--json"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    model = xsell.load_model(model_path)
    got = run("also-bought", str(model_path), "a", "-k", "2")
    assert [(r["item_id"], r["score"]) for r in got["results"]] == list(model.also_bought("a", k=2))
    got = run("recommend", str(model_path), "a", "b", "-k", "2")
    assert [(r["item_id"], r["score"]) for r in got["results"]] == list(model.recommend(["a", "b"], k=2))
    frame = pd.DataFrame({"order_id": [1, 1, 2, 2, 3, 3, 4], "item_id": ["a", "b", "a", "c", "b", "c", "a"],
                          "customer_id": ["u", "u", "v", "v", "u", "u", "w"],
                          "timestamp": pd.date_range("2024-01-01", periods=7, freq="D")})
    hybrid = xsell.Hybrid().fit(xsell.load_orders(frame))
    xsell.save_model(hybrid, tmp_path / "h.xsell")
    got = run("for-customer", str(tmp_path / "h.xsell"), "u", "-k", "2", "--include-bought")
    assert [(r["item_id"], r["score"]) for r in got["results"]] == \
        list(hybrid.recommend_for_customer("u", k=2, exclude_bought=False))
    assert run("inspect", str(model_path)) == xsell.inspect_model(model_path)
