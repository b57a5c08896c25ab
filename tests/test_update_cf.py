"""ALS.update: new orders folded in without a refit. Not exact (the items the model knows keep their
factors), so the tests check what the fold-in promises: known items' factors unchanged, the history
equal to a refit's, each touched customer's factors the least-squares solution for their whole history,
untouched customers unchanged, new items learnt from their buyers, duplicates refused, the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import ALS, InputError
from xsell.datasets import synthetic_shop

NEW_ITEM = "NEW-1"


@pytest.fixture(scope="module")
def batches() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shop's orders in two batches; the second adds a new item, always bought with P000-B, by three
    new customers and two known ones."""
    frame = synthetic_shop(2, n_products=30, n_customers=300, n_orders=3000).orders.to_frame()
    ids = frame["order_id"].unique()
    first, second = frame[frame["order_id"].isin(ids[:2700])], frame[frame["order_id"].isin(ids[2700:])]
    known = first["customer_id"].unique()[:2].tolist()
    buyers = ["C-new-1", "C-new-2", "C-new-3"] + known
    extra = [(f"N{n}", item, buyers[n % len(buyers)], pd.Timestamp("2025-01-01") + pd.Timedelta(hours=n), 1.0, 9.5)
             for n in range(40) for item in (NEW_ITEM, "P000-B")]
    extra = pd.DataFrame(extra, columns=["order_id", "item_id", "customer_id", "timestamp", "quantity", "price"])
    return first, pd.concat([second, extra.astype(second.dtypes.to_dict())], ignore_index=True)


def _fit(frame: pd.DataFrame, on: str = "customers") -> ALS:
    return ALS(factors=16, iterations=8, on=on, num_threads=1).fit(xsell.load_orders(frame))


def _history(model: ALS) -> set[tuple[str, str, float]]:
    h = model.customer_history_.matrix.tocoo()
    return set(zip(model.customer_history_.customers.ids[h.row].tolist(), model.items_.ids[h.col].tolist(),
                   h.data.tolist()))


def test_update_folds_in_customers_and_items(batches):
    first, second = batches
    model = _fit(first)
    old_items, old_users = model.item_factors_.copy(), model.user_factors_.copy()
    old_customers = list(model.customer_history_.customers.ids)
    assert model.update(xsell.load_orders(second)) is model
    n_old = len(old_items)
    assert model.items_.ids[n_old:].tolist() == [NEW_ITEM]
    assert np.array_equal(model.item_factors_[:n_old], old_items)  # known items keep their factors
    assert _history(model) == _history(_fit(pd.concat([first, second])))  # the history a refit holds
    touched = set(second["customer_id"])
    customers = model.customer_history_.customers
    untouched = [c for c in old_customers if c not in touched]
    at = customers.to_internal(untouched)
    assert np.array_equal(model.user_factors_[at], old_users[at])
    # a touched customer's factors: the least-squares solution for their whole weighted history
    implicit_model = model._implicit_model()
    for customer in ["C-new-1", first["customer_id"].unique()[0]]:  # a new buyer and a known one (fixture)
        c = customers.index_of(customer)
        row = model._weigh(model.customer_history_.matrix[[c]].tocsr())
        solved = implicit_model.recalculate_user(np.arange(1), row)[0]
        assert np.allclose(model.user_factors_[c], solved, rtol=1e-5, atol=1e-6)
    # the new item learnt from its buyers: its partner is among its nearest items, and it is suggested
    # (the fit itself differs between implicit versions: 0.7.0 puts the partner second, 0.7.3 first)
    assert "P000-B" in model.also_bought(NEW_ITEM, k=3).items
    assert NEW_ITEM in model.recommend_for_customer("C-new-1", k=5, exclude_bought=False).items
    assert model.training_summary_["orders"] == first["order_id"].nunique() + second["order_id"].nunique()
    assert model.training_summary_["updates"] == 1


def test_update_on_orders_keeps_no_customer_factors(batches):
    first, second = batches
    model = _fit(first, on="orders")
    before = model.item_factors_.copy()
    model.update(xsell.load_orders(second))
    assert model.user_factors_.shape == (0, 16)
    assert np.array_equal(model.item_factors_[:len(before)], before)
    assert "P000-B" in model.also_bought(NEW_ITEM, k=3).items


def test_orders_learnt_from_are_refused_and_old_files_say_so(batches, tmp_path):
    first, second = batches
    model = _fit(first)
    last = sorted(first["order_id"].unique())[-1]
    again = pd.concat([second, first[first["order_id"] == last]])
    with pytest.raises(InputError) as info:
        model.update(xsell.load_orders(again))
    assert str(info.value) == (f"1 of the {again['order_id'].nunique():,} new orders are already in the model "
                               f"(order ids '{last}'); an update counts each order once: leave them out")
    model.kept_orders_ = None  # what a file saved before updates existed loads as
    with pytest.raises(InputError) as info:
        model.update(xsell.load_orders(second))
    assert str(info.value) == ("this ALS holds no order ids to update (a file from before updates were possible); "
                               "fit it again to update it later")
    with pytest.raises(InputError) as info:
        _fit(first, on="customers").update(xsell.load_orders(second.drop(columns=["customer_id"])))
    assert str(info.value) == "this ALS learnt from customers: the new orders need a customer_id column"


def test_an_updated_model_round_trips_through_its_file(batches, tmp_path):
    first, second = batches
    model = _fit(first)
    xsell.save_model(model, tmp_path / "a.xsell")
    loaded = xsell.load_model(tmp_path / "a.xsell")
    assert loaded.kept_orders_.ids.tolist() == sorted(first["order_id"].unique())
    loaded.update(xsell.load_orders(second))
    model.update(xsell.load_orders(second))
    assert np.array_equal(loaded.item_factors_, model.item_factors_)
    xsell.save_model(loaded, tmp_path / "b.xsell")
    again = xsell.load_model(tmp_path / "b.xsell")
    for items in (["P000-B"], [NEW_ITEM, "P003-S"]):
        assert again.recommend(items, k=5).items == model.recommend(items, k=5).items
    assert again.recommend_for_customer("C-new-2", k=5).items == model.recommend_for_customer("C-new-2", k=5).items


@pytest.mark.parametrize("on", ["customers", "orders"])
def test_two_updates_in_one_process_equal_two_through_files(batches, tmp_path, on):
    first, second = batches
    ids = second["order_id"].unique()
    day1, day2 = second[second["order_id"].isin(ids[::2])], second[~second["order_id"].isin(ids[::2])].copy()
    day2.loc[day2["item_id"] == NEW_ITEM, "item_id"] = "NEW-2"  # each day brings a new item
    live = _fit(first, on=on)
    live.update(xsell.load_orders(day1))
    xsell.save_model(live, tmp_path / "day1.xsell")
    live.update(xsell.load_orders(day2))
    filed = xsell.load_model(tmp_path / "day1.xsell").update(xsell.load_orders(day2))
    assert live.items_.ids[-2:].tolist() == [NEW_ITEM, "NEW-2"]
    assert np.array_equal(live.item_factors_, filed.item_factors_)
    assert np.array_equal(live.user_factors_, filed.user_factors_)


def test_a_day_of_guest_checkouts_and_new_customers_on_an_orders_model(batches):
    first, second = batches
    guests = second.assign(customer_id=None)
    model = _fit(first)
    model.update(xsell.load_orders(guests))  # no customer touched: only the new item learns
    assert model.items_.ids[-1] == NEW_ITEM and model.training_summary_["updates"] == 1
    orders_model = _fit(first, on="orders")
    orders_model.update(xsell.load_orders(second))
    assert orders_model.customer_history_.index_of("C-new-1") >= 0  # its history serves requests
    assert not orders_model.recommend_for_customer("C-new-1", k=3).fallback


def test_save_refuses_order_ids_a_load_would_refuse(batches, tmp_path):
    first, _second = batches
    model = _fit(first)
    model.kept_orders_ = xsell.IdMap(model.kept_orders_.ids[::-1].copy())
    with pytest.raises(InputError) as info:
        xsell.save_model(model, tmp_path / "x.xsell")
    assert str(info.value) == (f"cannot save ALS to {tmp_path / 'x.xsell'}: invalid model content (kept_orders "
                               f"must be distinct and ascending)")
    assert not (tmp_path / "x.xsell").exists()
