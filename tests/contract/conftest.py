"""Fixtures of the model contract suite.

Every test that takes `entry` or `model` runs once per registered model (`xsell.models.registry.MODELS`,
ids = the names): adding a registry line gives a new model the whole suite. `model` is fitted once per
test module with the entry's `quick` parameters on a small synthetic shop, plus a planted item (SOLO)
only ever bought alone, by one customer (LONER): a known customer whose request can find no candidate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.datasets import synthetic_shop
from xsell.models.registry import MODELS, ModelEntry
from tests.contract.helpers import LONER, SOLO, UNKNOWN_CUSTOMER, UNKNOWN_ITEMS, Request


@pytest.fixture(scope="module", params=list(MODELS), ids=list(MODELS))
def entry(request: pytest.FixtureRequest) -> ModelEntry:
    return MODELS[request.param]


@pytest.fixture(scope="module")
def model(entry: ModelEntry, orders: xsell.Orders) -> Any:
    return entry.cls(**entry.quick).fit(orders)


@pytest.fixture(scope="session")
def orders() -> xsell.Orders:
    """1,502 orders over 91 items and 151 customers (4,236 lines)."""
    frame = synthetic_shop(3, n_products=30, n_customers=150, n_orders=1500).orders.to_frame()
    when = frame["timestamp"].max()
    loner = pd.DataFrame({"order_id": ["L1", "L2"], "item_id": [SOLO, SOLO], "customer_id": [LONER, LONER],
                          "timestamp": [when, when], "quantity": [1.0, 2.0], "price": [3.0, 3.0]})
    return xsell.load_orders(pd.concat([frame, loner], ignore_index=True))


@pytest.fixture(scope="session")
def tiny_orders() -> xsell.Orders:
    """Six orders of four items, three customers: enough for every model to fit."""
    lines = [(1, "a", "x"), (1, "b", "x"), (1, "c", "x"), (2, "a", "y"), (2, "b", "y"), (3, "a", "z"),
             (3, "c", "z"), (3, "d", "z"), (4, "b", "x"), (4, "c", "x"), (5, "a", "y"), (5, "d", "y"),
             (6, "b", "z"), (6, "d", "z")]
    return xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id", "customer_id"]))


@pytest.fixture(scope="session")
def training(orders: xsell.Orders) -> pd.DataFrame:
    """The training lines with external ids: the source of the independently computed expectations."""
    return orders.to_frame()


@pytest.fixture(scope="session")
def popular(orders: xsell.Orders, training: pd.DataFrame) -> list[tuple[Any, int]]:
    """(item, orders holding it), most popular first; ties in the orders' item order."""
    counts = training.groupby("item_id")["order_id"].nunique()
    position = {item: i for i, item in enumerate(orders.items.ids.tolist())}
    return sorted(counts.items(), key=lambda pair: (-pair[1], position[pair[0]]))


@pytest.fixture(scope="session")
def bought(training: pd.DataFrame) -> dict[Any, set]:
    """customer -> the items they bought."""
    return {c: set(g) for c, g in training.groupby("customer_id")["item_id"]}


@pytest.fixture(scope="session")
def known_customers(training: pd.DataFrame) -> list[Any]:
    """The eight customers with the most orders (LONER is not among them)."""
    per_customer = training.groupby("customer_id")["order_id"].nunique()
    return sorted(per_customer.sort_values(ascending=False, kind="stable").index[:8].tolist())


@pytest.fixture(scope="session")
def baskets(popular: list[tuple[Any, int]]) -> dict[str, list[Any]]:
    """36 baskets of 1 to 8 items drawn by popularity, four with unknown ids mixed in; an empty basket,
    one of unknown ids only, and SOLO alone (an item without neighbours)."""
    rng = np.random.default_rng(7)
    ids = [item for item, _ in popular]
    weights = np.array([count for _, count in popular], dtype=np.float64)
    out: dict[str, list[Any]] = {}
    for i in range(36):
        size = (1, 3, 8, 2, 5, 1)[i % 6]
        items = rng.choice(ids, size, replace=False, p=weights / weights.sum()).tolist()
        if i % 9 == 4:
            items = [UNKNOWN_ITEMS[0]] + items + [UNKNOWN_ITEMS[1]]
        out[f"b{i:02d}"] = items
    out["empty"] = []
    out["unknown-only"] = list(UNKNOWN_ITEMS)
    out["solo"] = [SOLO]
    return out


@pytest.fixture(scope="session")
def customer_requests(baskets: dict[str, list[Any]], known_customers: list[Any]) -> list[Request]:
    """Every basket once with a known customer, an unknown one and none; then the empty-basket and
    no-candidate cases: known customers with an empty basket, LONER with nothing and with SOLO."""
    requests: list[Request] = []
    for i, (basket_id, items) in enumerate(baskets.items()):
        known = known_customers[i % len(known_customers)]
        requests += [(f"{basket_id}/known", items, known), (f"{basket_id}/unknown", items, UNKNOWN_CUSTOMER),
                     (f"{basket_id}/none", items, None)]
    requests += [(f"empty/{c}", [], c) for c in known_customers]
    requests += [("loner/empty", [], LONER), ("loner/solo", [SOLO], LONER),
                 ("loner/solo+unknown", [SOLO, UNKNOWN_ITEMS[0]], LONER)]
    return requests
