"""Splits, the basket-completion task and metrics at k, vectorised.

temporal_split: train on orders before a time (or a quantile of order time), test on the rest.
basket_completion: in each test order with at least `min_known` items seen in
    training, hide `hide` random known items (seeded); the rest is the basket.
evaluate: recommend for every basket at once (recommend_batch) and score:
    hit_rate   share of baskets with at least one hidden item in the top k
    precision  hits / k            recall  hits / hidden items
    ndcg       DCG of hits / ideal DCG (binary relevance, log2 discount)
    mrr        1 / rank of the first hit (0 without)
    map        mean over baskets of average precision at k
    coverage   distinct items recommended / items in training
    popularity mean training popularity (share of orders) of recommended items
    revenue    price of the hidden items that were hit, summed over baskets (the business figure)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xsell.data.orders import Orders
from xsell.errors import InputError


def temporal_split(orders: Orders, *, at: Any = None, quantile: float = 0.8) -> tuple[Orders, Orders]:
    """(train, test): orders before the cut time, and from it on.

    at: a timestamp (anything pandas parses); otherwise the `quantile` of order times.
    """
    times = orders.order_times()
    if at is not None:
        cut = pd.Timestamp(at).to_datetime64().astype("datetime64[ns]").astype(np.int64)
    else:
        if not 0.0 < quantile < 1.0:
            raise InputError(f"quantile must be in (0, 1), got {quantile!r}")
        cut = np.quantile(times, quantile, method="lower")
    train = times < cut
    if not train.any() or train.all():
        raise InputError("the split leaves no orders on one side; choose another time or quantile")
    return orders.select_orders(train), orders.select_orders(~train)


@dataclass(frozen=True)
class BasketTask:
    """Baskets to complete (basket_id, item_id[, customer_id]) and the hidden items (basket_id, item_id)."""

    baskets: pd.DataFrame
    hidden: pd.DataFrame
    n_baskets: int


def basket_completion(train: Orders, test: Orders, *, hide: int = 1, min_known: int = 2,
                      seed: int = 0) -> BasketTask:
    """Hide `hide` random items (seen in training) of each test order with >= min_known such items."""
    rng = np.random.default_rng(seed)
    known_item = np.bincount(train.item_index, minlength=train.n_items) > 0
    line_known = known_item[test.item_index]
    order, item = test.order_index[line_known], test.item_index[line_known]
    sizes = np.bincount(order, minlength=test.n_orders)
    eligible = sizes >= max(min_known, hide + 1)
    keep = eligible[order]
    order, item = order[keep], item[keep]
    # a random rank per line within its order; the `hide` smallest are hidden
    noise = rng.random(len(order))
    by = np.lexsort((noise, order))
    order, item = order[by], item[by]
    starts = np.cumsum(sizes[eligible]) - sizes[eligible]
    pos = np.arange(len(order)) - np.repeat(starts, sizes[eligible])
    hidden = pos < hide
    ids = test.orders.ids
    baskets = pd.DataFrame({"basket_id": ids[order[~hidden]], "item_id": train.items.ids[item[~hidden]]})
    if test.customers is not None and test.customer_index is not None:
        first_line = np.zeros(test.n_orders, dtype=np.int64)
        first_line[test.order_index[::-1]] = np.arange(test.n_lines)[::-1]
        cust = test.customer_index[first_line][order[~hidden]]
        baskets["customer_id"] = np.where(cust >= 0, test.customers.ids[np.maximum(cust, 0)].astype(object), None)
    truth = pd.DataFrame({"basket_id": ids[order[hidden]], "item_id": train.items.ids[item[hidden]]})
    return BasketTask(baskets, truth, int(eligible.sum()))


def evaluate(model: Any, task: BasketTask, train: Orders, k: int = 10) -> dict[str, float]:
    """Metrics at k of `model` on `task` (see the module docstring)."""
    recs = model.recommend_batch(task.baskets, k=k)  # customer_id, when present, serves customer-aware models
    recs = recs.assign(basket_id=recs["basket_id"].astype(task.hidden["basket_id"].dtype),
                       item_id=recs["item_id"].astype(task.hidden["item_id"].dtype))
    n = task.n_baskets
    hits = recs.merge(task.hidden, on=["basket_id", "item_id"], how="inner").sort_values(["basket_id", "rank"])
    n_hidden = task.hidden.groupby("basket_id", observed=True).size()
    per_basket = hits.groupby("basket_id", observed=True)
    rank = hits["rank"].to_numpy()
    # binary relevance: DCG of the hits over the ideal DCG of min(hidden, k) hits
    discount = 1 / np.log2(np.arange(2, k + 2))
    ideal_by_count = np.concatenate([[0.0], np.cumsum(discount)])
    dcg = pd.Series(discount[rank - 1], index=hits["basket_id"].to_numpy()).groupby(level=0).sum()
    relevant = n_hidden.clip(upper=k)
    ideal = pd.Series(ideal_by_count[relevant.to_numpy()], index=relevant.index)
    nth = per_basket.cumcount().to_numpy() + 1
    ap = pd.Series(nth / rank, index=hits["basket_id"].to_numpy()).groupby(level=0).sum() / \
        relevant.reindex(per_basket.size().index).to_numpy()
    counts = np.bincount(train.item_index, minlength=train.n_items)
    pop = pd.Series(counts / train.n_orders, index=train.items.ids)
    prices = train.item_prices()
    revenue = 0.0
    if prices is not None:
        price = pd.Series(prices, index=train.items.ids)
        revenue = float(price.reindex(hits["item_id"]).fillna(0).sum())
    return {
        "hit_rate": per_basket.ngroups / n,
        "precision": len(hits) / (n * k),
        "recall": float((per_basket.size() / n_hidden.reindex(per_basket.size().index)).sum() / n),
        "ndcg": float((dcg / ideal.reindex(dcg.index).to_numpy()).sum() / n) if len(hits) else 0.0,
        "mrr": float((1 / per_basket["rank"].min()).sum() / n) if len(hits) else 0.0,
        "map": float(ap.sum() / n) if len(hits) else 0.0,
        "coverage": recs["item_id"].nunique() / int((counts > 0).sum()),
        "popularity": float(pop.reindex(recs["item_id"]).mean()),
        "revenue": revenue,
        "baskets": float(n),
        "mean_rank_of_hits": float(rank.mean()) if len(rank) else float("nan"),
    }
