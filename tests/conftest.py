"""Shared fixtures. Data under ../shared/data is used when present, never copied."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import xsell
from xsell.datasets import synthetic_shop

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GROCERIES = SHARED / "groceries" / "groceries.csv"
ONLINE_RETAIL = SHARED / "online_retail" / "online_retail.parquet"


@pytest.fixture
def tiny_frame() -> pd.DataFrame:
    """Four orders: {a,b,c}, {a,b}, {a,c,d}, {b,c}. Counts a=3 b=3 c=3 d=1;
    pairs ab=2 ac=2 bc=2 ad=1 cd=1 (bd never)."""
    lines = [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (3, "a"), (3, "c"), (3, "d"), (4, "b"), (4, "c")]
    return pd.DataFrame(lines, columns=["order_id", "item_id"])


@pytest.fixture
def tiny_orders(tiny_frame: pd.DataFrame) -> xsell.Orders:
    return xsell.load_orders(tiny_frame)


@pytest.fixture(scope="session")
def shop():
    return synthetic_shop(seed=0)


@pytest.fixture(scope="session")
def shop_model(shop):
    return xsell.CoOccurrence().fit(shop.orders)
