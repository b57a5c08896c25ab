"""EASE and Popular: weights against the plain closed form, refusals, batch equality, files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.errors import InputError


def test_ease_weights_equal_the_closed_form(tiny_orders):
    model = xsell.EASE(l2=2.0).fit(tiny_orders)
    x = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 1, 1], [0, 1, 1, 0]], dtype=float)  # orders x (a, b, c, d)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(4))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights_, b, rtol=1e-12)
    scores = b[0] + b[1]  # basket {a, b}: c and d remain
    expected = ["c", "d"] if scores[2] >= scores[3] else ["d", "c"]
    result = model.recommend(["a", "b"], k=5)
    assert result.items == expected
    np.testing.assert_allclose(result.scores, sorted(scores[2:], reverse=True), rtol=1e-12)


def test_ease_refuses_large_catalogs_with_the_limit_and_an_alternative(tiny_orders):
    message = ("EASE needs a dense items x items matrix: 4 items would take about 0.0 GB (limit max_items=3); "
               "use CoOccurrence or ItemKNN, or fit on the most frequent items")
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        xsell.EASE(max_items=3).fit(tiny_orders)


@pytest.mark.parametrize("make", [lambda: xsell.EASE(l2=50.0), lambda: xsell.Popular()])
def test_batch_equals_one_by_one_and_files_round_trip(tmp_path, shop, make):
    model = make().fit(shop.orders)
    lines = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})
    lines = lines[lines["basket_id"].isin(lines["basket_id"].unique()[:150])][["basket_id", "item_id"]]
    batch = model.recommend_batch(lines, k=5)
    loaded = xsell.load_model(xsell.save_model(model, tmp_path / "m.xsell"))
    for basket_id, items in lines.groupby("basket_id")["item_id"]:
        single = model.recommend(items.tolist(), k=5)
        got = batch[batch["basket_id"] == basket_id]
        assert got["item_id"].tolist() == single.items
        assert np.array_equal(got["score"].to_numpy(), single.scores)
        assert loaded.recommend(items.tolist(), k=5).items == single.items
        assert not set(single.items) & set(items)


def test_popular_over_a_recent_window():
    lines = pd.DataFrame({
        "order_id": [1, 1, 2, 3, 4, 4],
        "item_id": ["old", "x", "old", "old", "new", "x"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-03",
                                     "2024-03-01", "2024-03-01"]),
    })
    orders = xsell.load_orders(lines)
    assert xsell.Popular().fit(orders).recommend([], k=3).items == ["old", "x", "new"]
    # the last 30 days hold only order 4: "old" has no count there, "new" and "x" one each
    assert xsell.Popular(days=30).fit(orders).recommend([], k=2).items == ["x", "new"]


def test_ease_refusal_states_the_measured_memory_of_a_fit() -> None:
    # about 35 bytes per items^2 at fit (measured: the Gram matrix plus numpy's inverse's identity,
    # working copy and result); 25,000 items: 25,000^2 x 35 B = 21.9 GB
    from xsell.datasets import synthetic_log

    orders = synthetic_log(60_000, 25_000, zipf=0.5, seed=0)
    n = orders.n_items
    assert n > 20_000
    message = (f"EASE needs a dense items x items matrix: {n:,} items would take about {n * n * 35 / 1e9:,.1f} GB "
               f"(limit max_items=20,000); use CoOccurrence or ItemKNN, or fit on the most frequent items")
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        xsell.EASE().fit(orders)
