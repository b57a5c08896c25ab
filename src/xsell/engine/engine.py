"""Cross-sell, up-sell and basket uplift over any fitted model.

The model proposes candidates; the engine prices them, estimates how likely
each is to be added, applies the business rules and writes a reason.

Probability of an item j being added to a basket B (calibrated on the training
orders): for each basket item i, p_ij = (n_ij + m b_j) / (n_i + m) is the share
of training orders holding i that also held j, shrunk towards j's base rate
b_j = n_j / N with m = `smoothing` pseudo-orders (so a pair seen twice does not
claim 100%); the basket combines them as 1 - prod_i (1 - p_ij) (each basket
item an independent chance), at least b_j. It is what the order history says
about buying them together, not the effect of showing the suggestion: an A/B
test measures that (and scales these figures).
Expected incremental revenue = p x price; margin = p x (price - cost); the
basket's expected uplift if the top k are shown is their sum. An item without a
price (not in the catalog's prices nor the order lines) adds 0 to revenue and a
basket's value, and is never an up-sell (nor gets one).

Everything a catalog decides (prices, costs, stock, categories, families and the
up-sell search arrays) lives in one immutable snapshot; `set_catalog` builds the
new one aside and swaps a single reference, and every request reads that
reference once, so a request served during a swap answers wholly from the old
catalog or wholly from the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.orders import Orders
from xsell.engine.catalog import AlignedCatalog, Catalog
from xsell.engine.rules import OBJECTIVES, BusinessRules, _number
from xsell.checks import check_int
from xsell.errors import InputError, NotFittedError
from xsell.models._topk import topk_rows
from xsell.models.base import _check_k


@dataclass
class Suggestions:
    """Ranked suggestions, best first: `.items`, `.to_frame()` (item_id, probability, price,
    expected_revenue, expected_margin, closes_gap, pinned, reason), and for baskets the
    basket's value, the gap to the threshold and the expected uplift of the top k."""

    frame: pd.DataFrame
    basket_value: float = float("nan")
    gap: float = 0.0
    expected_uplift_revenue: float = 0.0
    expected_uplift_margin: float = float("nan")

    @property
    def items(self) -> list[Any]:
        return self.frame["item_id"].tolist()

    def __len__(self) -> int:
        return len(self.frame)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def __repr__(self) -> str:
        shown = ", ".join(f"{i!r}" for i in self.items[:5])
        return f"Suggestions([{shown}{', ...' if len(self) > 5 else ''}], uplift={self.expected_uplift_revenue:.2f})"


def _money(v: float) -> str:
    return f"{v:,.2f}"


@dataclass(frozen=True)
class _Snapshot:
    """What one catalog decides, as read-only arrays over the model's items; replaced whole, never edited."""

    catalog: Catalog | None
    cat: AlignedCatalog
    price: np.ndarray  # unit price, NaN: none known
    cost: np.ndarray  # unit cost, NaN: none known
    price0: np.ndarray  # price with 0 for none (basket values, revenue)
    priced: np.ndarray  # a finite price: may be an up-sell and get one
    group: np.ndarray  # up-sell group: category, else product family (offset past the categories), else -1
    up_items: np.ndarray  # priced items with a group, by (group, price)
    up_key: np.ndarray  # their group << 32 | price rank, ascending (exact: no cents cast to int)
    cents: np.ndarray  # distinct prices in cents (rounded float64), ascending
    cent_rank: np.ndarray  # each item's position in `cents` (0 when unpriced: never used)


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

    def __init__(self, model: Any, catalog: Catalog | None = None, rules: BusinessRules | None = None, *,
                 orders: Orders | None = None, threshold: float | None = None, band: float = 1.5,
                 smoothing: float = 10.0, pool: int | None = None) -> None:
        from xsell.models.base import Recommender
        from xsell.models.cooccurrence import CoOccurrence

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
        self.threshold = _check_threshold(threshold)
        self.band = float(band)
        self.smoothing = float(smoothing)
        self.pool = None if pool is None else int(pool)
        self.n = model.n_items
        self._ids = model.items_.ids
        self._str_index = {str(v): i for i, v in enumerate(self._ids.tolist())}  # rules' item names
        if orders is not None:
            evidence = CoOccurrence(min_count=1, neighbors=200).fit(orders)
        elif isinstance(model, CoOccurrence):
            evidence = model
        else:
            raise InputError(f"an Engine over {type(model).__name__} needs the training orders for its "
                             f"probabilities and reasons: Engine(model, orders=orders)")
        self._set_evidence(evidence)
        self._fast = evidence is model  # a CoOccurrence model scored with its own counts: one product
        self._joint: sp.csr_matrix | None = None
        self._subs = _substitutes(orders, self._ids) if orders is not None else None
        self._order_prices = self._prices_from(model, orders)
        self.set_catalog(catalog)
        self._check_rules(self.rules)

    def _check_rules(self, rules: BusinessRules) -> None:
        """Pinned, blocked and allowed items must be items the model knows: a typo would silently do nothing."""
        named = [("pin", v) for pair in rules.pin for v in pair] + [("block", v) for pair in rules.block for v in pair]
        named += [("allow", v) for v in sorted(rules.allow or ())]
        unknown = [f"{kind} {v!r}" for kind, v in named if v not in self._str_index]
        if unknown:
            raise InputError(f"business rules name items the model does not know: {', '.join(unknown[:5])}"
                             + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))

    # -- set-up --------------------------------------------------------------------------
    def _set_evidence(self, ev: Any) -> None:
        n = self.n
        remap = self.model.items_.to_internal(ev.items_.ids) if ev is not self.model else np.arange(n)
        counts = np.zeros(n, dtype=np.float64)
        ok = remap >= 0
        counts[remap[ok]] = ev.item_counts_[ok]
        self._n_orders = float(ev.n_orders_)
        self._counts = counts
        self._base = counts / max(self._n_orders, 1.0)
        rows = np.repeat(np.arange(len(ev.items_), dtype=np.int64), np.diff(ev.neighbor_indptr_))
        r, c = remap[rows], remap[ev.neighbor_indices_]
        keep = (r >= 0) & (c >= 0)
        r, c = r[keep], c[keep]
        n_ij = ev.neighbor_counts_[keep].astype(np.float64)
        self._pair = sp.csr_matrix((n_ij, (r, c)), shape=(n, n))
        m = self.smoothing
        p = (n_ij + m * self._base[c]) / (counts[r] + m)
        p = np.clip(p, 0.0, 1.0 - 1e-12)
        self._conf = sp.csr_matrix((p, (r, c)), shape=(n, n))
        self._logq = sp.csr_matrix((np.log1p(-p), (r, c)), shape=(n, n))

    @staticmethod
    def _prices_from(model: Any, orders: Orders | None) -> np.ndarray:
        n = model.n_items
        kept = getattr(model, "item_prices_", None)  # the median prices every model file carries
        prices = np.array(kept, dtype=np.float64) if kept is not None and len(kept) == n else np.full(n, np.nan)
        if orders is not None and orders.price is not None:
            op = orders.item_prices()
            idx = model.items_.to_internal(orders.items.ids)
            ok = idx >= 0
            fill = np.full(n, np.nan)
            fill[idx[ok]] = op[ok]
            prices = np.where(np.isnan(prices), fill, prices)
        return prices

    def set_catalog(self, catalog: Catalog | None) -> None:
        """Use another catalog (prices and stock change daily); no refit needed. Safe while other
        threads serve: each request answers wholly from the old catalog or wholly from the new."""
        if catalog is not None and not isinstance(catalog, Catalog):
            raise InputError(f"catalog must come from xsell.load_catalog, not {type(catalog).__name__}")
        self._state = self._snapshot(catalog)  # one reference replaced: the swap is atomic

    def _snapshot(self, catalog: Catalog | None) -> _Snapshot:
        """Everything the catalog decides, built aside from the snapshot in use."""
        n = self.n
        if catalog is None:
            cat = AlignedCatalog(known=np.zeros(n, bool), price=np.full(n, np.nan), cost=np.full(n, np.nan),
                                 category=np.full(n, -1, dtype=np.int64), category_names=np.empty(0, dtype=object),
                                 parent=np.full(n, -1, dtype=np.int64), in_stock=np.ones(n, bool))
        else:
            cat = catalog.align(self._ids)
            if not cat.known.any():
                raise InputError(f"the catalog has none of the model's {n:,} items (catalog ids like "
                                 f"{catalog.frame.index[0]!r}, model ids like {str(self._ids[0])!r}); check the "
                                 f"item_id column")
        price = np.where(np.isnan(cat.price), self._order_prices, cat.price)
        priced = np.isfinite(price) & (price >= 0)
        price = np.where(priced, price, np.nan)
        category, parent = cat.category.astype(np.int64), cat.parent.astype(np.int64)
        group = np.where(category >= 0, category,
                         np.where(parent >= 0, parent + category.max(initial=-1) + 1, -1)).astype(np.int64)
        with np.errstate(over="ignore"):  # a price near 1e308 has no cents: it only compares as inf
            cents_all = np.round(np.where(priced, price, 0.0) * 100)
        cents = np.unique(cents_all[priced])
        cent_rank = np.searchsorted(cents, cents_all).astype(np.int64)
        items = np.flatnonzero((group >= 0) & priced)
        up_items = items[np.lexsort((cent_rank[items], group[items]))]
        state = _Snapshot(catalog=catalog, cat=cat, price=price, cost=np.asarray(cat.cost, dtype=np.float64),
                          price0=np.where(priced, price, 0.0), priced=priced, group=group, up_items=up_items,
                          up_key=(group[up_items] << 32) | cent_rank[up_items], cents=cents, cent_rank=cent_rank)
        for value in (*vars(state).values(), *vars(cat).values()):
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        return state

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
    def _rules(self, rules: BusinessRules | None) -> BusinessRules:
        if rules is None:
            return self.rules
        if not isinstance(rules, BusinessRules):
            raise InputError(f"rules must be xsell.BusinessRules, not {type(rules).__name__}")
        self._check_rules(rules)
        return rules

    def _pool(self, k: int) -> int:
        return max(self.pool or 4 * k, k)

    def _index(self, ids: Iterable[Any]) -> np.ndarray:
        return np.array([self._str_index[str(v)] for v in ids if str(v) in self._str_index], dtype=np.int64)

    def _basket(self, st: _Snapshot, basket: Any) -> tuple[np.ndarray, np.ndarray, float]:
        """(known item indices, quantities, basket value) from ids (each counted once) or a mapping
        id -> quantity (each a finite number > 0); unknown ids are left out, unpriced items add 0."""
        if basket is None:
            raise InputError("basket must be a list of item ids or a mapping item id -> quantity, not None "
                             "(an empty basket is [])")
        if isinstance(basket, pd.DataFrame):  # iterating it would read its column names as item ids
            raise InputError("basket must be a list of item ids or a mapping item id -> quantity, not a DataFrame "
                             "(for many baskets use score_batch)")
        index_of = self.model.items_.index_of  # the model's one rule for matching an id
        known: dict[int, float] = {}
        if isinstance(basket, Mapping):
            for item, qty in basket.items():
                if not (_number(qty) and np.isfinite(qty) and qty > 0):
                    raise InputError(f"basket quantity of {_plain(item)!r} must be a number > 0, "
                                     f"got {_plain(qty)!r}")
                i = index_of(_item_id(item, "basket"))
                known[i] = known.get(i, 0.0) + float(qty)  # 42 and '42' are one item
        else:
            if isinstance(basket, (str, bytes)) or not hasattr(basket, "__iter__"):
                basket = [basket]
            # each item once, as score_batch counts a basket's lines (quantities: a mapping)
            known = dict.fromkeys((index_of(_item_id(item, "basket")) for item in basket), 1.0)
        known.pop(-1, None)  # ids the model does not know
        idx = np.fromiter(known.keys(), dtype=np.int64, count=len(known))
        qty = np.fromiter(known.values(), dtype=np.float64, count=len(known))
        with np.errstate(over="ignore"):
            value = float(st.price0[idx] @ qty) if len(idx) else 0.0
        if not np.isfinite(value):
            raise InputError(f"basket value overflows ({value}): check the basket quantities")
        return idx, qty, value

    def _allowed(self, st: _Snapshot, cand: np.ndarray, rules: BusinessRules, context: np.ndarray) -> np.ndarray:
        """Mask over `cand` of what the rules let through (pins are handled apart)."""
        ok = np.ones(len(cand), dtype=bool)
        if rules.exclude_items:
            ok &= ~np.isin(cand, self._index(rules.exclude_items))
        if rules.allow is not None:
            ok &= np.isin(cand, self._index(rules.allow))
        if rules.exclude_categories:
            names = st.cat.category_names
            bad = np.flatnonzero(np.isin(names.astype(str), list(rules.exclude_categories)))
            ok &= ~np.isin(st.cat.category[cand], bad)
        if rules.in_stock_only:
            ok &= st.cat.in_stock[cand]
        price = st.price[cand]
        if rules.min_price is not None:
            ok &= price >= rules.min_price
        if rules.max_price is not None:
            ok &= price <= rules.max_price
        for a, b in rules.block:
            if a in self._str_index and b in self._str_index and np.isin(self._str_index[a], context):
                ok &= cand != self._str_index[b]
        return ok

    def _pins(self, rules: BusinessRules, context: np.ndarray) -> list[tuple[int, int]]:
        """(source, pinned) internal pairs active for this context, in the order given."""
        out = []
        blocked = {(a, b) for a, b in rules.block}
        for a, b in rules.pin:
            if (a, b) in blocked or a not in self._str_index or b not in self._str_index:
                continue
            src, dst = self._str_index[a], self._str_index[b]
            if np.isin(src, context) and not np.isin(dst, context):
                out.append((src, dst))
        return out

    def _probability(self, basket: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probability of each candidate being added, the basket item that contributes most or -1,
        orders holding both), straight from the CSR arrays: a loop over the request's few basket items."""
        total = np.zeros(len(cand))
        best_p = np.zeros(len(cand))
        because = np.full(len(cand), -1, dtype=np.int64)
        together = np.zeros(len(cand))
        if len(cand):
            order = np.argsort(cand, kind="stable")
            sorted_cand = cand[order]
            lq, cf, pr = self._logq, self._conf, self._pair
            for i in np.sort(basket).tolist():
                lo, hi = lq.indptr[i], lq.indptr[i + 1]
                cols = lq.indices[lo:hi]
                pos = np.minimum(np.searchsorted(sorted_cand, cols), len(cand) - 1)
                hit = sorted_cand[pos] == cols
                at = order[pos[hit]]
                total[at] += lq.data[lo:hi][hit]
                conf = cf.data[lo:hi][hit]
                better = conf > best_p[at]
                best_p[at[better]] = conf[better]
                because[at[better]] = i
                together[at[better]] = pr.data[lo:hi][hit][better]
        p = np.maximum(1.0 - np.exp(total), self._base[cand])
        return p, because, together

    def _substitute_mask(self, st: _Snapshot, basket: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Candidates that substitute a basket item (one request; see `_substitute_pairs`)."""
        row = sp.csr_matrix((np.ones(len(basket)), np.sort(basket), [0, len(basket)]), shape=(1, self.n))
        return self._substitute_pairs(st, row, np.zeros(len(cand), dtype=np.int64), cand)

    def _order(self, st: _Snapshot, p: np.ndarray, cand: np.ndarray,
               objective: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        revenue = p * st.price0[cand]
        margin = p * (st.price[cand] - st.cost[cand])
        key = {"probability": p, "revenue": revenue, "margin": np.nan_to_num(margin, nan=-np.inf)}[objective]
        return revenue, margin, key

    # -- requests --------------------------------------------------------------------------
    def cross_sell(self, basket: Any, k: int = 5, customer: Any = None, rules: BusinessRules | None = None,
                   threshold: float | None = None) -> Suggestions:
        """Complements to add to a basket (bought together); substitutes of basket items left out."""
        return self.score_basket(basket, customer=customer, k=k, rules=rules, threshold=threshold)

    def score_basket(self, basket: Any, customer: Any = None, k: int = 5, rules: BusinessRules | None = None,
                     threshold: float | None = None) -> Suggestions:
        """Candidates for a basket with their probability, expected revenue and margin, and the
        basket's expected uplift if the top k are shown. Below the threshold (free shipping,
        minimum order) items whose price closes the gap come first."""
        st = self._state  # read once: the whole answer comes from one catalog
        k = _check_k(k)
        rules = self._rules(rules)
        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        idx, _qty, value = self._basket(st, basket)
        if customer is not None and (not isinstance(customer, _ID_TYPES) or isinstance(customer, (bool, np.bool_))):
            raise InputError(f"customer must be one customer id (a string or a number), got {_plain(customer)!r}")
        recs = self.model.recommend_indices(np.sort(idx), k=self._pool(k), customer=customer)
        cand = recs.indices.astype(np.int64)
        pins = self._pins(rules, idx)
        pinned = np.array([d for _, d in pins], dtype=np.int64)
        cand = cand[~np.isin(cand, pinned)]
        cand = cand[self._allowed(st, cand, rules, idx) & ~self._substitute_mask(st, idx, cand)]
        gap = max(threshold - value, 0.0) if threshold is not None else 0.0
        cand = np.concatenate([pinned, cand])
        p, because, together = self._probability(idx, cand)
        revenue, margin, key = self._order(st, p, cand, rules.objective)
        closes = (st.price0[cand] >= gap) if gap > 0 else np.zeros(len(cand), bool)
        is_pin = np.arange(len(cand)) < len(pinned)
        # pins first (in the order given), then gap closers, then the objective; ties by model rank
        order = np.lexsort((np.arange(len(cand)), -key, ~closes, np.where(is_pin, np.arange(len(cand)), len(cand))))
        order = self._cap_categories(st, cand, order, rules.max_per_category, is_pin)[:k]
        cand, p, revenue, margin, because, together, closes, is_pin = (
            a[order] for a in (cand, p, revenue, margin, because, together, closes, is_pin))
        reasons = [self._reason(c, b, n_ij, rv, cl, pin, gap, threshold)
                   for c, b, n_ij, rv, cl, pin in zip(cand.tolist(), because.tolist(), together.tolist(),
                                                       revenue.tolist(), closes.tolist(), is_pin.tolist())]
        frame = self._frame(st, cand, p, revenue, margin, closes, is_pin, reasons)
        uplift_margin = float(margin.sum()) if len(margin) else 0.0
        return Suggestions(frame, basket_value=value, gap=gap, expected_uplift_revenue=float(revenue.sum()),
                           expected_uplift_margin=uplift_margin)

    def up_sell(self, item: Any, k: int = 5, rules: BusinessRules | None = None) -> Suggestions:
        """Better alternatives to `item`: substitutes (same category with a catalog, else the same
        product family, else bought by the same customers but rarely in the same order) priced
        above it, at most `band` times its price, ranked by how often they sell (share of orders)
        times the extra value (objective revenue or margin; probability: share of orders alone).
        Items without a known price are never up-sells; an item without one gets an InputError."""
        st = self._state  # read once: the whole answer comes from one catalog
        k = _check_k(k)
        rules = self._rules(rules)
        i = self.model.items_.index_of(_item_id(item, "item"))
        if i < 0:
            raise InputError(f"unknown item {_plain(item)!r}: the model was not trained on it")
        if not st.priced[i]:
            raise InputError(f"no price known for item {item!r}: give a catalog with prices or orders with prices")
        cat = st.cat
        if cat.category[i] < 0 and cat.parent[i] < 0 and self._subs is None:
            self._check_up_sell(st)
            raise InputError(f"item {item!r} has no category or product family in the catalog, so nothing to "
                             f"up-sell it with: give it one, or the engine the training orders with customers "
                             f"(Engine(model, orders=orders))")
        frame = self._up_sell_frame(st, np.array([i]), k, rules)
        base = st.price[i]
        how = (f"same category '{cat.category_names[cat.category[i]]}'" if cat.category[i] >= 0
               else "same product family" if cat.parent[i] >= 0
               else "bought by the same customers, rarely in the same order")
        frame["reason"] = [("pinned by the merchandiser" if pin else how) +
                           f", {price / base:.2f}x the price (+{_money(price - base)}); in {lk:.1%} of orders"
                           for price, lk, pin in zip(frame["price"], frame["probability"], frame["pinned"])]
        return Suggestions(frame.drop(columns=["source_id", "rank"]).reset_index(drop=True), basket_value=float(base))

    def _check_up_sell(self, st: _Snapshot) -> None:
        """Refuse up-sell requests this engine can never answer (every up-sell path calls it): without a
        category, family or data-driven substitutes nothing compares with anything; without a price for
        any item nothing is an up-sell."""
        if self._subs is None and not (st.group >= 0).any():
            raise InputError("up_sell needs a catalog with categories or families, or the training orders with "
                             "customers (Engine(model, orders=orders))")
        if not st.priced.any():
            raise InputError("up_sell needs prices and no item has one: give a catalog with prices or orders "
                             "with prices")

    def up_sell_batch(self, items: Any, k: int = 5, rules: BusinessRules | None = None) -> pd.DataFrame:
        """Up-sells for many items at once (a column or list of item ids), vectorised: item_id, rank,
        upsell_id, probability, price, extra_price, expected_revenue, expected_margin, pinned. Unknown
        items, items without a price and items with nothing to compare them with (no category, family
        or data-driven substitutes) get no rows, where `up_sell` raises InputError. An engine that can up-sell
        nothing at all (no categories, families or substitutes; no prices) raises InputError as `up_sell` does."""
        st = self._state  # read once: the whole answer comes from one catalog
        k = _check_k(k)
        rules = self._rules(rules)
        if isinstance(items, pd.DataFrame):
            if "item_id" not in items.columns:
                raise InputError(f"items frame lacks column item_id; it has: {', '.join(map(str, items.columns))}")
            values = items["item_id"]
            if isinstance(values, pd.DataFrame):
                raise InputError(f"items frame has {values.shape[1]} columns named item_id; keep one")
            values = values.to_numpy()
        elif items is None or isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
            raise InputError(f"items must be a list of item ids or a DataFrame with an item_id column, "
                             f"not {type(items).__name__}")
        else:
            values = (items if isinstance(items, pd.Series) else pd.Series(list(items), dtype=object)).to_numpy()
        self._check_up_sell(st)
        idx = self.model.items_.to_internal(values).astype(np.int64)  # the model's matching rule, vectorised
        idx = idx[idx >= 0]
        uniq = np.unique(idx[st.priced[idx]])
        frame = self._up_sell_frame(st, uniq, k, rules)
        frame = frame.rename(columns={"item_id": "upsell_id", "source_id": "item_id"})
        return frame[["item_id", "rank", "upsell_id", "probability", "price", "extra_price", "expected_revenue",
                      "expected_margin", "pinned"]]

    def _up_sell_pairs(self, st: _Snapshot, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(source, candidate) pairs: same category (else family, else data-driven substitutes), priced in
        (price, band x price] (in cents); vectorised over the snapshot's price-sorted segments. Unpriced
        items take no part, as source or candidate."""
        price, group = st.price, st.group
        src = src[st.priced[src]]
        out_s, out_c = [], []
        grouped = src[group[src] >= 0]
        if len(grouped):
            high = group[grouped] << 32
            lo = np.searchsorted(st.up_key, high | st.cent_rank[grouped], side="right")
            with np.errstate(over="ignore"):
                upper = np.floor(self.band * price[grouped] * 100 + 1e-6)
            top = np.maximum(np.searchsorted(st.cents, upper, side="right") - 1, st.cent_rank[grouped])
            hi = np.searchsorted(st.up_key, high | top, side="right")
            lengths = np.maximum(hi - lo, 0)
            out_s.append(np.repeat(grouped, lengths))
            out_c.append(st.up_items[np.repeat(lo, lengths)
                                     + _cumcount(np.repeat(np.arange(len(grouped)), lengths))])
        rest = src[group[src] < 0]
        if len(rest) and self._subs is not None:
            sub = self._subs[rest].tocoo()
            s_, c_ = rest[sub.row], sub.col.astype(np.int64)
            ok = st.priced[c_] & (price[c_] > price[s_]) & (price[c_] <= self.band * price[s_])
            out_s.append(s_[ok])
            out_c.append(c_[ok])
        if not out_s:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        s_all, c_all = np.concatenate(out_s), np.concatenate(out_c)
        keep = (c_all != s_all) & (price[c_all] > price[s_all])
        return s_all[keep], c_all[keep]

    def _up_sell_frame(self, st: _Snapshot, src: np.ndarray, k: int, rules: BusinessRules) -> pd.DataFrame:
        s_, c_ = self._up_sell_pairs(st, src)
        keep = self._allowed(st, c_, rules, np.empty(0, np.int64))
        for a, b in rules.block:
            if a in self._str_index and b in self._str_index:
                keep &= ~((s_ == self._str_index[a]) & (c_ == self._str_index[b]))
        s_, c_ = s_[keep], c_[keep]
        pin_order = np.full(len(s_), len(rules.pin))
        blocked = set(rules.block)
        sources = set(src[st.priced[src]].tolist()) if rules.pin else set()
        for pos, (a, b) in enumerate(rules.pin):
            if (a, b) in blocked or a not in self._str_index or b not in self._str_index:
                continue
            ia, ib = self._str_index[a], self._str_index[b]
            if ia in sources and st.priced[ib]:  # an unpriced item is no up-sell, pinned or not
                drop = (s_ == ia) & (c_ == ib)
                s_, c_, pin_order = s_[~drop], c_[~drop], pin_order[~drop]
                s_, c_, pin_order = np.append(ia, s_), np.append(ib, c_), np.append(pos, pin_order)
        price, cost = st.price, st.cost
        likely = self._base[c_]
        extra = price[c_] - price[s_]
        extra_margin = (price[c_] - cost[c_]) - (price[s_] - cost[s_])
        score = {"probability": likely, "revenue": likely * extra,
                 "margin": np.nan_to_num(likely * extra_margin, nan=-np.inf)}[rules.objective]
        order = np.lexsort((c_, -score, pin_order, s_))
        s_, c_, likely, extra, extra_margin, pin_order = (a[order] for a in (s_, c_, likely, extra, extra_margin,
                                                                              pin_order))
        if rules.max_per_category is not None:
            cat = st.cat.category[c_]
            grp = np.lexsort((np.arange(len(s_)), cat, s_))
            within = np.empty(len(s_), dtype=np.int64)
            within[grp] = _cumcount(s_[grp] * (len(st.cat.category_names) + 1) + cat[grp] + 1)
            sel = (cat < 0) | (within < rules.max_per_category) | (pin_order < len(rules.pin))
            s_, c_, likely, extra, extra_margin, pin_order = (a[sel] for a in (s_, c_, likely, extra, extra_margin,
                                                                                pin_order))
        rank = _cumcount(s_) + 1
        top = rank <= k
        s_, c_, likely, extra, extra_margin, pin_order, rank = (a[top] for a in (s_, c_, likely, extra,
                                                                                  extra_margin, pin_order, rank))
        return pd.DataFrame({"source_id": self._ids[s_], "rank": rank.astype(np.int32), "item_id": self._ids[c_],
                             "probability": likely, "price": price[c_], "extra_price": extra,
                             "expected_revenue": likely * extra, "expected_margin": likely * extra_margin,
                             "closes_gap": np.zeros(len(s_), bool), "pinned": pin_order < len(rules.pin)})

    # -- batch -----------------------------------------------------------------------------
    def score_batch(self, baskets: Any, k: int = 5, rules: BusinessRules | None = None,
                    threshold: float | None = None, mode: str = "cross-sell") -> pd.DataFrame:
        """Cross-sell many baskets at once, vectorised; the same ranking as `cross_sell` per basket.

        baskets: basket_id, item_id[, customer_id] lines (or a mapping basket_id -> items).
        mode "cross-sell": basket_id, rank, item_id, probability, price, expected_revenue,
        expected_margin, closes_gap, pinned (reasons are per request only: `cross_sell`).
        mode "uplift": one row per basket: basket_id, basket_value, gap, suggestions,
        expected_uplift_revenue, expected_uplift_margin.
        """
        st = self._state  # read once: the whole answer comes from one catalog
        k = _check_k(k)
        if not isinstance(mode, str) or mode not in ("cross-sell", "uplift"):
            raise InputError(f"mode must be cross-sell or uplift for baskets, got {mode!r}")
        rules = self._rules(rules)
        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        model, n = self.model, self.n
        parsed = model.parse_baskets(baskets)  # refuses 1 and '1' as basket ids
        basket_ids = parsed.ids
        n_b = len(basket_ids)
        basket = parsed.matrix()
        value = basket @ st.price0
        gap = np.maximum(threshold - value, 0.0) if threshold is not None else np.zeros(n_b)
        if self._fast:
            r, c, pool_rank, logsum = self._cooc_pool(basket, self._pool(k))
        else:
            ranked = model.rank_baskets(parsed, self._pool(k))
            r, c, pool_rank = ranked.rows, ranked.items, ranked.rank.astype(np.int32)
            logsum = None
        keep = self._allowed(st, np.arange(n), rules, np.empty(0, np.int64))[c]
        for a, b in rules.block:
            if a in self._str_index and b in self._str_index:
                has_a = np.asarray(basket[:, self._str_index[a]].todense()).ravel() > 0
                keep &= ~(has_a[r] & (c == self._str_index[b]))
        keep &= ~self._substitute_pairs(st, basket, r, c)
        # pins: (basket, pinned item) rows in front, in the order the pins are given
        pin_r, pin_c, pin_pos = [], [], []
        for pos, (a, b) in enumerate(rules.pin):
            if (a, b) in set(rules.block) or a not in self._str_index or b not in self._str_index:
                continue
            ia, ib = self._str_index[a], self._str_index[b]
            col_a = np.asarray(basket[:, ia].todense()).ravel() > 0
            col_b = np.asarray(basket[:, ib].todense()).ravel() > 0
            hit = np.flatnonzero(col_a & ~col_b)
            pin_r.append(hit)
            pin_c.append(np.full(len(hit), ib))
            pin_pos.append(np.full(len(hit), pos))
        if pin_r:
            pr, pc = np.concatenate(pin_r), np.concatenate(pin_c)
            keep &= ~np.isin(r * n + c, pr * n + pc)
            r, c = np.concatenate([pr, r[keep]]), np.concatenate([pc, c[keep]])
            pin_order = np.concatenate([np.concatenate(pin_pos), np.full(int(keep.sum()), len(rules.pin))])
            pool_rank = np.concatenate([np.zeros(len(pr), pool_rank.dtype), pool_rank[keep]])
            logsum = None  # pinned pairs were not in the product: look all up
        else:
            r, c, pool_rank = r[keep], c[keep], pool_rank[keep]
            pin_order = np.full(len(r), len(rules.pin))
            logsum = None if logsum is None else logsum[keep]
        if logsum is None:
            p = self._probability_pairs(basket, r, c)
        else:
            p = np.maximum(1.0 - np.exp(logsum), self._base[c])
        revenue, margin, key = self._order(st, p, c, rules.objective)
        closes = (st.price0[c] >= gap[r]) & (gap[r] > 0)
        order = _rank_within(r, n_b, (pool_rank, -key, ~closes, pin_order))
        r, c, p, revenue, margin, closes, pin_order = (a[order] for a in (r, c, p, revenue, margin, closes,
                                                                           pin_order))
        sel = np.ones(len(r), dtype=bool)
        if rules.max_per_category is not None:
            cat = st.cat.category[c]
            grp = np.lexsort((np.arange(len(r)), cat, r))
            run = _cumcount(r[grp] * (len(st.cat.category_names) + 1) + cat[grp] + 1)
            within = np.empty(len(r), dtype=np.int64)
            within[grp] = run
            sel &= (cat < 0) | (within < rules.max_per_category) | (pin_order < len(rules.pin))
        r, c, p, revenue, margin, closes, pin_order = (a[sel] for a in (r, c, p, revenue, margin, closes,
                                                                         pin_order))
        rank = _cumcount(r) + 1
        top = rank <= k
        r, c, p, revenue, margin, closes, pin_order, rank = (a[top] for a in (r, c, p, revenue, margin, closes,
                                                                               pin_order, rank))
        if mode == "uplift":
            count = np.bincount(r, minlength=n_b)
            return pd.DataFrame({
                "basket_id": basket_ids, "basket_value": value, "gap": gap, "suggestions": count,
                "expected_uplift_revenue": np.bincount(r, weights=revenue, minlength=n_b),
                "expected_uplift_margin": np.bincount(r, weights=np.nan_to_num(margin), minlength=n_b),
            })
        return pd.DataFrame({
            "basket_id": pd.Categorical.from_codes(r, categories=pd.Index(basket_ids)),
            "rank": rank.astype(np.int32),
            "item_id": pd.Categorical.from_codes(c, categories=model.item_index()),
            "probability": p, "price": st.price[c], "expected_revenue": revenue, "expected_margin": margin,
            "closes_gap": closes, "pinned": pin_order < len(rules.pin),
        })

    def prepare_batch(self) -> None:
        """Build what batch scoring shares once (done before worker processes are forked)."""
        if self._fast and self._joint is None:
            self._joint = (self.model.score_matrix().astype(np.complex128) + 1j * self._logq).tocsr()

    def _cooc_pool(self, basket: sp.csr_matrix, pool: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For a CoOccurrence model: its top `pool` candidates per basket (exactly as recommend_batch
        ranks them) and their summed log(1 - p_ij), from one complex sparse product: the real part
        is the model's score, the imaginary part the probability's log sum."""
        model = self.model
        self.prepare_batch()
        prod = (basket @ self._joint).tocsr()
        real, imag = prod.data.real, prod.data.imag
        row = np.repeat(np.arange(basket.shape[0], dtype=np.int64), np.diff(prod.indptr))
        floor = model.basket_floor(basket, pool)
        kept = np.flatnonzero(real >= floor[row])  # what the model's exact floor keeps, in order
        indptr = np.zeros(basket.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(row[kept], minlength=basket.shape[0]), out=indptr[1:])
        indptr, items, _values, order = topk_rows(indptr, prod.indices[kept], real[kept], pool)
        logs = imag[kept[order]]
        lengths = np.diff(indptr)
        r = np.repeat(np.arange(basket.shape[0], dtype=np.int64), lengths)
        rank = np.arange(len(items)) - np.repeat(indptr[:-1], lengths) + 1
        c = items.astype(np.int64)
        empty = np.flatnonzero(lengths == 0)
        if len(empty):  # no neighbours: the model's popular fallback, no co-purchase evidence
            fr, fc, _ = model.popular_batch(basket, empty, pool)
            fr = fr.astype(np.int64)
            frank = np.arange(len(fr)) - np.searchsorted(fr, fr) + 1
            r, c = np.concatenate([r, fr]), np.concatenate([c, fc.astype(np.int64)])
            rank, logs = np.concatenate([rank, frank]), np.concatenate([logs, np.zeros(len(fr))])
            o = np.lexsort((rank, r))
            r, c, rank, logs = r[o], c[o], rank[o], logs[o]
        return r, c, rank, logs

    def _substitute_pairs(self, st: _Snapshot, basket: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Mask over (basket r, candidate c) pairs where c substitutes an item of basket r."""
        n = np.int64(self.n)
        mask = np.zeros(len(r), dtype=bool)
        parent = st.cat.parent
        if (parent >= 0).any():
            own_rows = np.repeat(np.arange(basket.shape[0], dtype=np.int64), np.diff(basket.indptr))
            fam = parent[basket.indices]
            has = fam >= 0
            keys = np.sort(own_rows[has] * n + fam[has])  # repeats do not matter to the binary search
            cand_fam = parent[c]
            mask |= (cand_fam >= 0) & _member(keys, r * n + cand_fam)
        if self._subs is not None:
            subs = (basket @ self._subs).tocoo()
            mask |= _member(np.sort(subs.row.astype(np.int64) * n + subs.col), r * n + c)
        return mask

    def _probability_pairs(self, basket: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The probability of `_probability` for many (basket, candidate) pairs: one sparse product."""
        logs = (basket @ self._logq).tocsr()
        logs.sort_indices()
        n = np.int64(self.n)
        keys = np.repeat(np.arange(logs.shape[0], dtype=np.int64), np.diff(logs.indptr)) * n + logs.indices
        want = r * n + c
        at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        found = (keys[at] == want) if len(keys) else np.zeros(len(want), bool)
        total = np.where(found, logs.data[at] if len(keys) else 0.0, 0.0)
        return np.maximum(1.0 - np.exp(total), self._base[c])

    # -- output ----------------------------------------------------------------------------
    def _cap_categories(self, st: _Snapshot, cand: np.ndarray, order: np.ndarray, cap: int | None,
                        is_pin: np.ndarray) -> np.ndarray:
        if cap is None:
            return order
        cats = st.cat.category[cand[order]]
        seen: dict[int, int] = {}
        keep = []
        for pos, c in enumerate(cats.tolist()):  # the few ranked candidates of one request
            if c < 0 or is_pin[order[pos]]:
                keep.append(pos)
                continue
            seen[c] = seen.get(c, 0) + 1
            if seen[c] <= cap:
                keep.append(pos)
        return order[keep]

    def _reason(self, c: int, because: int, together: float, revenue: float, closes: bool, pin: bool,
                gap: float, threshold: float | None) -> str:
        if pin:
            text = "pinned by the merchandiser"
        elif because >= 0:
            n_ij = int(together)
            share = n_ij / max(self._counts[because], 1.0)
            text = f"bought together in {n_ij:,} orders ({share:.0%} of orders with {self._ids[because]})"
        else:
            text = f"suggested by {type(self.model).__name__}; in {self._base[c]:.1%} of all orders"
        text += f"; expected +{_money(revenue)}"
        if closes and gap > 0 and threshold is not None:
            text += f"; closes the {_money(gap)} gap to {_money(threshold)}"
        return text

    def _frame(self, st: _Snapshot, cand: np.ndarray, p: np.ndarray, revenue: np.ndarray, margin: np.ndarray,
               closes: np.ndarray, pinned: np.ndarray, reasons: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"item_id": self._ids[cand], "probability": p, "price": st.price[cand],
                             "expected_revenue": revenue, "expected_margin": margin, "closes_gap": closes,
                             "pinned": pinned, "reason": reasons})


def _substitutes(orders: Orders, ids: np.ndarray, top: int = 20, min_customers: int = 3) -> sp.csr_matrix | None:
    """Items bought by the same customers but rarely in the same order, top `top` per item, in the
    model's index space: score = customer cosine x (1 - orders together / customers in common)."""
    if orders.customers is None or orders.customer_index is None:
        return None
    c = (orders.customer_item_matrix(np.float32) > 0).astype(np.float32).tocsr()
    x = orders.order_item_matrix(np.float32)
    common = (c.T @ c).tocsr()
    together = (x.T @ x).tocsr()
    common.setdiag(0)
    common.eliminate_zeros()
    common.data[common.data < min_customers] = 0
    common.eliminate_zeros()
    rows = np.repeat(np.arange(common.shape[0]), np.diff(common.indptr))
    n_c = np.asarray(c.sum(axis=0)).ravel()
    cos = common.data / np.sqrt(n_c[rows] * n_c[common.indices])
    both = np.asarray(together[rows, common.indices]).ravel()
    score = cos * (1.0 - np.minimum(both / common.data, 1.0))
    score[score <= 0] = -np.inf
    indptr, cols, values, _ = topk_rows(common.indptr, common.indices, score, top)
    lengths = np.diff(indptr)
    remap = pd.Index(np.asarray(ids).astype(str)).get_indexer(orders.items.ids.astype(str))
    n = len(ids)
    r = remap[np.repeat(np.arange(len(lengths)), lengths)]
    cc = remap[cols]
    ok = (r >= 0) & (cc >= 0)
    return sp.csr_matrix((values[ok], (r[ok], cc[ok])), shape=(n, n))


def _rank_within(rows: np.ndarray, n_rows: int, keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """Positions ordering the entries by row, then within each row by `keys` (np.lexsort order: last
    key primary). A request has a few dozen candidates: the entries go into a rows x width block and
    each row is sorted on its own (vectorised), much cheaper than one sort over all entries."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    by_row = np.argsort(rows, kind="stable")
    slot = _cumcount(rows[by_row])
    width = int(slot.max()) + 1
    where = np.full((n_rows, width), -1, dtype=np.int64)
    where[rows[by_row], slot] = by_row
    missing = where < 0
    blocks = []
    for key in keys:
        block = np.zeros((n_rows, width), dtype=np.result_type(key.dtype, np.float64))
        block[~missing] = key[where[~missing]]
        blocks.append(block)
    blocks.append(missing)  # empty slots last
    order = np.lexsort(blocks, axis=1)
    ranked = np.take_along_axis(where, order, axis=1)
    return ranked[ranked >= 0]


def _member(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """queries in sorted_keys (sorted): a binary search, cheaper than np.isin's sorts."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return sorted_keys[at] == queries


def _cumcount(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within runs of equal values of a grouped (sorted) array."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.ones(len(groups), dtype=bool)
    start[1:] = groups[1:] != groups[:-1]
    first = np.flatnonzero(start)
    return np.arange(len(groups)) - np.repeat(first, np.diff(np.append(first, len(groups))))


def _check_threshold(value: Any) -> float | None:
    if value is None:
        return None
    if not (_number(value) and np.isfinite(value) and value > 0):
        raise InputError(f"threshold must be a finite number > 0, got {value!r}")
    return float(value)


def _plain(value: Any) -> Any:
    """np.str_('a') shown as 'a' in messages."""
    return value.item() if isinstance(value, np.generic) else value


_ID_TYPES = (str, int, np.integer, np.str_, bytes, float, np.floating)


def _item_id(item: Any, what: str) -> Any:
    """One item id as given, once it is one: a list, dict, None or bool is no id (a cheap type check)."""
    if type(item) is str:  # the common case first: this is on the request path
        return item
    if isinstance(item, _ID_TYPES) and not isinstance(item, (bool, np.bool_)):
        return item
    if what == "item":
        raise InputError(f"item must be one item id (a string or a number), got {_plain(item)!r}")
    raise InputError(f"{what} item ids must be strings or numbers, got {_plain(item)!r} ({type(item).__name__}); "
                     f"a basket is a list of item ids or a mapping item id -> quantity")


__all__ = ["Engine", "Suggestions", "OBJECTIVES"]
