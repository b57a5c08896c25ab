"""Splits, tasks and metrics at k, vectorised.

temporal_split: train on orders before a time (or a quantile of order time), test on the rest.
leave_last_out: each customer's last order is the test, all else trains.
basket_completion: in each test order with at least `min_known` items seen in
    training, hide `hide` random known items (seeded); the rest is the basket.
next_order: predict each test order of a customer seen in training from the
    customer alone (an empty basket with a customer_id); all its known items are hidden.
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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell.data.orders import Orders
from xsell.checks import check_int
from xsell.errors import InputError

if TYPE_CHECKING:
    from pandas.api.typing import NaTType  # pandas >= 2.1 at run time: only the type checker imports it

TASKS = ("basket-completion", "next-order")
SPLITS = ("temporal", "leave-last-out")


def check_whole(name: str, value: Any, low: int) -> int:
    """A whole number >= low (not a bool, not a float such as 2.0), in the project's one wording."""
    return check_int(name, value, low)


def check_quantile(quantile: Any) -> float:
    if isinstance(quantile, (bool, np.bool_)) or not isinstance(quantile, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(quantile) < 1.0:
        raise InputError(f"quantile must be in (0, 1), got {quantile!r}")
    return float(quantile)


def check_task(task: Any) -> str:
    if not isinstance(task, str) or task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return task


def check_split(split: Any) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    return split


def _check_orders(name: str, orders: Any) -> None:
    if not isinstance(orders, Orders):
        raise InputError(f"{name} must be an Orders (from xsell.load_orders), not {type(orders).__name__}")


def temporal_split(orders: Orders, *, at: Any = None, quantile: float = 0.8) -> tuple[Orders, Orders]:
    """(train, test): orders before the cut time, and from it on.

    at: a timestamp (anything pandas parses); otherwise the `quantile` of order times.
    """
    _check_orders("orders", orders)
    if at is None:
        quantile = check_quantile(quantile)
    else:
        stamp: pd.Timestamp | NaTType  # pd.Timestamp("NaT") is pd.NaT, which is no Timestamp
        try:
            stamp = pd.Timestamp(at)
        except (TypeError, ValueError, OverflowError):
            stamp = pd.NaT
        if isinstance(at, (bool, np.bool_, int, float, np.number)) or stamp is pd.NaT:
            raise InputError(f"at must be a time (a timestamp or a date string), got {at!r}")
    times = orders.order_times()
    present = np.bincount(orders.order_index, minlength=orders.n_orders) > 0  # (a split's part keeps all ids)
    if at is not None:
        cut = stamp.to_datetime64().astype("datetime64[ns]").astype(np.int64)
    else:
        cut = np.quantile(times[present], quantile, method="lower")
    train = present & (times < cut)
    if not train.any() or not (present & ~train).any():
        raise InputError("the split leaves no orders on one side; choose another time or quantile")
    return orders.select_orders(train), orders.select_orders(present & ~train)


def leave_last_out(orders: Orders) -> tuple[Orders, Orders]:
    """(train, test): the last order of every customer with two or more orders is the test;
    every other order (anonymous ones too) trains. Of two orders at the same time, the one that comes
    later in the input is the last."""
    _check_orders("orders", orders)
    if orders.customer_index is None or orders.customers is None:
        raise InputError("leave-last-out needs a customer_id column; use the temporal split instead")
    times = orders.order_times()
    present = np.bincount(orders.order_index, minlength=orders.n_orders) > 0
    cust = _order_customers(orders, orders.customer_index)
    ranked = np.flatnonzero(present & (cust >= 0))
    ranked = ranked[np.lexsort((ranked, times[ranked], cust[ranked]))]  # by customer, then time
    c = cust[ranked]
    last = np.ones(len(ranked), dtype=bool)
    last[:-1] = c[1:] != c[:-1]
    counts = np.bincount(c, minlength=orders.n_customers)
    test = np.zeros(orders.n_orders, dtype=bool)
    test[ranked[last & (counts[c] >= 2)]] = True
    if not test.any():
        raise InputError("no customer has two or more orders: leave-last-out leaves nothing to test")
    return orders.select_orders(~test & present), orders.select_orders(test)


def _order_customers(orders: Orders, customer_index: np.ndarray) -> np.ndarray:
    """The customer of each order (its first line's; -1 anonymous or without lines), from
    `customer_index`, the orders' own (checked not None by the caller)."""
    first_line = np.full(orders.n_orders, -1, dtype=np.int64)
    first_line[orders.order_index[::-1]] = np.arange(orders.n_lines)[::-1]
    cust = np.full(orders.n_orders, -1, dtype=np.int64)
    present = first_line >= 0
    cust[present] = customer_index[first_line[present]]
    return cust


@dataclass(frozen=True)
class BasketTask:
    """Baskets to complete (basket_id, item_id[, customer_id]) and the hidden items (basket_id, item_id)."""

    baskets: pd.DataFrame
    hidden: pd.DataFrame
    n_baskets: int


def basket_completion(train: Orders, test: Orders, *, hide: int = 1, min_known: int = 2,
                      seed: int = 0) -> BasketTask:
    """Hide `hide` random items (seen in training) of each test order with >= min_known such items."""
    _check_orders("train", train)
    _check_orders("test", test)
    hide = check_whole("hide", hide, 1)
    min_known = check_whole("min_known", min_known, 1)
    rng = np.random.default_rng(check_whole("seed", seed, 0))
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
        cust = _order_customers(test, test.customer_index)[order[~hidden]]
        customer_ids = test.customers.ids[np.maximum(cust, 0)].astype(object)  # a copy
        customer_ids[cust < 0] = None  # anonymous orders
        baskets["customer_id"] = customer_ids
    truth = pd.DataFrame({"basket_id": ids[order[hidden]], "item_id": train.items.ids[item[hidden]]})
    return BasketTask(baskets, truth, int(eligible.sum()))


def next_order(train: Orders, test: Orders) -> BasketTask:
    """Each test order of a customer with orders in training: the customer alone is the request
    (one line with an empty item_id), every item of the order seen in training is hidden."""
    _check_orders("train", train)
    _check_orders("test", test)
    if test.customer_index is None or test.customers is None or train.customer_index is None:
        raise InputError("the next-order task needs a customer_id column")
    known_item = np.bincount(train.item_index, minlength=train.n_items) > 0
    seen = train.customer_index[train.customer_index >= 0]
    known_customer = np.bincount(seen, minlength=test.n_customers) > 0
    keep = known_item[test.item_index] & (test.customer_index >= 0)
    keep &= known_customer[np.maximum(test.customer_index, 0)]
    order, item, cust = test.order_index[keep], test.item_index[keep], test.customer_index[keep]
    ids = test.orders.ids
    orders_kept, first = np.unique(order, return_index=True)
    baskets = pd.DataFrame({"basket_id": ids[orders_kept],
                            "item_id": pd.Series([None] * len(orders_kept), dtype=object),
                            "customer_id": test.customers.ids[cust[first]]})
    truth = pd.DataFrame({"basket_id": ids[order], "item_id": train.items.ids[item]})
    return BasketTask(baskets, truth, len(orders_kept))


def evaluate(model: Any, task: BasketTask, train: Orders, k: int = 10) -> dict[str, float]:
    """Metrics at k of `model` on `task` (see the module docstring)."""
    k = check_whole("k", k, 1)
    _check_task_arguments(task, train)
    if not hasattr(model, "recommend_batch"):
        raise InputError(f"model must be an xsell model (with recommend_batch), not {type(model).__name__}")
    recs = model.recommend_batch(task.baskets, k=k)  # customer_id, when present, serves customer-aware models
    return score_recommendations(recs, task, train, k)


def metric_curves(recs: pd.DataFrame, task: BasketTask, train: Orders, ks: list[int]) -> pd.DataFrame:
    """Metrics at every k in `ks` from one recommend_batch result at k >= max(ks): a long frame
    k, metric, value."""
    if isinstance(ks, (str, bytes)) or not hasattr(type(ks), "__iter__"):
        raise InputError(f"ks must be a non-empty list of whole numbers >= 1, got {ks!r}")
    ks = list(ks)
    if not ks:
        raise InputError("ks must be a non-empty list of whole numbers >= 1, got []")
    for cut in ks:
        if isinstance(cut, (bool, np.bool_)) or not isinstance(cut, (int, np.integer)) or cut < 1:
            raise InputError(f"ks must be a non-empty list of whole numbers >= 1, got {ks!r}")
    _check_recs(recs)
    _check_task_arguments(task, train)
    rows = []
    for cut in ks:
        metrics = score_recommendations(recs[recs["rank"] <= cut], task, train, cut)
        rows += [{"k": cut, "metric": name, "value": value} for name, value in metrics.items()
                 if name not in ("baskets", "mean_rank_of_hits")]
    return pd.DataFrame(rows)


def score_recommendations(recs: pd.DataFrame, task: BasketTask, train: Orders, k: int) -> dict[str, float]:
    """Metrics at k of a recommend_batch result (basket_id, rank, item_id) on `task`."""
    k = check_whole("k", k, 1)
    _check_recs(recs)
    _check_task_arguments(task, train)
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


def _check_task_arguments(task: Any, train: Any) -> None:
    if not isinstance(task, BasketTask):
        raise InputError(f"task must be a BasketTask (from basket_completion or next_order), "
                         f"not {type(task).__name__}")
    _check_orders("train", train)


def _check_recs(recs: Any) -> None:
    if not isinstance(recs, pd.DataFrame):
        raise InputError(f"recs must be a DataFrame from recommend_batch, not {type(recs).__name__}")
    missing = [c for c in ("basket_id", "rank", "item_id") if c not in recs.columns]
    if missing:
        raise InputError(f"recs lacks column(s) {', '.join(missing)} (a recommend_batch result has basket_id, "
                         f"rank, item_id, score)")
