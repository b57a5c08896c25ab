"""Data the library can make or read itself.

- `synthetic_shop`: a seeded shop with planted complements and substitutes, for
  the demo, the tests and checking a model against known truth.
- `synthetic_log`: a large plain order log (Zipf popularity, item partners) for
  benchmarks.
- `load_online_retail`: the UCI Online Retail file layout, cleaned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders, load_orders
from xsell.data.tables import read_table, table_format
from xsell.checks import check_int
from xsell.errors import InputError


def _zipf_sampler(rng: np.random.Generator, n_items: int, exponent: float) -> Callable[[int], npt.NDArray[np.intp]]:
    weights = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]

    def draw(size: int) -> npt.NDArray[np.intp]:
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


# -- the synthetic shop ------------------------------------------------------------
_CATEGORIES = ("kitchen", "garden", "office", "toys", "bath", "outdoor", "lighting", "textiles",
               "tools", "pets", "stationery", "storage")
_TIERS = ("B", "S", "P")  # budget, standard, premium
_TIER_PRICE = np.array([1.0, 1.6, 2.5])


@dataclass(frozen=True)
class ShopTruth:
    """What was planted: complements are bought together; substitutes replace each other."""

    complements: list[tuple[str, str]]
    substitutes: list[list[str]]


@dataclass(frozen=True)
class SyntheticShop:
    orders: Orders
    catalog: pd.DataFrame
    truth: ShopTruth


def synthetic_shop(
    seed: int = 0,
    *,
    n_products: int = 120,
    n_customers: int = 1_500,
    n_orders: int = 12_000,
    complement_share: float = 0.5,
    complement_probability: float = 0.6,
    repeat_probability: float = 0.25,
) -> SyntheticShop:
    """A seeded shop whose structure is known, for the demo and for checking models.

    Each of `n_products` product types comes in three price tiers (item ids like
    "P007-B", "P007-S", "P007-P": budget, standard, premium); the tiers of one
    type are substitutes (same category, different price) and an order holds at
    most one of them, in the customer's preferred tier most of the time. Half
    the types (`complement_share`) have a complement type in another category,
    added to the order with `complement_probability` in the same tier: those
    item pairs are `truth.complements`. Type popularity is Zipf-like; each
    customer has favourite types bought again (`repeat_probability` per line).
    Orders carry customers, timestamps over 2024, quantities and prices.
    """
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    n_cat = len(_CATEGORIES)
    category = np.arange(n_products) % n_cat
    base_price = np.round(rng.lognormal(2.3, 0.6, n_products), 2)
    # complements: pair types of different categories
    with_partner = rng.permutation(n_products)[: int(n_products * complement_share) // 2 * 2]
    a, b = with_partner[0::2], with_partner[1::2]
    same = category[a] == category[b]
    b = np.where(same, (b + 1) % n_products, b)
    valid = (category[a] != category[b]) & (a != b)
    a, b = a[valid], b[valid]
    partner = np.full(n_products, -1)
    partner[a], partner[b] = b, a

    # orders: customer, size, product types
    customer = rng.integers(0, n_customers, n_orders)
    tier_pref = rng.choice(3, n_customers, p=[0.45, 0.35, 0.20])
    favourites = _zipf_sampler(rng, n_products, 0.9)(n_customers * 3).reshape(n_customers, 3)
    sizes = rng.geometric(1 / 2.5, n_orders)
    order_of_line = np.repeat(np.arange(n_orders), sizes)
    n_lines = len(order_of_line)
    ptype = _zipf_sampler(rng, n_products, 0.9)(n_lines)
    repeat = rng.random(n_lines) < repeat_probability
    ptype[repeat] = favourites[customer[order_of_line[repeat]], rng.integers(0, 3, int(repeat.sum()))]
    add = (partner[ptype] >= 0) & (rng.random(n_lines) < complement_probability)
    order_of_line = np.concatenate([order_of_line, order_of_line[add]])
    ptype = np.concatenate([ptype, partner[ptype[add]]])
    # one tier per order: the customer's preferred tier 80% of the time
    order_tier = np.where(rng.random(n_orders) < 0.8, tier_pref[customer], rng.integers(0, 3, n_orders))
    tier = order_tier[order_of_line]

    item_names = np.array([f"P{t:03d}-{tr}" for t in range(n_products) for tr in _TIERS])
    item = ptype * 3 + tier
    price = np.round(base_price[ptype] * _TIER_PRICE[tier], 2)
    start = np.datetime64("2024-01-01T08:00:00", "s").astype(np.int64)
    seconds = np.sort(rng.integers(0, 365 * 86_400, n_orders))
    frame = pd.DataFrame({
        "order_id": np.char.add("O", np.char.zfill(order_of_line.astype(str), 6)),
        "item_id": item_names[item],
        "customer_id": np.char.add("C", np.char.zfill(customer[order_of_line].astype(str), 5)),
        "timestamp": (start + seconds[order_of_line]).astype("datetime64[s]"),
        "quantity": rng.integers(1, 4, len(item)),
        "price": price,
    }).sort_values(["order_id", "item_id"], kind="stable")
    orders = load_orders(frame)
    catalog = pd.DataFrame({
        "item_id": item_names,
        "category": np.repeat(np.array(_CATEGORIES)[category], 3),
        "price": np.round(np.repeat(base_price, 3) * np.tile(_TIER_PRICE, n_products), 2),
    })
    complements = [(item_names[x * 3 + t], item_names[y * 3 + t]) for x, y in zip(a.tolist(), b.tolist(), strict=True)
                   for t in range(3)]
    substitutes = [item_names[t * 3: t * 3 + 3].tolist() for t in range(n_products)]
    return SyntheticShop(orders, catalog, ShopTruth(complements, substitutes))


# -- UCI Online Retail -------------------------------------------------------------
ONLINE_RETAIL_COLUMNS = {
    "order_id": "InvoiceNo",
    "item_id": "StockCode",
    "customer_id": "CustomerID",
    "timestamp": "InvoiceDate",
    "quantity": "Quantity",
    "price": "UnitPrice",
}


def load_online_retail(path: str | Path, *, require_customer: bool = False) -> Orders:
    """Read the UCI Online Retail layout (xlsx, csv or parquet) and clean it.

    Left out, with counts in `orders.report`: cancelled invoices (InvoiceNo
    starting with "C"), non-product stock codes (POST, M, DOT, BANK CHARGES...:
    product codes start with five digits), lines with UnitPrice <= 0, lines
    with Quantity <= 0 and, with `require_customer`, lines without CustomerID.
    Download the file yourself (UCI dataset 352, CC BY 4.0).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"Online Retail file not found: {p}")
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        try:
            frame = pd.read_excel(p, dtype={"InvoiceNo": str, "StockCode": str})
        except ImportError:
            raise InputError("reading .xlsx needs openpyxl: pip install 'xsell[excel]'") from None
    elif table_format(p) is not None:  # the file's Description holds Latin-1 bytes in some copies: replaced
        frame = read_table(p, what="Online Retail", columns=list(ONLINE_RETAIL_COLUMNS.values()),
                           encoding_errors="replace").frame
    else:
        raise InputError(f"cannot read {p}: use the .xlsx, .csv or .parquet form of Online Retail")
    missing = [c for c in ONLINE_RETAIL_COLUMNS.values() if c not in frame.columns]
    if missing:
        raise InputError(f"{p} is not in the Online Retail layout: missing column(s) {', '.join(missing)}")
    if table_format(p) in ("csv", "tsv"):  # CSV cells are text: customer ids are numbers, as in the other forms
        frame["CustomerID"] = pd.to_numeric(frame["CustomerID"]).astype("Int64")
    lines_read = len(frame)
    invoice = frame["InvoiceNo"].astype(str)
    code = frame["StockCode"].astype(str)
    cancelled = invoice.str.startswith("C").to_numpy()
    non_product = ~code.str.match(r"^\d{5}").to_numpy()
    free = (pd.to_numeric(frame["UnitPrice"], errors="coerce") <= 0).to_numpy() & ~cancelled & ~non_product
    drop = cancelled | non_product | free
    notes = [f"{int(cancelled.sum()):,} cancellation lines left out",
             f"{int((non_product & ~cancelled).sum()):,} non-product lines (POST, M, ...) left out",
             f"{int(free.sum()):,} lines with price <= 0 left out"]
    if require_customer:
        anonymous = frame["CustomerID"].isna().to_numpy() & ~drop
        drop |= anonymous
        notes.append(f"{int(anonymous.sum()):,} lines without customer left out")
    kept = frame.loc[~drop, list(ONLINE_RETAIL_COLUMNS.values())]
    orders = load_orders(kept, columns=ONLINE_RETAIL_COLUMNS)
    r = orders.report
    orders.report = replace(r, source=str(p), lines_read=lines_read, notes=tuple(notes) + r.notes)
    return orders


def shared_online_retail() -> Path | None:
    """Path of ../shared/data/online_retail/online_retail.parquet when it exists (tests, benchmarks)."""
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        candidate = parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
        if candidate.exists():
            return candidate
    return None
