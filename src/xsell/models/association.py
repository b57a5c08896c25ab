"""Recommendations from association rules: "customers who bought A (and B) also bought C".

`AssociationRules` mines rules with `xsell.mining` (antecedents of 1 or 2
items with max_len 2 or 3, one consequent item) and ranks, for a basket, the
consequents of the rules whose antecedent lies inside the basket. Score: the
chosen rule metric (confidence, lift, ...); aggregation over matching rules:
"max" (the best rule decides; the default) or "sum". Each recommendation
carries the best matching rule as its explanation.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.kernels import requests as kernels
from xsell.errors import InputError
from xsell.mining.pairs import PairCounts, count_pairs
from xsell.mining.rules import (METRICS, FrequentItemsets, check_basket_cap, check_confidence, check_lift,
                                frequent_itemsets, itemsets_from_counts, rule_arrays, support_count,
                                within_row_pairs)
from xsell.models._topk import expand_ranges, floor_from_sorted_rows, topk_rows
from xsell.models.params import Custom, Int
from xsell.models.base import Recommender, mark_basket_items
from xsell.models.kept import KEPT_ARRAYS, KEPT_CHECKS, KeptCounts, counted_orders
from xsell.models.schema import Array, Csr, Schema, Values, check_sorted_rows, check_values

_STATS = ("support", "confidence", "lift")
_AGGREGATES = ("max", "sum")


def _check_max_len(max_len: Any) -> int:
    if isinstance(max_len, (bool, np.bool_)) or not isinstance(max_len, (int, np.integer)) or max_len not in (2, 3):
        raise InputError(f"max_len must be 2 or 3 for AssociationRules, got {max_len!r}; "
                         f"xsell.mine_rules mines longer rules for review")
    return int(max_len)


def _check_metric(metric: Any) -> str:
    if not isinstance(metric, str) or metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return metric


def _check_aggregate(aggregate: Any) -> str:
    if not isinstance(aggregate, str) or aggregate not in _AGGREGATES:
        raise InputError(f"aggregate must be 'max' or 'sum', got {aggregate!r}")
    return aggregate


def _check_support(min_support: Any) -> float:
    if isinstance(min_support, (bool, np.bool_)) or not (isinstance(min_support, (int, float, np.number))
                                                         and 0 < float(min_support) <= 1):
        raise InputError(f"min_support must be in (0, 1], got {min_support!r}")
    return float(min_support)


class AssociationRules(KeptCounts, Recommender):
    """Rule-based recommender with the same protocol as CoOccurrence.

    Parameters:
      min_support: itemsets in fewer than this share of orders are not mined (default 0.001).
      min_confidence: rules below it are dropped (default 0).
      max_len: 2 (item -> item rules) or 3 (also {A, B} -> C rules) (default 2).
      metric: the rule metric that scores a recommendation (default "confidence").
      aggregate: "max" (best matching rule) or "sum" over matching rules (default "max").
      min_lift: rules below it are dropped (default None: keep all).
      max_basket_items: cap on basket size for mining ("auto": 100 when max_len >= 3).
      keep_counts: keep the item and pair counts `update` adds new orders to (default None: not
        kept). Needs max_len=2 and no basket cap. 1 keeps every pair: update(A) then update(B) gives,
        array for array, the model a fit on A + B gives. n > 1 keeps pairs seen in at least n orders:
        exact while n is at most the count min_support asks for, otherwise a pair's count can be up
        to (n - 1) x (1 + number of updates) low (as CoOccurrence's).
    """

    model_type: ClassVar[str] = "association_rules"
    schema = Schema(
        arrays=(Array("item_counts", "<i8", ("items",)),
                Array("r1_indptr", "<i8", ("items+1",)), Array("r1_items", "<i4", ("rules1",)),
                Array("r1_scores", "<f8", ("rules1",)),
                Array("a2_items", "<i4", ("pairs", 2)), Array("r2_indptr", "<i8", ("pairs+1",)),
                Array("r2_items", "<i4", ("rules2",)), Array("r2_scores", "<f8", ("rules2",)),
                *(Array(f"r{t}_{stat}", "<f8", (f"rules{t}",)) for t in "12" for stat in _STATS), *KEPT_ARRAYS),
        checks=(Values("item_counts", low=0), Csr("r1", "r1_indptr", "r1_items"), Csr("r2", "r2_indptr", "r2_items"),
                *KEPT_CHECKS,
                *(Values(f"r{t}_{stat}", low=0) for t in "12" for stat in _STATS)))
    constraints = {"min_support": Custom(_check_support), "min_confidence": Custom(check_confidence),
                   "max_len": Custom(_check_max_len), "metric": Custom(_check_metric),
                   "aggregate": Custom(_check_aggregate), "min_lift": Custom(check_lift),
                   "max_basket_items": Custom(check_basket_cap), "keep_counts": Int(1, none=True)}
    min_support: float
    min_confidence: float
    max_len: int
    metric: str
    aggregate: str
    min_lift: float | None
    max_basket_items: int | None | str
    keep_counts: int | None

    def __init__(self, *, min_support: float = 0.001, min_confidence: float = 0.0, max_len: int = 2,
                 metric: str = "confidence", aggregate: str = "max", min_lift: float | None = None,
                 max_basket_items: int | None | str = "auto", keep_counts: int | None = None) -> None:
        self._set_params(locals())

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, orders: Orders) -> None:
        if self.keep_counts is None:
            self._from_itemsets(frequent_itemsets(orders, self.min_support, self.max_len,
                                                  max_basket_items=self.max_basket_items),
                                orders.items, orders.n_orders, np.bincount(orders.item_index, minlength=orders.n_items))
            self.kept_ = self.kept_orders_ = None
            return
        if self.max_len != 2:
            raise InputError(f"keep_counts needs max_len=2 (got {self.max_len}): an AssociationRules model keeps "
                             f"pair counts, not the triples longer rules need")
        if self.max_basket_items not in ("auto", None):
            raise InputError(f"keep_counts counts every basket: leave max_basket_items at 'auto' or None "
                             f"(got {self.max_basket_items!r})")
        # counted down to what min_support needs (the fit sees every frequent pair), kept at keep_counts
        floor = min(self.keep_counts, support_count(self.min_support, orders.n_orders))
        counts = count_pairs(orders, floor)
        self._rebuild(counts)
        self._keep(counts, counted_orders(orders))

    def _rebuild(self, counts: PairCounts) -> None:
        self._from_itemsets(itemsets_from_counts(counts, self.min_support), counts.items, counts.n_orders,
                            counts.item_counts)

    def _from_itemsets(self, fi: FrequentItemsets, items: IdMap, n_orders: int, item_counts: np.ndarray) -> None:
        blocks = [b for b in rule_arrays(fi, self.min_confidence, min_lift=self.min_lift)
                  if b["consequents"].shape[1] == 1]
        n = len(items)
        arrays: dict[str, np.ndarray] = {}
        for size in (1, 2):
            parts = [b for b in blocks if b["antecedents"].shape[1] == size]
            ante = np.concatenate([b["antecedents"] for b in parts]) if parts else np.empty((0, size), np.int32)
            cons = np.concatenate([b["consequents"][:, 0] for b in parts]) if parts else np.empty(0, np.int32)
            stats = {m: np.concatenate([b[m] for b in parts]) if parts else np.empty(0) for m in METRICS}
            arrays.update(_rule_table(ante, cons, stats, self.metric, n, size))
        self._set_arrays(items, n_orders, np.asarray(item_counts, dtype=np.int64), arrays)

    def _set_arrays(self, items: IdMap, n_orders: int, item_counts: np.ndarray,
                    arrays: Mapping[str, np.ndarray]) -> None:
        self.items_ = items
        self.n_orders_ = int(n_orders)
        self.item_counts_ = item_counts
        self.arrays_ = dict(arrays)
        n = len(items)
        self._pair_keys = arrays["a2_items"][:, 0].astype(np.int64) * n + arrays["a2_items"][:, 1]
        self._set_popular(item_counts.astype(np.float64))

    @property
    def n_rules(self) -> int:
        self._check_fitted()
        return int(len(self.arrays_["r1_items"]) + len(self.arrays_["r2_items"]))

    # -- matching rules --------------------------------------------------------------------
    def _matches(self, rows: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For basket lines (row, item), sorted by row then item: every matching rule as
        (basket row, rule position, table 1 or 2), singles first then pairs, in a fixed order."""
        a = self.arrays_
        ip1 = a["r1_indptr"]
        starts, ends = ip1[items], ip1[items + 1]
        lens = ends - starts
        r_rows = np.repeat(rows, lens)
        r_pos = expand_ranges(starts, lens)
        out_rows, out_pos, out_table = [r_rows], [r_pos], [np.ones(len(r_pos), np.int8)]
        if self.max_len >= 3 and len(self._pair_keys):
            n = len(self.items_)
            line_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows))])
            pair_rows, first, second = within_row_pairs(line_ptr, np.arange(len(items)))
            keys = items[first].astype(np.int64) * n + items[second]
            hit = np.searchsorted(self._pair_keys, keys)
            hit = np.minimum(hit, len(self._pair_keys) - 1)
            found = self._pair_keys[hit] == keys
            ante, pair_rows = hit[found], pair_rows[found]
            ip2 = a["r2_indptr"]
            s2, e2 = ip2[ante], ip2[ante + 1]
            l2 = e2 - s2
            out_rows.append(np.repeat(pair_rows, l2))
            out_pos.append(expand_ranges(s2, l2))
            out_table.append(np.full(int(l2.sum()), 2, np.int8))
        return np.concatenate(out_rows), np.concatenate(out_pos), np.concatenate(out_table)

    def _reduce(self, rows: np.ndarray, pos: np.ndarray, table: np.ndarray, best: bool = False,
                floor: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Aggregate matching rules per (row, consequent): rows, items, scores and, with `best`,
        the position and table of the best matching rule (for explanations).

        A stable sort on (row, item) keeps the expansion order inside each group,
        which is the same for one basket and for a batch: sums add in the same order.
        """
        a = self.arrays_
        is1 = table == 1
        cons = np.empty(len(pos), dtype=np.int64)
        score = np.empty(len(pos), dtype=np.float64)
        cons[is1], score[is1] = a["r1_items"][pos[is1]], a["r1_scores"][pos[is1]]
        cons[~is1], score[~is1] = a["r2_items"][pos[~is1]], a["r2_scores"][pos[~is1]]
        if floor is not None:  # "max" only: rules below the basket's floor cannot decide a top-k item
            keep = score >= floor[rows]
            rows, pos, table, cons, score = rows[keep], pos[keep], table[keep], cons[keep], score[keep]
        n = np.int64(len(self.items_))
        key = rows.astype(np.int64) * n + cons
        order = np.argsort(key, kind="stable")
        key_s, score_s = key[order], score[order]
        first = np.empty(len(key_s), dtype=bool)
        first[:1] = True
        np.not_equal(key_s[1:], key_s[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        if self.aggregate == "max":
            agg = np.maximum.reduceat(score_s, starts) if len(starts) else np.empty(0)
        else:
            agg = np.bincount(np.cumsum(first) - 1, weights=score_s)
        k = key_s[first]
        best_pos = best_table = None
        if best:  # highest-scoring rule per group; ties keep the expansion order (single rules first)
            by_best = np.lexsort((-score, key))
            keep = np.empty(len(key), dtype=bool)
            keep[:1] = True
            np.not_equal(key[by_best][1:], key[by_best][:-1], out=keep[1:])
            best_pos, best_table = pos[by_best][keep], table[by_best][keep]
        return (k // n).astype(np.int64), (k % n).astype(np.int32), agg, best_pos, best_table

    # -- scoring hooks -----------------------------------------------------------------------
    def _neighbours(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.arrays_
        s, e = a["r1_indptr"][item], a["r1_indptr"][item + 1]
        return a["r1_items"][s:e], a["r1_scores"][s:e]

    def _single_antecedents(self) -> bool:
        """True when every rule has one antecedent: a basket's score for an item is then the sum (or
        the best) of its items' rows of the item -> item table, what the compiled kernels compute."""
        return self.max_len < 3 or len(self._pair_keys) == 0

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = self.arrays_
        cached: tuple[np.ndarray, ...] | None = self.__dict__.get("_r1")
        if cached is None or cached[0] is not a["r1_items"]:
            cached = self._r1 = (a["r1_items"], kernels.read_only(a["r1_indptr"].astype(np.int64)),
                                 kernels.read_only(a["r1_items"].astype(np.int32)),
                                 kernels.read_only(a["r1_scores"].astype(np.float64)))
        return cached[1], cached[2], cached[3]

    def _rank(self, query: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self._single_antecedents():
            return super()._rank(query, excluded, k)
        acc, mark = self._scratch()
        items, scores = kernels.basket_topk(*self._table(), query, excluded, min(k, len(acc)), acc, mark, False,
                                            self.aggregate == "max")
        return items, scores

    def _topk_batch(self, basket: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._single_antecedents():
            return super()._topk_batch(basket, k)
        return kernels.baskets_topk(*self._table(), basket.indptr.astype(np.int64), basket.indices.astype(np.int32),
                                    min(k, len(self.items_)), len(self.items_), False, self.aggregate == "max")

    def _candidates(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, pos, table = self._matches(np.zeros(len(basket), dtype=np.int64), basket)
        _, items, scores, _, _ = self._reduce(rows, pos, table)
        return items, scores

    def _score_matrix(self, baskets: sp.csr_matrix, k: int) -> sp.csr_matrix:
        rows = np.repeat(np.arange(baskets.shape[0], dtype=np.int64), np.diff(baskets.indptr))
        m_rows, pos, table = self._matches(rows, baskets.indices.astype(np.int64))
        # with "max" a candidate scores at least any one of its rules: an exact floor prunes early
        # (not with "sum": metrics such as leverage can be negative)
        floor = (floor_from_sorted_rows(self.arrays_["r1_indptr"], self.arrays_["r1_scores"], baskets, k)
                 if self.aggregate == "max" else None)
        r, items, scores, _, _ = self._reduce(m_rows, pos, table, floor=floor)
        return mark_basket_items(r, items.astype(np.int64), scores, baskets)  # basket items never come back

    def _explain(self, query: np.ndarray, items: np.ndarray, fallback: bool) -> dict[str, Any]:
        n = self.n_orders_
        if fallback or len(query) == 0:
            c = self.item_counts_[items]
            nan = np.full(len(items), np.nan)
            return {"rule": [""] * len(items), "support": c / n, "confidence": nan, "lift": nan}
        rows, pos, table = self._matches(np.zeros(len(query), dtype=np.int64), query)
        _, cand, _, best_pos, best_table = self._reduce(rows, pos, table, best=True)
        assert best_pos is not None and best_table is not None
        where = np.searchsorted(cand, items)
        p, t = best_pos[where], best_table[where]
        a, ids = self.arrays_, self.items_.ids
        rules, stats = [], {s: np.empty(len(items)) for s in _STATS}
        for i, (pi, ti) in enumerate(zip(p.tolist(), t.tolist(), strict=True)):  # k rows, for display
            if ti == 1:
                ante = [ids[np.searchsorted(a["r1_indptr"], pi, side="right") - 1]]
            else:
                ante = list(ids[a["a2_items"][np.searchsorted(a["r2_indptr"], pi, side="right") - 1]])
            rules.append(" & ".join(map(str, ante)) + " -> " + str(ids[items[i]]))
            for s in _STATS:
                stats[s][i] = a[f"r{ti}_{s}"][pi]
        return {"rule": rules, **stats}

    def _explain_batch(self, baskets: sp.csr_matrix, rows: np.ndarray, items: np.ndarray,
                       fallback: np.ndarray) -> dict[str, Any]:
        n = self.n_orders_
        items = items.astype(np.int64)
        stats = {s: np.full(len(items), np.nan) for s in _STATS}
        stats["support"] = self.item_counts_[items] / n  # the fallback's value; rules overwrite it
        rule = np.full(len(items), "", dtype=object)
        live = np.flatnonzero(~fallback)
        if len(live):
            basket_rows = np.unique(rows[live])
            sizes = np.diff(baskets.indptr)[basket_rows]
            at = expand_ranges(baskets.indptr[basket_rows].astype(np.int64), sizes)
            m_rows, pos, table = self._matches(np.repeat(basket_rows, sizes).astype(np.int64),
                                               baskets.indices[at].astype(np.int64))
            g_rows, g_items, _, best_pos, best_table = self._reduce(m_rows, pos, table, best=True)
            assert best_pos is not None and best_table is not None
            width = np.int64(len(self.items_))
            where = np.searchsorted(g_rows * width + g_items, rows[live] * width + items[live])
            p, t = best_pos[where], best_table[where]
            a, ids = self.arrays_, self.items_.ids
            one = t == 1
            for s in _STATS:
                value = np.empty(len(live))
                value[one] = a[f"r1_{s}"][p[one]]
                value[~one] = a[f"r2_{s}"][p[~one]]
                stats[s][live] = value
            text = pd.Series(ids, dtype=object).astype(str).to_numpy(dtype=object) if len(ids) < 4 * len(live) \
                else None  # ids as text: all at once for a small catalog, else only the ones used
            def name(codes: np.ndarray) -> np.ndarray:
                if text is not None:
                    return np.asarray(text[codes], dtype=object)
                return pd.Series(ids[codes], dtype=object).astype(str).to_numpy(dtype=object)
            ante = np.empty(len(live), dtype=object)
            if one.any():
                ante[one] = name(np.searchsorted(a["r1_indptr"], p[one], side="right") - 1)
            if (~one).any():
                pair = a["a2_items"][np.searchsorted(a["r2_indptr"], p[~one], side="right") - 1]
                ante[~one] = name(pair[:, 0]) + " & " + name(pair[:, 1])
            rule[live] = ante + " -> " + name(items[live])
        return {"rule": rule, **stats}

    def rules(self) -> pd.DataFrame:
        """The rules the model ranks with: antecedents, consequent, support, confidence, lift, score."""
        self._check_fitted()
        a, ids = self.arrays_, self.items_.ids
        n1 = np.diff(a["r1_indptr"])
        n2 = np.diff(a["r2_indptr"])
        ante1 = [(x,) for x in ids[np.repeat(np.arange(len(n1)), n1)].tolist()]
        ante2 = [tuple(x) for x in ids[a["a2_items"][np.repeat(np.arange(len(n2)), n2)]].tolist()]
        frame = pd.DataFrame({
            "antecedents": ante1 + ante2,
            "consequent": ids[np.concatenate([a["r1_items"], a["r2_items"]])],
            **{s: np.concatenate([a[f"r1_{s}"], a[f"r2_{s}"]]) for s in _STATS},
            "score": np.concatenate([a["r1_scores"], a["r2_scores"]]),
        })
        return frame

    # -- model files -------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"n_orders": self.n_orders_}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_counts": self.item_counts_, **self.arrays_, **self._kept_arrays()}

    def _restore(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray], items: IdMap) -> None:
        n = len(items)
        n_orders = state.get("n_orders")
        if not isinstance(n_orders, int) or isinstance(n_orders, bool) or n_orders < 1:
            raise InputError("state n_orders must be a whole number >= 1")
        for t in ("1", "2"):
            # scores are the chosen metric: conviction is +inf for certain rules, leverage can be < 0
            check_values(f"r{t}_scores", arrays[f"r{t}_scores"], posinf=self.metric == "conviction")
            check_sorted_rows(f"r{t}_scores", arrays[f"r{t}_indptr"], arrays[f"r{t}_scores"])
        a2 = arrays["a2_items"]
        if len(a2) and (a2.min() < 0 or a2.max() >= n or (a2[:, 0] >= a2[:, 1]).any()):
            raise InputError("a2_items must hold increasing item pairs in range")
        keys = a2[:, 0].astype(np.int64) * n + a2[:, 1]
        if (np.diff(keys) <= 0).any():
            raise InputError("a2_items must be sorted and distinct")
        self._set_arrays(items, n_orders, arrays["item_counts"],
                         {k: v for k, v in arrays.items() if k != "item_counts" and not k.startswith("kept_")})
        self._restore_kept_counts(arrays, items, n_orders)


def _rule_table(ante: np.ndarray, cons: np.ndarray, stats: Mapping[str, np.ndarray], metric: str,
                n_items: int, size: int) -> dict[str, np.ndarray]:
    """CSR of antecedent -> consequents, rows sorted best first (ties: lower index)."""
    prefix = f"r{size}"
    score = stats[metric].astype(np.float64)
    if size == 1:
        row = ante[:, 0].astype(np.int64)
        n_rows = n_items
        extra: dict[str, np.ndarray] = {}
    else:
        keys = ante[:, 0].astype(np.int64) * n_items + ante[:, 1]
        uniq, row = np.unique(keys, return_inverse=True)
        n_rows = len(uniq)
        extra = {"a2_items": np.column_stack([uniq // n_items, uniq % n_items]).astype(np.int32)}
    order = np.lexsort((cons, row))
    row, cons_s, score_s = row[order], cons[order], score[order]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
    # +inf (conviction of certain rules) sorts first; only -inf is dropped
    new_ptr, items, _, src = topk_rows(indptr, cons_s.astype(np.int32), score_s, None, sorted_columns=True)
    out = {f"{prefix}_indptr": new_ptr, f"{prefix}_items": items.astype(np.int32),
           f"{prefix}_scores": score_s[src]}
    for s in _STATS:
        out[f"{prefix}_{s}"] = stats[s][order][src].astype(np.float64)
    if size == 2:
        out.update(extra)
    return out
