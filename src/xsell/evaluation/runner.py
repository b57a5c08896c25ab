"""Compare models on one split of the shop's own history (what `xsell evaluate` runs)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.models.registry import MODELS, ModelEntry, canonical_name
from xsell.evaluation.protocol import (basket_completion, check_quantile, check_split, check_task,
                                       check_whole, leave_last_out, metric_curves, next_order, temporal_split)

COLUMNS = ["model", "hit_rate", "precision", "recall", "ndcg", "mrr", "map", "coverage", "popularity",
           "revenue", "fit_s", "score_s"]
Progress = Callable[[str, int, int], None]  # (what is happening, steps done, steps in all)


def model_factories(seed: int, threads: int) -> dict[str, Callable[..., Any]]:
    """name -> a maker of the model as `xsell evaluate` fits it: the registry's `evaluate` parameters,
    the run's seed for models with a random_state, its threads for models with num_threads (0 keeps
    the model's default: BPR's 1, reproducible). Keyword arguments override (the hybrid's tuned weights)."""
    def maker(entry: ModelEntry) -> Callable[..., Any]:
        cls = entry.cls
        params: dict[str, Any] = dict(entry.evaluate)
        if "random_state" in cls.constraints:
            params["random_state"] = seed
        if "num_threads" in cls.constraints and threads:
            params["num_threads"] = threads
        return lambda **overrides: cls(**{**params, **overrides})

    return {name: maker(entry) for name, entry in MODELS.items()}


@dataclass
class Comparison:
    """The result of `compare`: one row per model, metric-at-k curves, and what was run."""

    table: pd.DataFrame
    curves: pd.DataFrame  # model, k, metric, value
    meta: dict[str, Any] = field(default_factory=dict)
    tuning: pd.DataFrame | None = None  # every hybrid grid point on the validation split


def compare(orders: Orders, models: list[str], *, k: int = 10, task: str = "basket-completion",
            split: str = "temporal", quantile: float = 0.8, seed: int = 0, tune: bool = False,
            threads: int = 0, curve_max_k: int | None = None, progress: Progress | None = None) -> Comparison:
    """Fit each model on the training part of the split and score it on the task; see `Comparison`.

    tune: choose the hybrid's weights on a validation split cut from the training part first.
    threads: threads for the implicit models (0: all cores); seed: hidden items and model seeds.
    """
    if isinstance(models, str):
        raise InputError(f"models must be a list of model names, got a str: did you mean {[models]!r}?")
    if not isinstance(orders, Orders):
        raise InputError(f"compare expects an Orders (from xsell.load_orders), not {type(orders).__name__}")
    k = check_whole("k", k, 1)
    seed = check_whole("seed", seed, 0)
    threads = check_whole("threads", threads, 0)
    if curve_max_k is not None:
        curve_max_k = check_whole("curve_max_k", curve_max_k, 1)
    if split == "temporal":
        quantile = check_quantile(quantile)
    if not isinstance(tune, (bool, np.bool_)):
        raise InputError(f"tune must be True or False, got {tune!r}")
    models = [canonical_name(m) if isinstance(m, str) else m for m in models]  # old names: 'cooc', 'rules'
    factories = model_factories(seed, threads)
    unknown = [str(m) for m in models if not isinstance(m, str) or m not in factories]
    if unknown or not models:
        raise InputError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(factories)}")
    check_task(task)
    check_split(split)
    say = progress or (lambda _t, _d, _n: None)
    train, test = leave_last_out(orders) if split == "leave-last-out" else temporal_split(orders, quantile=quantile)
    made = next_order(train, test) if task == "next-order" else basket_completion(train, test, seed=seed)
    if made.n_baskets == 0:
        hint = "a later split (higher quantile)" if split == "temporal" else "more history"
        raise InputError(f"no test order is left for the {task} task (items or customers unseen in training); "
                         f"use {hint}")
    steps = 2 * len(models) + (1 if tune and "hybrid" in models else 0)
    done = 0
    tuned: dict[str, float] = {}
    tuning = None
    skipped: dict[str, str] = {}
    if tune and "hybrid" not in models:
        raise InputError("--tune fits the hybrid's weights: add hybrid to the models")
    if tune and "hybrid" in models:
        from xsell.evaluation.tuning import tune_hybrid

        say("tuning hybrid on a validation split", done, steps)
        try:
            tuned, tuning = tune_hybrid(train, k=k, task=task, split=split, seed=seed,
                                        progress=lambda text: say(text, done, steps))
        except InputError as exc:  # the others still run; the hybrid is left out with the reason
            skipped["hybrid"] = f"tuning on the validation split: {exc}"
            models = [m for m in models if m != "hybrid"]
            done += 2
        done += 1
    ks = list(range(1, max(k, curve_max_k or k) + 1))
    rows, curves = [], []
    for name in models:
        say(f"training {name}", done, steps)
        start = time.perf_counter()
        model = factories[name](**tuned) if name == "hybrid" else factories[name]()
        try:
            model.fit(train)
        except InputError as exc:  # e.g. EASE on a catalog too big for a dense matrix: the others still run
            skipped[name] = str(exc)
            done += 2
            continue
        fitted = time.perf_counter()
        done += 1
        say(f"scoring {name} on {made.n_baskets:,} baskets", done, steps)
        recs = model.recommend_batch(made.baskets, k=max(ks))
        scored = time.perf_counter()
        curve = metric_curves(recs, made, train, ks)
        curves.append(curve.assign(model=name))
        metrics = curve[curve["k"] == k].set_index("metric")["value"]  # the curve's point at k
        done += 1
        rows.append({"model": name, **{c: metrics[c] for c in COLUMNS[1:10]},
                     "fit_s": fitted - start, "score_s": scored - fitted})
    say("done", done, steps)
    table = pd.DataFrame(rows, columns=COLUMNS)
    meta = {"task": task, "split": split if split != "temporal" else f"temporal at the {quantile:g} quantile",
            "baskets": made.n_baskets, "k": k, "seed": seed,
            "train_orders": int(len(np.unique(train.order_index))),
            "test_orders": int(len(np.unique(test.order_index)))}
    if tuned:
        meta["tuned"] = tuned
    if skipped:
        meta["skipped"] = skipped
    if not rows:
        raise InputError("no model could be fitted: " + "; ".join(f"{n}: {m}" for n, m in skipped.items()))
    curve_frame = pd.concat(curves, ignore_index=True)[["model", "k", "metric", "value"]]
    return Comparison(table, curve_frame, meta, tuning)


__all__ = ["COLUMNS", "Comparison", "compare", "metric_curves", "model_factories"]
