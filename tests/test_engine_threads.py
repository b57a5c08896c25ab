"""Catalog swaps while threads serve: every answer comes wholly from the old catalog or wholly from the new."""

from __future__ import annotations

import random
import sys
import threading
import time

import pandas as pd

import xsell

A, B = "P014-B", "P075-B"


def _answer(engine: xsell.Engine, kind: str, arg: object) -> tuple:
    """What a shop would show: items, prices, money, reasons, basket figures (exact floats)."""
    if kind == "up_sell":
        got = engine.up_sell(arg, k=4)
    elif kind == "cross_sell":
        got = engine.cross_sell(arg, k=5)
    elif kind == "cross_sell_quantities":
        got = engine.cross_sell(arg, k=5)
    else:
        frame = engine.up_sell_batch(arg, k=3) if kind == "up_sell_batch" else engine.score_batch(arg, k=4)
        return tuple(tuple(frame[c].astype(str if c.endswith("id") else object).tolist())
                     for c in ("item_id", "price", "expected_revenue", "closes_gap") if c in frame.columns)
    frame = got.to_frame()
    return (tuple(frame["item_id"]), tuple(frame["price"]), tuple(frame["expected_revenue"]),
            tuple(frame["closes_gap"]), tuple(frame["reason"]), got.basket_value, got.gap,
            got.expected_uplift_revenue)


def test_catalog_swaps_under_load_answer_from_exactly_one_catalog(shop, shop_model):
    frame = shop.catalog.copy()
    frame["parent"] = frame["item_id"].str[:4]
    frame["cost"] = (frame["price"] * 0.6).round(2)
    frame["in_stock"] = True
    doubled = frame.assign(price=frame["price"] * 2, cost=frame["cost"] * 2)
    catalogs = {"old": xsell.load_catalog(frame), "new": xsell.load_catalog(doubled)}
    engine = xsell.Engine(shop_model, catalogs["old"], threshold=45.0)
    baskets = shop.orders.to_frame().rename(columns={"order_id": "basket_id"})[["basket_id", "item_id"]].head(60)
    requests = [("up_sell", item) for item in ("P000-B", "P001-S", "P014-B", "P020-B", "P033-S")]
    requests += [("cross_sell", [A]), ("cross_sell", [A, B]), ("cross_sell", ["P000-B", "P001-B"]),
                 ("cross_sell_quantities", {A: 2, B: 1}), ("cross_sell_quantities", {"P002-B": 1}),
                 ("up_sell_batch", ["P000-B", "P001-S", "P020-B"]), ("score_batch", baskets)]
    # each request's answer under each catalog, single-threaded, up front
    expected: dict[str, list[tuple]] = {}
    for name, catalog in catalogs.items():
        engine.set_catalog(catalog)
        expected[name] = [_answer(engine, kind, arg) for kind, arg in requests]
    for i, request in enumerate(requests):  # the two catalogs give different answers to every request
        assert expected["old"][i] != expected["new"][i], request
    engine.set_catalog(catalogs["old"])

    stop = threading.Event()
    seen = {"old": 0, "new": 0}
    mixed: list[str] = []
    lock = threading.Lock()

    def serve(seed: int) -> None:
        order = list(range(len(requests)))
        random.Random(seed).shuffle(order)
        counts = {"old": 0, "new": 0}
        while not stop.is_set():
            for i in order:
                got = _answer(engine, *requests[i])
                if got == expected["old"][i]:
                    counts["old"] += 1
                elif got == expected["new"][i]:
                    counts["new"] += 1
                else:
                    with lock:
                        mixed.append(f"{requests[i][0]} {requests[i][1]!r}"[:80])
        with lock:
            for name in counts:
                seen[name] += counts[name]

    threads = [threading.Thread(target=serve, args=(seed,)) for seed in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads often: more interleavings, and the swapping thread keeps pace
    for t in threads:
        t.start()
    try:
        for swap in range(50):
            time.sleep(0.01)
            engine.set_catalog(catalogs["new" if swap % 2 == 0 else "old"])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads)
    assert mixed == [], f"{len(mixed)} answers matched neither catalog, e.g. {mixed[:3]}"
    assert seen["old"] > 0 and seen["new"] > 0  # both catalogs were served
    assert seen["old"] + seen["new"] >= 200
    # after the last swap (to the old catalog) single answers are the old catalog's again
    assert [_answer(engine, kind, arg) for kind, arg in requests] == expected["old"]


def test_set_catalog_swaps_one_reference(shop, shop_model):
    """The state a request reads is one immutable snapshot: a swap replaces it, never edits it."""
    frame = shop.catalog.copy()
    engine = xsell.Engine(shop_model, xsell.load_catalog(frame))
    before = engine._state
    price = before.price
    engine.set_catalog(xsell.load_catalog(frame.assign(price=frame["price"] * 2)))
    assert engine._state is not before
    assert price.tolist() == before.price.tolist() and not price.flags.writeable
    pd.testing.assert_series_equal(pd.Series(engine.price * 1.0), pd.Series(price * 2.0))
