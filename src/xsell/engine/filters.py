"""The business rules, once, over (row, item) arrays.

The vectorised paths of the engine (`score_batch`: one row per basket; `up_sell_batch`: one row per
source item, which the row "holds") hand their candidates to the same functions here as parallel
arrays `rows` (the basket or source of each candidate) and `items` (internal item indices), with a
`Held` saying which items each row holds:

- `allowed`: exclude_items, allow, exclude_categories, in_stock_only, min_price/max_price;
- `blocked`: block pairs (with `a` held, `b` is never shown);
- `substitutes`: candidates of the same product family as a held item, or data-driven substitutes of one;
- `pins`: pin pairs (with `a` held and `b` not, `b` comes first, in the order the pins are given);
- `shortlist`: all of the above, pins in front;
- `rank`: pins first, then (cross-sell) items closing the threshold gap, then the objective, then the
  model's rank; `cap_and_cut`: max_per_category (pins count, are never dropped) and the top k per row.

A single request (`cross_sell`, `up_sell`) applies the same rules, in the same order, in compiled
kernels (`xsell.engine.single`, `xsell.kernels.engine`): at a few microseconds a request, numpy's
per-call overhead would be most of the cost. A new rule goes in both; tests/test_engine.py checks
single requests against these functions (row 0), on thousands of baskets, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.engine.rules import OBJECTIVES, BusinessRules
from xsell.engine.snapshot import Snapshot
from xsell.errors import InputError


@dataclass(frozen=True)
class Rules:
    """`BusinessRules` with its item names resolved to a model's internal indices (the model's one id rule,
    `IdMap.index_of`). exclude, allow: sorted indices (allow None: no allow-list); block_src/block_dst: the
    block pairs; pin_src/pin_dst/pin_pos: the pin pairs that are not also blocked, with their position in
    `rules.pin`; n_pins: len(rules.pin) (the pin order of an item that is not pinned)."""

    rules: BusinessRules
    exclude: np.ndarray
    allow: np.ndarray | None
    block_src: np.ndarray
    block_dst: np.ndarray
    pin_src: np.ndarray
    pin_dst: np.ndarray
    pin_pos: np.ndarray
    n_pins: int

    @property
    def objective(self) -> str:
        return self.rules.objective

    @property
    def objective_code(self) -> int:
        """The objective as the kernels take it: 0 probability, 1 revenue, 2 margin."""
        return OBJECTIVES.index(self.rules.objective)

    @property
    def cap(self) -> int:
        """max_per_category as the kernels take it (0: none)."""
        return self.rules.max_per_category or 0

    @property
    def request_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rules as a single request's kernels take them (bar exclude_categories: `bad_categories`), built
        once: (rule_ints: exclude, allow, block_src, block_dst, pin_src, pin_dst, pin_pos one after the other;
        rule_at: the 8 offsets between them; rule_nums: use_allow, in_stock_only, has_min, min_price, has_max,
        max_price, n_pins, objective, cap)."""
        cached: tuple[np.ndarray, np.ndarray, np.ndarray] | None = self.__dict__.get("_request_args")
        if cached is None:
            rule = self.rules
            parts = [self.exclude, self.exclude[:0] if self.allow is None else self.allow, self.block_src,
                     self.block_dst, self.pin_src, self.pin_dst, self.pin_pos]
            at = np.zeros(len(parts) + 1, dtype=np.int64)
            np.cumsum([len(a) for a in parts], out=at[1:])
            nums = np.array([self.allow is not None, rule.in_stock_only, rule.min_price is not None,
                             rule.min_price or 0.0, rule.max_price is not None, rule.max_price or 0.0, self.n_pins,
                             self.objective_code, self.cap], dtype=np.float64)
            cached = (np.concatenate(parts).astype(np.int64), at, nums)
            for a in cached:
                a.flags.writeable = False
            self.__dict__["_request_args"] = cached  # frozen: set aside the dataclass's __setattr__
        return cached


def compile_rules(rules: BusinessRules, items: IdMap) -> Rules:
    """Resolve `rules`' item names against a model's items. Pinned, blocked and allowed items must be items
    the model knows (a typo would silently do nothing): InputError naming them; unknown excluded items are
    left out."""
    index_of = items.index_of
    named = [("pin", v) for pair in rules.pin for v in pair] + [("block", v) for pair in rules.block for v in pair]
    named += [("allow", v) for v in sorted(rules.allow or ())]
    unknown = [f"{kind} {v!r}" for kind, v in named if index_of(v) < 0]
    if unknown:
        raise InputError(f"business rules name items the model does not know: {', '.join(unknown[:5])}"
                         + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))

    def indices(names: frozenset[str] | None) -> np.ndarray:
        found = [i for i in (index_of(v) for v in names or ()) if i >= 0]
        return np.unique(np.array(found, dtype=np.int64))

    block = [(index_of(a), index_of(b)) for a, b in rules.block]
    blocked = set(block)
    pins = [(index_of(a), index_of(b), pos) for pos, (a, b) in enumerate(rules.pin)]
    pins = [(a, b, pos) for a, b, pos in pins if (a, b) not in blocked]
    compiled = Rules(rules=rules, exclude=indices(rules.exclude_items),
                     allow=None if rules.allow is None else indices(rules.allow),
                     block_src=np.array([a for a, _ in block], dtype=np.int64),
                     block_dst=np.array([b for _, b in block], dtype=np.int64),
                     pin_src=np.array([a for a, _, _ in pins], dtype=np.int64),
                     pin_dst=np.array([b for _, b, _ in pins], dtype=np.int64),
                     pin_pos=np.array([p for _, _, p in pins], dtype=np.int64), n_pins=len(rules.pin))
    for value in vars(compiled).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False  # shared by every request (and the kernels compile once for read-only)
    return compiled


@dataclass(frozen=True)
class Held:
    """The items each row holds (a basket's items; for up-sell, the source item itself) as (row, item)
    entries; keys = row * n_items + item, sorted (the binary searches of `has`)."""

    rows: np.ndarray
    items: np.ndarray
    keys: np.ndarray
    n_items: int

    @classmethod
    def basket(cls, items: np.ndarray, n_items: int) -> Held:
        """One basket (row 0) of sorted unique internal indices."""
        items = items.astype(np.int64, copy=False)
        return cls(np.zeros(len(items), dtype=np.int64), items, items, n_items)

    @classmethod
    def matrix(cls, baskets: sp.csr_matrix) -> Held:
        """Many baskets, one per row of a baskets x items CSR matrix."""
        n = baskets.shape[1]
        rows = np.repeat(np.arange(baskets.shape[0], dtype=np.int64), np.diff(baskets.indptr))
        items = baskets.indices.astype(np.int64)
        keys = rows * np.int64(n) + items
        if not baskets.has_sorted_indices:
            order = np.argsort(keys, kind="stable")
            rows, items, keys = rows[order], items[order], keys[order]
        return cls(rows, items, keys, n)

    @classmethod
    def own(cls, items: np.ndarray, n_items: int) -> Held:
        """Rows that are items themselves, each holding itself (up-sell: the item viewed)."""
        items = np.unique(items.astype(np.int64, copy=False))
        return cls(items, items, items * np.int64(n_items) + items, n_items)

    def has(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Per (row, item) pair: the row holds the item."""
        return member(self.keys, rows * np.int64(self.n_items) + items)

    def rows_with(self, item: int) -> np.ndarray:
        """The rows holding `item`, ascending."""
        rows: np.ndarray = self.rows[self.items == item]
        return rows


def allowed(st: Snapshot, rules: Rules, items: np.ndarray) -> np.ndarray:
    """Mask over `items` of what exclude_items, allow, exclude_categories, in_stock_only and the price band
    let through (blocks, substitutes and pins are apart: they depend on what a row holds)."""
    if len(items) > len(st.price):  # many candidates (a batch): decide each item once
        every: np.ndarray = allowed(st, rules, np.arange(len(st.price)))[items]
        return every
    ok = np.ones(len(items), dtype=bool)
    rule = rules.rules
    if len(rules.exclude):
        ok &= ~member(rules.exclude, items)
    if rules.allow is not None:
        ok &= member(rules.allow, items)
    if rule.exclude_categories:
        names = st.cat.category_names
        bad = np.flatnonzero(np.isin(names.astype(str), list(rule.exclude_categories)))
        ok &= ~np.isin(st.cat.category[items], bad)
    if rule.in_stock_only:
        ok &= st.cat.in_stock[items]
    if rule.min_price is not None or rule.max_price is not None:
        price = st.price[items]
        if rule.min_price is not None:
            ok &= price >= rule.min_price
        if rule.max_price is not None:
            ok &= price <= rule.max_price
    return ok


def bad_categories(st: Snapshot, rules: Rules) -> np.ndarray:
    """Mask over the snapshot's category codes of those `exclude_categories` names (empty: none excluded),
    kept in the snapshot for the next request with the same names."""
    names = rules.rules.exclude_categories
    if not names:
        return _NONE_EXCLUDED
    got = st.memo.get(names)
    if got is None:
        got = np.isin(st.cat.category_names.astype(str), list(names))
        got.flags.writeable = False
        if len(st.memo) > 64:  # many different rules: forget the old ones
            st.memo.clear()
        st.memo[names] = got
    return got


_NONE_EXCLUDED = np.zeros(0, dtype=bool)
_NONE_EXCLUDED.flags.writeable = False


def blocked(rules: Rules, held: Held, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Mask over (row, item) pairs that a block pair (a, b) forbids: item b where the row holds a."""
    out = np.zeros(len(items), dtype=bool)
    for a, b in zip(rules.block_src.tolist(), rules.block_dst.tolist()):
        at = np.flatnonzero(items == b)
        if len(at):
            out[at] |= held.has(rows[at], np.full(len(at), a, dtype=np.int64))
    return out


def substitutes(st: Snapshot, subs: sp.csr_matrix | None, held: Held, rows: np.ndarray,
                items: np.ndarray) -> np.ndarray:
    """Mask over (row, item) pairs where the item substitutes one the row holds: the same product family
    (catalog parent), or a data-driven substitute (`subs`: items x items, see `evidence.substitutes`)."""
    n = np.int64(held.n_items)
    mask = np.zeros(len(items), dtype=bool)
    if st.families:
        fam = st.cat.parent[held.items]
        has = fam >= 0
        keys = np.sort(held.rows[has] * n + fam[has])  # repeats do not matter to the binary search
        cand_fam = st.cat.parent[items]
        mask |= (cand_fam >= 0) & member(keys, rows * n + cand_fam)
    if subs is not None and len(held.items):
        start, stop = subs.indptr[held.items], subs.indptr[held.items + 1]
        lengths = stop - start
        pos = np.repeat(start - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        keys = np.sort(np.repeat(held.rows, lengths) * n + subs.indices[pos])
        mask |= member(keys, rows * n + items)
    return mask


def pins(rules: Rules, held: Held) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, pinned item, position in rules.pin) of the pins active for the rows: the row holds the pin's
    source and not its item. In the order the pins are given; an item pinned twice into one row counts
    once, at its first pin."""
    if not len(rules.pin_src):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    out_r, out_c, out_p = [], [], []
    for a, b, pos in zip(rules.pin_src.tolist(), rules.pin_dst.tolist(), rules.pin_pos.tolist()):
        hit = held.rows_with(a)
        hit = hit[~held.has(hit, np.full(len(hit), b, dtype=np.int64))]
        out_r.append(hit)
        out_c.append(np.full(len(hit), b, dtype=np.int64))
        out_p.append(np.full(len(hit), pos, dtype=np.int64))
    r, c, p = np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_p)
    _, first = np.unique(r * np.int64(held.n_items) + c, return_index=True)
    if len(first) < len(r):
        first.sort()
        r, c, p = r[first], c[first], p[first]
    return r, c, p


@dataclass(frozen=True)
class Shortlist:
    """Candidates that pass the rules, pins in front: rows, items, rank (the source's; 0 for pins) and
    pin_order (position in rules.pin; n_pins when not pinned). kept: mask over the candidates given;
    n_pinned: pins in front."""

    rows: np.ndarray
    items: np.ndarray
    rank: np.ndarray
    pin_order: np.ndarray
    kept: np.ndarray
    n_pinned: int


def shortlist(st: Snapshot, rules: Rules, held: Held, rows: np.ndarray, items: np.ndarray, rank: np.ndarray,
              subs: sp.csr_matrix | None, *, cross_sell: bool = True) -> Shortlist:
    """Candidates (row, item, rank) through every rule: allowed, not blocked and, for cross-sell, no
    substitute of a held item; the active pins in front (shown whatever the other rules say). For
    up-sell (cross_sell=False) the candidates are substitutes by design, and only priced items may be
    pinned (an unpriced item is no up-sell, pinned or not)."""
    keep = allowed(st, rules, items)
    if len(rules.block_src):
        keep &= ~blocked(rules, held, rows, items)
    if cross_sell:
        keep &= ~substitutes(st, subs, held, rows, items)
    pr, pc, pp = pins(rules, held)
    if not cross_sell and len(pr):
        priced = st.priced[pc]
        pr, pc, pp = pr[priced], pc[priced], pp[priced]
    if len(pr):
        n = np.int64(held.n_items)
        keep &= ~member(np.sort(pr * n + pc), rows * n + items)
        return Shortlist(np.concatenate([pr, rows[keep]]), np.concatenate([pc, items[keep]]),
                         np.concatenate([np.zeros(len(pr), rank.dtype), rank[keep]]),
                         np.concatenate([pp, np.full(int(keep.sum()), rules.n_pins)]), keep, len(pr))
    return Shortlist(rows[keep], items[keep], rank[keep], np.full(int(keep.sum()), rules.n_pins), keep, 0)


def objective(st: Snapshot, p: np.ndarray, items: np.ndarray,
              name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expected revenue p x price, expected margin p x (price - cost), the key the objective ranks by)."""
    revenue = p * st.price0[items]
    margin = p * (st.price[items] - st.cost[items])
    key = {"probability": p, "revenue": revenue, "margin": np.nan_to_num(margin, nan=-np.inf)}[name]
    return revenue, margin, key


def rank(rows: np.ndarray, n_rows: int, keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """Positions ordering the entries by row, then within each row by `keys` (np.lexsort order: last key
    primary; ties keep the given order). Many rows: the entries go into a rows x width block and each row
    is sorted on its own (vectorised), much cheaper than one sort over all entries."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    if n_rows == 1:
        return np.lexsort(keys)
    by_row = np.argsort(rows, kind="stable")
    slot = cumcount(rows[by_row])
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
    out: np.ndarray = ranked[ranked >= 0]
    return out


def cap_and_cut(st: Snapshot, rules: Rules, rows: np.ndarray, items: np.ndarray, pinned: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
    """For entries in ranked order (rows grouped): (positions kept, their 1-based rank) after
    max_per_category (at most that many of one category per row; pins count and are always kept) and
    the top k per row."""
    at = np.arange(len(rows))
    cap = rules.rules.max_per_category
    if cap is not None and len(rows):
        cat = st.cat.category[items]
        key = rows * np.int64(len(st.cat.category_names) + 1) + cat + 1
        grp = np.argsort(key, kind="stable")
        within = np.empty(len(rows), dtype=np.int64)
        within[grp] = cumcount(key[grp])
        at = np.flatnonzero((cat < 0) | (within < cap) | pinned)
    position = cumcount(rows[at]) + 1
    top = position <= k
    return at[top], position[top]


def rank_and_cut(st: Snapshot, rules: Rules, short: Shortlist, p: np.ndarray, gap: np.ndarray, n_rows: int,
                 k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cross-sell's ranking of a shortlist (probabilities p; gap: each row's gap to the threshold, 0 for none):
    pins first (in the order given), then items whose price closes the row's gap, then the objective, then the
    source's rank; then the category cap and the top k. Returns (positions into the shortlist in final order,
    their 1-based rank, and over the whole shortlist: expected revenue, expected margin, closes the gap)."""
    revenue, margin, key = objective(st, p, short.items, rules.objective)
    row_gap = gap[short.rows]
    closes = (st.price0[short.items] >= row_gap) & (row_gap > 0)
    order = rank(short.rows, n_rows, (short.rank, -key, ~closes, short.pin_order))
    at, position = cap_and_cut(st, rules, short.rows[order], short.items[order], short.pin_order[order] < rules.n_pins,
                               k)
    return order[at], position, revenue, margin, closes


def cumcount(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within runs of equal values of a grouped (sorted) array."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    if groups[0] == groups[-1]:  # one run (one request)
        return np.arange(len(groups))
    start = np.ones(len(groups), dtype=bool)
    start[1:] = groups[1:] != groups[:-1]
    first = np.flatnonzero(start)
    out: np.ndarray = np.arange(len(groups)) - np.repeat(first, np.diff(np.append(first, len(groups))))
    return out


def member(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """queries in sorted_keys (sorted): a binary search, cheaper than np.isin's sorts."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    found: np.ndarray = sorted_keys[at] == queries
    return found


__all__ = ["Held", "Rules", "Shortlist", "allowed", "bad_categories", "blocked", "cap_and_cut", "compile_rules",
           "cumcount", "member", "objective", "pins", "rank", "rank_and_cut", "shortlist", "substitutes"]
