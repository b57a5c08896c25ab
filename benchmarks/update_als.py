"""ALS fold-in (`ALS.update`) against a refit and against leaving the model stale, on Online Retail.

Run (about 2-4 minutes on 2 cores; needs ../shared/data/online_retail):

    python benchmarks/update_als.py
    python benchmarks/update_als.py --update-days 7 --test-days 14 --repeats 3 --markdown als.md

Time order: history | update days | test days (the last --test-days trading days). Three models, the
same parameters (ALS factors=64, iterations=15, on customers, num_threads=0):
  stale     fitted on the history only
  update    the stale model, then `update(update days)` (timed alone: CPU of every thread and wall)
  refit     fitted on history + update days (timed)
Quality, the same for the three: each test order with 2 or more items, one item hidden (seeded), the rest
as the basket with the order's customer (`recommend_batch` with a customer_id column); hit rate at 10
(share of test baskets whose hidden item is in the top 10) and, separately, for test orders of customers
first seen in the update days and for hidden items first sold then (what a stale model cannot know).
Ratio: CPU seconds over the refit's. Last, EASE and Hybrid, which have no update: what their refit on the
same orders costs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import _status_kb, emit, fmt_mb, fmt_s, log, median, settle_memory, spread, timed  # noqa: E402

import xsell  # noqa: E402
from xsell.datasets import load_online_retail, shared_online_retail  # noqa: E402


def _hits(model: xsell.ALS, baskets: pd.DataFrame, hidden: pd.Series) -> pd.Series:
    """Per test basket: is its hidden item in the top 10?"""
    top = model.recommend_batch(baskets, k=10)
    top = top.assign(basket_id=top["basket_id"].astype(str), item_id=top["item_id"].astype(str))
    wanted = pd.DataFrame({"basket_id": hidden.index.astype(str), "item_id": hidden.astype(str).to_numpy()})
    found = wanted.merge(top[["basket_id", "item_id"]], on=["basket_id", "item_id"], how="left", indicator=True)
    return pd.Series((found["_merge"] == "both").to_numpy(), index=hidden.index)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update-days", type=int, default=7)
    ap.add_argument("--test-days", type=int, default=14)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    source = shared_online_retail()
    if source is None:
        raise SystemExit("needs ../shared/data/online_retail/online_retail.parquet")
    frame = load_online_retail(source, require_customer=True).to_frame()
    day = frame["timestamp"].dt.normalize()
    days = np.sort(day.unique())
    test_from, update_from = days[-args.test_days], days[-args.test_days - args.update_days]
    history, batch = frame[day < update_from], frame[(day >= update_from) & (day < test_from)]
    test = frame[day >= test_from]
    log(f"history {history['order_id'].nunique():,} orders, update {batch['order_id'].nunique():,}, "
        f"test {test['order_id'].nunique():,}")
    rng = np.random.default_rng(0)
    sizes = test.groupby("order_id")["item_id"].transform("size")
    test = test[sizes >= 2]
    pick = test.groupby("order_id").sample(1, random_state=rng.integers(2**31))
    hidden = pick.set_index("order_id")["item_id"]
    baskets = test.drop(pick.index)[["order_id", "item_id", "customer_id"]].rename(columns={"order_id": "basket_id"})
    new_customers = set(batch["customer_id"]) - set(history["customer_id"])
    new_items = set(batch["item_id"]) - set(history["item_id"])
    of_new_customer = pick.set_index("order_id")["customer_id"].isin(new_customers)
    new_item_hidden = hidden.isin(new_items)

    def make() -> xsell.ALS:
        return xsell.ALS(factors=64, iterations=15, on="customers")

    history_orders, batch_orders = xsell.load_orders(history), xsell.load_orders(batch)
    all_orders = xsell.load_orders(pd.concat([history, batch]))
    make().fit(xsell.load_orders(history.head(2000)))  # warm-up: imports, BLAS, compiled kernels
    settle_memory()
    base = _status_kb("VmRSS") / 1024
    figures: dict[str, list[dict[str, float]]] = {"update": [], "refit": []}
    stale = updated = refit = None
    for r in range(args.repeats):
        log(f"repeat {r + 1}/{args.repeats}")
        stale = make().fit(history_orders)
        updated, f = timed(lambda: stale.update(batch_orders), base)
        figures["update"].append(f)
        refit, f = timed(lambda: make().fit(all_orders), base)
        figures["refit"].append(f)
    for name, other in (("EASE", lambda: xsell.EASE(l2=50)), ("Hybrid", lambda: xsell.Hybrid())):
        figures[f"{name} refit"] = []  # no update: what a refit costs them on the same orders
        for _ in range(args.repeats):
            figures[f"{name} refit"].append(timed(lambda: other().fit(all_orders), base)[1])
    stale = make().fit(history_orders)
    assert updated is not None and refit is not None
    ref_cpu = median([f["cpu"] for f in figures["refit"]])
    lines = [f"Online Retail (orders with a customer): history {history['order_id'].nunique():,} orders, update "
             f"{batch['order_id'].nunique():,} orders over {args.update_days} days ({len(new_customers):,} new "
             f"customers, {len(new_items):,} new items), test {len(hidden):,} baskets over {args.test_days} days; "
             f"ALS factors=64, iterations=15; {args.repeats} repeats, median [min-max]", "",
             "| model | CPU | wall | peak memory | ratio | HR@10 all | HR@10 new customers | HR@10 new items |",
             "|---|---|---|---|---|---|---|---|"]
    for name, model in (("stale (no update)", stale), ("update (fold-in)", updated), ("refit", refit)):
        hits = _hits(model, baskets, hidden)
        runs = figures.get(name.split()[0], [])
        cpu = [f["cpu"] for f in runs]
        timing = (f"{spread(cpu, fmt_s)} | {spread([f['wall'] for f in runs], fmt_s)} | "
                  f"{spread([f['peak_mb'] for f in runs], fmt_mb)} | {median(cpu) / ref_cpu:.1%}") if runs else \
            "- | - | - | -"
        lines.append(f"| {name} | {timing} | {hits.mean():.4f} | {hits[of_new_customer].mean():.4f} "
                     f"({int(of_new_customer.sum())}) | {hits[new_item_hidden].mean():.4f} ({int(new_item_hidden.sum())}) |")
    lines += ["", "| refit without an update | CPU | wall | peak memory | ratio to the ALS refit |", "|---|---|---|---|---|"]
    for name in ("EASE refit", "Hybrid refit"):
        runs = figures[name]
        cpu = [f["cpu"] for f in runs]
        lines.append(f"| {name} ({all_orders.n_items:,} items) | {spread(cpu, fmt_s)} | "
                     f"{spread([f['wall'] for f in runs], fmt_s)} | {spread([f['peak_mb'] for f in runs], fmt_mb)} | "
                     f"{median(cpu) / ref_cpu:.0%} |")
    emit("\n".join(lines), args.markdown)


if __name__ == "__main__":
    main()
