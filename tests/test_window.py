"""Orders.since and --since: only the recent orders, by a window before the newest order or from a date;
id maps compacted, the report says what was left out, bad windows named."""

from __future__ import annotations

import pandas as pd
import pytest

import xsell
from xsell import InputError
from tests.test_outputs import run_xsell

LINES = [  # order, item, customer, time
    ("o1", "a", "c1", "2024-01-01 09:00"), ("o1", "b", "c1", "2024-01-01 09:00"),
    ("o2", "x", "c2", "2024-03-01 12:00"), ("o2", "a", "c2", "2024-03-01 12:00"),
    ("o3", "a", "c3", "2024-03-30 08:00"), ("o3", "c", "c3", "2024-03-30 08:05"),
    ("o4", "c", "c1", "2024-03-31 12:00"),
]


@pytest.fixture()
def orders() -> xsell.Orders:
    frame = pd.DataFrame(LINES, columns=["order_id", "item_id", "customer_id", "timestamp"])
    return xsell.load_orders(frame)


def test_a_window_before_the_newest_order(orders):
    recent = orders.since("30d")  # newest 2024-03-31 12:00: from 2024-03-01 12:00 on, o2 included
    assert sorted(recent.orders.ids) == ["o2", "o3", "o4"]
    assert sorted(recent.items.ids) == ["a", "c", "x"]  # b sold only in o1: gone from the id map
    assert sorted(recent.customers.ids) == ["c1", "c2", "c3"]
    frame = recent.to_frame()
    assert len(frame) == 5 and set(zip(frame["order_id"], frame["item_id"])) == {
        ("o2", "x"), ("o2", "a"), ("o3", "a"), ("o3", "c"), ("o4", "c")}
    assert str(recent.report).endswith("1 order before 2024-03-01 12:00:00 left out (since=30d); 5 lines kept")
    assert sorted(orders.since("29d").orders.ids) == ["o3", "o4"]
    assert sorted(orders.since(29).orders.ids) == ["o3", "o4"]  # a number is days
    assert sorted(orders.since("36h").orders.ids) == ["o3", "o4"]
    assert sorted(orders.since("4w").orders.ids) == ["o3", "o4"]  # 28 days
    assert sorted(orders.since(pd.Timedelta(hours=3)).orders.ids) == ["o4"]


def test_a_part_of_a_split_is_windowed_by_its_own_orders(orders):
    from xsell.evaluation.protocol import temporal_split

    train, _test = temporal_split(orders, at="2024-03-31")  # o1-o3 train: the id maps still hold o4
    recent = train.since("2d")  # newest training order o3 (2024-03-30 08:00): o3 only
    assert recent.orders.ids.tolist() == ["o3"] and sorted(recent.items.ids) == ["a", "c"]
    assert str(recent.report).endswith("2 orders before 2024-03-28 08:00:00 left out (since=2d); 2 lines kept")


def test_a_date_and_what_a_model_learns_from_the_window(orders):
    assert sorted(orders.since("2024-03-30").orders.ids) == ["o3", "o4"]
    model = xsell.CoOccurrence(min_count=1).fit(orders.since("2024-03-30"))
    assert model.n_items == 2 and model.also_bought("a").items == ["c"]


@pytest.mark.parametrize("window, message", [
    ("90x", "since must be a window like '90d', '12w' or '36h' (before the newest order), a number of days, or "
            "a date like '2011-09-01'; got '90x'"),
    (0, "since must be a window like '90d', '12w' or '36h' (before the newest order), a number of days, or a "
        "date like '2011-09-01'; got 0"),
    (True, "since must be a window like '90d', '12w' or '36h' (before the newest order), a number of days, or "
           "a date like '2011-09-01'; got True"),
    ("2025-01-01", "since='2025-01-01' leaves no order: the newest is from 2024-03-31 12:00:00"),
])
def test_bad_windows_are_named(orders, window, message):
    with pytest.raises(InputError) as info:
        orders.since(window)
    assert str(info.value) == message


def test_orders_without_times_cannot_be_windowed():
    with pytest.raises(InputError) as info:
        xsell.load_orders(pd.DataFrame({"order_id": [1], "item_id": ["a"]})).since("30d")
    assert str(info.value) == ("these orders have no timestamp column; map one with columns={'timestamp': NAME} "
                               "(xsell: --column timestamp=NAME)")


def test_fit_and_rules_take_since(tmp_path):
    pd.DataFrame(LINES, columns=["order_id", "item_id", "customer_id", "timestamp"]).to_csv(
        tmp_path / "orders.csv", index=False)
    done = run_xsell("fit", "orders.csv", "-o", "m.xsell", "--since", "30d", "--min-count", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 order before 2024-03-01 12:00:00 left out (since=30d)" in done.stderr
    assert done.stdout.strip() == "saved m.xsell: cooccurrence, 3 items, 3 orders, 4 neighbour pairs"
    rules = run_xsell("rules", "orders.csv", "-o", "r.csv", "--since", "2024-03-30", "--min-support", "0.5",
                      cwd=tmp_path)
    assert rules.returncode == 0, rules.stderr
    mined = pd.read_csv(tmp_path / "r.csv")
    assert sorted(zip(mined["antecedents"], mined["consequents"])) == [("a", "c"), ("c", "a")]
    bad = run_xsell("fit", "orders.csv", "-o", "m.xsell", "--since", "soon", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith("error: since must be a window like '90d'")


@pytest.mark.parametrize("window, message", [
    ("2011", "since '2011' needs a unit (90d, 12w, 36h) or a full date (2011-09-01)"),
    ("20110901", "since '20110901' needs a unit (90d, 12w, 36h) or a full date (2011-09-01)"),
    (200_000, "since must be a window like '90d', '12w' or '36h' (before the newest order), a number of days, or "
              "a date like '2011-09-01'; got 200000 (too long a window)"),
    ("3m", "since must be a window like '90d', '12w' or '36h' (before the newest order), a number of days, or "
           "a date like '2011-09-01'; got '3m'"),
])
def test_ambiguous_or_impossible_windows_are_refused(orders, window, message):
    with pytest.raises(InputError) as info:
        orders.since(window)
    assert str(info.value) == message


def test_timedeltas_of_every_kind(orders):
    import datetime as dt

    import numpy as np

    for window in (np.timedelta64(29, "D"), dt.timedelta(days=29), pd.Timedelta(days=29)):
        assert sorted(orders.since(window).orders.ids) == ["o3", "o4"]
