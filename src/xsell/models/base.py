"""The protocol every xsell model follows, and the logic they share.

A model says how to score; the base does the rest once: id mapping (external ids in, external
ids out), dropping unknown ids, excluding basket items, top-k selection, the one popularity
fallback rule (`_ranked_or_popular`, and `popular_batch` for many baskets), batch input parsing
(`xsell.data.baskets`), parameters and model files. A model declares:

  constraints = {...}                 one per keyword of __init__ (models/params.py); __init__ calls
                                      self._set_params(locals()); get_params and repr follow
  schema = Schema(...)                the arrays its file holds and their checks (models/schema.py),
                                      with _arrays() (write) and _restore(state, arrays, items) (read)
  _fit(orders)                        learn from an Orders (set items_, call _set_popular)
  _neighbours(item)                   (indices, scores) best first, for also_bought
  _top_neighbours(item, k)            the first k of them (default: `_neighbours` sliced)
and scores in one of two ways (the class flag `dense_scores`):
  False: _candidates(basket)          (sorted candidate indices, float64 scores) for one basket,
         _rank(basket, excluded, k)   optionally a faster top-k that ranks identically,
         _score_matrix(baskets, k)    CSR baskets x items scores, basket items -inf or absent
  True:  _score_dense(baskets, customers)  dense baskets x items scores (customers: internal
                                      index per row, -1 unknown)
Optional: _explain (extra result columns), _state (small facts kept in the manifest), _dims
(file dimensions that depend on the state).

Customer-aware models (`uses_customers = True`: ALS, BPR, ItemKNN, Hybrid) keep `customers_` and
`history_` (customers x items, orders holding each item); the base then serves
`recommend(..., customer=)`, `recommend_for_customer` and a `customer_id` column in
`recommend_batch`. The other models ignore customers.

Code working over a model's arrays (the engine) uses the public request protocol:
`recommend_indices`, `parse_baskets`, `rank_baskets`, `popular_batch`, `item_index` and
`Recommendations.indices`.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator, Mapping, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.baskets import Baskets, known_indices, parse_baskets, query_indices
from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.data.records import frame_records, plain_list, plain_records
from xsell.checks import check_int
from xsell.kernels import requests as kernels
from xsell.errors import InputError, NotFittedError
from xsell.models._topk import topk_dense, topk_rows
from xsell.models.params import Constraint
from xsell.models.history import CustomerHistory
from xsell.models.schema import Schema

_log = logging.getLogger("xsell.models")
_POPULAR_KEPT = 1000  # popular items kept for fallbacks
R = TypeVar("R", bound="Recommender")


class Recommendations:
    """Ranked items for one request, best first.

    `items` (external ids), `scores`, `fallback` (True when the answer is the
    popularity fallback because no known item was given), `len()`, iteration
    over (item, score) pairs and `to_frame()` with the explanation columns.
    """

    __slots__ = ("_model", "_index", "_scores", "fallback", "_query")

    def __init__(self, model: "Recommender", index: np.ndarray, scores: np.ndarray,
                 fallback: bool, query: np.ndarray | list[int]) -> None:
        self._model = model
        self._index = index
        self._scores = scores  # may be a view of a model table's row, float32: copied to float64 when read
        self.fallback = fallback
        self._query = query

    @property
    def scores(self) -> np.ndarray:
        """The scores, float64, best first (the answer's own array: writing to it changes no model)."""
        scores = self._scores
        if scores.base is not None or scores.dtype != np.float64:  # a view (of a model's table) or float32
            scores = self._scores = scores.astype(np.float64)
        return scores

    @property
    def items(self) -> list[Any]:
        items: list[Any] = self._model.items_.ids[self._index].tolist()
        return items

    @property
    def indices(self) -> np.ndarray:
        """The items as the model's internal indices (for code working over the model's arrays);
        a read-only view: it may share memory with the model's own tables."""
        view = self._index.view()
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[tuple[Any, float]]:
        return iter(zip(self.items, self.scores.tolist(), strict=True))

    def __repr__(self) -> str:
        shown = ", ".join(f"{i!r}: {s:.3g}" for i, s in list(self)[:5])
        more = ", ..." if len(self) > 5 else ""
        flag = ", fallback=popular" if self.fallback else ""
        return f"Recommendations([{shown}{more}]{flag})"

    def to_records(self, explain: bool = False) -> list[dict[str, Any]]:
        """One dict per item, best first: item_id and score (with `explain`, also the explanation
        columns of `to_frame()`), as plain Python values that `json.dumps` takes (NaN as None)."""
        if explain:
            return frame_records(self.to_frame())
        return plain_records({"item_id": self.items, "score": self.scores})

    def to_dict(self) -> dict[str, Any]:
        """{"items": [...], "scores": [...], "fallback": bool}: plain Python values, ready for JSON."""
        return {"items": self.items, "scores": plain_list(self.scores), "fallback": bool(self.fallback)}

    def to_frame(self) -> pd.DataFrame:
        """item_id, score and the model's explanation columns (for co-occurrence:
        count, support, confidence, lift, plus `because` for baskets)."""
        frame = pd.DataFrame({"item_id": self._model.items_.ids[self._index], "score": self.scores})
        extra = self._model._explain(np.asarray(self._query, dtype=np.int32), self._index, self.fallback)
        for name, values in extra.items():
            frame[name] = values
        return frame


@dataclass(frozen=True)
class RankedBaskets:
    """The top k of many baskets as arrays, best first within each basket (rows ascending).

    basket_ids: one per basket; rows: the basket (position in basket_ids) of each entry; items:
    internal item indices; rank: 1-based within the basket; scores; n_fallback: baskets answered
    with the popular items; fallback: per basket, True where it got them."""

    basket_ids: np.ndarray
    rows: np.ndarray
    items: np.ndarray
    rank: np.ndarray
    scores: np.ndarray
    n_fallback: int
    fallback: np.ndarray | None = None


class Recommender:
    """Base class: template methods that validate, map ids and rank once for every model."""

    model_type: ClassVar[str] = "base"
    constraints: ClassVar[Mapping[str, Constraint]] = {}  # one per keyword of __init__ (models/params.py)
    _param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = tuple(p.name for p in inspect.signature(cls.__init__).parameters.values()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY)
        if "__init__" in cls.__dict__ and set(names) != set(cls.constraints):
            missing = sorted(set(names) ^ set(cls.constraints))
            raise TypeError(f"{cls.__name__}: __init__ keywords and constraints differ: {', '.join(missing)}")
        cls._param_names = names

    def _set_params(self, values: Mapping[str, Any]) -> None:
        """Check and keep the keyword arguments of __init__ (pass `locals()`), in signature order."""
        for name in self._param_names:
            setattr(self, name, self.constraints[name].check(name, values[name]))

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to __init__ (after checking): `type(m)(**m.get_params())` is m unfitted."""
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"
    items_: IdMap
    popular_: np.ndarray  # internal indices, most popular first
    popular_scores_: np.ndarray
    item_prices_: np.ndarray | None = None

    # -- fitting -----------------------------------------------------------------
    def fit(self: R, orders: Orders) -> R:
        """Learn from `orders` (see `xsell.load_orders`); returns self."""
        if not isinstance(orders, Orders):
            raise InputError(f"fit expects an Orders (from xsell.load_orders), not {type(orders).__name__}")
        if orders.n_lines == 0:
            raise InputError("fit needs at least one order line")
        started = time.perf_counter()
        _log.info("fitting %s on %s orders, %s items, %s lines", type(self).__name__, f"{orders.n_orders:,}",
                  f"{orders.n_items:,}", f"{orders.n_lines:,}")
        self._fit(orders)
        self.training_summary_ = orders.summary()
        self.item_prices_ = orders.item_prices()  # median unit price per item (NaN unseen), None without prices
        _log.info("fitted %s in %.2f s", type(self).__name__, time.perf_counter() - started)
        return self

    def _fit(self, orders: Orders) -> None:
        raise NotImplementedError

    def _set_popular(self, counts: np.ndarray) -> None:
        """popular_: the _POPULAR_KEPT most counted items, most first, ties to the lower index (one
        partition over the items, then a sort of the few at or above the cut: no sort of every item)."""
        cand = np.arange(len(counts))
        if len(counts) > 2 * _POPULAR_KEPT:
            cut = np.partition(counts, len(counts) - _POPULAR_KEPT)[len(counts) - _POPULAR_KEPT]
            cand = np.flatnonzero(counts >= cut)
        order = cand[np.lexsort((cand, -counts[cand]))][:_POPULAR_KEPT]
        self.popular_ = order.astype(np.int32)
        self.popular_scores_ = counts[order].astype(np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(orders) first")

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.items_)

    # -- one request -------------------------------------------------------------
    def _known(self, ids: Iterable[Any], what: str = "basket") -> np.ndarray:
        return query_indices(self.items_, ids, what)

    def _popular(self, k: int, exclude: np.ndarray, query: np.ndarray) -> Recommendations:
        head = self.popular_[: k + len(exclude)]
        scores = self.popular_scores_[: k + len(exclude)]
        if len(exclude):
            keep = ~np.isin(head, exclude)
            head, scores = head[keep], scores[keep]
        return Recommendations(self, head[:k], scores[:k], True, query)

    def also_bought(self, item: Any, k: int = 10) -> Recommendations:
        """The k items most often bought with `item`, best first.

        An item the model does not know gets the popular items, flagged
        `fallback=True`.
        """
        self._check_fitted()
        if type(k) is not int or k < 1:
            k = _check_k(k)
        idx = self.items_.index_of(item, "item")
        if idx < 0:
            return self._popular(k, np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32))
        cand, scores = self._top_neighbours(idx, k)
        return Recommendations(self, cand, scores, False, [idx])

    def recommend(self, basket: Iterable[Any], k: int = 10, exclude: Iterable[Any] | None = (),
                  customer: Any = None) -> Recommendations:
        """The k items that best complete `basket`, best first.

        Basket items and `exclude` never come back; unknown ids are ignored; a
        basket with no known item, or whose items have no neighbours, gets the
        popular items, flagged `fallback=True`. `customer` (the shop's customer
        id) is used by customer-aware models (ALS, BPR, ItemKNN, Hybrid: their
        history joins the basket) and ignored by the others; an unknown
        customer is treated as anonymous.
        """
        self._check_fitted()
        if type(k) is not int or k < 1:
            k = _check_k(k)
        if type(basket) is list and len(basket) == 1 and type(basket[0]) is str:  # a product page's one item
            i = self.items_.index_of(basket[0])
            found = [i] if i >= 0 else []
        else:
            found = known_indices(self.items_, basket)
        no_exclude = exclude is None or (isinstance(exclude, (tuple, list)) and not exclude)
        if len(found) == 1 and no_exclude and (customer is None or not self.uses_customers):
            single = self._single(found[0], k)  # a model's exact shortcut for one item, nothing excluded
            if single is not None:
                return single
        query = np.array(sorted(set(found)) if len(found) > 1 else found, dtype=np.int32)
        excluded = query if no_exclude or exclude is None else np.union1d(query, self._known(exclude, "exclude"))
        return self._recommend(query, excluded, k, customer)

    def _single(self, item: int, k: int) -> "Recommendations | None":
        """The answer for a basket of one known item with nothing else excluded and no customer, when the
        model has an exact shortcut for it (None: take the general path)."""
        return None

    def recommend_indices(self, basket: np.ndarray, k: int, customer: Any = None) -> Recommendations:
        """`recommend` for a basket given as the model's internal indices (sorted, unique, in range),
        for code that works over the model's arrays (the engine); answers exactly as `recommend`."""
        self._check_fitted()
        k = _check_k(k)
        query = np.asarray(basket, dtype=np.int32)
        if len(query) and (query[0] < 0 or query[-1] >= len(self.items_) or (np.diff(query) <= 0).any()):
            raise InputError(f"basket indices must be sorted, distinct and in 0..{len(self.items_) - 1}")
        return self._recommend(query, query, k, customer)

    def _recommend(self, query: np.ndarray, excluded: np.ndarray, k: int, customer: Any) -> Recommendations:
        if customer is not None and self.uses_customers:  # anonymous requests skip this (the hot path)
            cidx = self._customer_of(customer)
            if cidx >= 0:
                index, scores = self._rank_dense(query, excluded, k, cidx)
                return self._ranked_or_popular(index, scores, k, excluded, query)
        if len(query) == 0:
            return self._popular(k, excluded, query)
        index, scores = self._rank(query, excluded, k)
        return self._ranked_or_popular(index, scores, k, excluded, query)

    def _ranked_or_popular(self, index: np.ndarray, scores: np.ndarray, k: int, excluded: np.ndarray,
                           query: np.ndarray) -> Recommendations:
        """The one fallback rule of every request path (single, customer, batch): a request whose
        scoring found no candidate at all gets the popular items, flagged `fallback=True`."""
        if len(index) == 0:
            return self._popular(k, excluded, query)
        return Recommendations(self, index, scores, False, query)

    def recommend_for_customer(self, customer: Any, k: int = 10, exclude_bought: bool = True,
                               exclude: Iterable[Any] | None = ()) -> Recommendations:
        """The k items a known customer is most likely to buy next, from their history alone.

        exclude_bought: leave out items the customer bought before (False keeps
        them: repeat purchases are most of a grocery or B2B order). An unknown
        customer gets the popular items, flagged `fallback=True`.
        """
        self._check_fitted()
        if not self.uses_customers:
            raise InputError(f"{type(self).__name__} does not use customers; use {_customer_models()} "
                             f"for recommend_for_customer")
        k = _check_k(k)
        excluded = self._known(() if exclude is None else exclude, "exclude")
        cidx = self._customer_of(customer)
        if cidx >= 0 and exclude_bought and self.customer_history_ is not None:
            excluded = np.union1d(excluded, self.customer_history_.bought(cidx)).astype(np.int32)
        empty = np.empty(0, dtype=np.int32)
        if cidx < 0:
            return self._popular(k, excluded, empty)
        index, scores = self._rank_dense(empty, excluded, k, cidx)
        return self._ranked_or_popular(index, scores, k, excluded, empty)

    # -- customers ---------------------------------------------------------------------
    # how the model scores many baskets: False, a sparse product (_score_matrix); True, dense rows
    # (_score_dense) cut to each basket's top k
    dense_scores: ClassVar[bool] = False
    fork_safe: ClassVar[bool] = True  # False: scoring must not run in forked worker processes
    uses_customers: ClassVar[bool] = False
    positive_scores: ClassVar[bool] = False  # True: a score of 0 means "no evidence" (item-KNN)
    customer_history_: CustomerHistory | None = None  # customer-aware models: their customers (models/history.py)

    @property
    def customers_(self) -> IdMap | None:
        """The customers the model knows (None: not customer-aware, or no customer in the orders)."""
        history = self.customer_history_
        return history.customers if history is not None else None

    @property
    def history_(self) -> sp.csr_matrix:
        """customers x items: orders of each customer holding each item."""
        if self.customer_history_ is None:
            raise AttributeError(f"{type(self).__name__} keeps no customer history")
        return self.customer_history_.matrix

    def _customer_of(self, customer: Any) -> int:
        """Internal index of a customer id for customer-aware models; -1 for None, unknown or unused."""
        if customer is None or not self.uses_customers or self.customer_history_ is None:
            return -1
        return self.customer_history_.index_of(customer)

    def _rank_dense(self, query: np.ndarray, excluded: np.ndarray, k: int, customer: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Top k from the dense scores of one basket (possibly empty) for a customer (-1: none): excluded
        items, non-finite scores (and scores <= 0 for `positive_scores` models) left out."""
        scores = self._score_one(query, customer)
        if scores is None:
            row = sp.csr_matrix((np.ones(len(query)), query, [0, len(query)]), shape=(1, self.n_items))
            scores = self._score_dense(row, np.array([customer], dtype=np.int64))[0].astype(np.float64)
        items, values = kernels.dense_topk(scores, excluded, min(k, len(scores)), self.positive_scores, True)
        return items, values

    def _scratch(self) -> tuple[np.ndarray, np.ndarray]:
        """This thread's zero scratch vectors over the items, float64 and uint8, for the request kernels
        (which leave them zero again)."""
        local = self.__dict__.get("_local")
        if local is None:
            local = self._local = threading.local()
        acc = getattr(local, "acc", None)
        if acc is None or len(acc) != len(self.items_):
            acc = local.acc = np.zeros(len(self.items_), dtype=np.float64)
            local.mark = np.zeros(len(self.items_), dtype=np.uint8)
        return acc, local.mark

    def _score_one(self, query: np.ndarray, customer: int) -> np.ndarray | None:
        """Dense float64 scores of one request, the same bits as `_score_dense` of its row, when the
        model has a faster way (None: `_score_dense` of a 1-row matrix)."""
        return None

    def _rank(self, query: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best candidates for a basket of known items, `excluded` left out.

        Generic path over `_candidates`; a model may override it with a faster
        one that ranks identically.
        """
        cand, scores = self._candidates(query)
        if len(excluded) and len(cand):
            pos = np.searchsorted(cand, excluded)
            inside = pos < len(cand)
            pos = pos[inside]
            hit = pos[cand[pos] == excluded[inside]]
            if len(hit):
                keep = np.ones(len(cand), dtype=bool)
                keep[hit] = False
                cand, scores = cand[keep], scores[keep]
        best = topk_dense(cand, scores, k)
        return cand[best], scores[best]

    # -- many requests -------------------------------------------------------------
    def recommend_batch(self, baskets: Any, k: int = 10, explain: bool = False) -> pd.DataFrame:
        """Recommendations for many baskets at once, with sparse products.

        baskets: a DataFrame of basket_id, item_id lines, or a mapping
        basket_id -> item ids. Returns a DataFrame basket_id, rank (1-based),
        item_id, score (basket_id and item_id as pandas categoricals: cheap to
        build, dictionary-encoded in Parquet; `.astype(str)` gives plain strings);
        `frame.attrs["fallback_baskets"]` counts baskets that got the popular items.
        explain: also the explanation columns of `recommend(...).to_frame()`, row for row the
        same values (co-occurrence: count, support, confidence, lift and `because`, the basket
        item whose pair decided the row, for every basket; association rules: rule and its
        statistics; models without explanations add none).
        """
        self._check_fitted()
        k = _check_k(k)
        if not isinstance(explain, bool):
            raise InputError(f"explain must be True or False, got {explain!r}")
        parsed = self.parse_baskets(baskets)
        ranked = self.rank_baskets(parsed, k)
        # ids as categoricals built from codes: no per-row string objects, dictionary-encoded in Parquet
        frame = pd.DataFrame({
            "basket_id": pd.Categorical.from_codes(ranked.rows, categories=pd.Index(ranked.basket_ids)),
            "rank": ranked.rank.astype(np.int32),
            "item_id": pd.Categorical.from_codes(ranked.items, categories=self.item_index()),
            "score": ranked.scores.astype(np.float64),
        })
        if explain:
            basket = parsed.matrix()
            if not basket.has_sorted_indices:
                basket = basket.sorted_indices()
            assert ranked.fallback is not None
            extra = self._explain_batch(basket, ranked.rows, ranked.items, ranked.fallback[ranked.rows])
            for name, values in extra.items():
                frame[name] = values
        frame.attrs["fallback_baskets"] = ranked.n_fallback
        return frame

    def parse_baskets(self, baskets: Any) -> Baskets:
        """Many baskets (see `recommend_batch`) over this model's items and customers."""
        self._check_fitted()
        history = self.customer_history_
        if self.uses_customers and history is not None and history.customers is not None:
            return parse_baskets(baskets, self.items_, history.customers, history.known)
        return parse_baskets(baskets, self.items_)

    def rank_baskets(self, baskets: Baskets, k: int) -> "RankedBaskets":
        """The top k of every basket as arrays (what `recommend_batch` returns, before ids)."""
        self._check_fitted()
        k = _check_k(k)
        basket_ids = baskets.ids
        n_baskets = len(basket_ids)
        customers = baskets.customers
        basket = baskets.matrix()
        indptr, items, values = self._topk_batch(basket, k) if not self.dense_scores else \
            self._topk_scores(self._dense_topk_candidates(basket, k, customers), k)
        lengths = np.diff(indptr)
        empty = np.flatnonzero(lengths == 0)  # no known item, or no neighbours: popular items
        out_rows = np.repeat(np.arange(n_baskets), lengths)
        rank = np.arange(len(items)) - np.repeat(indptr[:-1], lengths) + 1
        if len(empty):
            fb_rows, fb_items, fb_scores = self.popular_batch(basket, empty, k)
            out_rows, rank, items, values = merge_ranked((out_rows, rank, items, values),
                                                         (fb_rows, ranks_within(fb_rows), fb_items, fb_scores))
        fallback = np.zeros(n_baskets, dtype=bool)
        fallback[empty] = True
        return RankedBaskets(basket_ids, out_rows.astype(np.int64), items.astype(np.int64),
                             rank.astype(np.int64), values.astype(np.float64), int(len(empty)), fallback)

    def _topk_batch(self, basket: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, items, scores) of each basket's top k, best first; a basket with no known item gets
        none (the fallback). Default: the model's `_score_matrix`, cut by topk_rows; a model may
        override it with a faster pass that ranks identically."""
        scores = self._score_matrix(basket, k).tocsr()
        no_item = np.diff(basket.indptr) == 0
        if no_item.any() and scores.nnz:  # as recommend: a basket with no known item gets the fallback
            keep = ~np.repeat(no_item, np.diff(scores.indptr))
            if not keep.all():
                indptr = np.zeros(basket.shape[0] + 1, dtype=np.int64)
                np.cumsum(np.diff(scores.indptr) * ~no_item, out=indptr[1:])
                scores = sp.csr_matrix((scores.data[keep], scores.indices[keep], indptr), shape=scores.shape)
        return self._topk_scores(scores, k)

    @staticmethod
    def _topk_scores(scores: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indptr, items, values, _ = topk_rows(scores.indptr, scores.indices, scores.data, k)
        return indptr, items, values

    def _dense_topk_candidates(self, basket: sp.csr_matrix, k: int, customers: np.ndarray | None = None,
                               chunk_cells: int = 16_000_000) -> sp.csr_matrix:
        """For dense scorers: per basket, the entries at or above its k-th best score (ties kept),
        basket items excluded; topk_rows then orders them exactly as recommend does.

        A basket with neither a known item nor a known customer gets no entries (popular fallback)."""
        n = self.n_items
        step = max(1, chunk_cells // max(n, 1))
        if customers is None or not self.uses_customers:
            customers = np.full(basket.shape[0], -1, dtype=np.int64)
        served = (np.diff(basket.indptr) > 0) | (customers >= 0)
        rows_out, cols_out, vals_out = [], [], []
        for start in range(0, basket.shape[0], step):
            part = basket[start:start + step]
            dense = np.asarray(self._score_dense(part, customers[start:start + step]), dtype=np.float64)
            own_rows = np.repeat(np.arange(part.shape[0]), np.diff(part.indptr))
            dense[own_rows, part.indices] = -np.inf
            dense[~served[start:start + step]] = -np.inf
            if self.positive_scores:  # 0 means no evidence: those slots are filled with popular items
                dense[dense <= 0] = -np.inf
            if n > k:
                thr = -np.partition(-dense, k - 1, axis=1)[:, k - 1]
                mask = (dense >= thr[:, None]) & (dense > -np.inf)
            else:
                mask = dense > -np.inf
            r, c = np.nonzero(mask)
            rows_out.append(r + start)
            cols_out.append(c)
            vals_out.append(dense[r, c])
        rows = np.concatenate(rows_out) if rows_out else np.empty(0, np.int64)
        return sp.csr_matrix((np.concatenate(vals_out) if vals_out else np.empty(0),
                              (rows, np.concatenate(cols_out) if cols_out else np.empty(0, np.int64))),
                             shape=(basket.shape[0], n))

    def _score_dense(self, baskets: sp.csr_matrix, customers: np.ndarray) -> np.ndarray:
        """baskets x items scores for dense scorers; customers: internal index per row, -1 unknown."""
        raise NotImplementedError

    def item_index(self) -> pd.Index:
        """The item ids as a pandas Index in internal order (built once): categories of output frames."""
        cached: tuple[IdMap, pd.Index] | None = getattr(self, "_categories", None)
        if cached is None or cached[0] is not self.items_:  # built again after a refit
            cached = self._categories = (self.items_, pd.Index(self.items_.ids))
        return cached[1]

    def popular_batch(self, basket: sp.csr_matrix, rows: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Popular items for the given basket rows, each basket's own items left out."""
        own = basket[rows]  # the fallback baskets' own items, as a sub-matrix
        sizes = np.diff(own.indptr)
        width = min(len(self.popular_), k + int(sizes.max()))
        cand = np.broadcast_to(self.popular_[:width], (len(rows), width))
        local = np.repeat(np.arange(len(rows), dtype=np.int64), width)
        n = np.int64(self.n_items)
        own_keys = np.repeat(np.arange(len(rows), dtype=np.int64), sizes) * n + own.indices
        keep = ~np.isin(local * n + cand.ravel(), own_keys).reshape(len(rows), width)
        keep &= np.cumsum(keep, axis=1) <= k
        scores = np.broadcast_to(self.popular_scores_[:width], (len(rows), width))
        return np.repeat(rows, keep.sum(axis=1)), cand[keep], scores[keep]

    # -- hooks ---------------------------------------------------------------------
    def _candidates(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _score_matrix(self, baskets: sp.csr_matrix, k: int) -> sp.csr_matrix:
        """baskets x items scores (CSR); each basket's own items must be -inf or absent.

        Entries that provably cannot reach a basket's top k may be left out."""
        raise NotImplementedError

    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _top_neighbours(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first k of `_neighbours(item)` (a model with a neighbour table slices it once)."""
        cand, scores = self._neighbours(item)
        return cand[:k], scores[:k]

    def _explain(self, query: np.ndarray, items: np.ndarray, fallback: bool) -> dict[str, Any]:
        return {}

    def _explain_batch(self, baskets: sp.csr_matrix, rows: np.ndarray, items: np.ndarray,
                       fallback: np.ndarray) -> dict[str, Any]:
        """`_explain` for many entries at once, without a loop per basket: baskets (CSR, sorted
        indices: each row is the `query` of `_explain`), each entry's basket row, item, and
        whether its basket got the popular items. Same values as `_explain`, entry for entry."""
        return {}

    # -- model files: declared by `schema` (models/schema.py) --------------------------------
    schema: ClassVar[Schema]

    def _state(self) -> dict[str, Any]:
        """Small facts kept in the manifest beside the arrays (JSON), e.g. the number of orders."""
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays, one per `schema.arrays` entry, in the declared dtypes."""
        raise NotImplementedError

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        """Take arrays that passed the schema's checks (and the state): set the fitted attributes,
        run the checks that depend on parameters or state; InputError on bad content."""
        raise NotImplementedError

    @classmethod
    def _dims(cls, state: Mapping[str, Any], dims: dict[str, int]) -> None:
        """Set dimensions that depend on the state (most models have none)."""

    @classmethod
    def _file_dims(cls, state: Mapping[str, Any], n_items: int, shapes: Mapping[str, tuple[int, ...]]
                   ) -> dict[str, int]:
        """Every named dimension of the file: the schema's, then the state's (`_dims`)."""
        dims = cls.schema.free_dims(n_items, shapes)
        cls._dims(state, dims)
        return dims

    def file_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(state, arrays) as the model file holds them."""
        self._check_fitted()  # the arrays are saved as given: save_model checks them against the schema
        return self._state(), self._arrays()

    @classmethod
    def file_arrays(cls, state: Mapping[str, Any], n_items: int,
                    shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[str | None, tuple[int, ...]]]:
        """name -> (dtype, shape) every array of a file with this manifest must have."""
        return cls.schema.spec(cls._file_dims(state, n_items, shapes), shapes)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], state: Mapping[str, Any],
                    arrays: Mapping[str, np.ndarray], items: IdMap) -> "Recommender":
        """A fitted model from arrays of the declared dtypes and shapes; InputError on bad content."""
        model = cls(**params)
        cls.schema.check(arrays, cls._file_dims(state, len(items), {name: a.shape for name, a in arrays.items()}))
        model._restore(state, arrays, items)
        return model


def mark_basket_items(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray,
                      baskets: sp.csr_matrix) -> sp.csr_matrix:
    """CSR of (rows, cols, scores) with each basket's own items set to -inf."""
    n = np.int64(baskets.shape[1])
    own = np.repeat(np.arange(baskets.shape[0], dtype=np.int64), np.diff(baskets.indptr)) * n + baskets.indices
    own.sort()
    key = rows.astype(np.int64) * n + cols
    if len(own):
        at = np.minimum(np.searchsorted(own, key), len(own) - 1)
        scores = np.where(own[at] == key, -np.inf, scores)
    return sp.csr_matrix((scores, (rows, cols)), shape=baskets.shape)


def drop_below(scores: sp.csr_matrix, floor: np.ndarray) -> sp.csr_matrix:
    """Entries of each row at or above that row's floor (the others cannot reach its top k)."""
    n_rows = scores.shape[0]
    row = np.repeat(np.arange(n_rows), np.diff(scores.indptr))
    keep = scores.data >= floor[row]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((scores.data[keep], scores.indices[keep], indptr), shape=scores.shape)


def ranks_within(rows: np.ndarray) -> np.ndarray:
    """1, 2, 3... within each run of equal values of a sorted `rows` (a basket's entries in rank order)."""
    return np.arange(len(rows)) - np.searchsorted(rows, rows) + 1


def merge_ranked(main: tuple[np.ndarray, ...], extra: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Two sets of ranked entries (rows, rank, *columns), e.g. the scored baskets and the popular
    fallback of the baskets that got no candidate, merged and sorted by row, then rank: the one way
    every batch path adds the fallback."""
    merged = tuple(np.concatenate([a, b]) for a, b in zip(main, extra, strict=True))
    rows, rank = merged[0], merged[1]
    if not len(rows):
        return merged
    low, high = int(rank.min()), int(rank.max())
    if low < 0 or int(rows.min()) < 0 or (int(rows.max()) + 1) * (high + 1) >= 2**62:
        order = np.lexsort((rank, rows))
    else:  # one int64 key: a stable sort of two sorted runs is a linear merge (lexsort sorts from scratch)
        order = np.argsort(rows.astype(np.int64) * (high + 1) + rank, kind="stable")
    return tuple(a[order] for a in merged)


def _customer_models() -> str:
    """The registered customer-aware model classes, e.g. 'ALS, BPR, ItemKNN or Hybrid'."""
    from xsell.models.registry import MODELS

    names = [entry.path.split(":")[1] for entry in MODELS.values() if entry.cls.uses_customers]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _check_k(k: Any) -> int:
    return check_int("k", k, 1)
