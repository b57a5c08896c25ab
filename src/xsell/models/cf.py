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

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.errors import InputError, NotFittedError
from xsell.checks import check_int, check_number
from xsell.models.base import Recommender, check_csr, check_ids, check_values

_WEIGHTINGS = ("count", "log", "binary")


def _implicit(what: str) -> Any:
    try:
        import implicit  # noqa: F401
    except ImportError:  # pragma: no cover - implicit is a dependency
        raise InputError(f"{what} needs the implicit package: pip install implicit") from None
    import implicit.als
    import implicit.bpr
    import implicit.nearest_neighbours

    return implicit


@contextlib.contextmanager
def _blas_single_thread() -> Iterator[None]:
    """implicit runs its own threads and asks BLAS to use one (it warns otherwise); its
    item-KNN also warns about a conversion it makes itself: not the user's concern."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        yield


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _check_int(name: str, value: Any, low: int) -> int:
    return int(check_int(name, value, low))  # type: ignore[arg-type]


def _check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    return float(check_number(name, value, 0.0, low_open=not allow_zero))  # type: ignore[arg-type]


def _check_seed(value: Any) -> int | None:
    if value is None:
        return None
    return _check_int("random_state", value, 0)


class _CFModel(Recommender):
    """Shared fitting data, history handling and model-file parts of the implicit wrappers."""

    dense_scores: ClassVar[bool] = True
    uses_customers: ClassVar[bool] = True
    on: str
    weighting: str
    item_counts_: np.ndarray
    fitted_on_: str

    def _matrix(self, orders: Orders) -> sp.csr_matrix:
        on = self.on
        has_customers = orders.customers is not None and orders.customer_index is not None
        if on == "auto":
            on = "customers" if has_customers else "orders"
        if on == "customers" and not has_customers:
            raise InputError(f"{type(self).__name__}(on='customers') needs a customer_id column; "
                             f"map one with columns={{'customer_id': ...}} or use on='orders'")
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
        self._set_customers(orders)
        self.items_ = orders.items
        self.item_counts_ = orders.item_counts().astype(np.int64)
        self._set_popular(self.item_counts_.astype(np.float64))

    def _rows(self, baskets: sp.csr_matrix, customers: np.ndarray) -> sp.csr_matrix:
        """Per request: 1 per basket item plus the known customer's weighted history, scaled so its
        top item weighs `history_weight` next to a basket (1 for a request without a basket)."""
        rows = baskets.astype(np.float32)
        known = customers >= 0
        if known.any():
            pick = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                                  (np.flatnonzero(known), customers[known])),
                                 shape=(baskets.shape[0], self.history_.shape[0]))
            hist = self._weigh((pick @ self.history_).tocsr())
            peak = hist.max(axis=1).toarray().ravel()
            alone = np.diff(baskets.indptr) == 0
            scale = np.where(alone, 1.0, self.history_weight) / np.maximum(peak, 1e-12)
            rows = (rows + sp.diags(scale.astype(np.float32)) @ hist).tocsr()
        return rows

    # -- model files --------------------------------------------------------------------
    def _common_arrays(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "items_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(orders) first")
        h = self.history_
        customers = self.customers_.ids if self.customers_ is not None else np.empty(0, dtype=np.int64)
        return {"item_counts": self.item_counts_, "customers": customers,
                "history_indptr": h.indptr.astype(np.int64), "history_indices": h.indices.astype(np.int32),
                "history_data": h.data.astype(np.float32)}

    @staticmethod
    def _common_spec(n_items: int, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[Any, tuple[int, ...]]]:
        n_customers = shapes["customers"][0]
        nnz = shapes["history_indices"][0]
        return {"item_counts": ("<i8", (n_items,)), "customers": (None, (n_customers,)),
                "history_indptr": ("<i8", (n_customers + 1,)), "history_indices": ("<i4", (nnz,)),
                "history_data": ("<f4", (nnz,))}

    def _restore_common(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        n = len(items)
        if state.get("fitted_on") not in ("customers", "orders"):
            raise InputError("state fitted_on must be 'customers' or 'orders'")
        self.fitted_on_ = state["fitted_on"]
        ids = arrays["customers"]
        check_ids("customers", ids)
        ip, ind, data = arrays["history_indptr"], arrays["history_indices"], arrays["history_data"]
        check_csr("history", ip, ind, n)
        check_values("history_data", data, low=0)
        check_values("item_counts", arrays["item_counts"], low=0)
        self.items_ = items
        self.customers_ = IdMap(ids) if len(ids) else None
        self.history_ = sp.csr_matrix((data, ind, ip), shape=(len(ids), n))
        self.item_counts_ = arrays["item_counts"]
        self._set_popular(self.item_counts_.astype(np.float64))

    def _restore_factors(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap,
                         width: int) -> None:
        if arrays["item_factors"].shape[1] != width:
            raise InputError(f"item_factors has {arrays['item_factors'].shape[1]} columns, expected {width}")
        for name in ("item_factors", "user_factors"):
            check_values(name, arrays[name])
        self._restore_common(state, arrays, items)
        self.item_factors_ = np.array(arrays["item_factors"])  # writable copies: implicit needs them
        self.user_factors_ = np.array(arrays["user_factors"])

    def _neighbours_from_factors(self, factors: np.ndarray, item: int) -> tuple[np.ndarray, np.ndarray]:
        """Items by cosine similarity of their factors (implicit's similar_items)."""
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1e-10
        scores = (factors @ factors[item]).astype(np.float64) / (norms * norms[item])
        scores[item] = -np.inf
        order = np.argsort(-scores, kind="stable")
        order = order[np.isfinite(scores[order])]
        return order.astype(np.int32), scores[order]


class ALS(_CFModel):
    """Alternating least squares for implicit feedback (Hu, Koren and Volinsky 2008), via implicit.

    Parameters (implicit's, same defaults except the seed): factors=100,
    regularization=0.01, alpha=1.0 (confidence scale), iterations=15;
    weighting count|log|binary; on auto|customers|orders; random_state=0;
    num_threads=0 (all cores).
    """

    model_type: ClassVar[str] = "als"
    fork_safe: ClassVar[bool] = False  # its basket fold-in runs implicit's OpenMP code

    def __init__(self, *, factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, weighting: str = "count", on: str = "auto",
                 history_weight: float = 0.1, random_state: int | None = 0, num_threads: int = 0) -> None:
        self.history_weight = _check_positive("history_weight", history_weight, allow_zero=True)
        self.factors = _check_int("factors", factors, 1)
        self.regularization = _check_positive("regularization", regularization, allow_zero=True)
        self.alpha = _check_positive("alpha", alpha)
        self.iterations = _check_int("iterations", iterations, 1)
        self.weighting = _check_choice("weighting", weighting, _WEIGHTINGS)
        self.on = _check_choice("on", on, ("auto", "customers", "orders"))
        self.random_state = _check_seed(random_state)
        self.num_threads = _check_int("num_threads", num_threads, 0)

    def get_params(self) -> dict[str, Any]:
        return {"factors": self.factors, "regularization": self.regularization, "alpha": self.alpha,
                "iterations": self.iterations, "weighting": self.weighting, "on": self.on,
                "history_weight": self.history_weight, "random_state": self.random_state,
                "num_threads": self.num_threads}

    def __repr__(self) -> str:
        return "ALS(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

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

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        users = np.zeros((baskets.shape[0], self.factors), dtype=np.float32)
        own = (customers >= 0) & (np.diff(baskets.indptr) == 0) & (self.fitted_on_ == "customers")
        users[own] = self.user_factors_[customers[own]]  # a known customer, no basket: learnt factors
        fold = np.flatnonzero(~own)
        if len(fold):
            rows = self._rows(baskets[fold], customers[fold])
            users[fold] = self._implicit_model().recalculate_user(np.arange(len(fold)), rows)
        return users @ self.item_factors_.T

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return self._neighbours_from_factors(self.item_factors_, item)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = self._common_arrays()
        arrays.update(item_factors=self.item_factors_, user_factors=self.user_factors_)
        return {"fitted_on": self.fitted_on_}, arrays

    @classmethod
    def _array_spec(cls, state: Mapping[str, Any], n_items: int,
                    shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[Any, tuple[int, ...]]]:
        spec = cls._common_spec(n_items, shapes)
        f = shapes["item_factors"][1]
        users = shapes["customers"][0] if state.get("fitted_on") == "customers" else 0
        spec.update(item_factors=("<f4", (n_items, f)), user_factors=("<f4", (users, f)))
        return spec

    @classmethod
    def _from_state(cls, params: Mapping[str, Any], state: Mapping[str, Any],
                    arrays: Mapping[str, np.ndarray], items: IdMap) -> "ALS":
        model = cls(**params)
        model._restore_factors(state, arrays, items, model.factors)
        return model


class BPR(_CFModel):
    """Bayesian personalised ranking (Rendle et al. 2009), via implicit.

    Parameters (implicit's defaults): factors=100, learning_rate=0.01,
    regularization=0.01, iterations=100; on auto|customers|orders;
    random_state=0; num_threads=1 (more threads are faster but race, so runs
    differ). A basket is folded in as the mean of its items' factors.
    """

    model_type: ClassVar[str] = "bpr"
    weighting = "binary"

    def __init__(self, *, factors: int = 100, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, on: str = "auto", history_weight: float = 0.1,
                 random_state: int | None = 0, num_threads: int = 1) -> None:
        self.history_weight = _check_positive("history_weight", history_weight, allow_zero=True)
        self.factors = _check_int("factors", factors, 1)
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.regularization = _check_positive("regularization", regularization, allow_zero=True)
        self.iterations = _check_int("iterations", iterations, 1)
        self.on = _check_choice("on", on, ("auto", "customers", "orders"))
        self.random_state = _check_seed(random_state)
        self.num_threads = _check_int("num_threads", num_threads, 0)

    def get_params(self) -> dict[str, Any]:
        return {"factors": self.factors, "learning_rate": self.learning_rate,
                "regularization": self.regularization, "iterations": self.iterations, "on": self.on,
                "history_weight": self.history_weight, "random_state": self.random_state,
                "num_threads": self.num_threads}

    def __repr__(self) -> str:
        return "BPR(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

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
        return users @ f.T

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return self._neighbours_from_factors(self.item_factors_[:, :-1], item)

    _get_state = ALS._get_state

    @classmethod
    def _array_spec(cls, state: Mapping[str, Any], n_items: int,
                    shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[Any, tuple[int, ...]]]:
        return ALS._array_spec.__func__(cls, state, n_items, shapes)  # type: ignore[attr-defined]

    @classmethod
    def _from_state(cls, params: Mapping[str, Any], state: Mapping[str, Any],
                    arrays: Mapping[str, np.ndarray], items: IdMap) -> "BPR":
        model = cls(**params)
        model._restore_factors(state, arrays, items, model.factors + 1)  # + implicit's item-bias column
        return model


class ItemKNN(_CFModel):
    """Item-item nearest neighbours (implicit's Cosine, BM25 and TF-IDF recommenders).

    Parameters: measure bm25|cosine|tfidf (default bm25); K=20 neighbours
    per item; K1=1.2 and B=0.75 (BM25); on orders|customers|auto (default
    orders: bought in the same order; the customer history is kept for
    customer requests either way); weighting count|log|binary;
    num_threads=0 (all cores).
    """

    model_type: ClassVar[str] = "itemknn"
    positive_scores: ClassVar[bool] = True

    def __init__(self, *, measure: str = "bm25", K: int = 20, K1: float = 1.2, B: float = 0.75,
                 on: str = "orders", weighting: str = "count", history_weight: float = 0.1,
                 num_threads: int = 0) -> None:
        self.history_weight = _check_positive("history_weight", history_weight, allow_zero=True)
        self.measure = _check_choice("measure", measure, ("bm25", "cosine", "tfidf"))
        self.K = _check_int("K", K, 1)
        self.K1 = _check_positive("K1", K1, allow_zero=True)
        self.B = _check_positive("B", B, allow_zero=True)
        if self.B > 1:
            raise InputError(f"B must be in [0, 1], got {B!r}")
        self.on = _check_choice("on", on, ("auto", "customers", "orders"))
        self.weighting = _check_choice("weighting", weighting, _WEIGHTINGS)
        self.num_threads = _check_int("num_threads", num_threads, 0)

    def get_params(self) -> dict[str, Any]:
        return {"measure": self.measure, "K": self.K, "K1": self.K1, "B": self.B, "on": self.on,
                "weighting": self.weighting, "history_weight": self.history_weight,
                "num_threads": self.num_threads}

    def __repr__(self) -> str:
        return "ItemKNN(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

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
        return (rows @ self.similarity_).toarray()

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.similarity_
        lo, hi = s.indptr[item], s.indptr[item + 1]
        idx, val = s.indices[lo:hi], s.data[lo:hi]
        keep = idx != item
        idx, val = idx[keep], val[keep]
        order = np.lexsort((idx, -val))
        return idx[order].astype(np.int32), val[order]

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = self._common_arrays()
        s = self.similarity_
        arrays.update(sim_indptr=s.indptr.astype(np.int64), sim_indices=s.indices.astype(np.int32),
                      sim_data=s.data.astype(np.float64))
        return {"fitted_on": self.fitted_on_}, arrays

    @classmethod
    def _array_spec(cls, state: Mapping[str, Any], n_items: int,
                    shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[Any, tuple[int, ...]]]:
        spec = cls._common_spec(n_items, shapes)
        nnz = shapes["sim_indices"][0]
        spec.update(sim_indptr=("<i8", (n_items + 1,)), sim_indices=("<i4", (nnz,)), sim_data=("<f8", (nnz,)))
        return spec

    @classmethod
    def _from_state(cls, params: Mapping[str, Any], state: Mapping[str, Any],
                    arrays: Mapping[str, np.ndarray], items: IdMap) -> "ItemKNN":
        model = cls(**params)
        n = len(items)
        ip, ind, data = arrays["sim_indptr"], arrays["sim_indices"], arrays["sim_data"]
        check_csr("sim", ip, ind, n)
        check_values("sim_data", data)  # BM25 weights can make a similarity negative
        model._restore_common(state, arrays, items)
        model.similarity_ = sp.csr_matrix((data, ind, ip), shape=(n, n))
        return model
