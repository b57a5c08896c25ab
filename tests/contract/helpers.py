"""Small helpers of the model contract suite: exact error checks, the expected popular fallback,
baskets frames and exact single-versus-batch comparison."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import pandas as pd
import pytest

# planted in the training orders (see conftest.py): an item only ever bought alone, by one customer
SOLO = "SOLO"
LONER = "C-loner"
UNKNOWN_ITEMS = ["no-such-item", "P999-X"]
UNKNOWN_CUSTOMER = "C-nobody"
K = 10

Request = tuple[str, list[Any], Any]  # (basket id, item ids, customer id or None)


@contextmanager
def raises_exactly(exc_type: type[BaseException], message: str) -> Iterator[None]:
    """The block raises `exc_type` (or a subclass) whose message is exactly `message`."""
    with pytest.raises(exc_type) as info:
        yield
    assert str(info.value) == message


def not_fitted_message(cls: type) -> str:
    return f"this {cls.__name__} is not fitted yet; call fit(orders) first"


def expected_popular(popular: Sequence[tuple[Any, int]], k: int, excluded: Any = ()) -> tuple[list, list]:
    """The popularity fallback computed from the training lines: the k most popular items (orders
    holding each) not in `excluded`, and their counts as scores."""
    skip = set(excluded)
    head = [(item, count) for item, count in popular if item not in skip][:k]
    return [item for item, _ in head], [float(count) for _, count in head]


def requests_frame(requests: Sequence[Request]) -> pd.DataFrame:
    """basket_id, item_id, customer_id lines; an empty basket is one line whose item_id is null."""
    rows = [(basket_id, item, customer) for basket_id, items, customer in requests for item in (items or [None])]
    return pd.DataFrame({
        "basket_id": [r[0] for r in rows],
        "item_id": pd.Series([r[1] for r in rows], dtype=object),
        "customer_id": pd.Series([r[2] for r in rows], dtype=object),
    })


def batch_answers(frame: pd.DataFrame) -> dict[Any, tuple[list, list, list]]:
    """recommend_batch's frame as basket_id -> (items, scores, ranks)."""
    out = {}
    for basket_id, group in frame.groupby("basket_id", observed=True, sort=False):
        out[basket_id] = (group["item_id"].tolist(), group["score"].tolist(), group["rank"].tolist())
    return out


def mismatch(label: str, one: Any, batch: tuple[list, list, list] | None) -> str | None:
    """Why a single answer differs from the batch one (items, then scores, exactly), or None."""
    items, scores, ranks = batch if batch is not None else ([], [], [])
    if items != one.items:
        return f"{label}: batch items {items} != single items {one.items}"
    if scores != one.scores.tolist():
        at = next(i for i, (a, b) in enumerate(zip(scores, one.scores.tolist())) if a != b)
        return f"{label}: rank {at + 1} score {scores[at]!r} (batch) != {one.scores.tolist()[at]!r} (single)"
    if ranks != list(range(1, len(items) + 1)):
        return f"{label}: batch ranks {ranks}"
    return None


def assert_no_problems(problems: Sequence[str | None]) -> None:
    """Fail listing every request whose single answer differs from the batch one."""
    found = [p for p in problems if p]
    assert not found, f"{len(found)} of {len(problems)} requests differ:\n" + "\n".join(found)


def assert_same_answer(a: Any, b: Any, label: str = "") -> None:
    """Two Recommendations alike: items, scores (exactly) and fallback flag."""
    assert a.items == b.items, label
    assert a.scores.tolist() == b.scores.tolist(), label
    assert a.fallback == b.fallback, label
