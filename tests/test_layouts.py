"""Orders in the basket layout (issue 12, section 1): one basket per line, items split by a separator, no
header (the arules/mlxtend format, e.g. Groceries). Each file loads the same orders as the canonical
order_id,item_id CSV written from the same baskets."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import InputError
from tests.conftest import GROCERIES

BASKETS = [["citrus fruit", "semi-finished bread", "margarine"], ["tropical fruit", "yogurt", "coffee"],
           ["whole milk"], ["crème fraîche", "yogurt", "whole milk", "yogurt"], ["pip fruit", "yogurt"]]


def _canonical(tmp_path, baskets=BASKETS) -> xsell.Orders:
    """The same baskets as an order_id,item_id CSV: order ids 1, 2, ... (blank baskets get no number)."""
    lines = [(n, item) for n, basket in enumerate(baskets, start=1) for item in basket]
    path = tmp_path / "canonical.csv"
    pd.DataFrame(lines, columns=["order_id", "item_id"]).to_csv(path, index=False)
    return xsell.load_orders(path)


def _same_orders(a: xsell.Orders, b: xsell.Orders) -> None:
    assert a.items.ids.tolist() == b.items.ids.tolist()
    assert [str(i) for i in a.orders.ids.tolist()] == [str(i) for i in b.orders.ids.tolist()]
    np.testing.assert_array_equal(a.order_index, b.order_index)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    assert (a.report.lines_read, a.report.lines_kept) == (b.report.lines_read, b.report.lines_kept)


@pytest.mark.parametrize("sep, eol, pad", [(",", "\n", ""), (";", "\r\n", " "), (" | ", "\n", "  "), ("\t", "\n", "")])
def test_a_basket_file_loads_the_orders_of_the_canonical_csv(tmp_path, sep, eol, pad) -> None:
    text = eol.join(sep.join(f"{pad}{item}{pad}" for item in basket) for basket in BASKETS) + eol
    path = tmp_path / "baskets.txt"
    path.write_text(text, encoding="utf-8", newline="")
    got = xsell.load_orders(path, layout="baskets", sep=None if sep == "," else sep)
    _same_orders(got, _canonical(tmp_path))
    assert got.n_orders == 5 and got.n_items == 9
    assert got.report.lines_read == 13  # "yogurt" twice in the fourth basket: one line after merging
    assert got.n_lines == 12


def test_blank_lines_trailing_separators_a_bom_and_gzip(tmp_path) -> None:
    text = "\ufeff" + "\n\n".join(",".join(b) + "," for b in BASKETS) + "\n\n   \n"
    path = tmp_path / "baskets.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    _same_orders(xsell.load_orders(path, layout="baskets"), _canonical(tmp_path))


def test_the_basket_layout_is_refused_where_it_cannot_apply(tmp_path) -> None:
    path = tmp_path / "b.txt"
    path.write_text("a,b\nc\n")
    cases = [
        (lambda: xsell.load_orders(path, layout="rows"), "layout must be 'lines' or 'baskets', got 'rows'"),
        (lambda: xsell.load_orders(path, {"order_id": "x"}, layout="baskets"),
         "columns do not apply to layout='baskets': a basket file has no header; each line is one order and its items"),
        (lambda: xsell.load_orders(path, sep="ab"),
         "sep must be one character for a CSV file (e.g. ';' or '\\t'), got 'ab'"),
        (lambda: xsell.load_orders(pd.DataFrame({"a": [1]}), layout="baskets"),
         "orders with layout='baskets' must be the path of a text file (one basket per line), not DataFrame"),
        (lambda: xsell.load_orders(path, layout="baskets", sep=""),
         "sep must be a non-empty separator without line breaks, got ''"),
        (lambda: xsell.load_orders(tmp_path / "none.txt", layout="baskets"), f"orders file not found: {tmp_path / 'none.txt'}"),
    ]
    for call, message in cases:
        with pytest.raises(InputError) as caught:
            call()
        assert str(caught.value) == message
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n,\n")
    with pytest.raises(InputError) as caught:
        xsell.load_orders(blank, layout="baskets")
    assert str(caught.value) == f"no order lines in {blank}: the file is empty"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("crème,brûlée\n".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        xsell.load_orders(latin, layout="baskets")
    assert str(caught.value) == (f"cannot read {latin}: it is not UTF-8 text; convert it to UTF-8, for example "
                                 f"with iconv -f latin1 -t utf-8")


def test_the_cli_reads_a_basket_file_and_rejects_an_unknown_layout_as_a_usage_error(tmp_path) -> None:
    path = tmp_path / "baskets.csv"
    path.write_text("\n".join(",".join(b) for b in BASKETS) + "\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)

    done = run("fit", str(path), "--layout", "baskets", "-o", "m.xsell")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "saved m.xsell: cooccurrence, 9 items, 5 orders, 0 neighbour pairs"
    model = xsell.load_model(tmp_path / "m.xsell")
    assert sorted(model.items_.ids.tolist()) == sorted({i for b in BASKETS for i in b})
    bad = run("fit", str(path), "--layout", "rows", "-o", "m2.xsell")
    assert bad.returncode == 2 and not (tmp_path / "m2.xsell").exists()
    assert bad.stderr.startswith("error: Invalid value for '--layout'") and "'lines', 'baskets'" in bad.stderr


@pytest.mark.skipif(not GROCERIES.exists(), reason="../shared/data/groceries not present")
def test_groceries_has_its_published_counts() -> None:
    orders = xsell.load_orders(GROCERIES, layout="baskets")
    assert (orders.n_orders, orders.n_items, orders.n_lines) == (9_835, 169, 43_367)  # arules' Groceries


# -- CSV separators: found from the file (issue 12, section 1), or given ------------------------------------

LINES = pd.DataFrame({"Invoice": ["1", "1", "2", "2", "3"], "SKU": ["A;1", "B,2", "A;1", "C", "B,2"],
                      "Qty": ["2", "1", "1", "3", "1"], "Name": ["x", "y; z", "x", "w, v", "y; z"]})
MAPPED = {"order_id": "Invoice", "item_id": "SKU", "quantity": "Qty"}


@pytest.mark.parametrize("sep, name", [(";", "orders.csv"), ("\t", "orders.csv"), ("|", "orders.txt.csv"),
                                       (",", "orders.tsv")])
def test_a_csv_separator_is_found_from_the_file(tmp_path, sep, name) -> None:
    path = tmp_path / name
    LINES.to_csv(path, sep=sep, index=False)  # quoted where a field holds ; or ,
    canonical = tmp_path / "canonical.csv"
    LINES.to_csv(canonical, index=False)
    got, want = xsell.load_orders(path, MAPPED), xsell.load_orders(canonical, MAPPED)
    _same_orders(got, want)
    np.testing.assert_array_equal(got.quantity, want.quantity)
    assert got.items.ids.tolist() == ["A;1", "B,2", "C"]


def test_a_given_separator_wins_and_streaming_finds_it_too(tmp_path) -> None:
    path = tmp_path / "orders.csv"
    LINES.to_csv(path, sep=";", index=False)
    with pytest.raises(InputError) as caught:
        xsell.load_orders(path, MAPPED, sep=",")  # the whole header is one column when split by commas
    assert str(caught.value).startswith(f"missing required column 'order_id' (mapped to 'Invoice') in {path}; "
                                        f"its columns are: Invoice;SKU;Qty;Name")
    model = xsell.CoOccurrence(min_count=1).fit(xsell.load_orders(path, MAPPED))
    baskets = tmp_path / "baskets.csv"
    pd.DataFrame({"basket_id": ["b1", "b2"], "item_id": ["A;1", "C"]}).to_csv(baskets, sep=";", index=False)
    from xsell.batch import score_file

    score_file(model, baskets, tmp_path / "out.csv", k=2, workers=1)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    want = model.recommend_batch(pd.DataFrame({"basket_id": ["b1", "b2"], "item_id": ["A;1", "C"]}), k=2)
    assert out["item_id"].tolist() == want["item_id"].astype(str).tolist()
    assert out["basket_id"].tolist() == want["basket_id"].astype(str).tolist()


def test_a_one_column_csv_keeps_the_comma(tmp_path) -> None:
    from xsell.data.tables import sniff_sep

    path = tmp_path / "items.csv"
    path.write_text("item_id\nA;1\nB|2\n")
    assert sniff_sep(path, ",") == ","
