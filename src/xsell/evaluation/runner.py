"""Compare models on one split of the shop's own history."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pandas as pd

from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.evaluation.protocol import basket_completion, evaluate, temporal_split

COLUMNS = ["model", "hit_rate", "precision", "recall", "ndcg", "mrr", "map", "coverage", "popularity",
           "revenue", "fit_s", "score_s"]


def _factories() -> dict[str, Callable[[], Any]]:
    from xsell.models.association import AssociationRules
    from xsell.models.cooccurrence import CoOccurrence
    from xsell.models.dense import EASE, Popular

    return {
        "cooc": CoOccurrence,
        "rules": lambda: AssociationRules(min_support=0.0005),
        "ease": lambda: EASE(l2=200.0),
        "popular": Popular,
    }


def model_names() -> list[str]:
    return list(_factories())


def compare(orders: Orders, models: list[str], *, k: int = 10, quantile: float = 0.8, seed: int = 0,
            task: str = "basket-completion",
            progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Fit each model on the training part of a temporal split and score it; one row per model."""
    factories = _factories()
    unknown = [m for m in models if m not in factories]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(factories)}")
    if task != "basket-completion":
        raise InputError(f"unknown task {task!r}; available: basket-completion")
    say = progress or (lambda _m: None)
    train, test = temporal_split(orders, quantile=quantile)
    basket_task = basket_completion(train, test, seed=seed)
    if basket_task.n_baskets == 0:
        raise InputError("no test order has two items seen in training; use a later split (higher quantile)")
    rows = []
    for name in models:
        say(f"training {name}")
        start = time.perf_counter()
        model = factories[name]().fit(train)
        fitted = time.perf_counter()
        say(f"scoring {name} on {basket_task.n_baskets:,} baskets")
        metrics = evaluate(model, basket_task, train, k=k)
        rows.append({"model": name, **{c: metrics[c] for c in COLUMNS[1:10]},
                     "fit_s": fitted - start, "score_s": time.perf_counter() - fitted})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs.update({"baskets": basket_task.n_baskets, "k": k,
                        "train_orders": len(np.unique(train.order_index)),
                        "test_orders": len(np.unique(test.order_index))})
    return frame
