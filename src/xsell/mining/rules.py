"""Association rules from order lines, without a one-hot frame.

Frequent itemsets:
- items: one bincount;
- pairs: the lower triangle of X^T X over the frequent items only, in blocks
  of items, with scipy's numeric product kernel alone (its output is bounded);
- triples: exact counting of (order x frequent pair) incidence against the
  frequent items, one more sparse product (every subset of a frequent triple
  is a frequent pair, so nothing is missed);
- 4 items and more: mlxtend's fpgrowth on a sparse frame of the frequent items.

An itemset is frequent when count / N >= min_support, compared in floating
point exactly as mlxtend does, so both keep the same itemsets. The rule
metrics follow mlxtend's association_rules (without null handling):
  confidence = s(AC) / s(A)      lift = confidence / s(C)      leverage = s(AC) - s(A) s(C)
  conviction = (1 - s(C)) / (1 - confidence), inf when confidence = 1
  zhangs_metric = leverage / max(s(AC) (1 - s(A)), s(A) (s(C) - s(AC))), 0 when that is 0
  jaccard = s(AC) / (s(A) + s(C) - s(AC))
  certainty = (confidence - s(C)) / (1 - s(C)), 0 when s(C) = 1
  kulczynski = (s(AC) / s(A) + s(AC) / s(C)) / 2
With counts=True the rules also carry the counts behind the shares: antecedent_count (orders holding
the antecedent), consequent_count, count (orders holding both), n_orders (N), so s(A) =
antecedent_count / n_orders and so on. drop_mirrored=True keeps one of two rules over the same
items with the sides swapped (a -> b and b -> a; {a} -> {b, c} and {b, c} -> {a}): the one with the
higher confidence (the antecedent in fewer orders), on a tie the one whose antecedent holds the
itemset's smallest id (ids compared as the orders give them: text as text, numbers as numbers).

Baskets far larger than the rest make itemset counting grow with the cube
of their size. With max_len >= 3, baskets of more than `max_basket_items`
(default 100) distinct items are left out of mining (and of N), with a
warning that says how many; pair mining (max_len=2) costs only the square
and keeps them unless a cap is given.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from xsell.names import RULE_METRICS
from xsell.data.idmap import describe_type, short_repr
from xsell.data.orders import Orders
from xsell.checks import check_int
from xsell.errors import InputError

if TYPE_CHECKING:
    from xsell.mining.pairs import PairCounts

RULE_COLUMNS = ["antecedents", "consequents", *RULE_METRICS]
METRICS = RULE_COLUMNS[2:]
COUNT_COLUMNS = ["antecedent_count", "consequent_count", "count", "n_orders"]  # after support, with counts=True
_AUTO_CAP = 100


@dataclass(frozen=True)
class FrequentItemsets:
    """Frequent itemsets over internal item indices, by size.

    sets[k] is an int32 array (n_k, k) of item indices, increasing along each
    row; counts[k] the number of orders holding each. N is `n_orders`.
    """

    n_orders: int
    orders: Orders
    sets: dict[int, np.ndarray]
    counts: dict[int, np.ndarray]
    skipped_baskets: int

    def support(self, size: int) -> np.ndarray:
        return self.counts[size] / float(self.n_orders)

    def to_frame(self) -> pd.DataFrame:
        """support, itemsets (tuples of external ids), like mlxtend's fpgrowth."""
        ids = self.orders.items.ids
        parts = []
        for size in sorted(self.sets):
            rows = ids[self.sets[size]]
            parts.append(pd.DataFrame({"support": self.support(size),
                                       "itemsets": list(zip(*rows.T.tolist(), strict=True))
                                       if len(rows) else []}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["support", "itemsets"])


def _min_count(min_support: float, n_orders: int) -> int:
    """Smallest count c with c / N >= min_support, compared in floats as mlxtend does."""
    c = max(1, math.ceil(min_support * n_orders))
    while c > 1 and (c - 1) / float(n_orders) >= min_support:
        c -= 1
    while c / float(n_orders) < min_support:
        c += 1
    return c


def support_count(min_support: float, n_orders: int) -> int:
    """The fewest orders an itemset needs to reach min_support among n_orders (as the miners count)."""
    return _min_count(_check_support(min_support, n_orders), n_orders)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_support(min_support: Any, n_orders: int) -> float:
    if not _is_number(min_support):
        raise InputError(f"min_support must be a number in (0, 1], got {min_support!r}")
    value = float(min_support)
    if not 0.0 < value <= 1.0:
        hint = ""
        if 1 < value < math.inf and value == int(value):
            hint = (f"; it is a share of orders, not a count: {int(value)} of {n_orders:,} orders is "
                    f"min_support={value / n_orders:.6g}")
        raise InputError(f"min_support must be in (0, 1], got {min_support!r}{hint}")
    return value


def check_confidence(min_confidence: Any) -> float:
    """min_confidence as a float in [0, 1] (NaN and infinities refused)."""
    if not _is_number(min_confidence):
        raise InputError(f"min_confidence must be a number in [0, 1], got {min_confidence!r}")
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise InputError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    return float(min_confidence)


def check_lift(min_lift: Any) -> float | None:
    """min_lift as None or a finite float >= 0 (a lift is never negative; NaN would keep nothing)."""
    if min_lift is None:
        return None
    if not _is_number(min_lift) or not 0.0 <= float(min_lift) < math.inf:
        raise InputError(f"min_lift must be a finite number >= 0 or None, got {min_lift!r}")
    return float(min_lift)


def check_max_len(max_len: Any) -> int:
    if isinstance(max_len, (bool, np.bool_)) or not isinstance(max_len, (int, np.integer)) or max_len < 2:
        raise InputError(f"max_len must be a whole number >= 2 (a rule needs two items), got {max_len!r}")
    return int(max_len)


def check_basket_cap(max_basket_items: Any) -> int | None | str:
    """'auto', None or a whole number >= 2 (a smaller cap would leave no basket that holds a rule)."""
    if max_basket_items is None or isinstance(max_basket_items, str) and max_basket_items == "auto":
        return max_basket_items
    if isinstance(max_basket_items, (bool, np.bool_)) or not isinstance(max_basket_items, (int, np.integer)) \
            or max_basket_items < 2:
        raise InputError(f"max_basket_items must be 'auto', None or a whole number >= 2, got {max_basket_items!r}")
    return int(max_basket_items)


def _order_matrix(orders: Orders, keep_item: np.ndarray, keep_order: np.ndarray
                  ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Orders x kept-items binary CSR (rows: kept orders) and kept item indices."""
    items = np.flatnonzero(keep_item)
    remap = np.full(len(keep_item), -1, dtype=np.int32)
    remap[items] = np.arange(len(items), dtype=np.int32)
    line = keep_item[orders.item_index]
    if not keep_order.all():
        line &= keep_order[orders.order_index]
    cols = remap[orders.item_index[line]]
    indptr = np.zeros(int(keep_order.sum()) + 1, dtype=np.int64)
    np.cumsum(np.bincount(orders.order_index[line], minlength=len(keep_order))[keep_order], out=indptr[1:])
    # lines come sorted by (order, item); items keep their relative order under remap
    x = sp.csr_matrix((np.ones(len(cols), dtype=np.int32), cols, indptr), shape=(len(indptr) - 1, len(items)))
    return x, items


_BLOCK_CELLS = 250_000  # bound on one block's product entries: keeps pair mining's memory small

try:  # scipy's numeric product kernel, run without its counting pass (see _product)
    from scipy.sparse import _sparsetools
    _csr_matmat: Callable[..., None] | None = _sparsetools.csr_matmat
except (ImportError, AttributeError):  # pragma: no cover - a scipy without it: a @ b instead
    _csr_matmat = None


def _product(a: sp.csr_matrix, b: sp.csr_matrix, max_nnz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indptr, indices, data of a @ b (both CSR), given at most `max_nnz` entries in it.

    scipy's `a @ b` first runs a symbolic pass only to count the entries, as long
    as the product itself; with a known bound the numeric kernel runs alone.
    """
    if _csr_matmat is None:
        c = (a @ b).tocsr()
        return c.indptr, c.indices, c.data
    idx = np.int64 if max_nnz >= 2**31 or np.int64 in (a.indptr.dtype, b.indptr.dtype) else np.int32
    a_ptr, a_ix, b_ptr, b_ix = (v.astype(idx, copy=False) for v in (a.indptr, a.indices, b.indptr, b.indices))
    indptr = np.empty(a.shape[0] + 1, dtype=idx)
    indices = np.empty(max_nnz, dtype=idx)
    data = np.empty(max_nnz, dtype=np.result_type(a.data, b.data))
    _csr_matmat(a.shape[0], b.shape[1], a_ptr, a_ix, a.data, b_ptr, b_ix, b.data, indptr, indices, data)
    return indptr, indices[:indptr[-1]], data[:indptr[-1]]


def _width(lines: np.ndarray, cells: int) -> int:
    """Most columns w with sum(min(w, lines)) <= cells, at least 1."""
    ordered = np.sort(lines)
    below = np.concatenate([[0], np.cumsum(ordered)])
    w = np.arange(1, len(lines) + 1)
    k = np.searchsorted(ordered, w)  # lines below w
    return max(1, int(np.searchsorted(below[k] + w * (len(lines) - k), cells, side="right")))


def _pairs(x: sp.csr_matrix, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequent pairs (a < b) and their counts, from the lower triangle of X^T X in blocks of items.

    Block [s, e) multiplies the columns of items s.. (as rows, views of the CSC)
    by its own items' columns: row b holds b's co-counts with the block's items,
    of which a < b is kept. Only that block's share of the triangle exists at a
    time; its width keeps an upper bound on its output (per row b: min(width,
    lines of the orders holding b)) within _BLOCK_CELLS.
    """
    n = x.shape[1]
    if n < 2:
        return np.empty((0, 2), dtype=np.int32), np.empty(0, dtype=np.int64)
    xc = x.tocsc()
    lines = xc.T @ np.diff(x.indptr).astype(np.int64)
    firsts, seconds, counts = [], [], []
    start = 0
    while start < n - 1:
        end = min(n, start + _width(lines[start:], _BLOCK_CELLS))
        p0, p1 = xc.indptr[start], xc.indptr[end]
        rows = sp.csr_matrix((xc.data[p0:], xc.indices[p0:], xc.indptr[start:] - p0), shape=(n - start, x.shape[0]))
        block = sp.csc_matrix((xc.data[p0:p1], xc.indices[p0:p1], xc.indptr[start:end + 1] - p0),
                              shape=(x.shape[0], end - start)).tocsr()
        indptr, indices, data = _product(rows, block, int(np.minimum(lines[start:], end - start).sum()))
        hit = np.flatnonzero(data >= min_count)
        row, col = np.searchsorted(indptr, hit, side="right") - 1, indices[hit]
        keep = col < row
        firsts.append((col[keep] + start).astype(np.int32))
        seconds.append((row[keep] + start).astype(np.int32))
        counts.append(data[hit[keep]].astype(np.int64))
        start = end
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    count = np.concatenate(counts)
    order = np.argsort(first.astype(np.int64) * n + second)
    return np.column_stack([first[order], second[order]]), count[order]


def within_row_pairs(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row, a, b) with a before b in the same row of a CSR layout, vectorised over entries."""
    sizes = np.diff(indptr)
    row_of_line = np.repeat(np.arange(len(sizes)), sizes)
    pos = np.arange(len(indices)) - indptr[row_of_line]
    later = sizes[row_of_line] - pos - 1
    first = np.repeat(np.arange(len(indices)), later)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later)
    second = first + 1 + offset
    return row_of_line[first], indices[first], indices[second]


def _triples(x: sp.csr_matrix, pairs: np.ndarray, min_count: int, n_items: int
             ) -> tuple[np.ndarray, np.ndarray]:
    if len(pairs) == 0:
        return np.empty((0, 3), dtype=np.int32), np.empty(0, dtype=np.int64)
    pair_keys = pairs[:, 0].astype(np.int64) * n_items + pairs[:, 1]
    rows, a, b = within_row_pairs(x.indptr, x.indices)
    keys = a.astype(np.int64) * n_items + b
    pos = np.minimum(np.searchsorted(pair_keys, keys), len(pair_keys) - 1)
    hit = pair_keys[pos] == keys
    incidence = sp.csr_matrix((np.ones(int(hit.sum()), dtype=np.int32), (rows[hit], pos[hit])),
                              shape=(x.shape[0], len(pairs)))
    co = (incidence.T @ x).tocoo()  # frequent pair x item -> orders holding all three
    keep = (co.data >= min_count) & (co.col > pairs[co.row, 1])
    triples = np.column_stack([pairs[co.row[keep]], co.col[keep]]).astype(np.int32)
    counts = co.data[keep].astype(np.int64)
    order = np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))
    return triples[order], counts[order]


def _larger(x: sp.csr_matrix, min_support: float, max_len: int) -> tuple[dict[int, np.ndarray],
                                                                         dict[int, np.ndarray]]:
    """Itemsets of 4 and more items with mlxtend's fpgrowth on a sparse frame (lazy import)."""
    try:
        from mlxtend.frequent_patterns import fpgrowth
    except ImportError:
        raise InputError("max_len >= 4 needs mlxtend: pip install 'xsell[rules]'") from None
    # pandas-stubs leave the DataFrame.sparse accessor untyped (`sparse = ...`)
    frame = pd.DataFrame.sparse.from_spmatrix(  # type: ignore[attr-defined]
        x.astype(bool).tocsc(), columns=np.arange(x.shape[1]))
    found = fpgrowth(frame, min_support=min_support, max_len=max_len)
    sets: dict[int, np.ndarray] = {}
    counts: dict[int, np.ndarray] = {}
    for size in range(4, max_len + 1):
        part = found[found["itemsets"].map(len) == size]
        if len(part):
            rows = np.array([sorted(s) for s in part["itemsets"]], dtype=np.int32)
            order = np.lexsort(rows.T[::-1])  # _lookup searches rows in lexicographic order
            sets[size] = rows[order]
            counts[size] = np.rint(part["support"].to_numpy()[order] * x.shape[0]).astype(np.int64)
    return sets, counts


def frequent_itemsets(orders: Orders, min_support: float, max_len: int = 2, *,
                      max_basket_items: int | None | str = "auto") -> FrequentItemsets:
    """Frequent itemsets of 1..max_len items (see the module docstring)."""
    if not isinstance(orders, Orders):
        raise InputError(f"mining expects an Orders (from xsell.load_orders), not {type(orders).__name__}")
    max_len = check_max_len(max_len)
    support = _check_support(min_support, orders.n_orders)
    max_basket_items = check_basket_cap(max_basket_items)
    cap = (_AUTO_CAP if max_len >= 3 else None) if max_basket_items == "auto" else max_basket_items
    sizes = np.bincount(orders.order_index, minlength=orders.n_orders)
    keep_order = np.ones(orders.n_orders, dtype=bool) if cap is None else sizes <= int(cap)
    skipped = int(orders.n_orders - keep_order.sum())
    if skipped:
        noun = "basket" if skipped == 1 else "baskets"
        warnings.warn(f"{skipped:,} {noun} with more than {cap} distinct items were left out of mining "
                      f"(largest: {int(sizes.max()):,} items); pass max_basket_items=None to keep them",
                      stacklevel=2)
    n_orders = int(keep_order.sum())
    if n_orders == 0:
        raise InputError("no orders left to mine")
    min_count = _min_count(support, n_orders)
    kept_items = orders.item_index if skipped == 0 else orders.item_index[keep_order[orders.order_index]]
    item_counts = np.bincount(kept_items, minlength=orders.n_items)
    keep_item = item_counts >= min_count
    x, items = _order_matrix(orders, keep_item, keep_order)
    sets = {1: items[:, None].astype(np.int32)}
    counts = {1: item_counts[items].astype(np.int64)}
    local_pairs, pair_counts = _pairs(x, min_count)
    sets[2], counts[2] = items[local_pairs].astype(np.int32).reshape(-1, 2), pair_counts
    if max_len >= 3:
        local_triples, triple_counts = _triples(x, local_pairs, min_count, len(items))
        sets[3], counts[3] = items[local_triples].astype(np.int32).reshape(-1, 3), triple_counts
    if max_len >= 4:
        more_sets, more_counts = _larger(x, support, max_len)
        for size in more_sets:
            sets[size], counts[size] = items[more_sets[size]].astype(np.int32), more_counts[size]
    return FrequentItemsets(n_orders, orders, sets, counts, skipped)


def itemsets_from_counts(counts: "PairCounts", min_support: float) -> FrequentItemsets:
    """The frequent items and pairs (max_len 2) of counted orders (`count_pairs`, or kept counts merged
    by an update): the same sets and counts `frequent_itemsets(orders, min_support, 2,
    max_basket_items=None)` finds, without the order lines. Pairs the counts dropped (below their
    min_count) are missing, so the counts must be kept at or below the support's count."""
    from xsell.data.idmap import IdMap

    support = _check_support(min_support, counts.n_orders)
    min_count = _min_count(support, counts.n_orders)
    item_counts = np.asarray(counts.item_counts, dtype=np.int64)
    items = np.flatnonzero(item_counts >= min_count)
    row = np.repeat(np.arange(counts.n_items, dtype=np.int64), np.diff(counts.indptr))
    col = counts.indices.astype(np.int64)
    upper = (row < col) & (counts.counts >= min_count)
    pairs = np.column_stack([row[upper], col[upper]]).astype(np.int32)
    order = np.lexsort((pairs[:, 1], pairs[:, 0])) if len(pairs) else np.empty(0, dtype=np.int64)
    # rule_arrays reads only the item id map of `orders` (and its size): an Orders without lines
    stand_in = Orders(orders=IdMap(np.empty(0, dtype=np.int64)), items=counts.items,
                      order_index=np.empty(0, dtype=np.int32), item_index=np.empty(0, dtype=np.int32))
    return FrequentItemsets(int(counts.n_orders), stand_in, {1: items[:, None].astype(np.int32), 2: pairs[order]},
                            {1: item_counts[items], 2: counts.counts[upper][order].astype(np.int64)}, 0)


def _lookup(sets: npt.NDArray[np.int32], counts: npt.NDArray[np.int64], query: npt.NDArray[np.int32],
            n_items: int) -> npt.NDArray[np.int64]:
    """Counts of the itemsets `query` (rows of sorted indices) found in `sets` (rows sorted lexicographically)."""
    width = sets.shape[1]
    if width == 1:
        full = np.zeros(n_items, dtype=np.int64)
        full[sets[:, 0]] = counts
        return full[query[:, 0]]
    weights = np.array([n_items ** (width - 1 - i) for i in range(width)], dtype=np.int64)
    keys = sets.astype(np.int64) @ weights
    qkeys = query.astype(np.int64) @ weights
    pos = np.searchsorted(keys, qkeys)
    return counts[pos]  # every subset of a frequent itemset is frequent: always found


def _rules_for_size(fi: FrequentItemsets, size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(antecedent index rows, consequent index rows, itemset row, antecedent mask: bit c set when column c
    of the itemset is in the antecedent) for every split of the size-k sets."""
    from itertools import combinations

    sets = fi.sets[size]
    out = []
    for ante_size in range(1, size):
        for ante_cols in combinations(range(size), ante_size):
            cons_cols = [c for c in range(size) if c not in ante_cols]
            mask = sum(1 << c for c in ante_cols)
            out.append((sets[:, list(ante_cols)], sets[:, cons_cols], np.arange(len(sets)), mask))
    return out


def _metrics(s_ac: np.ndarray, s_a: np.ndarray, s_c: np.ndarray, n: float) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = (s_ac * n) / (s_a * n)
        lift = confidence / s_c
        leverage = s_ac - s_a * s_c
        conviction = np.full(len(s_ac), np.inf)
        below = confidence < 1.0
        conviction[below] = (1.0 - s_c[below]) / (1.0 - confidence[below])
        denominator = np.maximum(s_ac * (1 - s_a), s_a * (s_c - s_ac))
        zhang = np.where(denominator == 0, 0.0, leverage / denominator)
        jaccard = s_ac / (s_a + s_c - s_ac)
        certainty = np.where(1 - s_c == 0, 0.0, (confidence - s_c) / (1 - s_c))
        kulczynski = ((s_ac * n) / (s_a * n) + (s_ac * n) / (s_c * n)) / 2
    return {"antecedent_support": s_a, "consequent_support": s_c, "support": s_ac, "confidence": confidence,
            "lift": lift, "leverage": leverage, "conviction": conviction, "zhangs_metric": zhang,
            "jaccard": jaccard, "certainty": certainty, "kulczynski": kulczynski}


def _index_filter(items: Iterable[Any] | None, fi: FrequentItemsets, name: str) -> np.ndarray | None:
    """Mask of the items a constraint names; refuses what would silently keep no rule: a single id
    (a string is not a list of ids), an empty list, a list of which no id is in the orders. Unknown
    ids next to known ones are ignored (a list from a catalog may name items never sold)."""
    if items is None:
        return None
    if isinstance(items, (str, bytes)) or not hasattr(type(items), "__iter__"):
        raise InputError(f"{name} must be a list of item ids, got {describe_type(items)}: "
                         f"did you mean [{short_repr(items)}]?")
    if isinstance(items, Mapping):
        raise InputError(f"{name} must be a list of item ids, got {describe_type(items)}")
    given = list(items)
    if not given:
        raise InputError(f"{name} is empty, so no rule can match; pass None to keep every rule")
    ids = fi.orders.items
    wanted = ids.indices_of(given, name)
    if not wanted:
        shown = ", ".join(short_repr(v) for v in given[:5]) + (f" and {len(given) - 5} more"
                                                                if len(given) > 5 else "")
        raise InputError(f"none of the {name} is in the orders ({shown}), so no rule can match; "
                         f"ids are matched exactly, as strings or integers like the orders' ids")
    mask = np.zeros(fi.orders.n_items, dtype=bool)
    mask[wanted] = True
    return mask


def rule_arrays(fi: FrequentItemsets, min_confidence: float = 0.0, *, min_lift: float | None = None,
                antecedents: Iterable[Any] | None = None, consequents: Iterable[Any] | None = None,
                must_contain: Iterable[Any] | None = None) -> list[dict[str, Any]]:
    """Rules as arrays (internal indices), one dict per (antecedent size, consequent size) block: antecedents,
    consequents (index rows), the METRICS, antecedent_count, consequent_count, count (orders holding both),
    itemset (the row of fi.sets[size]) and antecedent_mask (which columns of that row the antecedent holds)."""
    n_items = fi.orders.n_items
    n = float(fi.n_orders)
    min_confidence = check_confidence(min_confidence)
    min_lift = check_lift(min_lift)
    ante_ok, cons_ok, need = (_index_filter(antecedents, fi, "antecedents"),
                              _index_filter(consequents, fi, "consequents"),
                              _index_filter(must_contain, fi, "must_contain"))
    blocks = []
    for size in sorted(s for s in fi.sets if s >= 2):
        for ante, cons, which, mask in _rules_for_size(fi, size):
            keep = np.ones(len(which), dtype=bool)
            if ante_ok is not None:
                keep &= ante_ok[ante].all(axis=1)
            if cons_ok is not None:
                keep &= cons_ok[cons].all(axis=1)
            if need is not None:
                keep &= need[ante].any(axis=1) | need[cons].any(axis=1)
            ante, cons, which = ante[keep], cons[keep], which[keep]
            n_ac = fi.counts[size][which]
            n_a = _lookup(fi.sets[ante.shape[1]], fi.counts[ante.shape[1]], ante, n_items)
            n_c = _lookup(fi.sets[cons.shape[1]], fi.counts[cons.shape[1]], cons, n_items)
            metrics = _metrics(n_ac / n, n_a / n, n_c / n, n)
            keep = metrics["confidence"] >= min_confidence
            if min_lift is not None:
                keep &= metrics["lift"] >= min_lift
            blocks.append({"antecedents": ante[keep], "consequents": cons[keep],
                           **{k: v[keep] for k, v in metrics.items()},
                           "antecedent_count": n_a[keep].astype(np.int64),
                           "consequent_count": n_c[keep].astype(np.int64), "count": n_ac[keep].astype(np.int64),
                           "itemset": which[keep], "antecedent_mask": np.full(int(keep.sum()), mask, np.int64)})
    return blocks


def mine_rules(
    orders: Orders,
    min_support: float,
    min_confidence: float = 0.0,
    max_len: int = 2,
    *,
    min_lift: float | None = None,
    antecedents: Iterable[Any] | None = None,
    consequents: Iterable[Any] | None = None,
    must_contain: Iterable[Any] | None = None,
    sort_by: str | None = "lift",
    top: int | None = None,
    max_basket_items: int | None | str = "auto",
    progress: Callable[[str], None] | None = None,
    counts: bool = False,
    drop_mirrored: bool = False,
) -> pd.DataFrame:
    """Association rules with every standard metric, as a DataFrame (see the module docstring).

    antecedents / consequents: keep rules whose antecedent (consequent) items all lie in these.
    must_contain: keep rules that hold at least one of these items on either side.
    sort_by: a metric column (descending) or None; top: keep the first N after sorting.
    Columns: antecedents and consequents (tuples of external ids), then
    antecedent_support, consequent_support, support, [counts=True: antecedent_count,
    consequent_count, count, n_orders,] confidence, lift, leverage, conviction, zhangs_metric,
    jaccard, certainty, kulczynski.
    drop_mirrored: of two rules with the sides swapped keep one (the module docstring says which),
    before sorting and `top`.
    `frame.attrs` holds n_orders, itemset counts, skipped_baskets and mirrored_dropped.
    """
    if sort_by is not None and (not isinstance(sort_by, str) or sort_by not in METRICS):
        raise InputError(f"sort_by must be one of {', '.join(METRICS)}, got {sort_by!r}")
    if top is not None:
        check_int("top", top, 1)
    if not isinstance(orders, Orders):
        raise InputError(f"mining expects an Orders (from xsell.load_orders), not {type(orders).__name__}")
    check_max_len(max_len)
    _check_support(min_support, orders.n_orders)
    check_confidence(min_confidence)
    check_lift(min_lift)
    check_basket_cap(max_basket_items)
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a function of one message or None, got {progress!r}")
    for name, flag in (("counts", counts), ("drop_mirrored", drop_mirrored)):
        if not isinstance(flag, (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, got {flag!r}")
    say = progress or (lambda _msg: None)
    say("counting itemsets")
    fi = frequent_itemsets(orders, min_support, max_len, max_basket_items=max_basket_items)
    say("building rules")
    blocks = rule_arrays(fi, min_confidence, min_lift=min_lift, antecedents=antecedents,
                         consequents=consequents, must_contain=must_contain)
    dropped = 0
    if drop_mirrored:
        mirrored = _mirrored(blocks, fi)
        dropped = int(sum(int(m.sum()) for m in mirrored))
        blocks = [{k: v[~m] for k, v in block.items()} for block, m in zip(blocks, mirrored)]
    columns = RULE_COLUMNS[:5] + COUNT_COLUMNS + RULE_COLUMNS[5:] if counts else RULE_COLUMNS
    ids = orders.items.ids
    frames = []
    for block in blocks:
        part: dict[str, Any] = {"antecedents": _tuples(ids[block["antecedents"]]),
                                "consequents": _tuples(ids[block["consequents"]])}
        part.update({k: block[k] for k in METRICS})
        if counts:
            part.update({k: block[k] for k in COUNT_COLUMNS[:3]})
            part["n_orders"] = np.full(len(block["count"]), fi.n_orders, dtype=np.int64)
        frames.append(pd.DataFrame(part, columns=columns))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    if sort_by is not None and len(frame):
        frame = frame.sort_values(sort_by, ascending=False, kind="stable", ignore_index=True)
    if top is not None:
        frame = frame.head(top).reset_index(drop=True)
    frame.attrs.update({"n_orders": fi.n_orders, "skipped_baskets": fi.skipped_baskets,
                        "itemsets": {size: int(len(s)) for size, s in fi.sets.items()}, "mirrored_dropped": dropped})
    return frame


def _mirrored(blocks: list[dict[str, Any]], fi: FrequentItemsets) -> list[np.ndarray]:
    """Per block of `rule_arrays`, a mask of the rules whose mirror (the same itemset, the sides swapped) is
    also there and wins: it has the higher confidence (its antecedent is in fewer orders; the itemset's count
    is the same), or on a tie its antecedent holds the itemset's smallest id. Vectorised over all rules of
    one itemset size: a rule is (itemset row, antecedent mask), its mirror the complement mask."""
    id_rank = np.empty(fi.orders.n_items, dtype=np.int64)
    id_rank[fi.orders.items.order()] = np.arange(fi.orders.n_items)  # ids ascending, as the orders give them
    drops = [np.zeros(len(b["count"]), dtype=bool) for b in blocks]
    sizes = [b["antecedents"].shape[1] + b["consequents"].shape[1] for b in blocks]
    for size in sorted(set(sizes)):
        members = [t for t, s in enumerate(sizes) if s == size]
        which = np.concatenate([blocks[t]["itemset"] for t in members]).astype(np.int64)
        mask = np.concatenate([blocks[t]["antecedent_mask"] for t in members])
        ante_count = np.concatenate([blocks[t]["antecedent_count"] for t in members])
        if not len(which):
            continue
        key, mirror = which << size | mask, which << size | ((1 << size) - 1) ^ mask
        order = np.argsort(key, kind="stable")
        at = np.minimum(np.searchsorted(key[order], mirror), len(key) - 1)
        there = key[order][at] == mirror
        other = ante_count[order[at]]
        smallest = np.argmin(id_rank[fi.sets[size][which]], axis=1)  # the column holding the smallest id
        holds_smallest = (mask >> smallest) & 1 == 1
        drop = there & ((ante_count > other) | ((ante_count == other) & ~holds_smallest))
        bounds = np.cumsum([0] + [len(blocks[t]["count"]) for t in members])
        for t, lo, hi in zip(members, bounds[:-1], bounds[1:]):
            drops[t] = drop[lo:hi]
    return drops


def _tuples(rows: np.ndarray) -> list[tuple[Any, ...]]:
    if len(rows) == 0:
        return []
    return list(zip(*rows.T.tolist(), strict=True))
