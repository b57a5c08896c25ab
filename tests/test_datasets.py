"""The data the library makes or reads itself: the UCI Online Retail loader and the synthetic shop."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ONLINE_RETAIL
from xsell.datasets import load_online_retail, synthetic_shop
from xsell.errors import InputError

UCI = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def _uci_csv(tmp_path):
    rows = [
        ("536365", "85123A", "HOLDER", 6, "2010-12-01 08:26:00", 2.55, 17850, "UK"),
        ("536365", "71053", "LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850, "UK"),
        ("536365", "POST", "POSTAGE", 1, "2010-12-01 08:26:00", 18.0, 17850, "UK"),       # not a product
        ("C536379", "85123A", "HOLDER", -1, "2010-12-01 09:41:00", 2.55, 14527, "UK"),   # cancellation
        ("536380", "22423", "CAKESTAND", 1, "2010-12-01 09:45:00", 0.0, 14527, "UK"),     # price 0
        ("536381", "22423", "CAKESTAND", 2, "2010-12-01 09:50:00", 12.75, None, "UK"),   # anonymous
        ("536381", "71053", "LANTERN", 1, "2010-12-01 09:50:00", 3.39, None, "UK"),
    ]
    path = tmp_path / "Online Retail.csv"
    pd.DataFrame(rows, columns=UCI).to_csv(path, index=False)
    return path


def test_online_retail_layout_is_mapped_and_cleaned_with_counts(tmp_path):
    orders = load_online_retail(_uci_csv(tmp_path))
    frame = orders.to_frame()
    assert sorted(map(tuple, frame[["order_id", "item_id"]].astype(str).to_numpy())) == [
        ("536365", "71053"), ("536365", "85123A"), ("536381", "22423"), ("536381", "71053")]
    assert orders.report.lines_read == 7
    assert orders.report.notes == ("1 cancellation lines left out", "1 non-product lines (POST, M, ...) left out",
                                   "1 lines with price <= 0 left out")
    assert orders.n_customers == 1  # the anonymous order stays, without a customer
    assert frame.loc[frame["item_id"] == "85123A", "price"].item() == 2.55


def test_online_retail_without_anonymous_lines(tmp_path):
    orders = load_online_retail(_uci_csv(tmp_path), require_customer=True)
    assert orders.n_orders == 1 and orders.n_lines == 2
    assert orders.report.notes[-1] == "2 lines without customer left out"


def test_online_retail_wrong_layout_and_missing_file(tmp_path):
    path = tmp_path / "other.csv"
    pd.DataFrame({"InvoiceNo": ["1"], "StockCode": ["10000"]}).to_csv(path, index=False)
    message = (f"{path} is not in the Online Retail layout: missing column(s) CustomerID, InvoiceDate, "
               "Quantity, UnitPrice")
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        load_online_retail(path)
    with pytest.raises(InputError, match=r"^Online Retail file not found: .*nope\.parquet$"):
        load_online_retail(tmp_path / "nope.parquet")


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="../shared/data/online_retail not present")
def test_online_retail_equals_a_plain_pandas_cleaning():
    raw = pd.read_parquet(ONLINE_RETAIL)
    keep = (~raw["InvoiceNo"].str.startswith("C") & raw["StockCode"].str.match(r"^\d{5}")
            & (raw["UnitPrice"] > 0) & (raw["Quantity"] > 0) & raw["CustomerID"].notna())
    reference = raw[keep].groupby(["InvoiceNo", "StockCode"]).size()
    orders = load_online_retail(ONLINE_RETAIL, require_customer=True)
    assert orders.report.lines_read == 541_909  # the data README's count
    assert orders.n_lines == len(reference)  # one line per distinct (invoice, stock code)
    assert orders.n_orders == reference.index.get_level_values(0).nunique()
    assert orders.n_items == reference.index.get_level_values(1).nunique()


def test_synthetic_shop_is_seeded_and_consistent():
    a, b = synthetic_shop(seed=3), synthetic_shop(seed=3)
    assert a.orders.to_frame().equals(b.orders.to_frame())
    assert not a.orders.to_frame().equals(synthetic_shop(seed=4).orders.to_frame())
    catalog = a.catalog.set_index("item_id")
    for group in a.truth.substitutes[:10]:  # tiers of one product: same category, rising price
        assert catalog.loc[group, "category"].nunique() == 1
        assert np.all(np.diff(catalog.loc[group, "price"].to_numpy()) > 0)
    for x, y in a.truth.complements[:10]:  # complements cross categories
        assert catalog.loc[x, "category"] != catalog.loc[y, "category"]


def test_online_retail_xlsx_reads_like_the_csv(tmp_path):
    csv_path = _uci_csv(tmp_path)
    xlsx_path = tmp_path / "Online Retail.xlsx"
    pd.read_csv(csv_path, dtype={"InvoiceNo": str, "StockCode": str}).to_excel(xlsx_path, index=False)
    from_xlsx = load_online_retail(xlsx_path).to_frame()
    from_csv = load_online_retail(csv_path).to_frame()
    assert from_xlsx[["order_id", "item_id", "quantity", "price"]].astype(str).equals(
        from_csv[["order_id", "item_id", "quantity", "price"]].astype(str))
