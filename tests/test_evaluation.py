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
    # average precision: mean over the hidden items of precision at each hit's rank
    def ap(ranks, n_hidden): return sum((i + 1) / r for i, r in enumerate(ranks)) / min(n_hidden, 2)
    assert result["map"] == pytest.approx((ap(ranks_x, 1) + ap(ranks_y, 2)) / 2)
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
    assert [r["model"] for r in out["results"]] == ["cooccurrence", "popular"]  # 'cooc': the old name
    assert "note: model 'cooc' is now called 'cooccurrence'; the old name still works" in result.stderr
    cooc, popular = out["results"]
    # planted complements make co-occurrence far better than popularity at completing baskets
    assert cooc["hit_rate"] > 2 * popular["hit_rate"]
    bad = CliRunner().invoke(app, ["evaluate", str(path), "--models", "cooc,svd"])
    assert bad.exit_code == 2  # a usage error, before the orders are read (no load report)
    said = " ".join(bad.stderr.replace("│", " ").split())
    assert "Invalid value for '--models': 'svd': choose from cooccurrence, association_rules, als, bpr, itemknn, " \
           "ease, popular, hybrid (comma-separated)" in said and "lines read" not in said


def _customer_orders():
    lines = [  # order, customer, item, day
        (1, "u", "a", 1), (1, "u", "b", 1), (2, "v", "a", 2), (2, "v", "c", 2), (3, "u", "c", 3),
        (3, "u", "b", 3), (4, "w", "a", 4), (5, "v", "b", 5), (5, "v", "d", 5), (6, "u", "a", 6), (6, "u", "e", 6),
    ]
    frame = pd.DataFrame(lines, columns=["order_id", "customer_id", "item_id", "day"])
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    return xsell.load_orders(frame)


def _order_ids(orders):
    return sorted(set(orders.orders.ids[orders.order_index].tolist()))


def test_leave_last_out_holds_out_each_customers_last_order():
    from xsell.evaluation import leave_last_out

    train, test = leave_last_out(_customer_orders())
    # u: orders 1, 3, 6 -> 6 out; v: 2, 5 -> 5 out; w has one order: it stays in training
    assert _order_ids(test) == [5, 6]
    assert _order_ids(train) == [1, 2, 3, 4]
    with pytest.raises(InputError, match=r"^leave-last-out needs a customer_id column; use the temporal split "
                                         r"instead$"):
        leave_last_out(_orders())


def test_next_order_task_asks_for_the_customer_and_hides_the_known_items():
    from xsell.evaluation import leave_last_out, next_order

    train, test = leave_last_out(_customer_orders())
    task = next_order(train, test)
    assert task.n_baskets == 2
    assert task.baskets["basket_id"].tolist() == [5, 6]
    assert task.baskets["customer_id"].tolist() == ["v", "u"]
    assert task.baskets["item_id"].isna().all()
    # order 5 = {b, d}: d unseen in training; order 6 = {a, e}: e unseen
    assert sorted(map(tuple, task.hidden.to_numpy().tolist())) == [(5, "b"), (6, "a")]
    # a customer-aware model answers from the history; repeat purchases are allowed
    model = xsell.ItemKNN(on="customers").fit(train)
    result = evaluate(model, task, train, k=2)
    recs = model.recommend_batch(task.baskets, k=2)
    expected = sum(h in recs[recs["basket_id"] == b]["item_id"].astype(str).tolist()
                   for b, h in [(5, "b"), (6, "a")]) / 2
    assert result["hit_rate"] == expected
    assert recs.attrs["fallback_baskets"] == 0


def test_metric_curves_match_evaluate_at_each_k(shop):
    from xsell.evaluation import metric_curves

    train, test = temporal_split(shop.orders, quantile=0.8)
    task = basket_completion(train, test, seed=1)
    model = xsell.CoOccurrence().fit(train)
    curves = metric_curves(model.recommend_batch(task.baskets, k=5), task, train, [1, 3, 5])
    for k in (1, 3, 5):
        direct = evaluate(model, task, train, k=k)
        got = curves[curves["k"] == k].set_index("metric")["value"]
        for name in ("hit_rate", "ndcg", "mrr", "coverage", "revenue"):
            assert got[name] == pytest.approx(direct[name])
    hits = curves[curves["metric"] == "hit_rate"]["value"].tolist()
    assert hits == sorted(hits)  # more slots, more hits


def test_tune_hybrid_picks_the_best_grid_point_on_validation(shop):
    from xsell.evaluation import tune_hybrid
    from xsell.evaluation.tuning import validation_task

    train, _ = temporal_split(shop.orders, quantile=0.8)
    grid = {"l2": [50.0], "tau_days": [30.0], "history_weight": [0.0, 0.5, 2.0]}
    best, table = tune_hybrid(train, grid=grid, seed=2)
    assert len(table) == 3
    # each point fitted and scored from scratch on the same validation task; the best must win
    fit_part, valid = validation_task(train, task="basket-completion", split="temporal", quantile=0.85, seed=2)
    scores = {w: evaluate(xsell.Hybrid(l2=50.0, tau_days=30.0, history_weight=w).fit(fit_part), valid, fit_part)
              for w in grid["history_weight"]}
    winner = max(scores, key=lambda w: (scores[w]["hit_rate"], scores[w]["ndcg"]))
    assert best == {"l2": 50.0, "tau_days": 30.0, "history_weight": winner}
    assert table["hit_rate"].iloc[0] == pytest.approx(scores[winner]["hit_rate"])
    assert len({round(v["hit_rate"], 9) for v in scores.values()}) > 1  # the weight matters here
    with pytest.raises(InputError, match=r"^unknown grid parameter\(s\) alpha; tune l2, tau_days, history_weight$"):
        tune_hybrid(train, grid={"alpha": [1.0]})


def test_evaluate_command_next_order_tune_and_report(tmp_path, shop):
    import json

    from typer.testing import CliRunner

    from xsell.cli import app

    path = tmp_path / "orders.parquet"
    shop.orders.to_frame().to_parquet(path)
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["evaluate", str(path), "--models", "popular,hybrid,itemknn", "--task",
                                      "next-order", "--split", "leave-last-out", "--tune", "-k", "5",
                                      "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["task"] == "next-order" and out["split"] == "leave-last-out"
    assert set(out["tuned"]) == {"l2", "tau_days", "history_weight"}
    by_model = {r["model"]: r for r in out["results"]}
    # the customer's own history predicts the next order better than popularity
    assert by_model["hybrid"]["hit_rate"] > by_model["popular"]["hit_rate"]
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "hybrid" in html and "data:image/png;base64," in html
    bad = CliRunner().invoke(app, ["evaluate", str(path), "--report", str(tmp_path / "r.txt")])
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines()[-1] == f"error: --report must name an .html file, got {tmp_path / 'r.txt'}"
    bad = CliRunner().invoke(app, ["evaluate", str(path), "--split", "random"])
    assert bad.exit_code == 2 and "'--split'" in bad.stderr  # a usage error, before the orders are read
    bad = CliRunner().invoke(app, ["evaluate", str(path), "--models", "cooc", "--tune"])
    assert bad.stderr.strip().splitlines()[-1] == "error: --tune fits the hybrid's weights: add hybrid to the models"


def test_a_hybrid_that_cannot_be_tuned_is_skipped_and_the_rest_runs(shop, monkeypatch):
    import xsell.evaluation.tuning as tuning
    from xsell.evaluation.runner import compare

    def refuse(*args, **kwargs):
        raise InputError("EASE needs a dense items x items matrix")

    monkeypatch.setattr(tuning, "tune_hybrid", refuse)
    result = compare(shop.orders, ["popular", "hybrid"], tune=True)
    assert result.table["model"].tolist() == ["popular"]
    assert result.meta["skipped"] == {"hybrid": "tuning on the validation split: EASE needs a dense items x items "
                                                "matrix"}
