"""The HTML report: self-contained, escaped, best values in bold, atomic, clear without matplotlib."""

from __future__ import annotations

import os
import re
import sys

import pandas as pd
import pytest

from xsell.errors import InputError
from xsell.evaluation.report import write_report

K = 5
METRICS = ["hit_rate", "precision", "recall", "ndcg", "mrr", "map", "coverage", "revenue"]


def _results(names=("cooc", "ease", "popular")) -> pd.DataFrame:
    rows = [  # hit_rate, precision, recall, ndcg, mrr, map, coverage, popularity, revenue, fit_s, score_s
        (0.123456, 0.0246, 0.1234, 0.0812, 0.0701, 0.0655, 0.41, 0.052, 1234.5, 0.5, 1.25),
        (0.145678, 0.0291, 0.1456, 0.0955, 0.0822, 0.0770, 0.22, 0.081, 23456.7, 2.0, 0.75),
        (0.051234, 0.0102, 0.0512, 0.0311, 0.0280, 0.0251, 0.01, 0.300, 210.0, 0.01, 0.1),
    ]
    frame = pd.DataFrame(rows[:len(names)], columns=["hit_rate", "precision", "recall", "ndcg", "mrr", "map",
                                                     "coverage", "popularity", "revenue", "fit_s", "score_s"])
    frame.insert(0, "model", list(names))
    return frame


def _curves(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, row in results.iterrows():
        for metric in METRICS:
            for k in range(1, K + 1):
                growth = 1.0 if metric == "precision" else k / K
                rows.append((row["model"], k, metric, float(row[metric]) * growth))
    return pd.DataFrame(rows, columns=["model", "k", "metric", "value"])


META = {"title": "Shop & co <2024>", "dataset": "synthetic", "task": "basket-completion", "split": "quantile 0.8",
        "k": K, "baskets": 12345, "train_orders": 800, "test_orders": 200, "seed": 0, "xsell_version": "0.1",
        "tuned": {"l2": 200.0}}


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    results = _results(("cooc", "a<b>", "popular"))
    path = write_report(tmp_path_factory.mktemp("report") / "report.html", results, _curves(results), META)
    assert path.is_file()
    return path.read_text(encoding="utf-8")


def test_page_is_self_contained_html_with_embedded_plots(page):
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page and "<script" not in page and "<link" not in page
    assert "url(" not in page and "@import" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 3  # metrics at k, accuracy against coverage, revenue at k
    assert all(s.startswith("data:image/png;base64,iVBOR") for s in srcs)  # the PNG signature, base64


def test_page_shows_models_values_and_meta_escaped(page):
    assert "<td>cooc</td>" in page and "<td>popular</td>" in page
    assert "<td>a&lt;b&gt;</td>" in page and "a<b>" not in page
    assert "0.1235" in page  # hit_rate 0.123456 to 4 significant digits
    assert "23,460" in page  # revenue 23456.7 to 4 significant digits, no exponent
    assert "<title>Shop &amp; co &lt;2024&gt;</title>" in page
    assert "<dd>12,345</dd>" in page and "<dd>l2=200.0</dd>" in page
    assert "share of baskets with a hidden item in the top k" in page


def test_best_value_per_metric_is_bold_except_popularity_and_timings(page):
    bold = set(re.findall(r"<b>([^<]*)</b>", page))
    assert "0.1457" in bold and "0.1235" not in bold  # hit_rate: a<b> is best
    assert "0.41" in bold  # coverage: cooc is best
    assert "23,460" in bold  # revenue
    assert "0.3" not in bold and "0.052" not in bold  # popularity: neither the highest nor the lowest
    assert "2" not in bold and "1.25" not in bold  # fit_s, score_s


def test_revenue_plot_only_when_there_is_revenue(tmp_path):
    results = _results(("cooc", "ease")).assign(revenue=0.0)
    curves = _curves(results).query("metric in ['hit_rate', 'revenue']")  # one panel: a cheap plot
    page = write_report(tmp_path / "r.html", results, curves, {"k": K}).read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2
    assert "Revenue at k" not in page
    bold = re.findall(r"<b>([^<]*)</b>", page)
    assert "0.1457" in bold and "0" not in bold  # revenue 0 for both: nothing to call best


def test_missing_columns_and_empty_results_are_refused(tmp_path):
    results = _results().drop(columns=["ndcg", "score_s"])
    with pytest.raises(InputError, match=r"^results lack the column\(s\) ndcg, score_s$"):
        write_report(tmp_path / "r.html", results, _curves(_results()), META)
    with pytest.raises(InputError, match=r"^no models to report$"):
        write_report(tmp_path / "r.html", _results().iloc[:0], _curves(_results()), META)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "report.html"
    results = _results(("cooc", "ease"))
    write_report(path, results, None, {"title": "first run"})  # no curves: one plot, fast
    os.link(path, tmp_path / "old.html")  # a rename leaves this link on the old content; a rewrite would not
    returned = write_report(str(path), results, None, {"title": "second run"})
    assert returned == path
    text = path.read_text(encoding="utf-8")
    assert "second run" in text and "first run" not in text
    assert "first run" in (tmp_path / "old.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html", "report.html"]  # no temporary left


def test_missing_matplotlib_gives_the_install_hint(tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    results = _results()
    with pytest.raises(InputError, match=r"^the HTML report needs matplotlib: pip install 'xsell\[report\]'$"):
        write_report(tmp_path / "r.html", results, _curves(results), META)
    assert list(tmp_path.iterdir()) == []
