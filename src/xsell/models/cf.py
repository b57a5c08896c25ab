"""Collaborative filtering through `implicit`: ALS, BPR and item-KNN.

All three learn from a customers x items matrix (`on="customers"`: in how
many of a customer's orders each item was) or an orders x items matrix
(`on="orders"`); "auto" takes customers when the orders name them. The
matrix entries are the confidences implicit sees (`weighting`: count,
log = 1 + log(count), or binary).

Serving, the same for the three:
  - a basket alone is folded in: ALS solves the customer's least-squares
    step for the basket (implicit's `recalculate_user`, exactly what raw
    implicit does for a new user); BPR averages the basket items' factors
    (implicit has no fold-in for BPR); item-KNN sums the basket items' rows
    of the neighbour matrix (what implicit's recommend does);
  - a known customer's history joins the basket (`recommend(..., customer=)`,
    a customer_id column in `recommend_batch`), and `recommend_for_customer`
    scores the history alone (ALS and BPR fitted on customers use the
    customer's learnt factors then, as implicit does).
implicit is imported only when one of these models is fitted or used.
Results are identical from run to run for a given `random_state`; BPR's
stochastic updates race across threads, so it is reproducible only with
num_threads=1 (its default).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap, extend_ids
from xsell.data.orders import Orders
from xsell.kernels import requests as kernels
from xsell.errors import InputError, NotFittedError
from xsell.models.params import SEED, Choice, Int, Number
from xsell.models.base import Recommender
from xsell.models.history import HISTORY_ARRAYS, HISTORY_CHECKS, CustomerHistory, fitted_on
from xsell.models.kept import all_order_ids, counted_orders, new_order_ids, updated_prices, updated_summary
from xsell.models.schema import Array, Csr, Schema, Values

_WEIGHTINGS = ("count", "log", "binary")
_ON = ("auto", "customers", "orders")



def _implicit(what: str) -> Any:
    try:
        import implicit  # noqa: F401
    except ImportError:  # an optional dependency: the cf extra
        raise InputError(f"{what} needs the implicit package: pip install 'xsell[cf]'") from None
    import implicit.als
    import implicit.bpr
    import implicit.nearest_neighbours

    return implicit


_BLAS: Any = None  # a threadpoolctl.ThreadpoolController, made on first use (after implicit is imported)


@contextlib.contextmanager
def _blas_single_thread() -> Iterator[None]:
    """implicit runs its own threads and asks BLAS to use one (it warns otherwise); its
    item-KNN also warns about a conversion it makes itself: not the user's concern. The BLAS
    libraries are looked up once per process (about 4 ms each time otherwise): numpy's and
    scipy's, both loaded by the time implicit is imported."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        yield


def _set_factors(model: Any, *, item_factors: np.ndarray | None = None, user_factors: np.ndarray | None = None) -> None:
    """Replace an implicit ALS model's factors and drop what it cached from the old ones (XtX, YtY and
    the norms: partial_fit_items solves against the cached XtX, so a stale one gives wrong factors)."""
    if item_factors is not None:
        model.item_factors = item_factors
    if user_factors is not None:
        model.user_factors = user_factors
    for cached in ("_XtX", "_YtY", "_user_norms", "_item_norms"):
        if hasattr(model, cached):
            setattr(model, cached, None)


class _CFModel(Recommender):
    """Shared fitting data, history handling and model-file parts of the implicit wrappers."""

    dense_scores: ClassVar[bool] = True
    uses_customers: ClassVar[bool] = True
    on: str
    weighting: str
    history_weight: float
    item_counts_: np.ndarray
    fitted_on_: str

    def _matrix(self, orders: Orders) -> sp.csr_matrix:
        on = self.on
        has_customers = orders.customers is not None and orders.customer_index is not None
        if on == "auto":
            on = "customers" if has_customers else "orders"
        if on == "customers" and not has_customers:
            raise InputError(f"{type(self).__name__}(on='customers') needs a customer_id column; "
                             f"map one with columns={{'customer_id': ...}} (xsell: --column customer_id=NAME) or use "
                             f"on='orders' (xsell fit: --param on=orders)")
        self.fitted_on_ = on
        m = orders.customer_item_matrix(np.float32) if on == "customers" else orders.order_item_matrix(np.float32)
        if m.nnz == 0:
            raise InputError(f"{type(self).__name__} found no {on} with items to learn from")
        return self._weigh(m)

    def _weigh(self, m: sp.csr_matrix) -> sp.csr_matrix:
        """The confidences implicit sees, from counts."""
        m = m.astype(np.float32, copy=True)
        if self.weighting == "log":
            m.data = (1.0 + np.log(m.data)).astype(np.float32)
        elif self.weighting == "binary":
            m.data[:] = 1.0
        return m

    def _candidates(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = sp.csr_matrix((np.ones(len(basket)), basket, [0, len(basket)]), shape=(1, self.n_items))
        scores = self._score_dense(row, np.full(1, -1, dtype=np.int64))[0]
        return np.arange(self.n_items, dtype=np.int32), np.asarray(scores, dtype=np.float64)

    def _rank(self, query: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._rank_dense(query, excluded, k, -1)

    def _fit_common(self, orders: Orders) -> None:
        self.customer_history_ = CustomerHistory.from_orders(orders)
        self.items_ = orders.items
        self.item_counts_ = orders.item_counts().astype(np.int64)
        self._set_popular(self.item_counts_.astype(np.float64))

    def _rows(self, baskets: sp.csr_matrix, customers: np.ndarray) -> sp.csr_matrix:
        """Per request: the basket plus the known customer's weighted history (CustomerHistory.request_rows)."""
        history = self.customer_history_
        if history is None or not (customers >= 0).any():
            return baskets.astype(np.float32)
        return history.request_rows(baskets, customers, self._weigh, self.history_weight)

    # -- model files: the customer history's part (HISTORY_ARRAYS, HISTORY_CHECKS) ---------------
    def _state(self) -> dict[str, Any]:
        return {"fitted_on": self.fitted_on_}

    def _history_arrays(self) -> dict[str, np.ndarray]:
        if self.customer_history_ is None:  # set by every fit and load
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(orders) first")
        return {"item_counts": self.item_counts_, **self.customer_history_.arrays()}

    def _restore_history(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        self.fitted_on_ = fitted_on(state)
        self.customer_history_ = CustomerHistory.from_arrays(arrays, len(items))
        self.items_ = items
        self.item_counts_ = arrays["item_counts"]
        self._set_popular(self.item_counts_.astype(np.float64))

class _FactorModel(_CFModel):
    """What ALS and BPR share: item and customer factors, their model-file part and the product
    that scores items from a customer's (or a folded-in basket's) factors."""

    factors: int
    item_factors_: np.ndarray
    user_factors_: np.ndarray
    schema = Schema(
        arrays=HISTORY_ARRAYS + (Array("item_factors", "<f4", ("items", "factors")),
                                 Array("user_factors", "<f4", ("users", "factors")),
                                 # ALS: the ids of the orders learnt from (update refuses them again)
                                 Array("kept_orders", None, ("orders",), optional=True)),
        checks=(Values("item_factors"), Values("user_factors")) + HISTORY_CHECKS)

    def _item_scores(self, users: np.ndarray) -> np.ndarray:
        """users x items scores, the same floats for a request alone and in a batch: a float32 BLAS
        product takes another route for one row (gemv) than for many (gemm) and may differ in the last
        bit. The product runs in float64 (float32 x float32 products are exact there) and is rounded
        to float32, so the route's rounding stays far below the float32 result's."""
        cached = getattr(self, "_factors64", None)
        if cached is None or cached[0] is not self.item_factors_:  # factors replaced by hand: rebuild
            self._keep_factors64()
            cached = self._factors64
        return (users.astype(np.float64) @ cached[1].T).astype(np.float32)

    def _keep_factors64(self) -> None:
        """The float64 copy of the item factors that scoring multiplies with (twice the float32
        factors' memory), built when the model is fitted or loaded: before worker processes are
        forked (they share it) and before threads race to build it."""
        factors = self.item_factors_
        self._factors64 = (factors, np.ascontiguousarray(factors, dtype=np.float64))

    def _neighbours_from_factors(self, factors: np.ndarray, item: int) -> tuple[np.ndarray, np.ndarray]:
        """Items by cosine similarity of their factors (implicit's similar_items)."""
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1e-10
        scores = (factors @ factors[item]).astype(np.float64) / (norms * norms[item])
        scores[item] = -np.inf
        order = np.argsort(-scores, kind="stable")
        order = order[np.isfinite(scores[order])]
        return order.astype(np.int32), scores[order]

    @classmethod
    def _dims(cls, state: Mapping[str, Any], dims: dict[str, int]) -> None:
        dims["users"] = dims["customers"] if state.get("fitted_on") == "customers" else 0

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {**self._history_arrays(), "item_factors": self.item_factors_, "user_factors": self.user_factors_}
        counted = getattr(self, "kept_orders_", None)
        if counted is not None:
            out["kept_orders"] = np.asarray(counted.ids)
        return out

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        width = self._factor_width()
        if arrays["item_factors"].shape[1] != width:
            raise InputError(f"item_factors has {arrays['item_factors'].shape[1]} columns, expected {width}")
        self._restore_history(state, arrays, items)
        self.item_factors_ = np.array(arrays["item_factors"])  # writable copies: implicit needs them
        self.user_factors_ = np.array(arrays["user_factors"])
        self._keep_factors64()
        self.kept_orders_ = None
        if "kept_orders" in arrays:
            from xsell.models.schema import check_id_length, check_ids

            ids = arrays["kept_orders"]
            check_ids("kept_orders", ids, distinct=False)
            check_id_length(ids)
            if len(ids) and not (ids[1:] > ids[:-1]).all():
                raise InputError("kept_orders must be distinct and ascending")
            self.kept_orders_ = IdMap.from_checked(ids)

    def _factor_width(self) -> int:
        return self.factors


class ALS(_FactorModel):
    """Alternating least squares for implicit feedback (Hu, Koren and Volinsky 2008), via implicit.

    Parameters (implicit's, same defaults except the seed): factors=100,
    regularization=0.01, alpha=1.0 (confidence scale), iterations=15;
    weighting count|log|binary; on auto|customers|orders; random_state=0;
    num_threads=0 (all cores).
    """

    model_type: ClassVar[str] = "als"
    constraints = {"factors": Int(1), "regularization": Number(0.0), "alpha": Number(0.0, low_open=True),
                   "iterations": Int(1), "weighting": Choice(_WEIGHTINGS), "on": Choice(_ON),
                   "history_weight": Number(0.0), "random_state": SEED, "num_threads": Int(0)}
    factors: int
    regularization: float
    alpha: float
    iterations: int
    random_state: int | None
    num_threads: int
    fork_safe: ClassVar[bool] = False  # its basket fold-in runs implicit's OpenMP code

    def __init__(self, *, factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, weighting: str = "count", on: str = "auto",
                 history_weight: float = 0.1, random_state: int | None = 0, num_threads: int = 0) -> None:
        self._set_params(locals())

    def _implicit_model(self) -> Any:
        model = getattr(self, "_model", None)
        if model is None:
            implicit = _implicit("ALS")
            with _blas_single_thread():  # implicit checks the BLAS threads on creation
                model = implicit.cpu.als.AlternatingLeastSquares(
                    factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                    iterations=self.iterations, random_state=self.random_state, num_threads=self.num_threads)
            if hasattr(self, "item_factors_"):
                model.item_factors = self.item_factors_
                model.user_factors = self.user_factors_
            self._model = model
        return model

    def _fit(self, orders: Orders) -> None:
        matrix = self._matrix(orders)
        self._model = None
        model = self._implicit_model()
        with _blas_single_thread():
            model.fit(matrix, show_progress=False)
        self._fit_common(orders)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        users = model.user_factors if self.fitted_on_ == "customers" else np.empty((0, self.factors))
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self._keep_factors64()
        self.kept_orders_ = counted_orders(orders)

    def update(self, orders: Orders) -> "ALS":
        """Fold new orders in (new customers and items included) without a refit; returns self.

        Not exact: the items the model knows keep their factors. The customers of the new orders get
        their factors solved again from their whole history (implicit's `partial_fit_users`), the new
        items get factors solved from the customers (or, fitted on orders, the new orders) that bought
        them (`partial_fit_items`), and those customers are solved once more so they see the new items.
        Refit now and then (say weekly) to let every factor move. Orders already learnt from are refused."""
        self._check_fitted()
        name = type(self).__name__
        counted: IdMap | None = getattr(self, "kept_orders_", None)
        if counted is None and isinstance(orders, Orders):
            raise InputError(f"this {name} holds no order ids to update (a file from before updates were "
                             f"possible); fit it again to update it later")
        new_ids = new_order_ids(counted, orders, name)
        assert counted is not None
        has_customers = orders.customers is not None and orders.customer_index is not None
        if self.fitted_on_ == "customers" and not has_customers:
            raise InputError(f"this {name} learnt from customers: the new orders need a customer_id column")
        items, at = extend_ids(self.items_, orders.items.ids)
        n_old, n_items = len(self.items_), len(items)
        fresh = np.arange(n_old, n_items)
        counts = np.zeros(n_items, dtype=np.int64)
        counts[:n_old] = self.item_counts_
        np.add.at(counts, at, orders.item_counts().astype(np.int64))
        model = self._implicit_model()
        _set_factors(model, item_factors=np.concatenate([np.asarray(self.item_factors_, dtype=np.float32),
                                                         np.zeros((len(fresh), self.factors), dtype=np.float32)]))
        history = self.customer_history_
        assert history is not None
        if has_customers:  # a known customer's history serves requests, whatever the factors learnt from
            history = history.merged(orders, items, at)
        else:
            history = CustomerHistory(history.customers, sp.csr_matrix(
                (history.matrix.data, history.matrix.indices, history.matrix.indptr),
                shape=(history.matrix.shape[0], n_items)))
        if self.fitted_on_ == "customers":
            assert orders.customers is not None and orders.customer_index is not None
            assert history.customers is not None
            buyers = orders.customers.ids[np.unique(orders.customer_index[orders.customer_index >= 0])]
            touched = np.unique(history.customers.to_internal(buyers)).astype(np.int64)
            rows = self._weigh(history.matrix[touched].tocsr())
            # implicit 0.7.0 keeps its cached XtX / YtY through partial fits (0.7.3 clears them): cleared here,
            # so every solve sees the factors of the step before (the answer of every implicit version)
            with _blas_single_thread():
                if len(touched):  # a day of guest checkouts touches no customer
                    model.partial_fit_users(touched, rows)
                    _set_factors(model)
                if len(fresh):
                    item_users = self._weigh(history.matrix.T.tocsr()[fresh])
                    model.partial_fit_items(fresh, item_users)
                    _set_factors(model)
                    if len(touched):
                        model.partial_fit_users(touched, rows)
                        _set_factors(model)
            if model.user_factors.shape[0] < len(history.customers):  # new customers without a line of their own
                _set_factors(model, user_factors=np.concatenate([model.user_factors, np.zeros(
                    (len(history.customers) - model.user_factors.shape[0], self.factors), dtype=np.float32)]))
            users = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        else:
            if len(fresh):
                new_lines = sp.csr_matrix(  # the new orders over the merged items
                    (np.ones(orders.n_lines, dtype=np.float32), (orders.order_index, at[orders.item_index])),
                    shape=(orders.n_orders, n_items))
                rows = self._weigh(new_lines)
                with _blas_single_thread():
                    _set_factors(model, user_factors=model.recalculate_user(np.arange(orders.n_orders), rows))
                    model.partial_fit_items(fresh, rows.T.tocsr()[fresh])
                    _set_factors(model)
            users = np.empty((0, self.factors), dtype=np.float32)
        self.items_ = items
        self.item_counts_ = counts
        self.customer_history_ = history
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self.user_factors_ = users
        _set_factors(model, item_factors=self.item_factors_, user_factors=self.user_factors_)
        self._keep_factors64()
        self._set_popular(counts.astype(np.float64))
        self.kept_orders_ = all_order_ids(counted, new_ids)
        self.item_prices_ = updated_prices(getattr(self, "item_prices_", None), items, orders)
        self.training_summary_ = updated_summary(getattr(self, "training_summary_", None), orders,
                                                 len(self.kept_orders_), n_items)
        return self

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        users = np.zeros((baskets.shape[0], self.factors), dtype=np.float32)
        own = (customers >= 0) & (np.diff(baskets.indptr) == 0) & (self.fitted_on_ == "customers")
        users[own] = self.user_factors_[customers[own]]  # a known customer, no basket: learnt factors
        fold = np.flatnonzero(~own)
        if len(fold):
            rows = self._rows(baskets[fold], customers[fold])
            users[fold] = self._implicit_model().recalculate_user(np.arange(len(fold)), rows)
        return self._item_scores(users)

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return self._neighbours_from_factors(self.item_factors_, item)

class BPR(_FactorModel):
    """Bayesian personalised ranking (Rendle et al. 2009), via implicit.

    Parameters (implicit's defaults): factors=100, learning_rate=0.01,
    regularization=0.01, iterations=100; on auto|customers|orders;
    random_state=0; num_threads=1 (more threads are faster but race, so runs
    differ). A basket is folded in as the mean of its items' factors.
    """

    model_type: ClassVar[str] = "bpr"
    weighting = "binary"
    constraints = {"factors": Int(1), "learning_rate": Number(0.0, low_open=True), "regularization": Number(0.0),
                   "iterations": Int(1), "on": Choice(_ON), "history_weight": Number(0.0), "random_state": SEED,
                   "num_threads": Int(0)}
    factors: int
    learning_rate: float
    regularization: float
    iterations: int
    random_state: int | None
    num_threads: int

    def __init__(self, *, factors: int = 100, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, on: str = "auto", history_weight: float = 0.1,
                 random_state: int | None = 0, num_threads: int = 1) -> None:
        self._set_params(locals())

    def _fit(self, orders: Orders) -> None:
        matrix = self._matrix(orders)
        implicit = _implicit("BPR")
        with _blas_single_thread():
            model = implicit.cpu.bpr.BayesianPersonalizedRanking(
                factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
                iterations=self.iterations, random_state=self.random_state, num_threads=self.num_threads)
            model.fit(matrix, show_progress=False)
        self._fit_common(orders)
        # implicit keeps an item bias in the last factor column (users hold 1 there)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        width = self.item_factors_.shape[1]
        users = model.user_factors if self.fitted_on_ == "customers" else np.empty((0, width))
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self._keep_factors64()

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        f = self.item_factors_
        n_rows = baskets.shape[0]
        known = customers >= 0
        if self.fitted_on_ == "customers":
            users = np.zeros((n_rows, f.shape[1]), dtype=np.float32)
            # the customer's factors stand for the history; alone they are the whole request
            alone = known & (np.diff(baskets.indptr) == 0)
            scale = np.where(alone, 1.0, self.history_weight).astype(np.float32)
            users[known] = self.user_factors_[customers[known]] * scale[known, None]
            rows = baskets
        else:
            users = np.zeros((n_rows, f.shape[1]), dtype=np.float32)
            rows = self._rows(baskets, customers)
        sizes = np.asarray(rows.sum(axis=1)).ravel()
        mean = np.asarray(rows @ f) / np.maximum(sizes, 1e-12)[:, None]
        mean[:, -1] = 0.0
        users += mean.astype(np.float32)
        users[:, -1] = 1.0  # the bias column
        return self._item_scores(users)

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return self._neighbours_from_factors(self.item_factors_[:, :-1], item)

    def _factor_width(self) -> int:
        return self.factors + 1  # + implicit's item-bias column

class ItemKNN(_CFModel):
    """Item-item nearest neighbours (implicit's Cosine, BM25 and TF-IDF recommenders).

    Parameters: measure bm25|cosine|tfidf (default bm25); K=20 neighbours
    per item; K1=1.2 and B=0.75 (BM25); on orders|customers|auto (default
    orders: bought in the same order; the customer history is kept for
    customer requests either way); weighting count|log|binary;
    num_threads=0 (all cores).
    """

    model_type: ClassVar[str] = "itemknn"
    schema = Schema(
        arrays=HISTORY_ARRAYS + (Array("sim_indptr", "<i8", ("items+1",)), Array("sim_indices", "<i4", ("sim",)),
                                 Array("sim_data", "<f8", ("sim",))),
        checks=(Csr("sim", "sim_indptr", "sim_indices"),
                Values("sim_data"),  # BM25 weights can make a similarity negative
                ) + HISTORY_CHECKS)
    constraints = {"measure": Choice(("bm25", "cosine", "tfidf")), "K": Int(1), "K1": Number(0.0),
                   "B": Number(0.0, 1.0), "on": Choice(_ON), "weighting": Choice(_WEIGHTINGS),
                   "history_weight": Number(0.0), "num_threads": Int(0)}
    measure: str
    K: int
    K1: float
    B: float
    num_threads: int
    positive_scores: ClassVar[bool] = True

    def __init__(self, *, measure: str = "bm25", K: int = 20, K1: float = 1.2, B: float = 0.75,
                 on: str = "orders", weighting: str = "count", history_weight: float = 0.1,
                 num_threads: int = 0) -> None:
        self._set_params(locals())

    def _fit(self, orders: Orders) -> None:
        matrix = self._matrix(orders)
        nn = _implicit("ItemKNN").nearest_neighbours
        if self.measure == "bm25":
            model = nn.BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=self.num_threads)
        elif self.measure == "cosine":
            model = nn.CosineRecommender(K=self.K, num_threads=self.num_threads)
        else:
            model = nn.TFIDFRecommender(K=self.K, num_threads=self.num_threads)
        with _blas_single_thread():
            model.fit(matrix, show_progress=False)
        self._fit_common(orders)
        sim = model.similarity.tocsr().astype(np.float64)
        sim.sort_indices()
        self.similarity_ = sim

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        # implicit scores the user's rows as given (a basket: ones) through the neighbour matrix
        rows = self._rows(baskets, customers).astype(np.float64)
        scores: np.ndarray = (rows @ self.similarity_).toarray()
        return scores

    def _rank(self, query: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # a basket without a customer: the sparse product's row and its top k in one compiled pass
        # (the same sums in the same order as rows @ similarity_)
        sim = self.similarity_
        cached = self.__dict__.get("_table")
        if cached is None or cached[0] is not sim:
            cached = self._table = (sim, kernels.read_only(sim.indptr.astype(np.int64)),
                                    kernels.read_only(sim.indices.astype(np.int32)),
                                    kernels.read_only(sim.data.astype(np.float64)))
        acc, mark = self._scratch()
        items, scores = kernels.basket_topk(cached[1], cached[2], cached[3], query, excluded,
                                            min(k, len(acc)), acc, mark, True, False)
        return items, scores

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.similarity_
        lo, hi = s.indptr[item], s.indptr[item + 1]
        idx, val = s.indices[lo:hi], s.data[lo:hi]
        keep = idx != item
        idx, val = idx[keep], val[keep]
        order = np.lexsort((idx, -val))
        return idx[order].astype(np.int32), val[order]

    def _arrays(self) -> dict[str, np.ndarray]:
        sim = self.similarity_
        return {**self._history_arrays(), "sim_indptr": sim.indptr.astype(np.int64),
                "sim_indices": sim.indices.astype(np.int32), "sim_data": sim.data.astype(np.float64)}

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        self._restore_history(state, arrays, items)
        n = len(items)
        self.similarity_ = sp.csr_matrix((arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]),
                                         shape=(n, n))
