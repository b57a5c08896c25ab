"""ALS, BPR and ItemKNN: nothing lost by wrapping implicit; customers; seeds; model files. Hybrid by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import xsell
from xsell.errors import InputError, ModelFileError

# raw implicit (the reference here) warns about a conversion of its own
pytestmark = pytest.mark.filterwarnings("ignore:Method expects CSR input")


@pytest.fixture(scope="module")
def orders(shop):
    return shop.orders


@pytest.fixture(scope="module")
def baskets(orders):
    """60 test baskets: the first two items of 60 orders, with their customers."""
    frame = orders.to_frame()
    first = frame.groupby("order_id", sort=False).head(2)
    keep = first["order_id"].isin(first["order_id"].unique()[:60])
    first = first[keep]
    return pd.DataFrame({"basket_id": first["order_id"].to_numpy(), "item_id": first["item_id"].to_numpy(),
                         "customer_id": first["customer_id"].to_numpy()})


def _basket_matrix(model, baskets):
    ids, rows = np.unique(baskets["basket_id"].to_numpy(), return_inverse=True)
    cols = model.items_.to_internal(baskets["item_id"].to_numpy())
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(ids), model.n_items))
    m.sum_duplicates()
    m.data[:] = 1
    return ids, m


def _ours(model, baskets, k=10):
    recs = model.recommend_batch(baskets[["basket_id", "item_id"]], k=k)
    return {b: g["item_id"].astype(str).tolist() for b, g in recs.groupby("basket_id", observed=True)}


def test_als_basket_fold_in_equals_raw_implicit(orders, baskets):
    from implicit.cpu.als import AlternatingLeastSquares

    model = xsell.ALS(factors=16, iterations=5, random_state=3).fit(orders)
    from threadpoolctl import threadpool_limits

    raw = AlternatingLeastSquares(factors=16, iterations=5, random_state=3)
    with threadpool_limits(1, "blas"):  # as the wrapper fits: BLAS threads change the last bits
        raw.fit(orders.customer_item_matrix(np.float32), show_progress=False)
    np.testing.assert_array_equal(model.item_factors_, raw.item_factors)
    ids, basket = _basket_matrix(model, baskets)
    top, _ = raw.recommend(np.arange(len(ids)), basket, N=10, recalculate_user=True)
    ours = _ours(model, baskets)
    expected = {b: model.items_.ids[t].astype(str).tolist() for b, t in zip(ids, top)}
    assert ours == expected


@pytest.mark.parametrize("measure", ["bm25", "cosine", "tfidf"])
def test_itemknn_equals_raw_implicit(orders, baskets, measure):
    from implicit import nearest_neighbours as nn

    model = xsell.ItemKNN(measure=measure, K=10).fit(orders)
    raw = {"bm25": nn.BM25Recommender, "cosine": nn.CosineRecommender, "tfidf": nn.TFIDFRecommender}[measure](K=10)
    raw.fit(orders.order_item_matrix(np.float32), show_progress=False)
    ids, basket = _basket_matrix(model, baskets)
    top, scores = raw.recommend(np.arange(len(ids)), basket, N=10)
    ours = model.recommend_batch(baskets[["basket_id", "item_id"]], k=10)
    for b, t, s in zip(ids, top, scores):
        mine = ours[ours["basket_id"] == b]
        np.testing.assert_allclose(mine["score"].to_numpy(), s[: len(mine)], rtol=1e-6)
        # the same items above the last (possibly cut) group of equal scores
        above = s > s.min() * (1 + 1e-9)
        assert set(mine["item_id"].astype(str)[: int(above.sum())]) == set(model.items_.ids[t[above]].astype(str))


def test_bpr_for_known_customers_equals_raw_implicit(orders):
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = xsell.BPR(factors=8, iterations=10, random_state=1).fit(orders)
    raw = BayesianPersonalizedRanking(factors=8, iterations=10, random_state=1, num_threads=1)
    user_items = orders.customer_item_matrix(np.float32)
    raw.fit(user_items, show_progress=False)
    np.testing.assert_array_equal(model.item_factors_, raw.item_factors)
    for c in range(5):
        top, _ = raw.recommend(c, user_items[c], N=5)
        ours = model.recommend_for_customer(orders.customers.ids[c], k=5)
        assert ours.items == model.items_.ids[top].tolist()


@pytest.mark.parametrize("make", [lambda: xsell.ALS(factors=8, iterations=3), lambda: xsell.BPR(factors=8,
                                  iterations=5)])
def test_seeds_make_runs_identical(orders, make):
    a, b = make().fit(orders), make().fit(orders)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    other = type(a)(factors=8, iterations=3 if isinstance(a, xsell.ALS) else 5, random_state=99).fit(orders)
    assert not np.array_equal(a.item_factors_, other.item_factors_)


@pytest.mark.parametrize("make", [lambda: xsell.ALS(factors=8, iterations=3), lambda: xsell.BPR(factors=8,
                                  iterations=5), lambda: xsell.ItemKNN(), lambda: xsell.Hybrid()])
def test_customer_column_in_batch_equals_single_requests(orders, baskets, make):
    model = make().fit(orders)
    recs = model.recommend_batch(baskets, k=5)
    for b, group in list(baskets.groupby("basket_id", sort=False))[:15]:
        single = model.recommend(group["item_id"].tolist(), k=5, customer=group["customer_id"].iloc[0])
        mine = recs[recs["basket_id"] == b]
        assert mine["item_id"].astype(str).tolist() == [str(i) for i in single.items]
        np.testing.assert_allclose(mine["score"].to_numpy(), single.scores, rtol=1e-5)
    # the customer changes the answer for customer-aware models
    first = baskets[baskets["basket_id"] == baskets["basket_id"].iloc[0]]
    alone = model.recommend(first["item_id"].tolist(), k=5)
    assert alone.scores.tolist() != model.recommend(first["item_id"].tolist(), k=5,
                                                    customer=first["customer_id"].iloc[0]).scores.tolist()


def test_a_customer_without_basket_and_unknown_customers(orders):
    model = xsell.ItemKNN().fit(orders)
    customer = orders.customers.ids[0]
    frame = pd.DataFrame({"basket_id": ["c", "u"], "item_id": [None, None], "customer_id": [customer, "nobody"]})
    recs = model.recommend_batch(frame, k=4)
    assert recs[recs["basket_id"] == "c"]["item_id"].astype(str).tolist() == \
        [str(i) for i in model.recommend([], k=4, customer=customer).items]
    assert recs.attrs["fallback_baskets"] == 1  # the unknown customer without basket gets popular items
    assert recs[recs["basket_id"] == "u"]["item_id"].tolist() == model.recommend([], k=4).items


def test_recommend_for_customer_excludes_what_was_bought(orders):
    model = xsell.ALS(factors=8, iterations=3).fit(orders)
    customer = orders.customers.ids[7]
    h = orders.customer_item_matrix()
    bought = set(orders.items.ids[h[7].indices].tolist())
    fresh = model.recommend_for_customer(customer, k=20)
    assert not bought & set(fresh.items)
    again = model.recommend_for_customer(customer, k=20, exclude_bought=False)
    assert bought & set(again.items)
    unknown = model.recommend_for_customer("nobody", k=3)
    assert unknown.fallback and unknown.items == model.recommend([], k=3).items
    with pytest.raises(InputError, match=r"^CoOccurrence does not use customers; use ALS, BPR, ItemKNN or "
                                         r"Hybrid for recommend_for_customer$"):
        xsell.CoOccurrence().fit(orders).recommend_for_customer(customer)


def test_non_customer_models_ignore_the_customer(orders, baskets):
    model = xsell.CoOccurrence().fit(orders)
    first = baskets[baskets["basket_id"] == baskets["basket_id"].iloc[0]]
    items = first["item_id"].tolist()
    assert model.recommend(items, customer=first["customer_id"].iloc[0]).items == model.recommend(items).items
    pd.testing.assert_frame_equal(model.recommend_batch(baskets, k=3),
                                  model.recommend_batch(baskets[["basket_id", "item_id"]], k=3))


@pytest.mark.parametrize("make", [lambda: xsell.ALS(factors=8, iterations=3), lambda: xsell.BPR(factors=8,
                                  iterations=5), lambda: xsell.ItemKNN(), lambda: xsell.Hybrid()])
def test_model_files_round_trip(tmp_path, orders, baskets, make):
    model = make().fit(orders)
    path = xsell.save_model(model, tmp_path / "m.xsell")
    loaded = xsell.load_model(path)
    assert repr(loaded) == repr(model)
    pd.testing.assert_frame_equal(loaded.recommend_batch(baskets, k=5), model.recommend_batch(baskets, k=5))
    customer = orders.customers.ids[3]
    assert loaded.recommend_for_customer(customer, k=5).items == model.recommend_for_customer(customer, k=5).items
    assert loaded.also_bought(orders.items.ids[0], k=5).items == model.also_bought(orders.items.ids[0], k=5).items


def test_a_model_file_with_duplicate_customers_is_refused(tmp_path, orders):
    import io
    import zipfile

    model = xsell.ItemKNN().fit(orders)
    path = xsell.save_model(model, tmp_path / "m.xsell")
    bad = tmp_path / "bad.xsell"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "customers.npy":
                ids = np.load(io.BytesIO(data)).copy()
                ids[1] = ids[0]
                buf = io.BytesIO()
                np.save(buf, ids)
                data = buf.getvalue()
            dst.writestr(name, data)
    with pytest.raises(ModelFileError, match=r"invalid model content \(customers holds duplicate ids\)$"):
        xsell.load_model(bad)


def test_bad_parameters_have_clear_messages():
    with pytest.raises(InputError, match=r"^factors must be a whole number >= 1, got 0$"):
        xsell.ALS(factors=0)
    with pytest.raises(InputError, match=r"^measure must be one of bm25, cosine, tfidf; got 'jaccard'$"):
        xsell.ItemKNN(measure="jaccard")
    with pytest.raises(InputError, match=r"^on must be one of auto, customers, orders; got 'users'$"):
        xsell.BPR(on="users")


def test_customers_needed_when_asked_for(tiny_orders):
    with pytest.raises(InputError, match=r"^ALS\(on='customers'\) needs a customer_id column; map one with "
                                         r"columns=\{'customer_id': \.\.\.\} \(xsell: --column customer_id=NAME\) or use on='orders' "
                                         r"\(xsell fit: --param on=orders\)$"):
        xsell.ALS(on="customers").fit(tiny_orders)
    model = xsell.ALS(factors=2, iterations=2).fit(tiny_orders)  # auto: orders
    assert model.fitted_on_ == "orders"
    assert model.recommend(["a"], k=2).items  # basket fold-in works without customers


# -- Hybrid by hand ------------------------------------------------------------------------------

def _hybrid_orders():
    lines = [  # order, customer, item, day
        (1, "u", "a", 0), (1, "u", "b", 0), (2, "u", "a", 30), (2, "u", "c", 30), (3, "v", "b", 60),
        (3, "v", "c", 60), (4, "v", "d", 90), (4, "v", "a", 90), (5, "u", "d", 100), (5, "u", "b", 100),
    ]
    frame = pd.DataFrame(lines, columns=["order_id", "customer_id", "item_id", "day"])
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    return xsell.load_orders(frame)


def test_hybrid_scores_by_hand():
    orders = _hybrid_orders()
    model = xsell.Hybrid(l2=2.0, history_weight=0.5, tau_days=50.0).fit(orders)
    items = orders.items.ids.tolist()  # a, b, c, d
    x = orders.order_item_matrix(np.float64).toarray()
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(4))
    w = -p / np.diag(p)
    np.fill_diagonal(w, 0.0)
    # customer u bought a (days 0, 30), b (days 0, 100), c (day 30), d (day 100); last order day 100
    decay = {"a": np.exp(-100 / 50) + np.exp(-70 / 50), "b": np.exp(-100 / 50) + 1.0,
             "c": np.exp(-70 / 50), "d": 1.0}
    hist = np.log1p(np.array([decay[i] for i in items]))
    basket = np.zeros(4)
    basket[items.index("a")] = 1
    item_part = basket @ w
    expected = item_part / np.abs(item_part).max() + 0.5 * hist / hist.max()
    got = model.recommend(["a"], k=3, customer="u")
    order = [i for i in np.argsort(-expected, kind="stable") if items[i] != "a"]
    assert got.items == [items[i] for i in order]
    np.testing.assert_allclose(got.scores, expected[order], rtol=1e-12)
    # without a basket, the decayed history is the item-item query too
    q = np.array([decay[i] for i in items]) @ w
    alone = q / np.abs(q).max() + 0.5 * hist / hist.max()
    got = model.recommend_for_customer("u", k=4, exclude_bought=False)
    np.testing.assert_allclose(got.scores, np.sort(alone)[::-1], rtol=1e-12)


def test_command_line_fit_customer_requests_and_scoring_with_customers(tmp_path, orders):
    import json

    from typer.testing import CliRunner

    from xsell.cli import app

    lines = tmp_path / "orders.parquet"
    orders.to_frame().to_parquet(lines)
    model_path = tmp_path / "als.xsell"
    run = CliRunner().invoke(app, ["fit", str(lines), "-o", str(model_path), "--model", "als", "--seed", "4"])
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith(f"saved {model_path}: als, 360 items, 12,000 orders")
    model = xsell.load_model(model_path)
    assert model.random_state == 4
    customer, item = str(orders.customers.ids[5]), str(orders.items.ids[9])
    out = CliRunner().invoke(app, ["for-customer", str(model_path), customer, "-k", "3", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert [r["item_id"] for r in got["results"]] == model.recommend_for_customer(customer, k=3).items
    out = CliRunner().invoke(app, ["recommend", str(model_path), item, "--customer", customer, "--json"])
    assert [r["item_id"] for r in json.loads(out.stdout)["results"]] == \
        model.recommend([item], k=10, customer=customer).items
    # a baskets file with a customer_id column: scored with the customers
    baskets = pd.DataFrame({"basket_id": ["b1", "b1", "b2"], "item_id": [item, str(orders.items.ids[1]), None],
                            "customer_id": [customer, customer, customer]})
    baskets.to_csv(tmp_path / "baskets.csv", index=False)
    out = CliRunner().invoke(app, ["score", str(model_path), str(tmp_path / "baskets.csv"), "-o",
                                   str(tmp_path / "recs.csv"), "-k", "3", "--no-progress"])
    assert out.exit_code == 0, out.output
    recs = pd.read_csv(tmp_path / "recs.csv", dtype={"item_id": str})
    assert recs[recs["basket_id"] == "b2"]["item_id"].tolist() == model.recommend([], k=3, customer=customer).items
    assert recs[recs["basket_id"] == "b1"]["item_id"].tolist() == \
        model.recommend([item, str(orders.items.ids[1])], k=3, customer=customer).items
    bad = CliRunner().invoke(app, ["fit", str(lines), "-o", str(model_path), "--model", "svd"])
    assert bad.exit_code == 2  # a usage error, before the orders are read
    assert "'--model'" in bad.stderr and "'svd' is not one of" in bad.stderr and "'ease'" in bad.stderr


def test_customers_without_training_lines_are_treated_as_unknown(shop):
    from xsell.evaluation import temporal_split

    train, test = temporal_split(shop.orders, quantile=0.5)
    seen = set(train.customers.ids[np.unique(train.customer_index[train.customer_index >= 0])].tolist())
    new = next(c for c in test.customers.ids[test.customer_index].tolist() if c not in seen)
    for model in (xsell.ALS(factors=4, iterations=2).fit(train), xsell.BPR(factors=4, iterations=3).fit(train),
                  xsell.ItemKNN().fit(train), xsell.Hybrid().fit(train)):
        got = model.recommend_for_customer(new, k=3)
        assert got.fallback and got.items == model.recommend([], k=3).items, type(model).__name__
        frame = pd.DataFrame({"basket_id": ["b"], "item_id": [None], "customer_id": [new]})
        assert model.recommend_batch(frame, k=3).attrs["fallback_baskets"] == 1


def test_itemknn_fills_with_popular_items_not_zero_scores():
    orders = xsell.load_orders(pd.DataFrame([(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "c"), (4, "z"),
                                             (5, "c"), (5, "b")], columns=["order_id", "item_id"]))
    model = xsell.ItemKNN(K=5).fit(orders)
    lonely = model.recommend(["z"], k=3)  # z was never bought with anything
    assert lonely.fallback and lonely.items == model.recommend([], k=3).items
    recs = model.recommend_batch({"x": ["z"], "y": ["a"]}, k=3)
    assert recs.attrs["fallback_baskets"] == 1
    assert (recs[recs["basket_id"] == "y"]["score"] > 0).all()  # only items with evidence, no zero-score filler


def test_hybrid_without_timestamps_counts_every_purchase_fully():
    frame = pd.DataFrame([(1, "u", "a"), (1, "u", "b"), (2, "u", "a"), (3, "v", "c"), (3, "v", "b")],
                         columns=["order_id", "customer_id", "item_id"])
    model = xsell.Hybrid(l2=1.0).fit(xsell.load_orders(frame))
    # u bought a in two orders, b in one: undecayed counts
    assert model.decayed_[model.customers_.index_of("u")].toarray().ravel().tolist()[:2] == [2.0, 1.0]


def test_integer_item_ids_made_float_by_empty_lines_still_match(shop):
    # SKUs read from a CSV are strings; a basket frame built in code holds numbers
    orders = xsell.load_orders(pd.DataFrame({"order_id": [1, 1, 2, 2, 3], "item_id": ["10", "20", "10", "30", "20"],
                                             "customer_id": ["u", "u", "v", "v", "u"]}))
    # cosine: BM25 gives every pair of this 3-item, 2-customer log weight 0 (idf log(3) - log(1 + 2) = 0)
    model = xsell.ItemKNN(on="customers", measure="cosine").fit(orders)
    frame = pd.DataFrame({"basket_id": ["x", "y"], "item_id": [10, None], "customer_id": ["u", "u"]})
    assert frame["item_id"].dtype.kind == "f"  # pandas turned 10 into 10.0
    recs = model.recommend_batch(frame, k=2)
    assert recs[recs["basket_id"] == "x"]["item_id"].tolist() == model.recommend(["10"], k=2, customer="u").items
    assert recs.attrs["fallback_baskets"] == 0


@pytest.mark.parametrize("cls", [xsell.ItemKNN])
def test_known_customer_without_evidence_gets_the_popular_fallback_on_every_path(cls):
    # customer 'u' bought only item 'a', which nobody else bought: item-KNN has no neighbour for it
    orders = xsell.load_orders(pd.DataFrame({
        "order_id": [1, 2, 2, 3, 3, 4],
        "item_id": ["a", "b", "c", "b", "c", "b"],
        "customer_id": ["u", "v", "v", "w", "w", "w"]}))
    model = cls(on="customers").fit(orders)
    single = model.recommend(["a"], k=2, customer="u")
    assert single.fallback is True
    assert single.items == ["b", "c"]  # b in 3 orders, c in 2
    batch = model.recommend_batch(pd.DataFrame({"basket_id": ["x"], "item_id": ["a"], "customer_id": ["u"]}), k=2)
    assert batch["item_id"].tolist() == single.items
    assert batch.attrs["fallback_baskets"] == 1
    for_customer = model.recommend_for_customer("u", k=2)
    assert for_customer.fallback is True and for_customer.items == ["b", "c"]


def test_without_implicit_the_cf_models_name_the_extra_and_the_others_run(orders, monkeypatch):
    """implicit is the optional cf extra: fitting ALS, BPR or ItemKNN without it says what to install, and
    `xsell evaluate` leaves them out with that reason while the other models run."""
    import sys

    from xsell.evaluation.runner import compare

    monkeypatch.setitem(sys.modules, "implicit", None)  # `import implicit` raises ImportError
    for make, name in [(xsell.ALS, "ALS"), (xsell.BPR, "BPR"), (xsell.ItemKNN, "ItemKNN")]:
        with pytest.raises(InputError) as caught:
            make().fit(orders)
        assert str(caught.value) == f"{name} needs the implicit package: pip install 'xsell[cf]'"
    result = compare(orders, ["popular", "als", "itemknn"], k=5, task="basket-completion", split="temporal",
                     quantile=0.8, seed=0)
    assert result.table["model"].tolist() == ["popular"]
    assert result.meta["skipped"] == {"als": "ALS needs the implicit package: pip install 'xsell[cf]'",
                                      "itemknn": "ItemKNN needs the implicit package: pip install 'xsell[cf]'"}
