"""The one table reader behind load_orders, load_catalog, `xsell score` and load_online_retail
(`xsell.data.tables`): the same lines give the same DataFrame whatever they come in, and a missing column
is refused with one exact message per source."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pytest

import xsell
from xsell.data.tables import read_chunks, read_table, table_format
from xsell.errors import InputError

# ids as a shop writes them: a leading zero, text pandas would take for missing, spaces, a quoted comma
LINES = pd.DataFrame({"order_id": ["0042", "0042", "7", "NA"], "item_id": ["A-1", " b", "x,y", "null"],
                      "note": ["one", None, "three", "four"]})


CSV = 'order_id,item_id,note\n0042,A-1,one\n0042, b,\n7,"x,y",three\nNA,null,four\n'
TSV = "order_id\titem_id\tnote\n0042\tA-1\tone\n0042\t b\t\n7\tx,y\tthree\nNA\tnull\tfour\n"


def _csv(tmp: Path) -> Path:
    (tmp / "lines.csv").write_text(CSV)
    return tmp / "lines.csv"


def _tsv(tmp: Path) -> Path:
    (tmp / "lines.tsv").write_text(TSV)
    return tmp / "lines.tsv"


def _csv_gz(tmp: Path) -> Path:
    with gzip.open(tmp / "lines.csv.gz", "wt") as f:
        f.write(CSV)
    return tmp / "lines.csv.gz"


def _parquet(tmp: Path) -> Path:
    LINES.to_parquet(tmp / "lines.parquet", index=False)
    return tmp / "lines.parquet"


SOURCES: dict[str, Callable[[Path], Any]] = {
    "csv": _csv, "tsv": _tsv, "csv.gz": _csv_gz, "parquet": _parquet,
    "DataFrame": lambda tmp: LINES.copy(), "pyarrow Table": lambda tmp: pa.Table.from_pandas(LINES),
}


def _label(source: Any) -> str:
    return "DataFrame" if isinstance(source, pd.DataFrame) else "pyarrow Table" if isinstance(source, pa.Table) \
        else str(source)


@pytest.mark.parametrize("kind", SOURCES)
def test_the_same_lines_give_the_same_frame_from_every_source(kind: str, tmp_path: Path) -> None:
    source = SOURCES[kind](tmp_path)
    frame, label = read_table(source, what="orders", columns=["order_id", "item_id", "note"])
    assert label == _label(source)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), LINES)  # "0042" stays "0042", "NA" stays "NA"


@pytest.mark.parametrize("kind", SOURCES)
def test_load_orders_and_load_catalog_read_every_source_alike(kind: str, tmp_path: Path) -> None:
    orders = xsell.load_orders(SOURCES[kind](tmp_path), drop_placeholders=False)
    assert orders.orders.ids.tolist() == ["0042", "7", "NA"]
    assert sorted(orders.items.ids.tolist()) == [" b", "A-1", "null", "x,y"]
    cleaned = xsell.load_orders(SOURCES[kind](tmp_path))  # by default the item "null" is a placeholder
    assert (cleaned.orders.ids.tolist(), cleaned.report.items_dropped) == (["0042", "7"], (("null", 1),))
    catalog = xsell.load_catalog(SOURCES[kind](tmp_path))
    assert catalog.frame.index.tolist() == ["A-1", " b", "x,y", "null"]
    assert catalog.attributes["order_id"].tolist() == ["0042", "0042", "7", "NA"]


@pytest.mark.parametrize("kind", SOURCES)
def test_a_missing_column_is_named_with_the_columns_there(kind: str, tmp_path: Path) -> None:
    source = SOURCES[kind](tmp_path)
    label = _label(source)
    with pytest.raises(InputError, match="^" + re.escape(
            f"{label} lacks column(s) basket_id; it has: order_id, item_id, note") + "$"):
        read_table(source, what="baskets", columns=["basket_id", "item_id"], required=["basket_id", "item_id"])
    with pytest.raises(InputError, match="^" + re.escape(
            f"missing required column 'order_id' (mapped to 'Invoice') in {label}; its columns are: order_id, "
            "item_id, note; map yours with --column order_id=NAME or columns={'order_id': NAME}") + "$"):
        xsell.load_orders(source, columns={"order_id": "Invoice"})


@pytest.mark.parametrize("name, content", [("b.csv", "basket_id,item_id,basket_id\nx,a,y\n"),
                                           ("b.tsv", "basket_id\titem_id\tbasket_id\nx\ta\ty\n")])
def test_a_repeated_column_is_refused_before_pandas_renames_it(name: str, content: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    message = f"{path} has column(s) basket_id more than once; keep one of each"
    for read in (lambda: read_table(path, what="baskets", columns=["basket_id", "item_id"]),
                 lambda: read_chunks(path, what="baskets", required=["basket_id", "item_id"], chunk_lines=10)):
        with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
            read()


def test_a_ragged_line_is_refused_in_a_whole_table(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("order_id,item_id\n1,a\n2,b,EXTRA\n")
    with pytest.raises(InputError, match="^" + re.escape(
            f"cannot read CSV file {path}: line 3 has 3 fields, the header has 2") + "$"):
        read_table(path, what="orders")


@pytest.mark.parametrize("kind", ["csv", "tsv", "csv.gz", "parquet"])
def test_chunks_hold_the_lines_of_the_whole_table(kind: str, tmp_path: Path) -> None:
    path = SOURCES[kind](tmp_path)
    chunks = read_chunks(path, what="baskets", required=["order_id", "item_id"], optional=["note", "customer_id"],
                         chunk_lines=3, first_lines=1)
    frames = list(chunks.frames)
    assert [len(f) for f in frames] == ([3, 1] if kind == "parquet" else [1, 3])  # CSV: a small first chunk
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), LINES)
    assert chunks.total == (4 if kind == "parquet" else None)
    assert chunks.place(0) == ("row 1" if kind == "parquet" else "line 2")
    assert chunks.schema.names == ["order_id", "item_id", "note"]


def test_table_format_by_suffix() -> None:
    assert [table_format(p) for p in ("a.csv", "a.TSV", "a.tsv.gz", "a.csv.gz", "a.txt", "a.pq", "a.parquet",
                                      "a.xml", "a")] == ["csv", "tsv", "tsv", "csv", "csv", "parquet", "parquet",
                                                         None, None]
    assert [table_format(p) for p in ("a.csv.zst", "a.tsv.zst", "a.gz", "a.XLSX", "a.xlsm", "a.json", "a.json.gz",
                                      "a.jsonl", "a.ndjson.zst", "a.parquet.gz", "a.xlsx.zst", "a.xls")] == [
        "csv", "tsv", "csv", "excel", "excel", "json", "json", "jsonl", "jsonl", None, None, None]
