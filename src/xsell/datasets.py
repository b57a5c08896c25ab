"""Data the library can make or read itself.

- `synthetic_shop`: a seeded shop with planted complements and substitutes, for
  the demo, the tests and checking a model against known truth.
- `synthetic_log`: a large plain order log (Zipf popularity, item partners) for
  benchmarks.
- `load_online_retail`: the UCI Online Retail file layout, cleaned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders, load_orders
from xsell.errors import InputError


def _zipf_sampler(rng: np.random.Generator, n_items: int, exponent: float):
    weights = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]

    def draw(size: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), n_items - 1)

    return draw


def synthetic_log(
    n_orders: int = 1_000_000,
    n_items: int = 50_000,
    *,
    zipf: float = 1.1,
    mean_basket: float = 5.0,
    partner_probability: float = 0.3,
    seed: int = 0,
) -> Orders:
    """A plain order log for benchmarks, generated without a Python loop per line.

    Item popularity follows Zipf(`zipf`) over `n_items`; basket sizes are
    geometric with mean `mean_basket`; each drawn line has a
    `partner_probability` chance of also adding that item's fixed partner
    (a random other item). Item ids are "SKU000000"-style strings; repeated
    items within an order are merged.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.geometric(1.0 / mean_basket, n_orders)
    total = int(sizes.sum())
    order_index = np.repeat(np.arange(n_orders, dtype=np.int32), sizes)
    item_index = _zipf_sampler(rng, n_items, zipf)(total).astype(np.int32)
    partner = rng.permutation(n_items).astype(np.int32)
    partner = np.where(partner == np.arange(n_items), (partner + 1) % n_items, partner)
    add = rng.random(total) < partner_probability
    order_index = np.concatenate([order_index, order_index[add]])
    item_index = np.concatenate([item_index, partner[item_index[add]]])
    width = len(str(n_items - 1))
    items = np.char.add("SKU", np.char.zfill(np.arange(n_items).astype(str), max(width, 6)))
    return Orders.from_indices(order_index, item_index, items=IdMap(items),
                               source=f"synthetic log ({n_orders:,} orders x {n_items:,} items)")
