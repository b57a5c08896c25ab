"""Cross-sell, up-sell and basket uplift over any fitted model: the `Engine` facade.

The model proposes candidates; the engine prices them, estimates how likely each is to be added,
applies the business rules and writes a reason. The parts, each on its own:

- `candidates`: where candidates come from (`CandidateSource`: any model through its public API, or
  a CoOccurrence scored in one complex sparse product in batch);
- `evidence`: the co-purchase counts and probabilities (p_ij = (n_ij + m b_j) / (n_i + m), combined over
  the basket as 1 - prod_i (1 - p_ij), at least b_j: what the order history says about buying them
  together, not the effect of showing the suggestion: an A/B test measures that);
- `filters`: the business rules, one implementation over (row, item) arrays for `score_batch` and
  `up_sell_batch`; `single`: the same rules, evidence and ranking for one request in compiled kernels
  (the answer as arrays; the pandas frame is built only when asked for: `Suggestions.to_frame()`);
- `upsell`: up-sell; `snapshot`: what a catalog decides; `suggestions`: the answer and request parsing.

Expected incremental revenue = p x price; margin = p x (price - cost); the basket's expected uplift if
the top k are shown is their sum. An item without a price (not in the catalog's prices nor the order
lines) adds 0 to revenue and a basket's value, and is never an up-sell (nor gets one). An unknown margin
(no price or no cost) is NaN, alone and in batch; so is a basket's expected uplift margin when one of the
items it adds up is unknown (a sum that leaves one out would look exact and be too low); an answer with no
suggestion has an uplift of 0.0.

Everything a catalog decides lives in one immutable snapshot; `set_catalog` builds the new one aside
and swaps a single reference, and every request reads that reference once, so a request served during
a swap answers wholly from the old catalog or wholly from the new one.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.checks import check_int
from xsell.data.orders import Orders
from xsell.engine import filters, single
from xsell.engine.candidates import CandidateSource, CoOccurrenceCandidates, ModelCandidates
from xsell.engine.catalog import Catalog
from xsell.engine.evidence import Evidence, evidence_source, substitutes
from xsell.engine.filters import Held, Rules, compile_rules
from xsell.engine.reasons import batch_reasons, request_reasons
from xsell.engine.rules import OBJECTIVES, BusinessRules, _number
from xsell.engine.snapshot import Snapshot, build_snapshot, order_prices
from xsell.engine.suggestions import Columns, Suggestions, check_customer, check_threshold, parse_basket
from xsell.engine.upsell import UpSell
from xsell.errors import InputError, NotFittedError
from xsell.models.base import Recommender
from xsell.models.cooccurrence import CoOccurrence


class Engine:
    """Cross-sell, up-sell and basket scoring over a fitted model (see the module docstring).

    model: any fitted xsell model. catalog: `xsell.load_catalog(...)` (optional; swap it any
    time with `set_catalog`). rules: `BusinessRules` (defaults: in stock only, objective
    revenue). orders: the training orders; needed for probabilities and reasons when the model
    is not a CoOccurrence, and for data-driven substitutes (same customers, rarely the same
    order). threshold: a free-shipping or minimum order value. band: up-sell at most this
    times the item's price. pool: candidates asked of the model per request, re-ranked by the
    objective after the rules (default 4 k: a larger pool favours the objective over the model's
    order and costs time in batch).
    """

    def __init__(self, model: Recommender, catalog: Catalog | None = None, rules: BusinessRules | None = None, *,
                 orders: Orders | None = None, threshold: float | None = None, band: float = 1.5,
                 smoothing: float = 10.0, pool: int | None = None) -> None:
        if not isinstance(model, Recommender):
            raise InputError(f"Engine needs a fitted xsell model, not {type(model).__name__}")
        if not hasattr(model, "items_"):
            raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit(orders) first")
        if rules is not None and not isinstance(rules, BusinessRules):
            raise InputError(f"rules must be xsell.BusinessRules, not {type(rules).__name__}")
        if not (_number(band) and np.isfinite(band) and band > 1):
            raise InputError(f"band must be a finite number > 1, got {band!r}")
        if not (_number(smoothing) and np.isfinite(smoothing) and smoothing >= 0):
            raise InputError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
        if pool is not None:
            check_int("pool", pool, 1)
        if orders is not None and not isinstance(orders, Orders):
            raise InputError(f"orders must be xsell.Orders (from xsell.load_orders), not {type(orders).__name__}")
        self.model = model
        self.rules = rules or BusinessRules()
        self.threshold = check_threshold(threshold)
        self.smoothing = float(smoothing)
        self.pool = None if pool is None else int(pool)
        self.n = model.n_items
        self._ids = model.items_.ids
        source = evidence_source(model, orders)
        if source is None:
            raise InputError(f"an Engine over {type(model).__name__} needs the training orders for its "
                             f"probabilities and reasons: Engine(model, orders=orders) (xsell score: --orders FILE)")
        self._evidence = Evidence(source, None if source is model else model.items_, self.smoothing)
        # a CoOccurrence model scored with its own counts: many baskets in one product
        self._fast = source is model and isinstance(source, CoOccurrence)
        self._source: CandidateSource = (CoOccurrenceCandidates(source, self._evidence) if self._fast
                                         else ModelCandidates(model))
        self._subs = substitutes(orders, model.items_) if orders is not None else None
        self._subs_args = single.substitute_args(self._subs)
        self._order_prices = order_prices(model, orders)
        self._upsell = UpSell(model.items_, self._evidence.base, float(band), self._subs, self._subs_args)
        self.set_catalog(catalog)
        self._compiled: tuple[BusinessRules, Rules] = (self.rules, compile_rules(self.rules, model.items_))
        self._warm_up()

    def _warm_up(self) -> None:
        """A small request of each kind with this engine's own arrays, so that the request kernels are ready
        (read from numba's on-disk cache, about 20 ms a process; compiled on a fresh install, 10-15 s once)
        when the engine is made, not on its first request."""
        self.cross_sell([], k=1)
        if self.n:
            self.cross_sell([self._ids[0]], k=1)
        st = self._state
        ready = np.flatnonzero(st.priced & (st.group >= 0))
        if len(ready):
            self.up_sell(self._ids[ready[0]], k=1)

    @property
    def band(self) -> float:
        """Up-sell at most this times the item's price."""
        return self._upsell.band

    @band.setter
    def band(self, value: float) -> None:
        self._upsell.band = float(value)

    # -- the catalog -----------------------------------------------------------------------
    def set_catalog(self, catalog: Catalog | None) -> None:
        """Use another catalog (prices and stock change daily); no refit needed. Safe while other
        threads serve: each request answers wholly from the old catalog or wholly from the new."""
        if catalog is not None and not isinstance(catalog, Catalog):
            raise InputError(f"catalog must come from xsell.load_catalog, not {type(catalog).__name__}")
        self._state: Snapshot = build_snapshot(catalog, self.model.items_, self._order_prices)  # one reference: atomic

    @property
    def catalog(self) -> Catalog | None:
        """The catalog in use (None: prices from the order lines, no categories or stock)."""
        return self._state.catalog

    @property
    def price(self) -> np.ndarray:
        """Unit price per model item (internal order), NaN where none is known; read-only."""
        return self._state.price

    @property
    def cost(self) -> np.ndarray:
        """Unit cost per model item (internal order), NaN where none is known; read-only."""
        return self._state.cost

    # -- helpers -------------------------------------------------------------------------
    def _rules(self, rules: BusinessRules | None) -> Rules:
        """The rules of a request (None: the engine's), their item names resolved (kept for the next request)."""
        if rules is None:
            rules = self.rules
        cached = self._compiled  # read once: another thread may replace it
        if cached[0] is rules:
            return cached[1]
        if not isinstance(rules, BusinessRules):
            raise InputError(f"rules must be xsell.BusinessRules, not {type(rules).__name__}")
        compiled = compile_rules(rules, self.model.items_)
        self._compiled = (rules, compiled)
        return compiled

    def _pool(self, k: int) -> int:
        return max(self.pool or 4 * k, k)

    # -- requests --------------------------------------------------------------------------
    def cross_sell(self, basket: Any, k: int = 5, customer: Any = None, rules: BusinessRules | None = None,
                   threshold: float | None = None) -> Suggestions:
        """Complements to add to a basket (bought together); substitutes of basket items left out.

        basket: item ids (each counted once) or a mapping item id -> quantity. Each candidate has its
        probability, expected revenue and margin and a reason; the answer has the basket's value and
        expected uplift if the top k are shown. Below the threshold (free shipping, minimum order)
        items whose price closes the gap come first."""
        st = self._state  # read once: the whole answer comes from one catalog
        k = check_int("k", k, 1)
        compiled = self._rules(rules)
        threshold = self.threshold if threshold is None else check_threshold(threshold)
        idx, _qty, value = parse_basket(st, basket, self.model.items_)
        check_customer(customer)
        held = np.sort(idx)
        cand = self._source.one(held, self._pool(k), customer)
        gap = max(threshold - value, 0.0) if threshold is not None else 0.0
        n, ints, floats, bools = single.cross_sell(st, compiled, held, cand, self._subs_args, self._evidence, gap, k)
        ids = self._ids[ints[:2 * n]]  # the items, then the basket item behind each (-1: not read)
        block = floats[:8 * n].reshape(8, n)
        revenue, margin = np.add.reduce(block[1:3], axis=1).tolist()  # each row as ndarray.sum adds it
        reasons = self._reasons(block.tolist(), bools[:2 * n].reshape(2, n).tolist(), ids[n:].tolist(), gap,
                                threshold)

        def columns() -> dict[str, Any]:
            return {"item_id": ids[:n], "probability": block[0], "price": block[4], "expected_revenue": block[1],
                    "expected_margin": block[2], "closes_gap": bools[:n], "pinned": bools[n:2 * n], "reason": reasons}

        return Suggestions.of(Columns(ids[:n], columns), basket_value=value, gap=gap, expected_uplift_revenue=revenue,
                              expected_uplift_margin=margin if n else 0.0)

    def score_basket(self, basket: Any, customer: Any = None, k: int = 5, rules: BusinessRules | None = None,
                     threshold: float | None = None) -> Suggestions:
        """Deprecated: `cross_sell` (same arguments and answer); removed in xsell 0.3."""
        warnings.warn("Engine.score_basket is now Engine.cross_sell (same arguments and answer); score_basket "
                      "will be removed in xsell 0.3", FutureWarning, stacklevel=2)
        return self.cross_sell(basket, k=k, customer=customer, rules=rules, threshold=threshold)

    def up_sell(self, item: Any, k: int = 5, rules: BusinessRules | None = None) -> Suggestions:
        """Better alternatives to `item`: substitutes (same category with a catalog, else the same
        product family, else bought by the same customers but rarely in the same order) priced
        above it, at most `band` times its price, ranked by how often they sell (share of orders)
        times the extra value (objective revenue or margin; probability: share of orders alone).
        Items without a known price are never up-sells; an item without one gets an InputError."""
        st = self._state  # read once: the whole answer comes from one catalog
        k = check_int("k", k, 1)
        return self._upsell.one(st, item, k, self._rules(rules))

    def up_sell_batch(self, items: Any, k: int = 5, rules: BusinessRules | None = None,
                      reasons: bool = True) -> pd.DataFrame:
        """Up-sells for many items at once (a column or list of item ids), vectorised: item_id, rank,
        upsell_id, probability, price, extra_price, expected_revenue, expected_margin, closes_gap, pinned and
        reason, as `up_sell` gives them per item (reasons=False leaves the reason out). Unknown
        items, items without a price and items with nothing to compare them with (no category, family
        or data-driven substitutes) get no rows, where `up_sell` raises InputError. An engine that can up-sell
        nothing at all (no categories, families or substitutes; no prices) raises InputError as `up_sell` does."""
        st = self._state  # read once: the whole answer comes from one catalog
        k = check_int("k", k, 1)
        if not isinstance(reasons, (bool, np.bool_)):
            raise InputError(f"reasons must be True or False, got {reasons!r}")
        return self._upsell.many(st, items, k, self._rules(rules), bool(reasons))

    # -- batch -----------------------------------------------------------------------------
    def score_batch(self, baskets: Any, k: int = 5, rules: BusinessRules | None = None,
                    threshold: float | None = None, mode: str = "cross-sell", reasons: bool = True) -> pd.DataFrame:
        """Cross-sell many baskets at once, vectorised; the same ranking, numbers and reasons as `cross_sell`
        per basket.

        baskets: basket_id, item_id[, customer_id] lines (or a mapping basket_id -> items).
        mode "cross-sell": basket_id, rank, item_id, then `cross_sell`'s columns: probability, price,
        expected_revenue, expected_margin, closes_gap, pinned, reason (reasons=False leaves the reason out:
        10-20% faster, files about 40% smaller). mode "uplift": one row per basket: basket_id, basket_value,
        gap, suggestions, expected_uplift_revenue, expected_uplift_margin (NaN when a suggestion's margin is
        unknown, 0.0 for a basket without suggestions, as `cross_sell`).
        """
        st = self._state  # read once: the whole answer comes from one catalog
        k = check_int("k", k, 1)
        if not isinstance(mode, str) or mode not in ("cross-sell", "uplift"):
            raise InputError(f"mode must be cross-sell or uplift for baskets, got {mode!r}")
        if not isinstance(reasons, (bool, np.bool_)):
            raise InputError(f"reasons must be True or False, got {reasons!r}")
        compiled = self._rules(rules)
        threshold = self.threshold if threshold is None else check_threshold(threshold)
        parsed = self.model.parse_baskets(baskets)  # refuses 1 and '1' as basket ids
        basket_ids = parsed.ids
        n_b = len(basket_ids)
        basket = parsed.matrix()
        value = basket @ st.price0
        gap = np.maximum(threshold - value, 0.0) if threshold is not None else np.zeros(n_b)
        pool = self._source.many(parsed, basket, self._pool(k))
        short = filters.shortlist(st, compiled, Held.matrix(basket), pool.rows, pool.items, pool.rank, self._subs)
        if pool.logsum is None or len(compiled.pin_src):  # pinned pairs were not in the product: look all up
            p = self._evidence.probability_pairs(basket, short.rows, short.items)
        else:
            p = self._evidence.from_logs(pool.logsum[short.kept], short.items)
        order, rank, revenue, margin, closes = filters.rank_and_cut(st, compiled, short, p, gap, n_b, k)
        r, c, p, revenue, margin, closes = (a[order] for a in (short.rows, short.items, p, revenue, margin, closes))
        if mode == "uplift":
            count = np.bincount(r, minlength=n_b)
            return pd.DataFrame({
                "basket_id": basket_ids, "basket_value": value, "gap": gap, "suggestions": count,
                "expected_uplift_revenue": np.bincount(r, weights=revenue, minlength=n_b),
                "expected_uplift_margin": np.bincount(r, weights=margin, minlength=n_b),  # NaN stays NaN
            })
        pinned = short.pin_order[order] < compiled.n_pins
        columns: dict[str, Any] = {
            "basket_id": pd.Categorical.from_codes(r, categories=pd.Index(basket_ids)),
            "rank": rank.astype(np.int32),
            "item_id": pd.Categorical.from_codes(c, categories=self.model.item_index()),
            "probability": p, "price": st.price[c], "expected_revenue": revenue, "expected_margin": margin,
            "closes_gap": closes, "pinned": pinned,
        }
        if reasons:
            because, together = self._behind(basket, r, c)
            ev = self._evidence
            texts = batch_reasons(self._ids, type(self.model).__name__, pinned, because, together,
                                  np.where(because >= 0, ev.counts[because], 0.0), ev.base[c], revenue, closes,
                                  gap[r], threshold)
            columns["reason"] = texts.to_pandas().array
        return pd.DataFrame(columns)

    def prepare_batch(self) -> None:
        """Build what batch scoring shares once (done before worker processes are forked)."""
        self._evidence.prepare()
        self._source.prepare()

    # -- output ----------------------------------------------------------------------------
    def _reasons(self, floats: list[list[float]], bools: list[list[bool]], names: list[Any], gap: float,
                 threshold: float | None) -> list[str]:
        """Why each suggestion of one request (`reasons.request_reasons`)."""
        return request_reasons(floats, bools, names, gap, threshold, type(self.model).__name__)

    def _behind(self, basket: sp.csr_matrix, rows: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For suggestions (basket row, internal item): the basket item behind each, as a single request picks it
        (the highest p_ij, ties to the lowest index; -1: none), and their orders together. The (suggestion,
        basket item) pairs are looked up in the evidence in blocks of about a million (bounded memory)."""
        conf, pair = self._evidence.conf, self._evidence.pair
        indptr, indices = basket.indptr.astype(np.int64), basket.indices.astype(np.int64)
        lengths = np.diff(indptr)[rows]
        because = np.full(len(rows), -1, dtype=np.int64)
        ends = np.cumsum(lengths)
        start = 0
        while start < len(rows):
            done = int(ends[start - 1]) if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, done + _BLOCK_PAIRS, side="right")))
            size = lengths[start:stop]
            some = np.flatnonzero(size > 0)
            if len(some):
                n_pairs = int(size.sum())
                offsets = np.cumsum(size) - size  # each suggestion's first pair
                pos = np.repeat(indptr[rows[start:stop]] - offsets, size) + np.arange(n_pairs)
                held = indices[pos]
                p = np.asarray(conf[held, np.repeat(items[start:stop], size)]).ravel()  # 0: not a pair
                best = np.maximum.reduceat(p, offsets[some])
                top = (p == np.repeat(best, size[some])) & (p > 0)
                first = np.minimum.reduceat(np.where(top, held, _NONE), offsets[some])
                because[start + some] = np.where(first == _NONE, -1, first)
            start = stop
        together = np.zeros(len(rows))
        found = np.flatnonzero(because >= 0)
        if len(found):
            together[found] = np.asarray(pair[because[found], items[found]]).ravel()
        return because, together


_BLOCK_PAIRS = 1 << 20  # (suggestion, basket item) pairs looked up at once: about 40 MB
_NONE = np.iinfo(np.int64).max


__all__ = ["Engine", "Suggestions", "OBJECTIVES"]
