"""Orders in every file format and table object users have (issue 12, section 1): each loads the same orders as
the canonical CSV; dates and times in two columns; placeholder items left out and counted."""

from __future__ import annotations

import datetime
import gzip
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xsell
from xsell import InputError
from xsell.data.idmap import IdMap

LINES = pd.DataFrame({
    "order_id": ["1001", "1001", "1002", "1002", "1002", "1003", "1004", "1004"],
    "item_id": ["0042", "85123A", "0042", "71053", "22423", "85123A", "71053", "0042"],
    "quantity": ["2", "1", "1", "3", "1", "6", "1", "1"],
    "price": ["2.55", "3.39", "2.55", "3.75", "12.75", "3.39", "3.75", "2.5"],
    "customer_id": ["c1", "c1", "c2", "c2", "c2", "c1", "c3", "c3"],
    "timestamp": ["2024-03-01 09:58:11", "2024-03-01 09:58:11", "2024-03-02 10:05:34", "2024-03-02 10:05:34",
                  "2024-03-02 10:05:34", "2024-03-05 17:00:00", "2024-03-09 08:30:00", "2024-03-09 08:30:00"],
})


def _same(got: xsell.Orders, want: xsell.Orders) -> None:
    """The same orders, ids, lines and values (the load report's source aside)."""
    pd.testing.assert_frame_equal(got.to_frame(), want.to_frame())
    assert got.items.ids.tolist() == want.items.ids.tolist()
    assert (got.report.lines_read, got.report.lines_kept) == (want.report.lines_read, want.report.lines_kept)


@pytest.fixture
def canonical(tmp_path) -> xsell.Orders:
    path = tmp_path / "canonical.csv"
    LINES.to_csv(path, index=False)
    return xsell.load_orders(path)


def _zst(path, data: bytes) -> None:
    with pa.output_stream(str(path), compression="zstd") as out:
        out.write(data)


def _write(tmp_path, name: str):
    """LINES written as `name` (its suffix says how); returns the path."""
    path = tmp_path / name
    csv = LINES.to_csv(index=False).encode()
    if name.endswith(".csv.zst"):
        _zst(path, csv)
    elif name.endswith(".tsv.zst"):
        _zst(path, LINES.to_csv(index=False, sep="\t").encode())
    elif name.endswith(".xlsx"):
        LINES.to_excel(path, index=False)
    elif name.endswith(".json"):
        path.write_text(LINES.to_json(orient="records"))
    elif name.endswith((".jsonl", ".ndjson")):
        path.write_text(LINES.to_json(orient="records", lines=True))
    elif name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt") as out:
            out.write(LINES.to_json(orient="records", lines=True))
    elif name.endswith(".jsonl.zst"):
        _zst(path, LINES.to_json(orient="records", lines=True).encode())
    else:
        raise AssertionError(name)
    return path


@pytest.mark.parametrize("name", ["o.csv.zst", "o.tsv.zst", "o.xlsx", "o.json", "o.jsonl", "o.ndjson", "o.jsonl.gz",
                                  "o.jsonl.zst"])
def test_each_file_format_loads_the_orders_of_the_canonical_csv(tmp_path, canonical, name) -> None:
    got = xsell.load_orders(_write(tmp_path, name))
    _same(got, canonical)
    assert got.report.source == str(tmp_path / name)


def test_excel_reads_numbers_as_the_text_a_csv_would_hold(tmp_path) -> None:
    """Cells typed as numbers in Excel (an order number 536365, a quantity 6) come out as a CSV's text would."""
    frame = pd.DataFrame({"InvoiceNo": [536365, 536365, 536366], "StockCode": ["85123A", 71053, 71053],
                          "Quantity": [6, 6, 2]})
    path = tmp_path / "o.xlsx"
    frame.to_excel(path, index=False)
    got = xsell.load_orders(path, {"order_id": "InvoiceNo", "item_id": "StockCode", "quantity": "Quantity"})
    assert got.to_frame().values.tolist() == [["536365", "85123A", 6.0], ["536365", "71053", 6.0],
                                              ["536366", "71053", 2.0]]


def test_formats_are_refused_with_what_is_wrong(tmp_path) -> None:
    bad_json = tmp_path / "o.json"
    bad_json.write_text('{"order_id": 1, "item_id": "a"}')
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"order_id": 1, "item_id": "a"}\n{"order_id": 2, "item_id": \n')
    lacking = tmp_path / "l.jsonl"
    lacking.write_text('{"order": 1, "item_id": "a"}\n')
    cases = [
        (bad_json, f"cannot read JSON file {bad_json}: expected an array of objects, one per line of the table "
                   '([{"order_id": ..., "item_id": ...}, ...]); for one object per line name it .jsonl'),
        (lacking, f"missing required column 'order_id' in {lacking}; its columns are: order, item_id; map yours "
                  "with --column order_id=NAME or columns={'order_id': NAME}"),
    ]
    for path, message in cases:
        with pytest.raises(InputError) as caught:
            xsell.load_orders(path)
        assert str(caught.value) == message
    with pytest.raises(InputError, match="^" + re.escape(f"cannot read JSON Lines file {broken}: ")):
        xsell.load_orders(broken)


class _Stream:
    """Any object exposing only the Arrow PyCapsule stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


def test_arrow_streams_load_without_pandas(canonical) -> None:
    """polars, DuckDB and any __arrow_c_stream__ object: the same orders as the CSV, named in the report."""
    import duckdb
    import polars as pl

    table = pa.Table.from_pandas(LINES, preserve_index=False)
    frame = pl.from_arrow(table)
    relation = duckdb.from_arrow(table)
    for source, label in [(frame, "polars DataFrame"), (relation, "duckdb DuckDBPyRelation"),
                          (_Stream(table), "_Stream")]:
        got = xsell.load_orders(source)
        _same(got, canonical)
        assert got.report.source == label
    with pytest.raises(InputError) as caught:
        xsell.load_orders(frame.lazy())
    assert str(caught.value) == ("orders must be a CSV, Parquet, Excel or JSON path, a pandas DataFrame, a pyarrow "
                                 "Table or an Arrow stream (polars, DuckDB: __arrow_c_stream__), not LazyFrame; a "
                                 "lazy frame: call .collect() first")


def test_a_catalog_loads_from_polars_too() -> None:
    import polars as pl

    catalog = xsell.load_catalog(pl.DataFrame({"item_id": ["a", "b"], "price": [2.5, 4.0]}))
    assert len(catalog) == 2


def test_polars_categorical_columns_load_as_their_text(canonical) -> None:
    """polars' Categorical travels as a dictionary with uint32 codes (pyarrow before 17 cannot hand those to
    pandas): orders and a catalog's category load as the same text would."""
    import polars as pl

    frame = pl.from_arrow(pa.Table.from_pandas(LINES, preserve_index=False))
    categorical = frame.with_columns(pl.col("item_id").cast(pl.Categorical), pl.col("customer_id").cast(pl.Categorical))
    _same(xsell.load_orders(categorical), canonical)
    items = IdMap(["b", "a", "c"])
    plain = pl.DataFrame({"item_id": ["a", "b", "c"], "price": [2.5, 4.0, 1.0], "category": ["x", "y", "x"]})
    catalogs = [xsell.load_catalog(f) for f in (plain, plain.with_columns(pl.col("category").cast(pl.Categorical)))]
    frames = [c.item_columns(items, ["category", "price"]) for c in catalogs]
    pd.testing.assert_frame_equal(frames[1], frames[0])
    assert frames[0]["category"].tolist() == ["y", "x", "x"]


# -- date and time in two columns --------------------------------------------------------------------------


def _bakery() -> pd.DataFrame:
    stamps = pd.to_datetime(LINES["timestamp"])
    return LINES.drop(columns="timestamp").assign(Date=stamps.dt.strftime("%Y-%m-%d"),
                                                  Time=stamps.dt.strftime("%H:%M:%S"))


def test_a_date_and_a_time_column_make_the_timestamp(tmp_path, canonical) -> None:
    path = tmp_path / "bakery.csv"
    _bakery().to_csv(path, index=False)
    _same(xsell.load_orders(path, {"timestamp": ("Date", "Time")}), canonical)
    # typed columns (Parquet date32 and time64; pandas datetimes and durations) give the same times
    stamps = pd.to_datetime(LINES["timestamp"])
    typed = pa.table({**{c: LINES[c] for c in ("order_id", "item_id", "quantity", "price", "customer_id")},
                      "Date": pa.array(stamps.dt.date.tolist(), pa.date32()),
                      "Time": pa.array(stamps.dt.time.tolist(), pa.time64("us"))})
    pq.write_table(typed, tmp_path / "typed.parquet")
    _same(xsell.load_orders(tmp_path / "typed.parquet", {"timestamp": ["Date", "Time"]}), canonical)
    frame = LINES.drop(columns="timestamp").assign(Date=stamps.dt.normalize(), Time=stamps - stamps.dt.normalize())
    assert xsell.load_orders(frame, {"timestamp": ("Date", "Time")}).to_frame()["timestamp"].tolist() == \
        canonical.to_frame()["timestamp"].tolist()


def test_a_time_of_day_alone_is_refused_not_stamped_with_today(tmp_path) -> None:
    path = tmp_path / "bakery.csv"
    _bakery().to_csv(path, index=False)
    with pytest.raises(InputError) as caught:
        xsell.load_orders(path, {"timestamp": "Time"})
    assert str(caught.value) == (
        "column 'timestamp' (column 'Time') holds times of day without a date (first rows (0-based): 0 ('09:58:11'), "
        "1 ('09:58:11'), 2 ('10:05:34'), 3 ('10:05:34'), 4 ('10:05:34')); a time alone would be stamped with "
        "today's date. Map the date column and the time column together: columns={'timestamp': ('DATE', 'Time')} "
        "(xsell: --column timestamp=DATE+Time)")
    times = _bakery().assign(Time=[datetime.time(9, 58, 11)] * len(LINES))  # typed times of day (Excel, Parquet)
    with pytest.raises(InputError, match="^" + re.escape("column 'timestamp' (column 'Time') holds times of day "
                                                         "without a date (first rows (0-based): 0 ('09:58:11')")):
        xsell.load_orders(times, {"timestamp": "Time"})
    # a real timestamp of today is not a time of day
    now = pd.Timestamp.now().floor("s")
    today = xsell.load_orders(pd.DataFrame({"order_id": [1], "item_id": ["a"], "timestamp": [str(now)]}))
    assert today.to_frame()["timestamp"].tolist() == [now]


def test_a_date_and_time_pair_is_checked(tmp_path) -> None:
    path = tmp_path / "bakery.csv"
    _bakery().to_csv(path, index=False)
    cases = [
        ({"timestamp": ("Date",)}, "timestamp=(DATE, TIME) takes two different column names, the date's and the "
                                   "time's (xsell: --column timestamp=Date+Time); got ('Date',)"),
        ({"timestamp": ("Date", "Date")}, "timestamp=(DATE, TIME) takes two different column names, the date's and "
                                          "the time's (xsell: --column timestamp=Date+Time); got ('Date', 'Date')"),
        ({"timestamp": ("Date", "item_id")}, "column 'item_id' is mapped to two roles: the time of 'timestamp' and "
                                             "item_id"),
        ({"timestamp": ("Date", "Hour")}, f"column 'Hour' mapped to the time of 'timestamp' is not in {path}; its "
                                          "columns are: order_id, item_id, quantity, price, customer_id, Date, Time"),
    ]
    for columns, message in cases:
        with pytest.raises(InputError) as caught:
            xsell.load_orders(path, columns)
        assert str(caught.value) == message


# -- placeholder and non-product items ---------------------------------------------------------------------


def _till() -> pd.DataFrame:
    return pd.DataFrame({"order_id": ["1", "1", "2", "2", "3", "3", "4", "4", "5"],
                         "item_id": ["Bread", "NONE", "Coffee", None, "POST", " ? ", "Tea", "n/a", "Bread"]})


def test_placeholder_items_are_left_out_and_counted(tmp_path) -> None:
    got = xsell.load_orders(_till())
    assert got.to_frame()["item_id"].tolist() == ["Bread", "Coffee", "POST", "Tea", "Bread"]
    assert got.report.items_dropped == (("NONE", 1), ("(empty)", 1), (" ? ", 1), ("n/a", 1))
    assert str(got.report) == (
        "9 lines read from DataFrame; 4 lines with placeholder or dropped items (NONE 1, (empty) 1,  ?  1, n/a 1) "
        "left out; items that look like non-products kept in 'item_id': POST (1 lines); leave them out with "
        "drop_items=[...] (xsell: --drop-item ID); 5 lines kept")
    # the same from a CSV, whose empty cell is a missing id
    path = tmp_path / "till.csv"
    _till().to_csv(path, index=False)
    assert xsell.load_orders(path).report.items_dropped == (("NONE", 1), ("(empty)", 1), (" ? ", 1), ("n/a", 1))


def test_drop_items_and_keeping_placeholders() -> None:
    dropped = xsell.load_orders(_till(), drop_items=["POST"])
    assert dropped.to_frame()["item_id"].tolist() == ["Bread", "Coffee", "Tea", "Bread"]
    assert dict(dropped.report.items_dropped)["POST"] == 1 and dropped.report.notes == ()
    kept = xsell.load_orders(_till().dropna(), drop_placeholders=False)
    assert kept.to_frame()["item_id"].tolist() == ["Bread", "NONE", "Coffee", "POST", " ? ", "Tea", "n/a", "Bread"]
    with pytest.raises(InputError) as caught:
        xsell.load_orders(_till(), drop_placeholders=False)
    assert str(caught.value) == "column 'item_id' has 1 null ids; first rows (0-based): 3"
    # integer item ids: dropped by value or by the text the CLI passes
    ints = pd.DataFrame({"order_id": [1, 1, 2], "item_id": [10, 99, 10]})
    for drop in ([99], ["99"]):
        assert xsell.load_orders(ints, drop_items=drop).to_frame()["item_id"].tolist() == [10, 10]


def test_every_line_a_placeholder_says_so() -> None:
    with pytest.raises(InputError) as caught:
        xsell.load_orders(pd.DataFrame({"order_id": ["1", "2"], "item_id": ["NONE", "?"]}))
    assert str(caught.value) == ("no order lines left in DataFrame: all 2 lines were left out: 2 lines with "
                                 "placeholder or dropped items (NONE 1, ? 1)")
    for bad, message in [("POST", "drop_items must be a list of item ids, e.g. ['POST', 'DOT'], got 'POST'"),
                         (5, "drop_items must be a list of item ids, e.g. ['POST', 'DOT'], got 5")]:
        with pytest.raises(InputError) as caught:
            xsell.load_orders(_till(), drop_items=bad)
        assert str(caught.value) == message
    with pytest.raises(InputError) as caught:
        xsell.load_orders(_till(), drop_placeholders="yes")
    assert str(caught.value) == "drop_placeholders must be True or False, got 'yes'"


def test_placeholders_counted_before_returns() -> None:
    """A line counts once, under its first reason: a placeholder item before a return."""
    frame = pd.DataFrame({"order_id": ["1", "1", "2"], "item_id": ["NONE", "a", "a"], "quantity": [-1, -1, 2]})
    report = xsell.load_orders(frame).report
    assert (report.items_dropped, report.returns_dropped, report.lines_kept) == ((("NONE", 1),), 1, 1)
    assert np.sum([report.item_lines_dropped, report.returns_dropped, report.lines_kept]) == report.lines_read


@pytest.mark.parametrize("name", ["b.csv.gz", "b.csv.zst", "b.tsv.zst", "b.jsonl", "b.jsonl.zst", "b.json", "b.xlsx"])
def test_xsell_score_reads_every_format_as_it_reads_a_csv(tmp_path, canonical, name) -> None:
    """Batch scoring (xsell score) takes the same formats; the output equals the plain CSV's, byte for byte."""
    from xsell.batch import score_file

    model = xsell.CoOccurrence(min_count=1).fit(canonical)
    baskets = LINES.rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]]
    baskets.to_csv(tmp_path / "b.csv", index=False)
    text = baskets.to_csv(index=False, sep="\t" if ".tsv" in name else ",")
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as out:
            out.write(text)
    elif name.endswith(".zst"):
        _zst(path, (baskets.to_json(orient="records", lines=True) if ".jsonl" in name else text).encode())
    elif name.endswith(".jsonl"):
        path.write_text(baskets.to_json(orient="records", lines=True))
    elif name.endswith(".json"):
        path.write_text(baskets.to_json(orient="records"))
    else:
        baskets.to_excel(path, index=False)
    want = score_file(model, tmp_path / "b.csv", tmp_path / "want.csv", k=2, workers=1)
    got = score_file(model, path, tmp_path / "got.csv", k=2, workers=1)
    assert (got.baskets, got.rows_written) == (want.baskets, want.rows_written) == (4, 6)  # 1002 and 1003 have one candidate each
    assert (tmp_path / "got.csv").read_bytes() == (tmp_path / "want.csv").read_bytes()


def test_a_csv_without_a_header_is_named_as_such(tmp_path) -> None:
    path = tmp_path / "nohead.csv"
    path.write_text("1001,85123A,2\n1001,71053,1\n1002,0042,1\n")
    with pytest.raises(InputError) as caught:
        xsell.load_orders(path)
    assert str(caught.value) == (
        f"missing required column 'order_id' in {path}; its columns are: 1001, 85123A, 2; map yours with --column "
        "order_id=NAME or columns={'order_id': NAME}; its first line looks like data, not column names: add a header "
        "line such as order_id,item_id,quantity; a file of one basket per line, items split by commas and no header, "
        "reads with layout='baskets' (--layout baskets)")


# -- review findings: what the reader must not get wrong around placeholders and odd values ------------------


def test_error_rows_count_the_input_rows_not_what_was_left_after_placeholders(tmp_path) -> None:
    """Row numbers in an error are the input's (0-based data rows), also when placeholder lines before them were
    left out."""
    frame = pd.DataFrame({"order_id": ["1", "1", "2", "2", "3"], "item_id": ["NONE", "a", "?", "b", "c"],
                          "quantity": ["1", "1", "1", "two", "1"],
                          "timestamp": ["2024-01-01"] * 4 + ["someday"]})
    with pytest.raises(InputError) as caught:
        xsell.load_orders(frame.drop(columns="timestamp"))
    assert str(caught.value) == "column 'quantity' has 1 non-numeric values; first rows (0-based): 3 ('two')"
    with pytest.raises(InputError) as caught:
        xsell.load_orders(frame.assign(quantity="1"))
    assert str(caught.value) == "column 'timestamp' has 1 unparseable timestamps; first rows (0-based): 4 ('someday')"
    path = tmp_path / "o.csv"  # the same through a CSV: row 3 is the file's fourth data line
    frame.drop(columns="timestamp").to_csv(path, index=False)
    with pytest.raises(InputError, match=re.escape("first rows (0-based): 3 ('two')") + "$"):
        xsell.load_orders(path)


def test_ids_that_are_lists_are_refused_by_name_not_with_a_type_error() -> None:
    with pytest.raises(InputError) as caught:
        xsell.load_orders(pd.DataFrame({"order_id": [1, 2], "item_id": [["a"], ["b", "c"]]}))
    assert str(caught.value) == ("column 'item_id' holds list values, not string or integer ids; convert it, for "
                                 "example df['item_id'].astype(str)")


def test_a_categorical_item_column_counts_only_the_lines_left_out() -> None:
    items = pd.Categorical(["NONE", "a", "b", "POST"], categories=["a", "b", "NONE", "POST", "unused", "?"])
    got = xsell.load_orders(pd.DataFrame({"order_id": [1, 1, 2, 2], "item_id": items}), drop_items=["POST"])
    assert got.report.items_dropped == (("NONE", 1), ("POST", 1))  # no ('unused', 0), no ('?', 0)
    assert got.to_frame()["item_id"].tolist() == ["a", "b"]


def test_whole_float_item_ids_are_dropped_by_the_integer_or_its_text() -> None:
    """A Parquet or pandas column of float ids (1.0, 2.0: integers after a NaN) loads as integer ids; --drop-item
    passes text, so '1' must match 1.0, as it matches the integer 1."""
    frame = pd.DataFrame({"order_id": [1, 1, 2, 2], "item_id": [1.0, 2.0, 3.0, np.nan]})
    for drop in (["1"], [1], [1.0]):
        got = xsell.load_orders(frame, drop_items=drop)
        assert got.report.items_dropped == (("1", 1), ("(empty)", 1))
        assert got.to_frame()["item_id"].tolist() == [2, 3]


@pytest.mark.parametrize("text", ["09:58:11Z", "09:58:11 UTC", "09:58:11+01:00", "23:30-0500", "9:58 pm GMT",
                                  "09:58:11,5"])
def test_a_time_of_day_with_a_zone_is_refused_too(text: str) -> None:
    frame = pd.DataFrame({"order_id": [1], "item_id": ["a"], "timestamp": [text]})
    with pytest.raises(InputError) as caught:
        xsell.load_orders(frame)
    assert str(caught.value).startswith(f"column 'timestamp' holds times of day without a date (first rows "
                                        f"(0-based): 0 ({text!r}))")


def test_json_lines_whose_ids_change_type_name_the_rows(tmp_path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_text('{"order_id": 1, "item_id": 42}\n{"order_id": 1, "item_id": "A-1"}\n'
                    '{"order_id": 2, "item_id": 7}\n')
    with pytest.raises(InputError) as caught:
        xsell.load_orders(path)
    assert str(caught.value) == ("column 'item_id' mixes ids of different types (mixed-integer); first rows "
                                 "(0-based): 0 (42), 2 (7); convert it to one type, for example "
                                 "df['item_id'].astype(str)")
    # a quantity written as a number on one line and as text on another is still a quantity
    path.write_text('{"order_id": 1, "item_id": "a", "quantity": 2}\n{"order_id": 1, "item_id": "b", '
                    '"quantity": "3"}\n')
    assert xsell.load_orders(path).to_frame()["quantity"].tolist() == [2.0, 3.0]


def test_excel_keeps_ids_that_pandas_would_read_as_missing(tmp_path) -> None:
    """As a CSV: only an empty cell is missing; 'NA' (a product code) stays an id; 'None' is a placeholder."""
    path = tmp_path / "o.xlsx"
    pd.DataFrame({"order_id": ["1", "1", "2", "2"], "item_id": ["NA", "None", "NULL-1", ""]}).to_excel(path, index=False)
    got = xsell.load_orders(path)
    assert got.to_frame()["item_id"].tolist() == ["NA", "NULL-1"]
    assert got.report.items_dropped == (("None", 1), ("(empty)", 1))
    csv = tmp_path / "o.csv"
    pd.read_excel(path, dtype=str, keep_default_na=False).to_csv(csv, index=False)
    _same(got, xsell.load_orders(csv))


CATALOG = pd.DataFrame({"item_id": ["0042", "85123A", "71053", "22423"], "price": ["2.55", "3.39", "3.75", "12.75"],
                        "category": ["mugs", "lights", "lights", "cake stands"]})


@pytest.mark.parametrize("name", ["c.csv.gz", "c.csv.zst", "c.xlsx", "c.json", "c.jsonl", "c-semicolon.csv"])
def test_a_catalog_loads_from_every_format_as_from_its_csv(tmp_path, name) -> None:
    CATALOG.to_csv(tmp_path / "c.csv", index=False)
    want = xsell.load_catalog(tmp_path / "c.csv")
    path = tmp_path / name
    text = CATALOG.to_csv(index=False, sep=";" if "semicolon" in name else ",")
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as out:
            out.write(text)
    elif name.endswith(".zst"):
        _zst(path, text.encode())
    elif name.endswith(".xlsx"):
        CATALOG.to_excel(path, index=False)
    elif name.endswith(".jsonl"):
        path.write_text(CATALOG.to_json(orient="records", lines=True))
    elif name.endswith(".json"):
        path.write_text(CATALOG.to_json(orient="records"))
    else:
        path.write_text(text)
    got = xsell.load_catalog(path)
    items = IdMap(["22423", "0042", "85123A", "71053"])
    pd.testing.assert_frame_equal(got.item_columns(items, ["price", "category"]),
                                  want.item_columns(items, ["price", "category"]))
    assert got.item_columns(items, ["price"])["price"].tolist() == [12.75, 2.55, 3.39, 3.75]


def test_sep_is_taken_by_catalogs_and_batch_scoring(tmp_path, canonical) -> None:
    """A '|' file read with sep='|' equals the comma file; the wrong separator names the missing column."""
    from xsell.batch import score_file

    CATALOG.to_csv(tmp_path / "c.csv", index=False)
    CATALOG.to_csv(tmp_path / "c.txt", index=False, sep="|")
    items = IdMap(["0042", "85123A"])
    assert xsell.load_catalog(tmp_path / "c.txt", sep="|").item_columns(items, ["category"])["category"].tolist() \
        == ["mugs", "lights"]
    with pytest.raises(InputError, match="item_id"):
        xsell.load_catalog(tmp_path / "c.txt", sep=";")
    model = xsell.CoOccurrence(min_count=1).fit(canonical)
    baskets = LINES.rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]]
    baskets.to_csv(tmp_path / "b.csv", index=False)
    baskets.to_csv(tmp_path / "b.txt", index=False, sep="|")
    score_file(model, tmp_path / "b.csv", tmp_path / "want.csv", k=2, workers=1)
    score_file(model, tmp_path / "b.txt", tmp_path / "got.csv", k=2, workers=1, sep="|")
    assert (tmp_path / "got.csv").read_bytes() == (tmp_path / "want.csv").read_bytes()
    with pytest.raises(InputError, match="basket_id"):
        score_file(model, tmp_path / "b.txt", tmp_path / "bad.csv", k=2, workers=1, sep=";")
