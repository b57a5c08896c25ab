"""What one catalog decides, as read-only arrays over a model's items: built aside, swapped whole.

Everything a catalog decides (prices, costs, stock, categories, families and the up-sell search
arrays) lives in one immutable `Snapshot`; `Engine.set_catalog` builds the new one aside and swaps a
single reference, and every request reads that reference once, so a request served during a swap
answers wholly from the old catalog or wholly from the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from xsell.data.orders import Orders
from xsell.engine.catalog import AlignedCatalog, Catalog
from xsell.data.idmap import IdMap
from xsell.errors import InputError
from xsell.models.base import Recommender


@dataclass(frozen=True)
class Snapshot:
    """What one catalog decides, as read-only arrays over the model's items; replaced whole, never edited."""

    catalog: Catalog | None
    cat: AlignedCatalog
    price: np.ndarray  # unit price, NaN: none known
    cost: np.ndarray  # unit cost, NaN: none known
    price0: np.ndarray  # price with 0 for none (basket values, revenue)
    priced: np.ndarray  # a finite price: may be an up-sell and get one
    families: bool  # some item has a product family (substitutes of basket items are left out)
    group: np.ndarray  # up-sell group: category, else product family (offset past the categories), else -1
    up_items: np.ndarray  # priced items with a group, by (group, price)
    up_key: np.ndarray  # their group << 32 | price rank, ascending (exact: no cents cast to int)
    cents: np.ndarray  # distinct prices in cents (rounded float64), ascending
    cent_rank: np.ndarray  # each item's position in `cents` (0 when unpriced: never used)
    # the per-item arrays as the kernels take them, rows of one array each (the arrays above are views of them):
    item_ints: np.ndarray  # category, parent, group, cent_rank
    item_floats: np.ndarray  # price, price0, cost
    item_flags: np.ndarray  # in_stock, priced
    top_price: float  # the highest price (0 when none)
    memo: dict[object, np.ndarray] = field(default_factory=dict, compare=False, repr=False)  # per-rules masks


def build_snapshot(catalog: Catalog | None, items: IdMap, order_prices: np.ndarray) -> Snapshot:
    """Everything `catalog` decides for the model's `items` (internal order); `order_prices`: the
    prices known without a catalog (NaN: none), used where the catalog has no price."""
    ids = items.ids
    n = len(ids)
    if catalog is None:
        cat = AlignedCatalog(known=np.zeros(n, bool), price=np.full(n, np.nan), cost=np.full(n, np.nan),
                             category=np.full(n, -1, dtype=np.int64), category_names=np.empty(0, dtype=object),
                             parent=np.full(n, -1, dtype=np.int64), in_stock=np.ones(n, bool))
    else:
        cat = catalog.align(items)
        if not cat.known.any():
            raise InputError(f"the catalog has none of the model's {n:,} items (catalog ids like "
                             f"{catalog.frame.index[0]!r}, model ids like {str(ids[0])!r}); check the "
                             f"item_id column")
    price = np.where(np.isnan(cat.price), order_prices, cat.price)
    priced = np.isfinite(price) & (price >= 0)
    price = np.where(priced, price, np.nan)
    category, parent = cat.category.astype(np.int64), cat.parent.astype(np.int64)
    group = np.where(category >= 0, category,
                     np.where(parent >= 0, parent + category.max(initial=-1) + 1, -1)).astype(np.int64)
    with np.errstate(over="ignore"):  # a price near 1e308 has no cents: it only compares as inf
        cents_all = np.round(np.where(priced, price, 0.0) * 100)
    # the priced items by cents, ties by index: cents below 2**53 as integers, beyond them a non-negative
    # float's bits (+ 0.0 turns -0.0 into 0.0), which sort as the float does
    on_sale = np.flatnonzero(priced)
    cents_on_sale = cents_all[on_sale] + 0.0
    exact = not len(on_sale) or float(cents_on_sale.max()) < 2.0**53
    by_price = on_sale[stable_order(cents_on_sale.astype(np.int64) if exact else cents_on_sale.view(np.int64))]
    from xsell.kernels.engine import price_order

    cents, cent_rank, up_items = price_order(cents_all, by_price, group, int(group.max(initial=-1)) + 1)
    item_ints = np.stack([category, parent, group, cent_rank])
    item_floats = np.stack([price, np.where(priced, price, 0.0), np.asarray(cat.cost, dtype=np.float64)])
    item_flags = np.stack([np.asarray(cat.in_stock, dtype=bool), priced])
    cat = replace(cat, category=item_ints[0], parent=item_ints[1], in_stock=item_flags[0])
    state = Snapshot(catalog=catalog, cat=cat, price=item_floats[0], cost=item_floats[2], price0=item_floats[1],
                     priced=item_flags[1], families=bool((cat.parent >= 0).any()), group=item_ints[2],
                     up_items=up_items, up_key=(group[up_items] << 32) | cent_rank[up_items], cents=cents,
                     cent_rank=item_ints[3], item_ints=item_ints, item_floats=item_floats, item_flags=item_flags,
                     top_price=float(item_floats[1].max(initial=0.0)))
    for value in (*vars(state).values(), *vars(cat).values()):
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return state


def stable_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") of non-negative int64 keys, as a radix sort on 16-bit digits (numpy sorts
    16-bit integers stably in linear time, wider ones by merging): one pass per 16 bits the largest key needs."""
    order = np.arange(len(keys))
    if not len(keys):
        return order
    top = int(keys.max())
    shift = 0
    while True:
        digits = ((keys[order] if shift else keys) >> shift) & 0xFFFF
        order = order[np.argsort(digits.astype(np.uint16), kind="stable")]
        shift += 16
        if shift >= 64 or top >> shift == 0:
            return order


def order_prices(model: Recommender, orders: Orders | None) -> np.ndarray:
    """The prices known without a catalog: the median unit prices every model file carries, else the order
    lines' (NaN: none known)."""
    n = model.n_items
    kept = getattr(model, "item_prices_", None)
    prices = np.array(kept, dtype=np.float64) if kept is not None and len(kept) == n else np.full(n, np.nan)
    op = orders.item_prices() if orders is not None else None
    if orders is not None and op is not None:
        idx = model.items_.to_internal(orders.items.ids)
        ok = idx >= 0
        fill = np.full(n, np.nan)
        fill[idx[ok]] = op[ok]
        prices = np.where(np.isnan(prices), fill, prices)
    return prices
