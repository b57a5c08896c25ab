"""Bad and odd input to `load_orders`, one table row per case: the input and the exact outcome.

Each row builds its input (a DataFrame, a pyarrow Table or a file written to
tmp_path) and says either the exact InputError message or what is loaded (the
report text, the (order, item) lines kept and, where it matters, other columns).
`{src}` in an expected text stands for the source's label: 'DataFrame',
'pyarrow Table' or the file's path. File cases marked `cli` run through the
real `xsell fit` entry point too: exit code 1, one line on stderr, no traceback.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
import sys
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xsell
from xsell import IdMap, InputError
from xsell.cli import main

Builder = Callable[[Path], Any]


@dataclass
class Refused:
    message: str  # exact, with {src}


@dataclass
class Loaded:
    report: str  # exact str(orders.report), with {src}
    lines: list[tuple[Any, Any]]  # (order_id, item_id) of the cleaned lines, in order
    columns: dict[str, list[Any]] = field(default_factory=dict)  # other to_frame() columns


# -- input builders ------------------------------------------------------------------
def frame(**cols: Any) -> Builder:
    return lambda tmp: pd.DataFrame(cols)


def table(tbl: Callable[[], pa.Table]) -> Builder:
    return lambda tmp: tbl()


def text_file(content: str | bytes, name: str = "orders.csv") -> Builder:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path
    return build


def parquet_file(tbl: Callable[[], pa.Table], name: str = "orders.parquet") -> Builder:
    def build(tmp: Path) -> Path:
        path = tmp / name
        pq.write_table(tbl(), path)
        return path
    return build


def gz_file(content: str) -> Builder:
    def build(tmp: Path) -> Path:
        path = tmp / "orders.csv.gz"
        with gzip.open(path, "wt") as f:
            f.write(content)
        return path
    return build


def folder(tmp: Path) -> Path:
    return tmp


UCI = {"order_id": "InvoiceNo", "item_id": "StockCode", "quantity": "Quantity", "price": "UnitPrice"}
UCI_BAD_DEBT = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\n"
    "A563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,United Kingdom\n"
    "A563187,B,Adjust bad debt,1,8/12/2011 14:52,-11062.06,,United Kingdom\n"
    "536366,85123A,WHITE HANGING HEART,2,12/1/2010 8:28,2.55,17850,United Kingdom\n"
)
# pandas 2.0's CSV reader drops a NUL ('A\x00' reads as 'A'); later ones keep it, and load_orders refuses it
CSV_KEEPS_NUL = pd.read_csv(io.StringIO("id\nA\x00\n"), dtype=str)["id"][0] == "A\x00"
FAR = dt.datetime(2300, 1, 1)
LONG = "x" * 20_000
OUTSIDE = "timestamps outside 1677-09-22 00:00:00..2262-04-11 23:47:16"
PRICE = "lines with a negative, missing or infinite price"
QTY = "lines with a missing or infinite quantity"


def _ts_table(unit: str = "us") -> pa.Table:
    return pa.table({"order_id": [1, 2], "item_id": ["a", "b"],
                     "timestamp": pa.array([dt.datetime(2024, 1, 1), FAR], pa.timestamp(unit))})


CASES = [
    # -- prices and quantities: left out and counted ---------------------------------
    pytest.param(frame(order_id=[1, 1, 2], item_id=["a", "b", "a"], price=[1.0, -11062.06, 2.0]), {},
                 Loaded(f"3 lines read from {{src}}; 1 {PRICE} left out; 2 lines kept",
                        [(1, "a"), (2, "a")], {"price": [1.0, 2.0]}), id="negative-price"),
    pytest.param(text_file(UCI_BAD_DEBT), {"columns": UCI},
                 Loaded(f"5 lines read from {{src}}; 2 {PRICE} left out; 3 lines kept",
                        [("536365", "85123A"), ("536365", "71053"), ("536366", "85123A")],
                        {"price": [2.55, 3.39, 2.55]}), id="uci-adjust-bad-debt-csv"),
    pytest.param(frame(order_id=[1, 1, 2], item_id=["a", "b", "a"], price=[1.0, np.nan, 2.0]), {},
                 Loaded(f"3 lines read from {{src}}; 1 {PRICE} left out; 2 lines kept",
                        [(1, "a"), (2, "a")]), id="nan-price"),
    pytest.param(frame(order_id=[1, 1, 2], item_id=["a", "b", "a"], price=[np.inf, 1.0, -np.inf]), {},
                 Loaded(f"3 lines read from {{src}}; 2 {PRICE} left out; 1 lines kept", [(1, "b")]),
                 id="inf-price"),
    pytest.param(text_file("order_id,item_id,price\n1,a,\n1,b,2.5\n2,a,NA\n2,c,inf\n"), {},
                 Loaded(f"4 lines read from {{src}}; 3 {PRICE} left out; 1 lines kept", [("1", "b")],
                        {"price": [2.5]}), id="missing-na-and-inf-price-text-csv"),
    pytest.param(frame(order_id=[1, 1, 2], item_id=["a", "b", "a"], quantity=[1.0, np.nan, 2.0]), {},
                 Loaded(f"3 lines read from {{src}}; 1 {QTY} left out; 2 lines kept", [(1, "a"), (2, "a")]),
                 id="nan-quantity"),
    pytest.param(text_file("order_id,item_id,quantity\n1,a,1e400\n1,b,2\n2,a,-inf\n"), {},
                 Loaded(f"3 lines read from {{src}}; 2 {QTY} left out; 1 lines kept", [("1", "b")]),
                 id="inf-quantity-text-csv"),
    pytest.param(text_file("order_id\titem_id\tquantity\n1\ta\t\n1\tb\t3\n", "orders.tsv"), {},
                 Loaded(f"2 lines read from {{src}}; 1 {QTY} left out; 1 lines kept", [("1", "b")],
                        {"quantity": [3.0]}), id="missing-quantity-tsv"),
    pytest.param(frame(order_id=[1, 1, 2, 3], item_id=["a", "b", "a", "a"], quantity=[np.nan, 1, -1, 2],
                       price=[-1.0, -1.0, 1.0, 1.0]), {},
                 Loaded(f"4 lines read from {{src}}; 1 {QTY} left out; 1 {PRICE} left out; "
                        "1 returns/cancellations (quantity <= 0) left out; 1 lines kept", [(3, "a")]),
                 id="each-line-counted-once-first-reason"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], price=[-1.0, np.nan]), {},
                 Refused(f"no order lines left in {{src}}: all 2 lines were left out: 2 {PRICE}"),
                 id="every-price-bad"),
    pytest.param(text_file("order_id,item_id,quantity,price\n1,a,1,-5\n2,b,-1,5\n"), {},
                 Refused(f"no order lines left in {{src}}: all 2 lines were left out: 1 {PRICE}; "
                         "1 returns/cancellations (quantity <= 0)"), id="every-line-left-out-csv"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], quantity=[0, -3]), {},
                 Refused("no order lines left in {src}: all 2 lines have quantity <= 0 (returns); "
                         "pass keep_returns=True (xsell: --keep-returns) to keep them"), id="every-line-a-return"),
    pytest.param(frame(order_id=["A", "A", "B"], item_id=["x", "x", "x"], quantity=[1e10, 1.0, 1.0],
                       price=[1e300, 2.0, 3.0]), {},
                 Loaded("3 lines read from {src}; 1 lines whose price x quantity overflows float64 left out; "
                        "2 lines kept", [("A", "x"), ("B", "x")], {"quantity": [1.0, 1.0], "price": [2.0, 3.0]}),
                 id="amount-overflow-left-out"),
    pytest.param(frame(order_id=["A", "A", "B"], item_id=["x", "x", "x"], quantity=[1e308, 1e308, 1.0]), {},
                 Refused("merging duplicate (order, item) lines gives a quantity beyond float64 for 1 pairs; "
                         "first (order, item): ('A', 'x'); check the quantity column"), id="merged-quantity-overflow"),
    pytest.param(frame(order_id=["A", "A", "B"], item_id=["x", "x", "x"], price=[1e308, 1.7e308, 3.0]), {},
                 Loaded("3 lines read from {src}; 1 duplicate (order, item) lines merged; 2 lines kept",
                        [("A", "x"), ("B", "x")], {"price": [1.35e308, 3.0]}), id="merged-huge-prices-stay-finite"),
    pytest.param(frame(order_id=[1], item_id=["a"], quantity=[1e308], price=[1.0]), {},
                 Loaded("1 lines read from {src}; 1 lines kept", [(1, "a")], {"quantity": [1e308]}),
                 id="huge-but-finite-numbers"),
    pytest.param(frame(order_id=[1, 1, 2], item_id=["a", "b", "a"], quantity=[1, 0, -2]), {},
                 Loaded("3 lines read from {src}; 2 returns/cancellations (quantity <= 0) left out; 1 lines kept",
                        [(1, "a")]), id="zero-and-negative-quantity"),
    pytest.param(frame(order_id=[1, 1, 2], item_id=["a", "b", "a"], quantity=[1, 0, -2]), {"keep_returns": True},
                 Loaded("3 lines read from {src}; 3 lines kept", [(1, "a"), (1, "b"), (2, "a")],
                        {"quantity": [1.0, 0.0, -2.0]}), id="keep-returns"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], price=[0.0, 1.0]), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [(1, "a"), (2, "b")], {"price": [0.0, 1.0]}),
                 id="zero-price-is-kept"),
    pytest.param(text_file("order_id,item_id,quantity\n1,a,1\n2,b,two\n"), {},
                 Refused("column 'quantity' has 1 non-numeric values; first rows (0-based): 1 ('two')"),
                 id="quantity-as-text-csv"),
    pytest.param(text_file('order_id,item_id,price\n1,a,"1,50"\n'), {},
                 Refused("column 'price' has 1 non-numeric values; first rows (0-based): 0 ('1,50')"),
                 id="price-with-decimal-comma-csv"),
    # -- timestamps ---------------------------------------------------------------------
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"],
                       timestamp=np.array(["2024-01-01", "2300-01-01"], dtype="datetime64[us]")), {},
                 Refused(f"column 'timestamp' has 1 {OUTSIDE}; first rows (0-based): 1 ('2300-01-01 00:00:00')"),
                 id="datetime64-us-after-2262"),
    pytest.param(table(_ts_table), {},
                 Refused(f"column 'timestamp' has 1 {OUTSIDE}; first rows (0-based): 1 ('2300-01-01 00:00:00')"),
                 id="arrow-timestamp-us-after-2262"),
    pytest.param(parquet_file(_ts_table), {},
                 Refused(f"column 'timestamp' has 1 {OUTSIDE}; first rows (0-based): 1 ('2300-01-01 00:00:00')"),
                 id="parquet-timestamp-us-after-2262"),
    pytest.param(text_file("order_id,item_id,InvoiceDate\n1,a,2300-01-01\n2,b,2024-05-01\n3,c,1500-06-01\n"),
                 {"columns": {"timestamp": "InvoiceDate"}},
                 Refused(f"column 'timestamp' (column 'InvoiceDate') has 2 {OUTSIDE}; "
                         "first rows (0-based): 0 ('2300-01-01'), 2 ('1500-06-01')"),
                 id="string-dates-outside-csv"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"],
                       timestamp=pd.Series([dt.datetime(2024, 1, 1), dt.datetime(1600, 1, 1)], dtype=object)), {},
                 Refused(f"column 'timestamp' has 1 {OUTSIDE}; first rows (0-based): 1 ('1600-01-01 00:00:00')"),
                 id="python-datetimes-before-1677"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], timestamp=pd.to_datetime(["2024-05-01", None])), {},
                 Refused("column 'timestamp' has 1 missing timestamps; first rows (0-based): 1"), id="nat-timestamp"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"],
                       timestamp=pd.to_datetime(["2024-05-01 10:00", "2024-12-01 10:00"]).tz_localize("Europe/Berlin")),
                 {}, Loaded("2 lines read from {src}; 2 lines kept", [(1, "a"), (2, "b")],
                            {"timestamp": [pd.Timestamp("2024-05-01 08:00"), pd.Timestamp("2024-12-01 09:00")]}),
                 id="timezone-aware-timestamps-to-utc"),
    pytest.param(text_file("order_id,item_id,timestamp\n1,a,2024-05-01\n2,b,yesterday\n"), {},
                 Refused("column 'timestamp' has 1 unparseable timestamps; first rows (0-based): 1 ('yesterday')"),
                 id="unparseable-date-csv"),
    # -- columns --------------------------------------------------------------------------
    pytest.param(lambda tmp: pd.DataFrame([[1, "a", "b"]], columns=["order_id", "item_id", "item_id"]), {},
                 Refused("{src} has more than one column named 'item_id' (2 times); rename or drop the extra ones"),
                 id="duplicate-column-dataframe"),
    pytest.param(table(lambda: pa.table([[1], ["a"], [2]], names=["order_id", "item_id", "order_id"])), {},
                 Refused("{src} has more than one column named 'order_id' (2 times); rename or drop the extra ones"),
                 id="duplicate-column-arrow"),
    pytest.param(text_file("order_id,item_id,item_id\n1,a,b\n"), {},
                 Refused("{src} has more than one column named 'item_id' (2 times); rename or drop the extra ones"),
                 id="duplicate-column-csv-header"),
    pytest.param(parquet_file(lambda: pa.table([[1], ["a"], ["b"], [3]],
                                               names=["order_id", "item_id", "item_id", "order_id"])), {},
                 Refused("{src} has more than one column named 'order_id' (2 times), 'item_id' (2 times); "
                         "rename or drop the extra ones"), id="duplicate-columns-parquet"),
    pytest.param(lambda tmp: pd.DataFrame([[1, "a", "x", "y"]], columns=["order_id", "item_id", "Note", "Note"]), {},
                 Loaded("1 lines read from {src}; 1 lines kept", [(1, "a")]), id="duplicate-unused-column-is-fine"),
    pytest.param(frame(order_id=[1], item_id=["a"]), {"columns": ["order_id", "item_id"]},
                 Refused("columns must be a mapping of role to column name, e.g. {'order_id': 'InvoiceNo'}; got list"),
                 id="columns-as-list"),
    pytest.param(frame(order_id=[1], item_id=["a"]), {"columns": "order_id"},
                 Refused("columns must be a mapping of role to column name, e.g. {'order_id': 'InvoiceNo'}; got str"),
                 id="columns-as-string"),
    pytest.param(frame(order_id=[1], item_id=["a"]), {"columns": {"order_id": 0}},
                 Refused("columns must map roles to column names given as strings; got 'order_id': 0"),
                 id="column-name-not-a-string"),
    # -- ids --------------------------------------------------------------------------------
    pytest.param(text_file(f"order_id,item_id\n1,a\n1,b\n2,a\n2,{LONG}\n"), {},
                 Refused("column 'item_id' has 1 ids longer than 256 characters; "
                         "first rows (0-based): 3 (20000 characters)"),
                 id="20000-character-item-id-csv"),
    pytest.param(parquet_file(lambda: pa.table({"order_id": ["o" * 257, "1"], "item_id": ["a", "b"]})), {},
                 Refused("column 'order_id' has 1 ids longer than 256 characters; "
                         "first rows (0-based): 0 (257 characters)"),
                 id="257-character-order-id-parquet"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], customer_id=["k" * 300, None]), {},
                 Refused("column 'customer_id' has 1 ids longer than 256 characters; "
                         "first rows (0-based): 0 (300 characters)"),
                 id="long-customer-id"),
    pytest.param(frame(order_id=[1, 2], item_id=["i" * 256, "b"]), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [(1, "i" * 256), (2, "b")]),
                 id="256-characters-is-fine"),
    pytest.param(frame(order_id=[1, 2], item_id=["A\x00", "A"]), {},
                 Refused("column 'item_id' has 1 ids containing the NUL character ('\\x00'); "
                         "first rows (0-based): 0 ('A\\x00')"), id="nul-in-id"),
    pytest.param(text_file(b"order_id,item_id\n1,A\n2,A\x00\n"), {},
                 Refused("column 'item_id' has 1 ids containing the NUL character ('\\x00'); "
                         "first rows (0-based): 1 ('A\\x00')") if CSV_KEEPS_NUL else
                 # pandas 2.0 reads 'A\x00' as 'A': then the two lines hold one item and nothing collides
                 Loaded("2 lines read from {src}; 2 lines kept", [("1", "A"), ("2", "A")]), id="nul-in-id-csv"),
    pytest.param(frame(order_id=[1, 2], item_id=np.array([2**63 + 5, 7], dtype=np.uint64)), {},
                 Refused("column 'item_id' has 1 ids beyond the int64 range; "
                         "first rows (0-based): 0 (9223372036854775813); "
                         "convert it to strings, for example df['item_id'].astype(str)"), id="uint64-beyond-int64"),
    pytest.param(frame(order_id=[1, 2], item_id=pd.Series([7, 2**70], dtype=object)), {},
                 Refused("column 'item_id' has 1 ids beyond the int64 range; "
                         "first rows (0-based): 1 (1180591620717411303424); "
                         "convert it to strings, for example df['item_id'].astype(str)"), id="python-int-beyond-int64"),
    pytest.param(frame(order_id=[1.0, np.inf], item_id=["a", "b"]), {},
                 Refused("column 'order_id' has 1 ids beyond the int64 range; first rows (0-based): 1 (inf); "
                         "convert it to strings, for example df['order_id'].astype(str)"), id="infinite-float-id"),
    pytest.param(frame(order_id=[1, 2], item_id=pd.Series([3, 1], dtype=object)), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [(1, 3), (2, 1)]), id="python-ints-in-object-column"),
    pytest.param(frame(order_id=[1, 2], item_id=[True, False]), {},
                 Refused("column 'item_id' holds booleans (True/False), not ids; map the column that holds the ids"),
                 id="boolean-ids"),
    pytest.param(frame(order_id=[1, 2], item_id=pd.Series([True, None], dtype=object)), {},
                 Refused("column 'item_id' holds booleans (True/False), not ids; map the column that holds the ids"),
                 id="boolean-and-null-ids"),  # the null item is a placeholder (left out); the boolean is refused
    pytest.param(frame(order_id=[1, 2], item_id=pd.Series([True, None], dtype=object)),
                 {"drop_placeholders": False},
                 Refused("column 'item_id' has 1 null ids; first rows (0-based): 1"),
                 id="boolean-and-null-ids-placeholders-kept"),
    pytest.param(frame(order_id=[1, 2, 3], item_id=pd.Series(["a", 2, "c"], dtype=object)), {},
                 Refused("column 'item_id' mixes ids of different types (mixed-integer); first rows (0-based): 1 (2); "
                         "convert it to one type, for example df['item_id'].astype(str)"), id="mixed-str-and-int-ids"),
    pytest.param(frame(order_id=pd.to_datetime(["2024-01-01", "2024-01-02"]), item_id=["a", "b"]), {},
                 Refused("column 'order_id' holds dates or times, not ids; convert it, for example "
                         "df['order_id'].astype(str)"), id="datetime-order-ids"),
    pytest.param(frame(order_id=[1, 2], item_id=[b"a", b"b"]), {},
                 Refused("column 'item_id' holds bytes, not ids; decode them, for example "
                         "df['item_id'].str.decode('utf-8')"), id="bytes-ids"),
    pytest.param(frame(order_id=[1, 2], item_id=pd.Categorical(["x", "y"])), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [(1, "x"), (2, "y")]), id="categorical-ids"),
    pytest.param(text_file("order_id,item_id\n1, a\n1,a\n2,  \n"), {"drop_placeholders": False},
                 Loaded("3 lines read from {src}; 3 lines kept", [("1", " a"), ("1", "a"), ("2", "  ")]),
                 id="whitespace-ids-kept-as-given"),
    pytest.param(text_file("order_id,item_id\n1, a\n1,a\n2,  \n"), {},
                 Loaded("3 lines read from {src}; 1 lines with placeholder or dropped items ('  ' 1) left out; "
                        "2 lines kept", [("1", " a"), ("1", "a")]),
                 id="a-blank-id-is-a-placeholder"),
    pytest.param(text_file('order_id,item_id\n1,"a\nb"\n2,a\n'), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [("1", "a\nb"), ("2", "a")]),
                 id="quoted-newline-in-id"),
    pytest.param(text_file("\ufefforder_id,item_id\n1,a\n"), {},
                 Loaded("1 lines read from {src}; 1 lines kept", [("1", "a")]), id="bom-in-header"),
    pytest.param(frame(order_id=[1, 2, 3], item_id=["a", "", "c"]), {"drop_placeholders": False},
                 Refused("column 'item_id' has 1 null ids; first rows (0-based): 1"), id="empty-string-id-is-null"),
    pytest.param(frame(order_id=[1, 2, 3], item_id=["a", "", "c"]), {},
                 Loaded("3 lines read from {src}; 1 lines with placeholder or dropped items ((empty) 1) left out; "
                        "2 lines kept", [(1, "a"), (3, "c")]), id="empty-string-id-is-a-placeholder"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], customer_id=["", "k1"]), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [(1, "a"), (2, "b")],
                        {"customer_id": [None, "k1"]}), id="empty-customer-id-is-anonymous"),
    pytest.param(text_file("order_id,item_id\nNA,null\n"), {"drop_placeholders": False},
                 Loaded("1 lines read from {src}; 1 lines kept", [("NA", "null")]), id="na-text-is-an-id-in-csv"),
    # -- files ----------------------------------------------------------------------------------
    pytest.param(text_file(""), {}, Refused("no order lines in {src}: the file is empty"),
                 id="empty-csv-file"),
    pytest.param(text_file("", "orders.parquet"), {}, Refused("no order lines in {src}: the file is empty"),
                 id="empty-parquet-file"),
    pytest.param(text_file("order_id,item_id\n"), {}, Refused("no order lines in {src}: the input is empty"),
                 id="header-only-csv"),
    pytest.param(folder, {}, Refused("orders path is a folder, not a file: {src}"), id="folder"),
    pytest.param(text_file("x", "orders.xml"), {},
                 Refused("cannot read {src}: unknown file type '.xml'; use .csv, .tsv, .txt, .parquet, .xlsx, .json or "
                         ".jsonl (text formats also compressed: .gz, .zst)"),
                 id="unknown-suffix"),
    pytest.param(text_file(b"order_id,item_id\n1,caf\xe9\n"), {},
                 Refused("cannot read CSV file {src}: it is not UTF-8 text; convert it to UTF-8, "
                         "for example with iconv -f latin1 -t utf-8"), id="latin1-bytes-csv"),
    pytest.param(gz_file("order_id,item_id\n1,a\n1,a\n"), {},
                 Loaded("2 lines read from {src}; 1 duplicate (order, item) lines merged; 1 lines kept", [("1", "a")]),
                 id="gzip-csv"),
    pytest.param(text_file("Invoice,item_id\n1,a\n"), {},
                 Refused("missing required column 'order_id' in {src}; its columns are: Invoice, item_id; "
                         "map yours with --column order_id=NAME or columns={'order_id': NAME}; a file of one basket "
                         "per line, items split by commas and no header, reads with layout='baskets' (--layout "
                         "baskets)"),
                 id="missing-order-column-csv"),
    # -- lines with a field more or less than the header: refused, naming the line (1-based, header line 1)
    pytest.param(text_file("order_id,item_id\n1,a,EXTRA\n1,b,X\n2,a,Y\n2,b,Z\n"), {},
                 Refused("cannot read CSV file {src}: line 2 has 3 fields, the header has 2"),
                 id="every-data-line-one-field-more-csv"),  # pandas took order_id as the index: all shifted
    pytest.param(text_file("order_id,item_id\n1,a\n1,b\n2,a,EXTRA\n2,b\n"), {},
                 Refused("cannot read CSV file {src}: line 4 has 3 fields, the header has 2"),
                 id="one-ragged-line-csv"),  # usecols dropped the extra field silently
    pytest.param(text_file("order_id,item_id,quantity,note\n1,a,1,x\n1,b,2,y,z\n2,a,1,w\n"), {},
                 Refused("cannot read CSV file {src}: line 3 has 5 fields, the header has 4"),
                 id="ragged-line-in-unused-column-csv"),
    pytest.param(text_file("order_id\titem_id\n1\ta\n2\tb\t\tc\n", "orders.tsv"), {},
                 Refused("cannot read CSV file {src}: line 3 has 4 fields, the header has 2"),
                 id="ragged-line-tsv"),
    pytest.param(gz_file("order_id,item_id\n1,a\n2,b,c\n"), {},
                 Refused("cannot read CSV file {src}: line 3 has 3 fields, the header has 2"),
                 id="ragged-line-csv-gz"),
    pytest.param(text_file("order_id,item_id,quantity\n1,a,1\n1,b\n2,a,1\n"), {},
                 Refused("cannot read CSV file {src}: line 3 has 2 fields, the header has 3"),
                 id="line-one-field-short-csv"),  # was read as a missing quantity and left out
    pytest.param(text_file("order_id,item_id\n1,a\n2\n"), {},
                 Refused("cannot read CSV file {src}: line 3 has 1 field, the header has 2"),
                 id="line-without-item-csv"),  # was a null item id
    pytest.param(text_file('order_id,item_id\n1,"a, b"\n\n2,"c\nd"\n3,e,\n'), {},
                 Refused("cannot read CSV file {src}: line 6 has 3 fields, the header has 2"),
                 id="ragged-line-after-quoted-comma-blank-line-and-line-break-csv"),
    pytest.param(text_file('order_id,item_id\n1,"a, b"\n\n2,"c\nd"\n'), {},
                 Loaded("2 lines read from {src}; 2 lines kept", [("1", "a, b"), ("2", "c\nd")]),
                 id="quoted-comma-blank-line-and-line-break-csv"),
    # -- one column for two roles, keep_returns not a bool: refused
    pytest.param(frame(InvoiceNo=[1], item_id=["a"]), {"columns": {"order_id": "InvoiceNo", "item_id": "InvoiceNo"}},
                 Refused("column 'InvoiceNo' is mapped to two roles: order_id and item_id"),
                 id="one-column-for-order-and-item"),
    pytest.param(frame(order_id=[1], item_id=["a"], q=[1.0]), {"columns": {"quantity": "q", "price": "q"}},
                 Refused("column 'q' is mapped to two roles: quantity and price"),
                 id="one-column-for-quantity-and-price"),
    pytest.param(frame(order_id=[1], item_id=["a"]), {"columns": {"item_id": "order_id"}},
                 Refused("column 'order_id' is mapped to two roles: order_id and item_id"),
                 id="item-mapped-to-the-order-id-column"),
    pytest.param(frame(order_id=[1], item_id=["a"]), {"columns": {"customer_id": "item_id"}},
                 Refused("column 'item_id' is mapped to two roles: item_id and customer_id"),
                 id="customer-mapped-to-the-item-id-column"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], quantity=[1, -1]), {"keep_returns": "no"},
                 Refused("keep_returns must be True or False, got 'no'"), id="keep-returns-text"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], quantity=[1, -1]), {"keep_returns": 1},
                 Refused("keep_returns must be True or False, got 1"), id="keep-returns-int"),
    pytest.param(frame(order_id=[1, 2], item_id=["a", "b"], quantity=[1, -1]), {"keep_returns": None},
                 Refused("keep_returns must be True or False, got None"), id="keep-returns-none"),
]


def _label(source: Any) -> str:
    if isinstance(source, pd.DataFrame):
        return "DataFrame"
    if isinstance(source, pa.Table):
        return "pyarrow Table"
    return str(source)


@pytest.mark.parametrize("build, kwargs, expected", CASES)
def test_load_orders_outcome(tmp_path: Path, build: Builder, kwargs: dict[str, Any], expected: Any) -> None:
    source = build(tmp_path)
    label = _label(source)
    if isinstance(expected, Refused):
        with pytest.raises(InputError, match="^" + re.escape(expected.message.replace("{src}", label)) + "$"):
            xsell.load_orders(source, **kwargs)
        return
    orders = xsell.load_orders(source, **kwargs)
    assert str(orders.report) == expected.report.replace("{src}", label)
    got = orders.to_frame()
    assert list(zip(got["order_id"].tolist(), got["item_id"].tolist())) == expected.lines
    for name, values in expected.columns.items():
        assert [None if pd.isna(v) else v for v in got[name].tolist()] == values, name
    for name in ("quantity", "price"):  # never inf or NaN after cleaning
        if name in got:
            assert np.isfinite(got[name].to_numpy()).all(), name
    if "price" in got:
        assert (got["price"] >= 0).all()


# file cases also run through `xsell fit`
CLI_IDS = ("quantity-as-text-csv", "price-with-decimal-comma-csv", "parquet-timestamp-us-after-2262",
           "string-dates-outside-csv", "unparseable-date-csv", "duplicate-column-csv-header",
           "duplicate-columns-parquet", "20000-character-item-id-csv", "257-character-order-id-parquet",
           "nul-in-id-csv", "empty-csv-file", "header-only-csv", "folder", "unknown-suffix", "latin1-bytes-csv",
           "missing-order-column-csv", "every-line-left-out-csv", "every-data-line-one-field-more-csv",
           "one-ragged-line-csv", "line-one-field-short-csv")
CLI_CASES = [case for case in CASES if case.id in CLI_IDS and isinstance(case.values[2], Refused)]


def _cli_args(kwargs: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for role, name in (kwargs.get("columns") or {}).items():
        args += ["--column", f"{role}={name}"]
    return args + (["--keep-returns"] if kwargs.get("keep_returns") else [])


@pytest.mark.parametrize("build, kwargs, expected", CLI_CASES)
def test_xsell_fit_refuses_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], build: Builder,
                                         kwargs: dict[str, Any], expected: Refused) -> None:
    source = build(tmp_path)
    model = tmp_path / "model.xsell"
    monkeypatch.setattr(sys, "argv", ["xsell", "fit", str(source), "-o", str(model), *_cli_args(kwargs)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    # the CLI prints the library's message on one line (whitespace, such as a newline in an id, collapsed)
    assert err == "error: " + " ".join(expected.message.replace("{src}", _label(source)).split()) + "\n"
    assert "Traceback" not in err
    assert not model.exists()


# -- IdMap: the same limits wherever a map is built ---------------------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda: IdMap(["A\x00", "A"]), "ids must not contain the NUL character ('\\x00')"),
    (lambda: IdMap(np.array(["A", "B\x00C"])), "ids must not contain the NUL character ('\\x00')"),
    (lambda: IdMap(pd.Series(["A\x00", "A"], dtype=object)), "ids must not contain the NUL character ('\\x00')"),
    (lambda: IdMap.from_values(["A\x00", "A"]), "ids must not contain the NUL character ('\\x00')"),
    (lambda: IdMap(["x" * 257]), "ids must be at most 256 characters long; got one of 257 characters"),
    (lambda: IdMap(np.array(["a", "y" * 20_000])),
     "ids must be at most 256 characters long; got one of 20000 characters"),
    (lambda: IdMap.from_values(pd.Series(["a", "z" * 300])),
     "ids must be at most 256 characters long; got one of 300 characters"),
    (lambda: IdMap(np.array([2**63], dtype=np.uint64)),
     "ids must be strings or integers within int64; got 9223372036854775808"),
    (lambda: IdMap([5, 2**64]), "ids must be strings or integers within int64; got 18446744073709551616"),
    (lambda: IdMap([1e19]), "ids must be strings or integers within int64; got a number beyond that range"),
    (lambda: IdMap(np.array(["2024-01-01"], dtype="datetime64[D]")),
     "ids must be strings or integers, not dates or times"),
    (lambda: IdMap([True, 1]), "ids must be strings or integers, not booleans"),
], ids=["nul-list", "nul-inside-array", "nul-series", "nul-from-values", "257-characters", "20000-characters-array",
        "long-from-values", "uint64", "python-int", "float-beyond", "dates", "bool-and-int"])
def test_id_maps_refuse_what_a_model_file_could_not_hold(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
        build()


def test_id_of_256_characters_and_one_with_inner_space_are_kept() -> None:
    ids = IdMap(["x" * 256, "a b", "0042"])
    assert ids.ids.dtype == np.dtype("<U256")
    assert ids.ids.tolist() == ["x" * 256, "a b", "0042"]


def test_a_long_id_is_refused_before_a_wide_array_is_built(tmp_path: Path) -> None:
    # 6,000 lines and one 20,000-character id: as a fixed-width array that is 480 MB
    lines = [f"{i // 3},{'s' + str(i % 50)}" for i in range(6_000)]
    lines[4_000] = f"1333,{LONG}"
    path = tmp_path / "orders.csv"
    path.write_text("order_id,item_id\n" + "\n".join(lines) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="^" + re.escape(
                "column 'item_id' has 1 ids longer than 256 characters; first rows (0-based): 4000 (20000 characters)")
                + "$"):
            xsell.load_orders(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len(CLI_CASES) >= len(CLI_IDS) - (not CSV_KEEPS_NUL) >= 10  # every named case exists


@pytest.mark.skipif(not Path(__file__).resolve().parents[2].joinpath(
    "shared", "data", "online_retail", "online_retail.parquet").exists(), reason="shared Online Retail data absent")
def test_online_retail_bad_debt_lines_are_left_out_and_the_model_round_trips(tmp_path: Path) -> None:
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.parquet"
    columns = {"order_id": "InvoiceNo", "item_id": "StockCode", "customer_id": "CustomerID",
               "timestamp": "InvoiceDate", "quantity": "Quantity", "price": "UnitPrice"}
    orders = xsell.load_orders(path, columns=columns)
    r = orders.report
    assert (r.lines_read, r.bad_price_dropped, r.bad_quantity_dropped, r.overflow_dropped) == (541_909, 2, 0, 0)
    assert f"2 {PRICE} left out" in str(r)
    prices = orders.item_prices()
    assert np.isfinite(prices).all() and (prices >= 0).all()
    model = xsell.CoOccurrence().fit(orders)
    xsell.save_model(model, tmp_path / "m.xsell")
    again = xsell.load_model(tmp_path / "m.xsell")
    item = orders.items.ids[0].item()
    assert again.also_bought(item, k=5).items == model.also_bought(item, k=5).items
