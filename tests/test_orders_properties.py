"""Property-based tests of `load_orders`: random small frames against a plain pandas reference.

For any frame, load_orders either refuses it with an InputError that names a
column, or gives exactly what a direct pandas computation of the documented
cleaning gives: which lines are left out and why, the distinct (order, item)
pairs in order, summed quantities, quantity-weighted prices and report counts.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import xsell
from xsell import InputError
from xsell.data.idmap import MAX_ID_LENGTH
from tests._fuzz import scaled

QUANTITIES = [1.0, 2.0, 3.0, 0.0, -1.0, -2.0, 0.5, np.nan, np.inf, -np.inf, 1e308]
PRICES = [0.0, 1.5, 2.0, 10.0, -3.0, -11062.06, np.nan, np.inf, -np.inf, 1e300]


@st.composite
def order_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, bool]:
    n = draw(st.integers(1, 12))
    as_text = draw(st.booleans())

    def ids(prefix: str) -> list[object]:
        values = draw(st.lists(st.one_of(st.integers(0, 4), st.none()) if draw(st.booleans())
                               else st.integers(0, 4), min_size=n, max_size=n))
        return [None if v is None else (f"{prefix}{v}" if as_text else v) for v in values]

    cols: dict[str, object] = {"order_id": ids("o"), "item_id": ids("i")}
    if draw(st.booleans()):
        cols["quantity"] = draw(st.lists(st.sampled_from(QUANTITIES), min_size=n, max_size=n))
    if draw(st.booleans()):
        cols["price"] = draw(st.lists(st.sampled_from(PRICES), min_size=n, max_size=n))
    return pd.DataFrame(cols), draw(st.booleans())


@np.errstate(over="ignore", invalid="ignore")  # 1e308 + 1e308 is meant to overflow here
def _reference(frame: pd.DataFrame, keep_returns: bool) -> dict[str, object]:
    """The documented cleaning, computed directly with pandas, one reason per line."""
    n = len(frame)
    q = frame["quantity"].to_numpy(float) if "quantity" in frame else None
    p = frame["price"].to_numpy(float) if "price" in frame else None
    left = np.zeros(n, dtype=bool)
    counts = {}
    reasons = {  # in the order of LoadReport: a line counts under the first that applies
        "bad_quantity_dropped": None if q is None else ~np.isfinite(q),
        "bad_price_dropped": None if p is None else ~(np.isfinite(p) & (p >= 0)),
        "returns_dropped": None if q is None or keep_returns else ~(q > 0),
        "overflow_dropped": None if q is None or p is None else ~np.isfinite(p * q),
    }
    for name, mask in reasons.items():
        hit = np.zeros(n, dtype=bool) if mask is None else mask & ~left
        counts[name] = int(hit.sum())
        left |= hit
    # ids are numbered in first-seen order over every line read, left-out lines included
    kept = frame.assign(o=pd.factorize(frame["order_id"])[0], i=pd.factorize(frame["item_id"])[0])[~left]
    kept = kept.sort_values(["o", "i"], kind="stable")
    groups = kept.groupby(["o", "i"], sort=True)
    out: dict[str, object] = {"counts": counts, "n_kept": len(kept)}
    first = groups.first()
    out["pairs"] = list(zip(first["order_id"], first["item_id"]))
    if q is not None:
        out["quantity"] = groups["quantity"].sum().to_numpy()
    if p is not None:
        def unit_price(g: pd.DataFrame) -> float:
            if q is None:
                return float(g["price"].mean())
            w = g["quantity"].abs()
            return float((w * g["price"]).sum() / w.sum()) if w.sum() > 0 else float(g["price"].mean())
        out["price"] = np.array([unit_price(g) for _, g in groups])
    return out


@settings(max_examples=scaled(120), deadline=None)
@given(order_frames())
def test_load_orders_equals_a_pandas_reference(case: tuple[pd.DataFrame, bool]) -> None:
    frame, keep_returns = case
    try:
        orders = xsell.load_orders(frame, keep_returns=keep_returns, drop_placeholders=False)
    except InputError as exc:
        message = str(exc)
        nulls = [c for c in ("order_id", "item_id") if frame[c].isna().any()]
        if nulls:
            assert re.match(rf"^column '{nulls[0]}' has \d+ null ids; first rows \(0-based\): ", message), message
            return
        expected = _reference(frame, keep_returns)
        if expected["n_kept"] == 0:
            assert message.startswith("no order lines left in DataFrame: all "), message
            assert re.search(r"quantity|price", message), message
            return
        assert message.startswith("merging duplicate (order, item) lines gives a quantity beyond float64"), message
        assert "quantity column" in message
        assert not np.isfinite(expected["quantity"]).all()
        return
    assert not frame[["order_id", "item_id"]].isna().any().any()
    expected = _reference(frame, keep_returns)
    r = orders.report
    got_counts = {name: getattr(r, name) for name in expected["counts"]}
    assert got_counts == expected["counts"]
    assert r.lines_read == len(frame)
    assert r.lines_kept == orders.n_lines == len(expected["pairs"])
    assert r.duplicates_aggregated == expected["n_kept"] - len(expected["pairs"])
    got = orders.to_frame()
    assert list(zip(got["order_id"].tolist(), got["item_id"].tolist())) == expected["pairs"]
    if "quantity" in expected:
        np.testing.assert_array_equal(got["quantity"].to_numpy(), expected["quantity"])
        assert np.isfinite(got["quantity"]).all()
    if "price" in expected:
        np.testing.assert_allclose(got["price"].to_numpy(), expected["price"], rtol=1e-12)
        assert np.isfinite(got["price"]).all() and (got["price"] >= 0).all()


ID_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(["a", "B", "0", " ", "\x00", "\n", "é", "😀", ","]), max_size=6),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "\x00"]), st.integers(250, 300)),
)


@settings(max_examples=scaled(100), deadline=None)
@given(st.lists(ID_TEXT, min_size=1, max_size=8))
def test_string_ids_are_kept_exactly_or_refused_naming_the_column(items: list[str]) -> None:
    frame = pd.DataFrame({"order_id": range(len(items)), "item_id": items})
    empty = [i for i, s in enumerate(items) if s == ""]
    long = [i for i, s in enumerate(items) if len(s) > MAX_ID_LENGTH]
    nul = [i for i, s in enumerate(items) if "\x00" in s]
    if empty:  # an empty id is a missing one, as in a CSV
        rows = ", ".join(map(str, empty[:5]))
        with pytest.raises(InputError, match=rf"^column 'item_id' has {len(empty)} null ids; "
                                             rf"first rows \(0-based\): {rows}$"):
            xsell.load_orders(frame, drop_placeholders=False)
    elif long:
        shown = rf"{long[0]} \({len(items[long[0]])} characters\)"
        with pytest.raises(InputError, match=rf"^column 'item_id' has {len(long)} ids longer than 256 characters; "
                                             rf"first rows \(0-based\): {shown}"):
            xsell.load_orders(frame, drop_placeholders=False)
    elif nul:
        with pytest.raises(InputError, match=rf"^column 'item_id' has {len(nul)} ids containing the NUL character"):
            xsell.load_orders(frame, drop_placeholders=False)
    else:
        orders = xsell.load_orders(frame, drop_placeholders=False)
        assert orders.items.ids.tolist() == list(dict.fromkeys(items))  # first-seen order, exactly as given
        assert orders.to_frame()["item_id"].tolist() == items


@settings(max_examples=scaled(100), deadline=None)
@given(st.lists(st.one_of(st.integers(-(2**70), 2**70), st.booleans(), st.text(max_size=3)), min_size=1, max_size=6))
def test_python_objects_as_ids_load_or_are_refused_naming_the_column(values: list[object]) -> None:
    frame = pd.DataFrame({"order_id": range(len(values)), "item_id": pd.Series(values, dtype=object)})
    try:
        orders = xsell.load_orders(frame, drop_placeholders=False)
    except InputError as exc:
        assert str(exc).startswith("column 'item_id' "), str(exc)
        return
    kinds = {type(v) for v in values}
    assert kinds in ({int}, {str}), values
    assert orders.to_frame()["item_id"].tolist() == values


@settings(max_examples=scaled(100), deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["", " ", "NONE", "none ", "?", "-", "null", "NaN", "n/a", "#N/A", "undefined",
                                           "NA", "None2", "POST", "a", "b"]), ID_TEXT), min_size=1, max_size=8))
def test_placeholders_are_the_lines_a_plain_filter_drops(items: list[str]) -> None:
    """By default, load_orders equals loading the lines a plain pandas filter keeps (item missing, or
    stripped and case-folded among PLACEHOLDER_ITEMS) with placeholders kept; the report counts the rest."""
    from xsell.data.orders import PLACEHOLDER_ITEMS

    frame = pd.DataFrame({"order_id": range(len(items)), "item_id": items})
    placeholder = frame["item_id"].isna() | frame["item_id"].str.strip().str.casefold().isin(PLACEHOLDER_ITEMS)
    kept = frame[~placeholder].reset_index(drop=True)
    try:
        want = xsell.load_orders(kept, drop_placeholders=False) if len(kept) else None
    except InputError as exc:  # an id refused for another reason (too long, NUL): refused the same way, naming
        # the rows of the input (before the placeholders were left out)
        with pytest.raises(InputError) as caught:
            xsell.load_orders(frame)
        head, rows = str(exc).split("first rows (0-based): ")
        original = np.flatnonzero(~placeholder.to_numpy())
        rows = re.sub(r"(^|, )(\d+) \(", lambda m: f"{m[1]}{original[int(m[2])]} (", rows)
        assert str(caught.value) == f"{head}first rows (0-based): {rows}"
        return
    if want is None:
        with pytest.raises(InputError, match="^no order lines left in DataFrame: all "):
            xsell.load_orders(frame)
        return
    got = xsell.load_orders(frame)
    pd.testing.assert_frame_equal(got.to_frame(), want.to_frame())
    assert got.report.item_lines_dropped == int(placeholder.sum())
