"""`xsell rules` and `xsell fit --model rules` end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import xsell
from xsell.cli import app

runner = CliRunner()


@pytest.fixture
def orders_csv(tmp_path, tiny_frame):
    path = tmp_path / "orders.csv"
    tiny_frame.to_csv(path, index=False)
    return path


def test_rules_to_csv_with_readable_item_lists(tmp_path, orders_csv):
    out = tmp_path / "rules.csv"
    result = runner.invoke(app, ["rules", str(orders_csv), "-o", str(out), "--min-support", "0.25",
                                 "--sort", "confidence"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 10 rules from 4 orders (frequent itemsets: 1 items: 4, 2 items: 5)" in result.output
    rules = pd.read_csv(out)
    # pairs ab, ac, bc (2 orders each), ad, cd (1 order each): 10 directed rules; d -> a, d -> c have confidence 1
    assert len(rules) == 10
    first = rules.iloc[0]
    assert first["antecedents"] == "d" and first["confidence"] == 1.0
    assert list(rules["confidence"]) == sorted(rules["confidence"], reverse=True)


def test_rules_to_parquet_keeps_item_lists_and_top(tmp_path, orders_csv):
    out = tmp_path / "rules.parquet"
    result = runner.invoke(app, ["rules", str(orders_csv), "-o", str(out), "--min-support", "0.25",
                                 "--max-len", "3", "--top", "3"])
    assert result.exit_code == 0, result.output
    rules = pd.read_parquet(out)
    assert len(rules) == 3
    assert all(isinstance(list(a), list) for a in rules["antecedents"])
    assert rules["lift"].is_monotonic_decreasing


@pytest.mark.parametrize("args, message", [
    (["--min-support", "0.9"], "error: no rules at min_support=0.9: the most frequent pair is in 2 of 4 orders "
                               "(support 0.5); try --min-support 0.5 or lower"),
    (["--min-support", "3"], "error: min_support must be in (0, 1], got 3.0; it is a share of orders, not a count: "
                             "3 of 4 orders is min_support=0.75"),
    (["--max-len", "1"], "error: max_len must be a whole number >= 2 (a rule needs two items), got 1"),
    (["--min-support", "0.25", "--min-confidence", "1", "--min-lift", "2"],
     "error: no rules: 5 frequent pairs at min_support=0.25, but none passes min_confidence=1 and min_lift=2; "
     "lower those thresholds"),
])  # an unknown --sort is a usage error before the orders are read: test_cli.py
def test_rules_errors_are_one_line(tmp_path, orders_csv, args, message):
    out = tmp_path / "rules.csv"
    result = runner.invoke(app, ["rules", str(orders_csv), "-o", str(out), *args])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == message
    assert not out.exists()


def test_fit_rules_model_and_recommend(tmp_path, orders_csv):
    model = tmp_path / "rules.xsell"
    result = runner.invoke(app, ["fit", str(orders_csv), "-o", str(model), "--model", "rules",
                                 "--min-support", "0.25", "--max-len", "3"])
    assert result.exit_code == 0, result.output
    assert xsell.inspect_model(model)["model_type"] == "association_rules"
    out = json.loads(runner.invoke(app, ["recommend", str(model), "a", "d", "--json"]).output)
    # d -> c and {a, d} -> c both have confidence 1 (the only order with d also has a and c);
    # on a tie the shorter rule explains
    assert out["results"][0]["item_id"] == "c"
    assert out["results"][0]["score"] == 1.0
    assert out["results"][0]["rule"] == "d -> c"


def test_fit_unknown_model_type_is_a_usage_error(tmp_path, orders_csv):
    result = runner.invoke(app, ["fit", str(orders_csv), "-o", str(tmp_path / "m.xsell"), "--model", "svd"])
    assert result.exit_code == 2
    said = " ".join(result.stderr.replace("│", " ").split())
    assert "Invalid value for '--model':" in said and "'svd' is not one of 'cooccurrence', 'association_rules'," in said
    assert not (tmp_path / "m.xsell").exists()
