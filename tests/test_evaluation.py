"""Evaluation protocol: splits, the basket-completion task and metrics computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.errors import InputError
from xsell.evaluation import BasketTask, basket_completion, evaluate, temporal_split


def _orders():
    lines = [  # order, item, day, price
        (1, "a", 1, 1.0), (1, "b", 1, 2.0), (2, "a", 2, 1.0), (2, "c", 2, 3.0), (3, "b", 3, 2.0), (3, "c", 3, 3.0),
        (4, "a", 4, 1.0), (4, "b", 4, 2.0), (4, "z", 4, 9.0), (5, "c", 5, 3.0), (5, "d", 5, 5.0),
    ]
    frame = pd.DataFrame(lines, columns=["order_id", "item_id", "day", "price"])
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    return xsell.load_orders(frame)


def test_temporal_split_at_a_time_and_at_a_quantile():
    orders = _orders()
    train, test = temporal_split(orders, at="2024-01-05")  # orders 1-5 are on Jan 2-6
    assert sorted(set(train.orders.ids[train.order_index].tolist())) == [1, 2, 3]
    assert sorted(set(test.orders.ids[test.order_index].tolist())) == [4, 5]
    train_q, _ = temporal_split(orders, quantile=0.6)  # the 60% quantile (lower) of Jan 2-6 is Jan 4
    assert sorted(set(train_q.orders.ids[train_q.order_index].tolist())) == [1, 2]
    with pytest.raises(InputError, match=r"^the split leaves no orders on one side; choose another time or quantile$"):
        temporal_split(orders, at="2030-01-01")


def test_basket_completion_hides_one_known_item_of_orders_with_two_known():
    train, test = temporal_split(_orders(), at="2024-01-05")
    task = basket_completion(train, test, seed=0)
    # order 4 has a, b known (z unseen in training): eligible; order 5 has c known, d unseen: not eligible
    assert task.n_baskets == 1
    assert task.hidden["basket_id"].tolist() == [4]
    hidden = task.hidden["item_id"].iloc[0]
    assert hidden in ("a", "b")
    assert task.baskets["item_id"].tolist() == [({"a", "b"} - {hidden}).pop()]


def test_metrics_by_hand():
    orders = _orders()
    model = xsell.CoOccurrence(min_count=1).fit(orders)
    baskets = pd.DataFrame({"basket_id": ["x", "y"], "item_id": ["a", "d"]})
    hidden = pd.DataFrame({"basket_id": ["x", "y", "y"], "item_id": ["c", "b", "c"]})
    recs = model.recommend_batch(baskets, k=2)
    x = recs[recs.basket_id == "x"]["item_id"].tolist()
    y = recs[recs.basket_id == "y"]["item_id"].tolist()
    result = evaluate(model, BasketTask(baskets, hidden, 2), orders, k=2)
    # reference from the actual lists: rank of each hidden item or None
    ranks_x = [x.index("c") + 1] if "c" in x else []
    ranks_y = sorted(y.index(i) + 1 for i in ("b", "c") if i in y)
    hits = len(ranks_x) + len(ranks_y)
    assert result["hit_rate"] == (bool(ranks_x) + bool(ranks_y)) / 2
    assert result["precision"] == hits / 4
    assert result["recall"] == pytest.approx((len(ranks_x) / 1 + len(ranks_y) / 2) / 2)
    def dcg(ranks): return sum(1 / math.log2(r + 1) for r in ranks)
    ideal_x, ideal_y = dcg([1]), dcg([1, 2])
    assert result["ndcg"] == pytest.approx((dcg(ranks_x) / ideal_x + dcg(ranks_y) / ideal_y) / 2)
    mrr = ((1 / ranks_x[0]) if ranks_x else 0) + ((1 / ranks_y[0]) if ranks_y else 0)
    assert result["mrr"] == pytest.approx(mrr / 2)
    price = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 5.0, "z": 9.0}
    revenue = (price["c"] if ranks_x else 0) + sum(price[i] for i in ("b", "c") if i in y)
    assert result["revenue"] == pytest.approx(revenue)
    assert result["coverage"] == len(set(x) | set(y)) / 5
    # by hand, companions of a: b (2 orders) first; then z beats c (both once) because
    # score = 1/(1+5) * 1/sqrt(n_a n_j) and z is in 1 order, c in 3
    assert x == ["b", "z"]
    assert y[0] == "c"  # d's only companion


def test_evaluate_command_compares_models(tmp_path, shop):
    import json

    from typer.testing import CliRunner

    from xsell.cli import app

    path = tmp_path / "orders.parquet"
    shop.orders.to_frame().to_parquet(path)
    result = CliRunner().invoke(app, ["evaluate", str(path), "--models", "cooc,popular", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["model"] for r in out["results"]] == ["cooc", "popular"]
    cooc, popular = out["results"]
    # planted complements make co-occurrence far better than popularity at completing baskets
    assert cooc["hit_rate"] > 2 * popular["hit_rate"]
    bad = CliRunner().invoke(app, ["evaluate", str(path), "--models", "cooc,als"])
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines()[-1] == ("error: unknown model(s) als; choose from "
                                                   "cooc, rules, ease, popular")
