"""`xsell demo`: fit on the synthetic shop (or the user's own file) and show what xsell does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from xsell.data.orders import Orders, load_orders
from xsell.models.cooccurrence import CoOccurrence

if TYPE_CHECKING:
    import pandas as pd


def run_demo(orders_path: str | Orders | None = None, columns: Mapping[str, str] | None = None,
             seed: int = 0) -> list[str]:
    """Fit a co-occurrence model and return the demo's lines of text (InputError on a bad seed).

    orders_path: None (the synthetic shop), a path read with `load_orders(path, columns)`, or loaded Orders."""
    from xsell.evaluation.protocol import check_whole

    seed = check_whole("seed", seed, 0)  # numpy's own refusal of -1 reads as a bug
    lines: list[str] = []
    truth = None
    if orders_path is None:
        from xsell.datasets import synthetic_shop

        shop = synthetic_shop(seed=seed)
        orders: Orders = shop.orders
        truth = shop.truth
        lines.append(f"Synthetic shop (seed {seed}): {orders.n_orders:,} orders, {orders.n_items:,} items, "
                     f"{orders.n_customers:,} customers; complements and substitutes planted.")
    else:
        orders = orders_path if isinstance(orders_path, Orders) else load_orders(orders_path, columns=columns)
        lines.append(f"Your orders: {orders.report}")
    model = CoOccurrence().fit(orders)
    counts = orders.item_counts()
    top: list[int] = counts.argsort()[::-1][:3].tolist()
    if truth is not None:  # show items whose planted complement the model should find
        top = [orders.items.index_of(a) for a, _ in truth.complements[0:9:3]]  # three product pairs
    for idx in top:
        item = orders.items.ids[idx].item()
        lines.append("")
        lines.append(f"Customers who bought {item} also bought:")
        lines.append(_table(model.also_bought(item, k=5).to_frame()))
    basket = orders.items.ids[list(top)[:2]].tolist()
    lines.append("")
    lines.append(f"To complete the basket {basket}:")
    lines.append(_table(model.recommend(basket, k=5).to_frame()))
    if truth is not None:
        found = sum(b in model.also_bought(a, k=3).items for a, b in truth.complements)
        lines.append("")
        lines.append(f"Planted complements found in the top 3: {found} of {len(truth.complements)}.")
    lines.append("")
    lines.append("Next: `xsell demo --orders YOUR_FILE.csv --column order_id=Invoice --column item_id=SKU` "
                 "runs this on your own orders; `xsell fit ORDERS -o model.xsell` saves a model for "
                 "`xsell also-bought`, `xsell recommend` and `xsell score`.")
    return lines


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")
