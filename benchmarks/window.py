"""What a time window buys (`Orders.since`, `xsell fit --since`): models trained on only the recent orders
against models trained on all of them, on Online Retail's temporal split.

Run (about 1-3 minutes on 2 cores; needs ../shared/data/online_retail):

    python benchmarks/window.py
    python benchmarks/window.py --quantile 0.9 --windows 30,60,90,180,270 --markdown window.md

Protocol (xsell.evaluation): temporal split at the --quantile of order time; basket completion on the
test orders (one seen item hidden per order with 2 or more, seed 0: the same baskets for every row);
each model trained on the training orders of the last N days before the split (`train.since("Nd")`), or
on all of them; hit rate, recall, NDCG and MRR at 10, and the training orders and items kept. The
baskets and the truth are the same for every row, so the rows compare directly; hidden items a window
never saw count as misses (a window's honest cost).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import emit, log  # noqa: E402

import xsell  # noqa: E402
from xsell.datasets import load_online_retail, shared_online_retail  # noqa: E402
from xsell.evaluation.protocol import basket_completion, evaluate, temporal_split  # noqa: E402

MODELS = {"cooccurrence": lambda: xsell.CoOccurrence(), "ease": lambda: xsell.EASE(),
          "association_rules": lambda: xsell.AssociationRules()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quantile", type=float, default=0.9)
    ap.add_argument("--windows", default="30,60,90,180,270", help="days, comma-separated (all orders as well)")
    ap.add_argument("--models", default="cooccurrence,ease")
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    source = shared_online_retail()
    if source is None:
        raise SystemExit("needs ../shared/data/online_retail/online_retail.parquet")
    orders = load_online_retail(source)
    train, test = temporal_split(orders, quantile=args.quantile)
    task = basket_completion(train, test, seed=0)
    log(f"train {train.n_orders:,} orders, {task.n_baskets:,} test baskets")
    windows = [None, *(int(w) for w in args.windows.split(","))]
    lines = [f"Online Retail, temporal split at quantile {args.quantile:g}: {task.n_baskets:,} test baskets (one "
             f"hidden item each), metrics at 10", "",
             "| model | window | training orders | items | hit rate | recall | ndcg | mrr |",
             "|---|---|---|---|---|---|---|---|"]
    for name in args.models.split(","):
        best = None
        for window in windows:
            part = train if window is None else train.since(f"{window}d")
            model = MODELS[name]().fit(part)
            m = evaluate(model, task, train, k=10)
            label = "all" if window is None else f"{window} days"
            log(f"{name} {label}: hit rate {m['hit_rate']:.4f}")
            n_orders, n_items = len(np.unique(part.order_index)), len(np.unique(part.item_index))  # with lines
            lines.append(f"| {name} | {label} | {n_orders:,} | {n_items:,} | {m['hit_rate']:.4f} | "
                         f"{m['recall']:.4f} | {m['ndcg']:.4f} | {m['mrr']:.4f} |")
            if best is None or m["hit_rate"] > best[1]:
                best = (label, m["hit_rate"])
        assert best is not None
        lines.append(f"| {name} | best: {best[0]} | | | {best[1]:.4f} | | | |")
    emit("\n".join(lines), args.markdown)


if __name__ == "__main__":
    main()
