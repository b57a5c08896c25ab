"""Incremental updates of counting models (CoOccurrence and AssociationRules with keep_counts: update):
update(A) then update(B) equals a fit on A + B array for array; duplicates refused; the pruning bound;
the file; the CLI."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import AssociationRules, CoOccurrence, InputError
from xsell.datasets import synthetic_shop
from xsell.mining.pairs import PairCounts
from tests.conftest import GROCERIES
from tests.test_cooccurrence import _groceries_frame


def _split(frame: pd.DataFrame, n_parts: int, seed: int) -> list[pd.DataFrame]:
    """The orders of `frame` cut into n_parts consecutive batches at random order boundaries (lines
    keep their order: a nightly job's days)."""
    ids = frame["order_id"].unique()
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(ids)), n_parts - 1, replace=False))
    return [frame[frame["order_id"].isin(part)] for part in np.split(ids, cuts)]


def _arrays(model: CoOccurrence | AssociationRules) -> dict[str, np.ndarray]:
    state, arrays = model.file_state()
    return {"items": model.items_.ids, "n_orders": np.array([state["n_orders"]]), **arrays}


def assert_same_model(a: CoOccurrence | AssociationRules, b: CoOccurrence | AssociationRules) -> None:
    left, right = _arrays(a), _arrays(b)
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        assert np.array_equal(left[name], right[name]), name


@pytest.fixture(scope="module")
def shop_frame() -> pd.DataFrame:
    return synthetic_shop(5, n_products=40, n_customers=200, n_orders=2500).orders.to_frame()


@pytest.mark.parametrize("seed, n_parts", [(0, 2), (1, 3), (2, 4), (3, 5)])
@pytest.mark.parametrize("params", [{}, {"min_count": 1, "neighbors": None}, {"min_support": 0.004, "alpha": 1.0}])
def test_update_equals_a_fit_on_all_orders(shop_frame, seed, n_parts, params):
    parts = _split(shop_frame, n_parts, seed)
    model = CoOccurrence(keep_counts=1, **params).fit(xsell.load_orders(parts[0]))
    for part in parts[1:]:
        assert model.update(xsell.load_orders(part)) is model
    assert_same_model(model, CoOccurrence(keep_counts=1, **params).fit(xsell.load_orders(pd.concat(parts))))
    assert model.training_summary_["updates"] == n_parts - 1
    assert model.training_summary_["orders"] == shop_frame["order_id"].nunique()
    assert model.training_summary_["lines"] == len(shop_frame)


@pytest.mark.skipif(not GROCERIES.exists(), reason="../shared/data/groceries not present")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_update_equals_a_fit_on_groceries(seed):
    frame, baskets = _groceries_frame()
    parts = _split(frame, 4, seed)
    model = CoOccurrence(keep_counts=1).fit(xsell.load_orders(parts[0]))
    for part in parts[1:]:
        model.update(xsell.load_orders(part))
    assert_same_model(model, CoOccurrence(keep_counts=1).fit(xsell.load_orders(frame)))
    pair_n = Counter(p for b in baskets for p in itertools.combinations(b, 2))  # a plain reference
    kept = model.kept_.to_pairs()
    got = {tuple(sorted(k)): c for k, c in zip(zip(kept["item_a"], kept["item_b"]), kept["count"])}
    assert got == dict(pair_n)


def test_new_items_arrive_and_are_recommended():
    old = pd.DataFrame({"order_id": [1, 1, 2, 2], "item_id": ["a", "b", "a", "b"]})
    new = pd.DataFrame({"order_id": [3, 3, 4, 4, 4], "item_id": ["a", "z", "z", "a", "b"]})
    model = CoOccurrence(keep_counts=1, min_count=1).fit(xsell.load_orders(old))
    model.update(xsell.load_orders(new))
    assert model.items_.ids.tolist() == ["a", "b", "z"]
    assert model.item_counts_.tolist() == [4, 3, 2]
    assert model.n_orders_ == 4
    pairs = model.kept_.to_pairs()
    assert sorted(zip(pairs["item_a"], pairs["item_b"], pairs["count"])) == [("a", "b", 3), ("a", "z", 2),
                                                                           ("b", "z", 1)]
    assert model.also_bought("z").items == ["a", "b"]


def test_orders_already_counted_are_refused_and_nothing_changes(shop_frame):
    parts = _split(shop_frame, 2, 0)
    model = CoOccurrence(keep_counts=1).fit(xsell.load_orders(parts[0]))
    before = _arrays(model)
    again = pd.concat([parts[1], parts[0][parts[0]["order_id"] == parts[0]["order_id"].iloc[-1]]])
    last = parts[0]["order_id"].iloc[-1]
    with pytest.raises(InputError, match=rf"^1 of the {again['order_id'].nunique():,} new orders are already in the "
                                         rf"model \(order ids '{last}'\); an update counts each order once: leave "
                                         rf"them out$"):
        model.update(xsell.load_orders(again))
    after = _arrays(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_int_order_ids_then_text_ones():
    model = CoOccurrence(keep_counts=1, min_count=1).fit(
        xsell.load_orders(pd.DataFrame({"order_id": [10, 10, 11, 11], "item_id": ["a", "b", "a", "c"]})))
    assert model.kept_orders_.ids.tolist() == [10, 11]
    with pytest.raises(InputError, match=r"^1 of the 2 new orders are already in the model \(order ids '10'\)"):
        model.update(xsell.load_orders(pd.DataFrame({"order_id": ["10", "10", "X1", "X1"],
                                                     "item_id": ["a", "b", "b", "c"]})))
    model.update(xsell.load_orders(pd.DataFrame({"order_id": ["X1", "X1"], "item_id": ["b", "c"]})))
    assert model.kept_orders_.ids.tolist() == ["10", "11", "X1"]
    assert model.n_orders_ == 3


def test_a_model_without_kept_counts_says_how_to_keep_them(shop_frame):
    model = CoOccurrence().fit(xsell.load_orders(shop_frame))
    assert model.kept_ is None
    with pytest.raises(InputError, match=r"^this CoOccurrence keeps no counts to update; fit it with keep_counts=1 "
                                         r"\(xsell fit --keep-counts 1\) to update it later$"):
        model.update(xsell.load_orders(shop_frame))
    with pytest.raises(InputError, match=r"^update expects an Orders \(from xsell.load_orders\), not DataFrame$"):
        CoOccurrence(keep_counts=1).fit(xsell.load_orders(shop_frame)).update(shop_frame)


@pytest.mark.parametrize("floor", [2, 3])
def test_a_pruning_floor_undercounts_by_at_most_its_bound(shop_frame, floor):
    """keep_counts=n drops pairs below n after each fit and update: a pair's kept count is at most
    (n - 1) x (1 + updates) below the exact count, never above; pairs at or above the bound are kept."""
    parts = _split(shop_frame, 4, 7)
    model = CoOccurrence(keep_counts=floor, min_count=1).fit(xsell.load_orders(parts[0]))
    for part in parts[1:]:
        model.update(xsell.load_orders(part))
    exact = CoOccurrence(keep_counts=1, min_count=1).fit(xsell.load_orders(shop_frame)).kept_.to_pairs()
    kept = model.kept_.to_pairs()
    both = exact.merge(kept, on=["item_a", "item_b"], how="left", suffixes=("", "_kept"))
    both["count_kept"] = both["count_kept"].fillna(0)
    lost = both["count"] - both["count_kept"]
    bound = (floor - 1) * len(parts)
    assert lost.min() >= 0 and lost.max() <= bound
    assert lost.max() > 0  # the floor did prune something on this data
    assert (both.loc[both["count"] >= bound + floor, "count_kept"] > 0).all()
    assert len(kept.merge(exact, on=["item_a", "item_b"])) == len(kept)  # no pair made up
    assert model.kept_.counts.min() >= floor


def test_kept_counts_round_trip_through_the_file(tmp_path, shop_frame):
    parts = _split(shop_frame, 3, 4)
    model = CoOccurrence(keep_counts=1).fit(xsell.load_orders(parts[0]))
    xsell.save_model(model, tmp_path / "day1.xsell")
    loaded = xsell.load_model(tmp_path / "day1.xsell")
    assert_same_model(loaded, model)
    loaded.update(xsell.load_orders(parts[1]))
    xsell.save_model(loaded, tmp_path / "day2.xsell")
    again = xsell.load_model(tmp_path / "day2.xsell").update(xsell.load_orders(parts[2]))
    assert_same_model(again, CoOccurrence(keep_counts=1).fit(xsell.load_orders(shop_frame)))
    plain = CoOccurrence().fit(xsell.load_orders(shop_frame))
    xsell.save_model(plain, tmp_path / "plain.xsell")
    assert not any(name.startswith("kept") for name in xsell.inspect_model(tmp_path / "plain.xsell")["arrays"])


def _tampered(model: CoOccurrence, **changes) -> CoOccurrence:
    kept = model.kept_
    fields = {"n_orders": kept.n_orders, "items": kept.items, "item_counts": kept.item_counts,
              "indptr": kept.indptr, "indices": kept.indices, "counts": kept.counts, "min_count": kept.min_count}
    model.kept_ = PairCounts(**{**fields, **changes})
    return model


def test_save_refuses_kept_counts_a_load_would_refuse(tmp_path):
    frame = pd.DataFrame({"order_id": [1, 1, 1, 2, 2], "item_id": ["a", "b", "c", "a", "b"]})
    fit = lambda: CoOccurrence(keep_counts=1, min_count=1).fit(xsell.load_orders(frame))  # noqa: E731
    counts = fit().kept_.counts.copy()
    counts[0] += 1  # a -> b no longer equals b -> a
    cases = [
        (_tampered(fit(), counts=counts), "kept counts must be symmetric (each pair in both directions, the same count)"),
        (_tampered(fit(), indices=fit().kept_.indices[::-1].copy()),
         "kept_indices must be ascending within each row, without the row's own item"),
        (_tampered(fit(), counts=np.zeros_like(counts)), "kept_counts must be >= 1"),
    ]
    for model, message in cases:
        with pytest.raises(InputError) as info:
            xsell.save_model(model, tmp_path / "x.xsell")
        assert str(info.value) == f"cannot save CoOccurrence to {tmp_path / 'x.xsell'}: invalid model content ({message})"
        assert not (tmp_path / "x.xsell").exists()


def test_update_command_equals_a_fit_on_all_orders(tmp_path, shop_frame):
    from tests.test_outputs import run_xsell

    day1, day2 = _split(shop_frame, 2, 9)
    day1.to_csv(tmp_path / "day1.csv", index=False)
    day2.to_csv(tmp_path / "day2.csv", index=False)
    done = run_xsell("-q", "fit", "day1.csv", "-o", "m.xsell", "--keep-counts", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_xsell("-q", "update", "m.xsell", "day2.csv", "-o", "m.xsell", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    n_items = shop_frame["item_id"].nunique()
    assert json.loads(done.stdout) == {
        "output": "m.xsell", "model": "cooccurrence", "orders": shop_frame["order_id"].nunique(), "items": n_items,
        "new_orders": day2["order_id"].nunique(), "new_items": n_items - day1["item_id"].nunique()}
    ref = CoOccurrence(keep_counts=1).fit(xsell.load_orders(pd.concat([day1, day2])))
    assert_same_model(xsell.load_model(tmp_path / "m.xsell"), ref)
    done = run_xsell("-q", "update", "m.xsell", "day2.csv", "-o", "again.xsell", cwd=tmp_path)
    first = ", ".join(repr(o) for o in sorted(day2["order_id"].unique())[:3])
    assert (done.returncode, done.stderr) == (
        1, f"error: {day2['order_id'].nunique():,} of the {day2['order_id'].nunique():,} new orders are already in "
           f"the model (order ids {first}, ...); an update counts each order once: leave them out\n")
    assert not (tmp_path / "again.xsell").exists()
    run_xsell("-q", "fit", "day1.csv", "-o", "rules.xsell", "--model", "association_rules", cwd=tmp_path)
    done = run_xsell("-q", "update", "rules.xsell", "day2.csv", "-o", "again.xsell", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "error: this AssociationRules keeps no counts to update; fit it "
                                                 "with keep_counts=1 (xsell fit --keep-counts 1) to update it "
                                                 "later\n")
    run_xsell("-q", "fit", "day1.csv", "-o", "ease.xsell", "--model", "ease", cwd=tmp_path)
    done = run_xsell("-q", "update", "ease.xsell", "day2.csv", "-o", "again.xsell", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "error: ease models cannot be updated yet; fit it again (xsell "
                                                 "update takes cooccurrence and association_rules models fitted "
                                                 "with --keep-counts, and als models)\n")
    assert not (tmp_path / "again.xsell").exists()


# -- AssociationRules (max_len 2): the same kept counts, rules rebuilt from them ----------------------
RULE_PARAMS = [{"min_support": 0.004}, {"min_support": 0.01, "metric": "lift", "min_confidence": 0.05},
               {"min_support": 0.002, "aggregate": "sum", "min_lift": 1.5}]


@pytest.mark.parametrize("params", RULE_PARAMS)
def test_rules_kept_counts_give_the_rules_a_plain_fit_gives(shop_frame, params):
    orders = xsell.load_orders(shop_frame)
    plain, kept = AssociationRules(**params).fit(orders), AssociationRules(keep_counts=1, **params).fit(orders)
    left, right = _arrays(plain), _arrays(kept)
    assert sorted(set(right) - set(left)) == ["kept_counts", "kept_indices", "kept_indptr", "kept_orders"]
    for name in left:
        assert left[name].dtype == right[name].dtype and np.array_equal(left[name], right[name]), name
    assert kept.n_rules == plain.n_rules > 0


@pytest.mark.parametrize("seed, n_parts", [(0, 2), (1, 3), (2, 5)])
@pytest.mark.parametrize("params", RULE_PARAMS)
def test_rules_update_equals_a_fit_on_all_orders(shop_frame, seed, n_parts, params):
    parts = _split(shop_frame, n_parts, seed)
    model = AssociationRules(keep_counts=1, **params).fit(xsell.load_orders(parts[0]))
    for part in parts[1:]:
        assert model.update(xsell.load_orders(part)) is model
    assert_same_model(model, AssociationRules(keep_counts=1, **params).fit(xsell.load_orders(pd.concat(parts))))


@pytest.mark.skipif(not GROCERIES.exists(), reason="../shared/data/groceries not present")
def test_rules_update_on_groceries_matches_mlxtend_style_counts():
    frame, baskets = _groceries_frame()
    parts = _split(frame, 3, 5)
    model = AssociationRules(keep_counts=1, min_support=0.01).fit(xsell.load_orders(parts[0]))
    for part in parts[1:]:
        model.update(xsell.load_orders(part))
    assert_same_model(model, AssociationRules(keep_counts=1, min_support=0.01).fit(xsell.load_orders(frame)))
    # a plain reference: pair support >= 1% of the 9,835 baskets, confidence of each direction
    n = len(baskets)
    item_n = Counter(i for b in baskets for i in set(b))
    pair_n = Counter(p for b in baskets for p in itertools.combinations(sorted(set(b)), 2))
    frequent = {p: c for p, c in pair_n.items() if c / n >= 0.01}
    got = {}
    for item in model.items_.ids:
        rules = model.recommend([item], k=1000)
        if not rules.fallback:
            got.update({(item, other): score for other, score in zip(rules.items, rules.scores)})
    want = {(a, b): c / item_n[a] for (x, y), c in frequent.items() for a, b in ((x, y), (y, x))}
    assert got.keys() == want.keys()
    assert all(abs(got[key] - want[key]) < 1e-12 for key in want)


def test_rules_keep_counts_needs_pairs_and_every_basket(shop_frame):
    orders = xsell.load_orders(shop_frame)
    for params, message in [
        ({"max_len": 3}, "keep_counts needs max_len=2 (got 3): an AssociationRules model keeps pair counts, not "
                         "the triples longer rules need"),
        ({"max_basket_items": 50}, "keep_counts counts every basket: leave max_basket_items at 'auto' or None "
                                   "(got 50)"),
    ]:
        with pytest.raises(InputError) as info:
            AssociationRules(keep_counts=1, **params).fit(orders)
        assert str(info.value) == message


def test_rules_update_through_the_cli_and_the_file(tmp_path, shop_frame):
    from tests.test_outputs import run_xsell

    day1, day2 = _split(shop_frame, 2, 3)
    day1.to_csv(tmp_path / "day1.csv", index=False)
    day2.to_csv(tmp_path / "day2.csv", index=False)
    done = run_xsell("-q", "fit", "day1.csv", "-o", "r.xsell", "--model", "association_rules", "--keep-counts", "1",
                     "--min-support", "0.004", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_xsell("-q", "update", "r.xsell", "day2.csv", "-o", "r2.xsell", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("saved r2.xsell: association_rules, ")
    ref = AssociationRules(keep_counts=1, min_support=0.004).fit(xsell.load_orders(pd.concat([day1, day2])))
    assert_same_model(xsell.load_model(tmp_path / "r2.xsell"), ref)


def test_longer_order_ids_in_an_update_are_kept_whole():
    model = CoOccurrence(keep_counts=1, min_count=1).fit(
        xsell.load_orders(pd.DataFrame({"order_id": ["b", "b", "d", "d"], "item_id": ["x", "y", "x", "z"]})))
    model.update(xsell.load_orders(pd.DataFrame({"order_id": ["c-2024-0001", "c-2024-0001", "a9"],
                                                 "item_id": ["x", "y", "z"]})))
    assert model.kept_orders_.ids.tolist() == ["a9", "b", "c-2024-0001", "d"]
    with pytest.raises(InputError, match=r"^1 of the 1 new orders are already in the model \(order ids "
                                         r"'c-2024-0001'\)"):
        model.update(xsell.load_orders(pd.DataFrame({"order_id": ["c-2024-0001"], "item_id": ["q"]})))


def test_rules_kept_above_the_support_count_still_fit_every_rule(shop_frame):
    orders = xsell.load_orders(shop_frame)  # 2,500 orders: min_support 0.001 needs 3 of them
    plain = AssociationRules(min_support=0.001).fit(orders)
    kept = AssociationRules(min_support=0.001, keep_counts=10).fit(orders)
    left, right = _arrays(plain), _arrays(kept)
    for name in left:
        assert np.array_equal(left[name], right[name]), name
    assert kept.kept_.counts.min() >= 10
