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


def shop_catalog_frame(shop) -> pd.DataFrame:
    """The synthetic shop's catalog with a product family (P000-B, P000-S, P000-P: one product in three
    tiers), a cost at 60% of the price and everything in stock."""
    frame = shop.catalog.copy()
    frame["parent"] = frame["item_id"].str[:4]
    frame["cost"] = (frame["price"] * 0.6).round(2)
    frame["in_stock"] = True
    return frame


def assert_same_answers(a, b, items: list, baskets: dict) -> None:
    """A model and its reloaded copy answer alike: also_bought, recommend and recommend_batch."""
    import numpy as np

    for item in items:
        ra, rb = a.also_bought(item, k=5), b.also_bought(item, k=5)
        assert rb.items == ra.items
        np.testing.assert_array_equal(rb.scores, ra.scores)
        assert rb.fallback == ra.fallback
        pd.testing.assert_frame_equal(rb.to_frame(), ra.to_frame())
    for basket in baskets.values():
        ra, rb = a.recommend(basket, k=5), b.recommend(basket, k=5)
        assert rb.items == ra.items
        np.testing.assert_array_equal(rb.scores, ra.scores)
        assert rb.fallback == ra.fallback
        pd.testing.assert_frame_equal(rb.to_frame(), ra.to_frame())
    fa, fb = a.recommend_batch(baskets, k=5), b.recommend_batch(baskets, k=5)
    pd.testing.assert_frame_equal(fb, fa)
    assert fb.attrs == fa.attrs
