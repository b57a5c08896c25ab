"""`xsell demo`: fit on the synthetic shop (or the user's own file) and show what xsell does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from xsell.data.orders import Orders, load_orders
from xsell.models.cooccurrence import CoOccurrence

if TYPE_CHECKING:
    import pandas as pd


def _demo(orders_path: str | Orders | None, columns: Mapping[str, str] | None, seed: int) -> dict[str, Any]:
    """What the demo shows, as plain values: the data, the model's answers for three items and a basket."""
    from xsell.evaluation.protocol import check_whole

    seed = check_whole("seed", seed, 0)  # numpy's own refusal of -1 reads as a bug
    truth = None
    if orders_path is None:
        from xsell.datasets import synthetic_shop

        shop = synthetic_shop(seed=seed)
        orders: Orders = shop.orders
        truth = shop.truth
    else:
        orders = orders_path if isinstance(orders_path, Orders) else load_orders(orders_path, columns=columns)
    model = CoOccurrence().fit(orders)
    counts = orders.item_counts()
    top: list[int] = counts.argsort()[::-1][:3].tolist()
    if truth is not None:  # show items whose planted complement the model should find
        top = [orders.items.index_of(a) for a, _ in truth.complements[0:9:3]]  # three product pairs
    basket = orders.items.ids[list(top)[:2]].tolist()
    out: dict[str, Any] = {
        "data": "synthetic shop" if truth is not None else "your orders", "seed": seed if truth is not None else None,
        "orders": orders.n_orders, "items": orders.n_items, "customers": orders.n_customers,
        "load_report": None if truth is not None else str(orders.report),
        "also_bought": [{"item": orders.items.ids[idx].item(), "suggestions": model.also_bought(
            orders.items.ids[idx].item(), k=5)} for idx in top],
        "basket": basket, "basket_completion": model.recommend(basket, k=5),
    }
    if truth is not None:
        out["planted_complements_found_in_top_3"] = sum(b in model.also_bought(a, k=3).items
                                                         for a, b in truth.complements)
        out["planted_complements"] = len(truth.complements)
    return out


def run_demo(orders_path: str | Orders | None = None, columns: Mapping[str, str] | None = None,
             seed: int = 0) -> list[str]:
    """Fit a co-occurrence model and return the demo's lines of text (InputError on a bad seed).

    orders_path: None (the synthetic shop), a path read with `load_orders(path, columns)`, or loaded Orders."""
    shown = _demo(orders_path, columns, seed)
    if shown["load_report"] is None:
        lines = [f"Synthetic shop (seed {shown['seed']}): {shown['orders']:,} orders, {shown['items']:,} items, "
                 f"{shown['customers']:,} customers; complements and substitutes planted."]
    else:
        lines = [f"Your orders: {shown['load_report']}"]
    for entry in shown["also_bought"]:
        lines += ["", f"Customers who bought {entry['item']} also bought:", _table(entry["suggestions"].to_frame())]
    lines += ["", f"To complete the basket {shown['basket']}:", _table(shown["basket_completion"].to_frame())]
    if "planted_complements" in shown:
        lines += ["", f"Planted complements found in the top 3: {shown['planted_complements_found_in_top_3']} of "
                      f"{shown['planted_complements']}."]
    lines.append("")
    lines.append("Next: `xsell demo --orders YOUR_FILE.csv --column order_id=Invoice --column item_id=SKU` "
                 "runs this on your own orders; `xsell fit ORDERS -o model.xsell` saves a model for "
                 "`xsell also-bought`, `xsell recommend` and `xsell score`.")
    return lines


def demo_json(orders_path: str | Orders | None = None, columns: Mapping[str, str] | None = None,
              seed: int = 0) -> dict[str, Any]:
    """The demo as one JSON-ready dict (`xsell demo --json`): the same answers as `run_demo`'s text, each
    list of suggestions as `Recommendations.to_records()`."""
    shown = _demo(orders_path, columns, seed)
    shown["also_bought"] = [{"item": e["item"], "suggestions": e["suggestions"].to_records()}
                            for e in shown["also_bought"]]
    shown["basket_completion"] = shown["basket_completion"].to_records()
    return shown


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")
