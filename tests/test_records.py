"""Answers serialise (issue 12, section 3): `to_dict()` / `to_records()` hold plain Python values that
`json.dumps(..., allow_nan=False)` takes (what FastAPI's responses require), equal to the frame's values,
with NaN as None."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell.data.records import plain_list, plain_records, plain_value

from tests.conftest import shop_catalog_frame

PLAIN = (str, int, float, bool, type(None))


def _plain_everywhere(value) -> bool:
    """Every leaf of nested dicts and lists is a plain Python value (no numpy scalar, no NaN)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_everywhere(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_everywhere(v) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return type(value) in PLAIN


def _same(frame_value, record_value) -> bool:
    """A frame's value and its record's: equal, NaN as None."""
    if isinstance(frame_value, (float, np.floating)) and np.isnan(frame_value):
        return record_value is None
    return frame_value == record_value and type(record_value) in PLAIN


def _records_match_frame(records: list[dict], frame: pd.DataFrame) -> None:
    assert len(records) == len(frame)
    for record, (_, row) in zip(records, frame.iterrows()):
        assert list(record) == [str(c) for c in frame.columns]
        for name in frame.columns:
            assert _same(row[name], record[str(name)]), (name, row[name], record[str(name)])


def test_plain_values_of_every_numpy_kind() -> None:
    assert plain_list(np.array([1.5, np.nan, np.inf, -np.inf])) == [1.5, None, None, None]
    assert [type(v) for v in plain_list(np.array([1, 2], dtype=np.int64))] == [int, int]
    assert [type(v) for v in plain_list(np.array(["a", "b"]))] == [str, str]
    assert plain_list(np.array([True, False])) == [True, False]
    assert plain_list(pd.Series(["x", pd.NA, None], dtype=object)) == ["x", None, None]
    assert plain_list([np.float32(0.5), np.str_("z"), np.int32(3), float("nan")]) == [0.5, "z", 3, None]
    assert [type(v) for v in plain_list([np.float32(0.5), np.str_("z"), np.int32(3)])] == [float, str, int]
    assert plain_value(np.float64("nan")) is None and plain_value(pd.NaT) is None
    assert plain_records({"a": np.array([1, 2]), "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert plain_records({"a": np.array([], dtype=float)}) == []


@pytest.mark.parametrize("name", ["CoOccurrence", "AssociationRules", "EASE", "Popular", "Hybrid"])
def test_recommendations_serialise_as_their_frame(shop, name) -> None:
    model = getattr(xsell, name)().fit(shop.orders)
    ids = [str(i) for i in shop.orders.items.ids]
    for basket in ([ids[0]], ids[3:8], [], ["nope"]):
        rec = model.recommend(basket, k=7)
        as_dict = rec.to_dict()
        assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
        assert _plain_everywhere(as_dict)
        assert as_dict["items"] == rec.items and as_dict["fallback"] is rec.fallback
        assert as_dict["scores"] == [None if not math.isfinite(s) else s for s in rec.scores.tolist()]
        for explain in (False, True):
            records = rec.to_records(explain=explain)
            assert json.loads(json.dumps(records, allow_nan=False)) == records and _plain_everywhere(records)
            frame = rec.to_frame() if explain else rec.to_frame()[["item_id", "score"]]
            _records_match_frame(records, frame)


def test_integer_ids_stay_integers(tiny_frame) -> None:
    frame = tiny_frame.assign(item_id=tiny_frame["item_id"].map({"a": 10, "b": 20, "c": 30, "d": 40}))
    model = xsell.CoOccurrence().fit(xsell.load_orders(frame))
    as_dict = model.recommend([10], k=3).to_dict()
    assert as_dict["items"] and set(as_dict["items"]) <= {20, 30, 40}
    assert all(type(i) is int for i in as_dict["items"])
    assert all(type(r["item_id"]) is int for r in model.also_bought(10, k=3).to_records())


def test_engine_answers_serialise_with_unknown_margins_as_none(shop, shop_model) -> None:
    catalog = shop_catalog_frame(shop)
    catalog.loc[catalog.index % 2 == 0, "cost"] = np.nan  # unknown cost: NaN margin in the frame
    catalog.loc[catalog.index % 5 == 1, "price"] = np.nan  # unknown price: the order lines' price
    engine = xsell.Engine(shop_model, xsell.load_catalog(catalog), orders=shop.orders, threshold=60.0)
    ids = [str(i) for i in shop.orders.items.ids]
    orders = pd.Series(shop.orders.items.ids[shop.orders.item_index]).groupby(shop.orders.order_index).unique()
    answers = [engine.cross_sell(list(b), k=6) for b in orders.iloc[:60]]
    answers += [engine.up_sell(i, k=4) for i in ids[:60]]
    margins_unknown = 0
    for answer in answers:
        as_dict = answer.to_dict()
        assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict and _plain_everywhere(as_dict)
        _records_match_frame(as_dict["suggestions"], answer.to_frame())
        for key in ("basket_value", "gap", "expected_uplift_revenue", "expected_uplift_margin"):
            assert _same(getattr(answer, key), as_dict[key]), key
        margins_unknown += sum(r["expected_margin"] is None for r in as_dict["suggestions"])
    assert margins_unknown > 20  # the NaN case is exercised
    frame_first = engine.cross_sell(list(orders.iloc[0]), k=6)
    frame_first.to_frame()  # once the frame exists, records come from it: the same values
    assert frame_first.to_records() == engine.cross_sell(list(orders.iloc[0]), k=6).to_records()
