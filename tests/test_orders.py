"""Loading order lines: sources, column mapping, validation messages, cleaning, matrices."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

import xsell
from xsell import InputError

ALL_ROLES = ["order_id", "item_id", "customer_id", "timestamp", "quantity", "price"]


def _lines() -> pd.DataFrame:
    """Five lines, string ids throughout (as a CSV is read), one anonymous line."""
    return pd.DataFrame({
        "order_id": ["o1", "o1", "o2", "o3", "o3"],
        "item_id": ["0042", "b", "0042", "c", "b"],
        "customer_id": ["k1", "k1", None, "k2", "k2"],
        "timestamp": ["2024-01-02 10:00:00", "2024-01-02 10:00:00", "2024-01-01 09:00:00",
                      "2024-02-03 11:30:00", "2024-02-03 11:30:00"],
        "quantity": [1, 2, 3, 1, 4],
        "price": [1.5, 2.0, 1.5, 3.0, 2.25],
    })


def _assert_same_orders(a: xsell.Orders, b: xsell.Orders) -> None:
    np.testing.assert_array_equal(a.orders.ids, b.orders.ids)
    np.testing.assert_array_equal(a.items.ids, b.items.ids)
    np.testing.assert_array_equal(a.order_index, b.order_index)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    for name in ("customer_index", "timestamp", "quantity", "price"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.customers is None) == (b.customers is None)
    if a.customers is not None:
        np.testing.assert_array_equal(a.customers.ids, b.customers.ids)


def _load_error(frame: pd.DataFrame, message: str, **kwargs) -> None:
    with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
        xsell.load_orders(frame, **kwargs)


# -- sources -------------------------------------------------------------------------
def test_csv_parquet_dataframe_and_arrow_table_load_the_same_lines(tmp_path: Path) -> None:
    df = _lines()
    csv = tmp_path / "orders.csv"
    df.to_csv(csv, index=False)
    parquet = tmp_path / "orders.parquet"
    df.to_parquet(parquet)

    from_df = xsell.load_orders(df)
    expected = from_df.to_frame()
    assert expected["order_id"].tolist() == ["o1", "o1", "o2", "o3", "o3"]
    # within an order, lines are sorted by item in first-seen order (b before c)
    assert expected["item_id"].tolist() == ["0042", "b", "0042", "b", "c"]
    assert expected["quantity"].tolist() == [1.0, 2.0, 3.0, 4.0, 1.0]
    for source in (csv, str(csv), parquet, pa.Table.from_pandas(df)):
        got = xsell.load_orders(source)
        pd.testing.assert_frame_equal(got.to_frame(), expected)
        _assert_same_orders(got, from_df)


def test_report_names_the_source(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    _lines().to_csv(csv, index=False)
    assert str(xsell.load_orders(csv).report) == f"5 lines read from {csv}; 5 lines kept"
    assert str(xsell.load_orders(_lines()).report) == "5 lines read from DataFrame; 5 lines kept"
    table = pa.Table.from_pandas(_lines())
    assert xsell.load_orders(table).report.source == "pyarrow Table"


def test_tsv_is_read_with_tabs(tmp_path: Path) -> None:
    tsv = tmp_path / "orders.tsv"
    tsv.write_text("order_id\titem_id\n1\tA,B\n1\tC\n")
    orders = xsell.load_orders(tsv)
    assert orders.items.ids.tolist() == ["A,B", "C"]
    assert orders.n_orders == 1


def test_csv_ids_are_read_as_strings(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text("order_id,item_id,customer_id\n0007,0042,007\n0007,42,007\n8,0042,\n")
    orders = xsell.load_orders(csv)
    assert orders.items.kind == "str"
    assert orders.items.ids.tolist() == ["0042", "42"]
    assert orders.orders.ids.tolist() == ["0007", "8"]
    assert orders.customers.ids.tolist() == ["007"]
    assert orders.customer_index.tolist() == [0, 0, -1]
    assert orders.to_frame()["item_id"].tolist() == ["0042", "42", "0042"]


# -- column mapping ------------------------------------------------------------------
UCI_COLUMNS = {"order_id": "InvoiceNo", "item_id": "StockCode", "customer_id": "CustomerID",
               "timestamp": "InvoiceDate", "quantity": "Quantity", "price": "UnitPrice"}


def _uci_csv(tmp_path: Path) -> Path:
    path = tmp_path / "online_retail.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
        "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\n"
        "536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom\n"
        "536367,84879,ASSORTED BIRD ORNAMENT,32,12/1/2010 8:34,1.69,13047,United Kingdom\n"
        "536367,85123A,WHITE HANGING HEART,2,12/1/2010 8:34,2.55,13047,United Kingdom\n"
        "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n"
        "536380,22961,JAM MAKING SET,24,12/1/2010 9:41,0.85,,United Kingdom\n"
    )
    return path


def test_online_retail_layout_loads_with_one_mapping(tmp_path: Path) -> None:
    orders = xsell.load_orders(_uci_csv(tmp_path), columns=UCI_COLUMNS)
    assert orders.report.lines_read == 7
    assert orders.report.returns_dropped == 1
    assert orders.summary() == {"orders": 4, "items": 5, "customers": 2, "lines": 6,
                                "first_order": "2010-12-01T08:26:00", "last_order": "2010-12-01T09:41:00"}
    frame = orders.to_frame()
    assert list(frame.columns) == ALL_ROLES
    # sorted by order, then by item in first-seen order (85123A was seen before 84879)
    assert frame["order_id"].tolist() == ["536365", "536365", "536366", "536367", "536367", "536380"]
    assert frame["item_id"].tolist() == ["85123A", "71053", "22633", "85123A", "84879", "22961"]
    assert frame["quantity"].tolist() == [6.0, 6.0, 6.0, 2.0, 32.0, 24.0]
    assert frame["price"].tolist() == [2.55, 3.39, 1.85, 2.55, 1.69, 0.85]
    assert frame["customer_id"].iloc[:5].tolist() == ["17850"] * 3 + ["13047"] * 2
    assert frame["customer_id"].isna().tolist() == [False] * 5 + [True]
    assert frame["timestamp"].tolist() == [pd.Timestamp(t) for t in (
        "2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 08:28", "2010-12-01 08:34",
        "2010-12-01 08:34", "2010-12-01 09:41")]


def test_reverse_mapping_direction_gives_the_same_orders(tmp_path: Path) -> None:
    path = _uci_csv(tmp_path)
    forward = xsell.load_orders(path, columns=UCI_COLUMNS)
    reverse = xsell.load_orders(path, columns={v: k for k, v in UCI_COLUMNS.items()})
    pd.testing.assert_frame_equal(reverse.to_frame(), forward.to_frame())
    _assert_same_orders(reverse, forward)


def test_unknown_column_role_is_refused() -> None:
    _load_error(_lines(), "unknown column role in columns: 'basket': 'cart'; each entry maps one of "
                "order_id, item_id, customer_id, timestamp, quantity, price to a column of the input",
                columns={"basket": "cart"})


def test_role_mapped_twice_is_refused() -> None:
    _load_error(_lines(), "column role 'order_id' is mapped twice in columns",
                columns={"order_id": "InvoiceNo", "Invoice": "order_id"})


# -- bad input -------------------------------------------------------------------------
def test_missing_required_column_lists_the_inputs_columns() -> None:
    frame = pd.DataFrame({"order_id": [1], "sku": ["a"], "qty": [1]})
    _load_error(frame, "missing required column 'item_id' in DataFrame; its columns are: order_id, sku, qty; "
                "map yours with --column item_id=NAME or columns={'item_id': NAME}")


def test_missing_mapped_required_column_says_what_it_was_mapped_to(tmp_path: Path) -> None:
    csv = tmp_path / "o.csv"
    csv.write_text("InvoiceNo,sku\n1,a\n")
    with pytest.raises(InputError, match="^" + re.escape(
            f"missing required column 'item_id' (mapped to 'StockCode') in {csv}; its columns are: "
            "InvoiceNo, sku; map yours with --column item_id=NAME or columns={'item_id': NAME}") + "$"):
        xsell.load_orders(csv, columns={"order_id": "InvoiceNo", "item_id": "StockCode"})


def test_missing_required_column_in_parquet_lists_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "o.parquet"
    pd.DataFrame({"basket": [1], "item_id": ["a"]}).to_parquet(path)
    with pytest.raises(InputError, match="^" + re.escape(
            f"missing required column 'order_id' in {path}; its columns are: basket, item_id; "
            "map yours with --column order_id=NAME or columns={'order_id': NAME}") + "$"):
        xsell.load_orders(path)


def test_null_ids_name_the_column_and_first_rows() -> None:
    frame = pd.DataFrame({"order_id": ["o1", None, "o3", None], "item_id": list("abcd")})
    _load_error(frame, "column 'order_id' has 2 null ids; first rows (0-based): 1, 3")


def test_null_ids_show_at_most_five_rows_and_the_mapped_column() -> None:
    """Null order ids are refused; so are null item ids when placeholders are kept (by default an empty item
    is a placeholder, left out and counted: tests/test_formats.py)."""
    frame = pd.DataFrame({"InvoiceNo": range(10),
                          "StockCode": [None if i % 2 == 0 else "x" for i in range(10)]})
    _load_error(frame, "column 'item_id' (column 'StockCode') has 5 null ids; first rows (0-based): 0, 2, 4, 6, 8",
                columns={"order_id": "InvoiceNo", "item_id": "StockCode"}, drop_placeholders=False)
    frame.loc[1, "StockCode"] = None
    _load_error(frame, "column 'item_id' (column 'StockCode') has 6 null ids; first rows (0-based): 0, 1, 2, 4, 6",
                columns={"order_id": "InvoiceNo", "item_id": "StockCode"}, drop_placeholders=False)
    orders = pd.DataFrame({"InvoiceNo": [None if i % 2 == 0 else "o" for i in range(10)], "StockCode": ["x"] * 10})
    _load_error(orders, "column 'order_id' (column 'InvoiceNo') has 5 null ids; first rows (0-based): 0, 2, 4, 6, 8",
                columns={"order_id": "InvoiceNo", "item_id": "StockCode"})


def test_null_ids_in_csv_are_found(tmp_path: Path) -> None:
    csv = tmp_path / "o.csv"
    csv.write_text("order_id,item_id\n1,a\n2,\n3,c\n")
    with pytest.raises(InputError, match="^" + re.escape(
            "column 'item_id' has 1 null ids; first rows (0-based): 1") + "$"):
        xsell.load_orders(csv, drop_placeholders=False)
    assert xsell.load_orders(csv).report.items_dropped == (("(empty)", 1),)


def test_ids_of_mixed_types_are_refused() -> None:
    frame = pd.DataFrame({"order_id": [1, 2, 3, 4], "item_id": pd.Series([5, "x", 7, "c"], dtype=object)})
    _load_error(frame, "column 'item_id' mixes ids of different types (mixed-integer); "
                "first rows (0-based): 0 (5), 2 (7); convert it to one type, for example df['item_id'].astype(str)")


def test_non_integer_numeric_ids_are_refused() -> None:
    frame = pd.DataFrame({"order_id": [1.0, 2.5, 3.0], "item_id": ["a", "b", "c"]})
    _load_error(frame, "column 'order_id' has non-integer numeric ids; first rows (0-based): 1 (2.5)")


def test_non_numeric_quantity() -> None:
    frame = pd.DataFrame({"order_id": [1, 2, 3], "item_id": ["a", "b", "c"], "quantity": ["1", "two", "3"]})
    _load_error(frame, "column 'quantity' has 1 non-numeric values; first rows (0-based): 1 ('two')")


def test_non_numeric_price_with_mapped_column() -> None:
    frame = pd.DataFrame({"order_id": [1, 2, 3], "item_id": ["a", "b", "c"], "UnitPrice": ["1.0", "2,5", "x"]})
    _load_error(frame, "column 'price' (column 'UnitPrice') has 2 non-numeric values; "
                "first rows (0-based): 1 ('2,5'), 2 ('x')", columns={"price": "UnitPrice"})


def test_missing_quantity_in_csv_is_left_out_and_counted(tmp_path: Path) -> None:
    csv = tmp_path / "o.csv"
    csv.write_text("order_id,item_id,quantity\n1,a,2\n1,b,\n2,a,1\n")
    orders = xsell.load_orders(csv)
    assert orders.report.bad_quantity_dropped == 1
    assert str(orders.report) == (f"3 lines read from {csv}; 1 lines with a missing or infinite quantity "
                                  "left out; 2 lines kept")
    assert list(zip(orders.to_frame()["order_id"], orders.to_frame()["item_id"])) == [("1", "a"), ("2", "a")]
    assert orders.items.ids.tolist() == ["a"]  # 'b' had no other line


def test_unparseable_timestamps() -> None:
    frame = pd.DataFrame({"order_id": [1, 2, 3], "item_id": ["a", "b", "c"],
                          "timestamp": ["2024-01-01", "not a date", "2024-01-03"]})
    _load_error(frame, "column 'timestamp' has 1 unparseable timestamps; first rows (0-based): 1 ('not a date')")


def test_empty_input() -> None:
    _load_error(pd.DataFrame({"order_id": [], "item_id": []}), "no order lines in DataFrame: the input is empty")


def test_empty_csv(tmp_path: Path) -> None:
    csv = tmp_path / "o.csv"
    csv.write_text("order_id,item_id\n")
    with pytest.raises(InputError, match="^" + re.escape(f"no order lines in {csv}: the input is empty") + "$"):
        xsell.load_orders(csv)


def test_file_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="^" + re.escape(f"orders file not found: {path}") + "$"):
        xsell.load_orders(path)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^" + re.escape(f"orders path is a folder, not a file: {tmp_path}") + "$"):
        xsell.load_orders(tmp_path)


def test_unknown_file_suffix(tmp_path: Path) -> None:
    path = tmp_path / "orders.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match="^" + re.escape(
            f"cannot read {path}: unknown file type '.xls'; use .csv, .tsv, .txt, .parquet, .xlsx, .json or .jsonl (text formats also compressed: .gz, .zst)") + "$"):
        xsell.load_orders(path)
    twice = tmp_path / "orders.parquet.gz"
    twice.write_bytes(b"\x1f\x8b")
    with pytest.raises(InputError, match="^" + re.escape(
            f"cannot read {twice}: unknown file type '.parquet.gz'; use .csv, .tsv, .txt, .parquet, .xlsx, .json or .jsonl (text formats also compressed: .gz, .zst)") + "$"):
        xsell.load_orders(twice)


def test_damaged_excel_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError, match="^" + re.escape(f"cannot read Excel file {path}: ")):
        xsell.load_orders(path)


def test_damaged_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="^" + re.escape(f"cannot read Parquet file {path}: ")):
        xsell.load_orders(path)


def test_unsupported_source_type() -> None:
    with pytest.raises(InputError, match="^" + re.escape(
            "orders must be a CSV, Parquet, Excel or JSON path, a pandas DataFrame, a pyarrow Table or an Arrow stream "
            "(polars, DuckDB: __arrow_c_stream__), not list") + "$"):
        xsell.load_orders([("o1", "a")])


def test_mapped_optional_column_that_is_absent() -> None:
    _load_error(pd.DataFrame({"order_id": [1], "item_id": ["a"]}),
                "column 'CustomerID' mapped to 'customer_id' is not in DataFrame; its columns are: order_id, item_id",
                columns={"customer_id": "CustomerID"})


# -- cleaning ------------------------------------------------------------------------
def _dup_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "order_id": ["A", "A", "A", "B", "B", "C", "A"],
        "item_id": ["x", "x", "y", "x", "z", "y", "x"],
        "customer_id": ["k1", "k1", "k1", "k2", "k2", "k1", "k1"],
        "quantity": [1, 3, 2, -1, 1, 5, 4],
        "price": [2.0, 4.0, 1.0, 2.0, 3.0, 1.0, 1.0],
    })


def test_duplicate_lines_are_merged_with_summed_quantity_and_weighted_price() -> None:
    orders = xsell.load_orders(_dup_frame())
    r = orders.report
    assert (r.lines_read, r.returns_dropped, r.duplicates_aggregated, r.lines_kept) == (7, 1, 2, 4)
    frame = orders.to_frame()
    assert list(zip(frame["order_id"], frame["item_id"])) == [("A", "x"), ("A", "y"), ("B", "z"), ("C", "y")]
    # (A, x): 1 @ 2.0 + 3 @ 4.0 + 4 @ 1.0 -> quantity 8, price (2 + 12 + 4) / 8 = 2.25
    assert frame["quantity"].tolist() == [8.0, 2.0, 1.0, 5.0]
    assert frame["price"].tolist() == [2.25, 1.0, 3.0, 1.0]
    assert str(r) == ("7 lines read from DataFrame; 1 returns/cancellations (quantity <= 0) left out; "
                      "2 duplicate (order, item) lines merged; 4 lines kept")


def test_duplicates_without_quantity_average_the_price() -> None:
    frame = pd.DataFrame({"order_id": ["A", "A", "B"], "item_id": ["x", "x", "x"], "price": [3.0, 5.0, 3.0]})
    orders = xsell.load_orders(frame)
    assert orders.report.duplicates_aggregated == 1
    assert orders.price.tolist() == [4.0, 3.0]
    assert orders.n_lines == 2


def test_returns_are_kept_with_keep_returns() -> None:
    orders = xsell.load_orders(_dup_frame(), keep_returns=True)
    r = orders.report
    assert (r.lines_read, r.returns_dropped, r.duplicates_aggregated, r.lines_kept) == (7, 0, 2, 5)
    frame = orders.to_frame()
    assert list(zip(frame["order_id"], frame["item_id"], frame["quantity"])) == [
        ("A", "x", 8.0), ("A", "y", 2.0), ("B", "x", -1.0), ("B", "z", 1.0), ("C", "y", 5.0)]


def test_zero_quantity_counts_as_a_return_and_unused_ids_disappear() -> None:
    frame = pd.DataFrame({"order_id": ["A", "B", "B", "C"], "item_id": ["x", "gone", "y", "x"],
                          "customer_id": ["k1", "k_gone", "k_gone", "k2"], "quantity": [1, 0, -2, 1]})
    orders = xsell.load_orders(frame)
    assert orders.report.returns_dropped == 2
    assert orders.orders.ids.tolist() == ["A", "C"]
    assert orders.items.ids.tolist() == ["x"]
    assert orders.customers.ids.tolist() == ["k1", "k2"]
    assert orders.customer_index.tolist() == [0, 1]
    assert orders.order_item_matrix().shape == (2, 1)


def test_all_lines_being_returns_is_an_error() -> None:
    frame = pd.DataFrame({"order_id": [1, 2, 3], "item_id": ["a", "b", "c"], "quantity": [-1, -2, 0]})
    _load_error(frame, "no order lines left in DataFrame: all 3 lines have quantity <= 0 (returns); "
                "pass keep_returns=True (xsell: --keep-returns) to keep them")
    assert xsell.load_orders(frame, keep_returns=True).n_lines == 3


def test_sale_and_its_return_kept_together_keep_a_real_price() -> None:
    # with keep_returns=True, a sale of 2 and its return of 2 at the same unit price merge
    # into one line of quantity 0; the unit price is still 3.0 (not NaN)
    frame = pd.DataFrame({"order_id": ["A", "A", "B"], "item_id": ["x", "x", "x"],
                          "quantity": [2, -2, 1], "price": [3.0, 3.0, 3.0]})
    orders = xsell.load_orders(frame, keep_returns=True)
    assert orders.quantity.tolist() == [0.0, 1.0]
    assert orders.price.tolist() == [3.0, 3.0]


def test_float_customer_ids_with_missing_values_count_only_real_customers() -> None:
    # pandas reads the Online Retail CustomerID as float with NaN for anonymous lines
    frame = pd.DataFrame({"order_id": ["536365", "536365", "536366", "536367"],
                          "item_id": ["85123A", "71053", "85123A", "22752"],
                          "customer_id": [17850.0, 17850.0, np.nan, 13047.0]})
    orders = xsell.load_orders(frame)
    assert orders.customers.ids.tolist() == [17850, 13047]
    assert orders.customer_index.tolist() == [0, 0, -1, 1]
    assert orders.summary()["customers"] == 2
    assert orders.customer_item_matrix().toarray().tolist() == [[1, 1, 0], [0, 0, 1]]


# -- matrices ------------------------------------------------------------------------
def _tiny() -> xsell.Orders:
    """Orders 1:{a,b,c} (a twice), 2:{a,b}, 3:{a,c,d}, 4:{b,c}; customers k1 (1, 2), k2 (3), 4 anonymous."""
    lines = [(1, "a", "k1", "2024-05-01 10:00"), (1, "b", "k1", "2024-05-01 10:00"),
             (1, "c", "k1", "2024-05-01 10:00"), (1, "a", "k1", "2024-05-01 10:00"),
             (2, "a", "k1", "2024-05-03 12:00"), (2, "b", "k1", "2024-05-03 12:00"),
             (3, "a", "k2", "2024-04-30 08:15"), (3, "c", "k2", "2024-04-30 08:15"),
             (3, "d", "k2", "2024-04-30 08:15"),
             (4, "b", None, "2024-05-07 18:45:30"), (4, "c", None, "2024-05-07 18:45:30")]
    return xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id", "customer_id", "timestamp"]))


def test_order_item_matrix_is_binary_csr_with_int32_indices() -> None:
    orders = _tiny()
    m = orders.order_item_matrix()
    assert sp.issparse(m) and m.format == "csr"
    assert m.shape == (orders.n_orders, orders.n_items) == (4, 4)
    assert m.indices.dtype == np.int32
    assert set(m.data.tolist()) == {1.0}
    expected = sp.csr_matrix(np.array([[1, 1, 1, 0],
                                       [1, 1, 0, 0],
                                       [1, 0, 1, 1],
                                       [0, 1, 1, 0]], dtype=np.float32))
    assert (m != expected).nnz == 0
    assert m.indptr.tolist() == [0, 3, 5, 8, 10]
    assert m.indices.tolist() == [0, 1, 2, 0, 1, 0, 2, 3, 1, 2]
    assert orders.orders.ids.tolist() == [1, 2, 3, 4]
    assert orders.items.ids.tolist() == ["a", "b", "c", "d"]
    assert orders.item_counts().tolist() == [3, 3, 3, 1]


def test_order_item_matrix_dtype_argument() -> None:
    m = _tiny().order_item_matrix(np.int32)
    assert m.dtype == np.int32
    assert m.sum() == 10


def test_customer_item_matrix_counts_orders_per_customer() -> None:
    orders = _tiny()
    m = orders.customer_item_matrix()
    assert m.format == "csr"
    assert m.shape == (2, 4)
    assert orders.customers.ids.tolist() == ["k1", "k2"]
    # k1 bought in orders 1 {a,b,c} and 2 {a,b}; k2 in order 3 {a,c,d}; order 4 is anonymous
    assert m.toarray().tolist() == [[2, 2, 1, 0], [1, 0, 1, 1]]


def test_customer_item_matrix_without_customer_column() -> None:
    orders = xsell.load_orders(pd.DataFrame({"order_id": [1, 1], "item_id": ["a", "b"]}))
    with pytest.raises(InputError, match="^" + re.escape(
            "these orders have no customer_id column; map one with columns={'customer_id': 'YourColumn'}") + "$"):
        orders.customer_item_matrix()


def test_summary_of_a_tiny_example() -> None:
    assert _tiny().summary() == {"orders": 4, "items": 4, "customers": 2, "lines": 10,
                                 "first_order": "2024-04-30T08:15:00", "last_order": "2024-05-07T18:45:30"}


def test_summary_without_timestamps_has_no_dates() -> None:
    orders = xsell.load_orders(pd.DataFrame({"order_id": [1, 1, 2], "item_id": ["a", "b", "a"]}))
    assert orders.summary() == {"orders": 2, "items": 2, "customers": 0, "lines": 3}


def test_timezone_aware_timestamps_are_converted_to_utc() -> None:
    frame = pd.DataFrame({"order_id": [1, 2], "item_id": ["a", "b"],
                          "timestamp": ["2024-05-01 10:00+02:00", "2024-05-02 09:30+02:00"]})
    assert xsell.load_orders(frame).summary()["first_order"] == "2024-05-01T08:00:00"
    assert xsell.load_orders(frame).summary()["last_order"] == "2024-05-02T07:30:00"


def test_timestamps_across_a_daylight_saving_change_are_converted_to_utc() -> None:
    # an ISO export from a shop in Europe/Berlin: +01:00 in winter, +02:00 in summer
    frame = pd.DataFrame({"order_id": [1, 2], "item_id": ["a", "b"],
                          "timestamp": ["2024-03-30 10:00:00+01:00", "2024-04-02 10:00:00+02:00"]})
    orders = xsell.load_orders(frame)
    assert orders.summary()["first_order"] == "2024-03-30T09:00:00"
    assert orders.summary()["last_order"] == "2024-04-02T08:00:00"


# -- round trip ------------------------------------------------------------------------
def test_to_frame_round_trip_gives_equal_arrays() -> None:
    orders = xsell.load_orders(_dup_frame(), keep_returns=True)
    again = xsell.load_orders(orders.to_frame(), keep_returns=True)
    _assert_same_orders(again, orders)
    assert again.report.duplicates_aggregated == 0

    tiny = _tiny()
    _assert_same_orders(xsell.load_orders(tiny.to_frame()), tiny)


def test_to_frame_round_trip_with_integer_ids_and_anonymous_lines() -> None:
    frame = pd.DataFrame({"order_id": [10, 10, 11, 12], "item_id": [100, 200, 100, 300],
                          "customer_id": pd.array([5, 5, None, 7], dtype="Int64")})
    orders = xsell.load_orders(frame)
    assert orders.customers.ids.tolist() == [5, 7]
    out = orders.to_frame()
    assert out["customer_id"].iloc[[0, 1, 3]].tolist() == [5, 5, 7]
    again = xsell.load_orders(out)
    _assert_same_orders(again, orders)
