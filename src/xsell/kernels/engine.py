"""Engine kernels: one `cross_sell` or `up_sell` request through the business rules, the co-purchase
evidence and the ranking, and the id matching a catalog swap needs.

One request is a handful of candidates, so numpy's per-call overhead (about 1 µs a call, some forty
calls a request) would be most of its cost; these kernels do the same arithmetic in a few compiled
calls. They answer exactly as the vectorised pipeline of `xsell.engine.filters` (which batches use):
the same IEEE operations in the same order (no fast-math, so no fused multiply-add), ties broken the
same way. Transcendental functions (log1p, exp) stay in numpy between two kernels, so their last bit
is numpy's whatever the CPU.

Arguments are plain arrays and scalars, packed so that a call unboxes few of them (each costs about
0.1 µs): the business rules as `rule_ints` (exclude, allow, block_src, block_dst, pin_src, pin_dst,
pin_pos, one after the other, split at the 8 offsets `rule_at`) and `rule_nums` (use_allow,
in_stock_only, has_min, min_price, has_max, max_price, n_pins, objective: 0 probability, 1 revenue,
2 margin, cap: max_per_category or 0); the catalog snapshot's per-item arrays as rows of `item_ints`
(category, parent, up-sell group, cent rank), `item_floats` (price, price0, cost) and `item_flags`
(in_stock, priced). "Not given" is an empty array. Every index read comes from arrays the engine built
and checked (the model's candidates, the snapshot, the compiled rules), so indices are not checked
again here.
"""

from __future__ import annotations

import numba
import numpy as np

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_DBL_MAX = np.finfo(np.float64).max


# -- small helpers ------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _has(sorted_keys: np.ndarray, key: int) -> bool:
    """`key` in the ascending array `sorted_keys` (a binary search)."""
    lo, hi = 0, len(sorted_keys)
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(sorted_keys) and sorted_keys[lo] == key


@numba.njit(cache=True, nogil=True)
def _among(values: np.ndarray, n: int, x: int) -> bool:
    """`x` among values[:n] (a linear scan: a handful of pins)."""
    for u in range(n):
        if values[u] == x:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _right(sorted_values: np.ndarray, value: float) -> int:
    """np.searchsorted(sorted_values, value, side="right")."""
    lo, hi = 0, len(sorted_values)
    while lo < hi:
        mid = (lo + hi) >> 1
        if value < sorted_values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(cache=True, nogil=True)
def _rule_arrays(rule_ints: np.ndarray, rule_at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                      np.ndarray, np.ndarray, np.ndarray]:
    """(exclude, allow, block_src, block_dst, pin_src, pin_dst, pin_pos) out of `rule_ints`."""
    return (rule_ints[rule_at[0]:rule_at[1]], rule_ints[rule_at[1]:rule_at[2]], rule_ints[rule_at[2]:rule_at[3]],
            rule_ints[rule_at[3]:rule_at[4]], rule_ints[rule_at[4]:rule_at[5]], rule_ints[rule_at[5]:rule_at[6]],
            rule_ints[rule_at[6]:rule_at[7]])


@numba.njit(cache=True, nogil=True)
def _allowed(j: int, exclude: np.ndarray, use_allow: bool, allow: np.ndarray, bad_category: np.ndarray,
             in_stock_only: bool, has_min: bool, min_price: float, has_max: bool, max_price: float,
             category: np.ndarray, in_stock: np.ndarray, price: np.ndarray) -> bool:
    """`filters.allowed` for one item: exclude_items, allow, exclude_categories, in_stock_only, price band."""
    if len(exclude) and _has(exclude, j):
        return False
    if use_allow and not _has(allow, j):
        return False
    if len(bad_category):
        c = category[j]
        if c >= 0 and bad_category[c]:
            return False
    if in_stock_only and not in_stock[j]:
        return False
    if has_min and not price[j] >= min_price:  # NaN fails, as numpy's comparison does
        return False
    if has_max and not price[j] <= max_price:
        return False
    return True


@numba.njit(cache=True, nogil=True)
def _less(a: float, b: float) -> bool:
    """a sorts before b in numpy's float order (NaN last)."""
    return a < b or (b != b and a == a)


@numba.njit(cache=True, nogil=True)
def _objective_key(p: float, revenue: float, margin: float, objective: int) -> float:
    """The key the objective ranks by: probability, revenue, or margin as np.nan_to_num(margin, nan=-inf)."""
    if objective == 0:
        return p
    if objective == 1:
        return revenue
    if margin != margin:
        return -np.inf
    if margin == np.inf:
        return _DBL_MAX
    if margin == -np.inf:
        return -_DBL_MAX
    return margin


@numba.njit(cache=True, nogil=True)
def _merge_sort(order: np.ndarray, first: np.ndarray, second: np.ndarray, third: np.ndarray,
                fourth: np.ndarray) -> None:
    """Sort the positions `order` in place, stably, by (first, second, third, fourth) ascending, each key in
    numpy's order (np.lexsort((fourth, third, second, first)) over the positions)."""
    m = len(order)
    buf = np.empty(m, dtype=order.dtype)
    width = 1
    src, dst = order, buf
    in_buf = False
    while width < m:
        lo = 0
        while lo < m:
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            a, b, t = lo, mid, lo
            while a < mid and b < hi:
                x, y = src[a], src[b]
                # take y first only when it sorts strictly before x (stable)
                before = False
                if _less(first[y], first[x]):
                    before = True
                elif not _less(first[x], first[y]):
                    if _less(second[y], second[x]):
                        before = True
                    elif not _less(second[x], second[y]):
                        if _less(third[y], third[x]):
                            before = True
                        elif not _less(third[x], third[y]):
                            before = _less(fourth[y], fourth[x])
                if before:
                    dst[t] = y
                    b += 1
                else:
                    dst[t] = x
                    a += 1
                t += 1
            while a < mid:
                dst[t] = src[a]
                a += 1
                t += 1
            while b < hi:
                dst[t] = src[b]
                b += 1
                t += 1
            lo += 2 * width
        src, dst = dst, src
        in_buf = not in_buf
        width *= 2
    if in_buf:
        order[:] = src


@numba.njit(cache=True, nogil=True)
def _cap_and_cut(ranked: np.ndarray, items: np.ndarray, pinned: np.ndarray, category: np.ndarray, cap: int,
                 k: int) -> np.ndarray:
    """`filters.cap_and_cut` for one row: of the positions `ranked` (best first), those kept by
    max_per_category (`cap`, 0: none; pins count and are always kept), at most k."""
    m = len(ranked)
    keep = np.ones(m, dtype=np.bool_)
    if cap > 0 and m:
        cats = np.empty(m, dtype=np.int64)
        for t in range(m):
            cats[t] = category[items[ranked[t]]]
        by_cat = np.argsort(cats, kind="mergesort")  # stable: ranked order within a category
        run = 0
        for t in range(m):
            q = by_cat[t]
            if t > 0 and cats[q] == cats[by_cat[t - 1]]:
                run += 1
            else:
                run = 0
            keep[q] = cats[q] < 0 or run < cap or pinned[ranked[q]]
    out = np.empty(min(m, k), dtype=np.int64)
    n = 0
    for t in range(m):
        if keep[t] and n < k:
            out[n] = ranked[t]
            n += 1
    return out[:n]


# -- cross-sell ---------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def cross_sell_shortlist(held: np.ndarray, cand: np.ndarray, rule_ints: np.ndarray, rule_at: np.ndarray,
                         rule_nums: np.ndarray, bad_category: np.ndarray, item_ints: np.ndarray,
                         item_floats: np.ndarray, item_flags: np.ndarray, sub_indptr: np.ndarray,
                         sub_indices: np.ndarray, source_of: np.ndarray, nb_indptr: np.ndarray,
                         nb_indices: np.ndarray, nb_counts: np.ndarray, counts: np.ndarray, base: np.ndarray,
                         smoothing: float, ints: np.ndarray, floats: np.ndarray) -> tuple[int, int]:
    """One basket's candidates through the rules (`filters.shortlist`, row 0) and its co-purchase hits.

    held: the basket (sorted unique internal indices); cand: the model's candidates, best first. Writes,
    with M = len(pin_src) + len(cand): ints[0:M] items, [M:2M] rank, [2M:3M] pin_order, [3M:4M] because,
    [4M:4M+H] hit_at; floats[0:M] together, [M:M+H] -hit_p (H = len(held) x M; the buffers may be longer),
    and returns (m, h): the shortlist's length m (active pins first, in the order given, rank 0; then the
    candidates that pass, with their 1-based rank among `cand`), for each item the basket item with the
    highest p_ij (-1: none) and their orders together; and the number h of (basket item, shortlisted item)
    pairs of the evidence, basket items ascending, each with its shortlist position and -p_ij (`Evidence`:
    p_ij = (n_ij + m b_j) / (n_i + m), clipped below 1). The caller adds log1p(-p_ij) per position in that
    order (`np.bincount`), as the evidence matrices' rows would be added. (Outputs go into the caller's
    buffers: boxing each returned array would cost a microsecond.)
    sub_indptr/sub_indices: the data-driven substitutes (empty: none). source_of maps a model item to the
    evidence's (-1: none); empty: the evidence's items are the model's."""
    exclude, allow, block_src, block_dst, pin_src, pin_dst, pin_pos = _rule_arrays(rule_ints, rule_at)
    use_allow, in_stock_only = rule_nums[0] != 0, rule_nums[1] != 0
    has_min, has_max = rule_nums[2] != 0, rule_nums[4] != 0
    min_price, max_price, n_pins = rule_nums[3], rule_nums[5], int(rule_nums[6])
    category, parent, price, in_stock = item_ints[0], item_ints[1], item_floats[0], item_flags[0]
    identity = len(source_of) == 0
    n_held = len(held)
    m_max = len(pin_src) + len(cand)
    items = ints[0:m_max]
    rank = ints[m_max:2 * m_max]
    pin_order = ints[2 * m_max:3 * m_max]
    m = 0
    # pins: the basket holds the pin's source and not its item; an item pinned twice counts at its first pin
    for t in range(len(pin_src)):
        b = pin_dst[t]
        if _has(held, pin_src[t]) and not _has(held, b):
            if not _among(items, m, b):
                items[m] = b
                rank[m] = 0
                pin_order[m] = pin_pos[t]
                m += 1
    n_pinned = m
    has_families = False
    for t in range(n_held):
        if parent[held[t]] >= 0:
            has_families = True
            break
    for t in range(len(cand)):
        j = cand[t]
        if not _allowed(j, exclude, use_allow, allow, bad_category, in_stock_only, has_min, min_price, has_max,
                        max_price, category, in_stock, price):
            continue
        blocked = False
        for u in range(len(block_src)):
            if block_dst[u] == j and _has(held, block_src[u]):
                blocked = True
                break
        if blocked:
            continue
        if has_families and parent[j] >= 0:  # the same product family as a basket item
            fam = parent[j]
            same = False
            for u in range(n_held):
                if parent[held[u]] == fam:
                    same = True
                    break
            if same:
                continue
        if len(sub_indptr):  # a data-driven substitute of a basket item
            sub = False
            for u in range(n_held):
                h = held[u]
                for p in range(sub_indptr[h], sub_indptr[h + 1]):
                    if sub_indices[p] == j:
                        sub = True
                        break
                if sub:
                    break
            if sub:
                continue
        if _among(items, n_pinned, j):  # pinned already
            continue
        items[m] = j
        rank[m] = t + 1
        pin_order[m] = n_pins
        m += 1
    # the evidence: each basket item's neighbour row (in the evidence's item space) against the shortlist:
    # a 1024-bit filter turns most entries away with one test, a binary search finds the rest
    keys = np.empty(m, dtype=np.int64)  # each shortlisted item in the evidence's space (-1: none)
    bits = np.zeros(16, dtype=np.int64)
    for t in range(m):
        c = items[t] if identity else source_of[items[t]]
        keys[t] = c
        if c >= 0:
            bits[(c >> 6) & 15] |= np.int64(1) << (c & 63)
    by_key = np.argsort(keys)
    sorted_keys = keys[by_key]
    because = ints[3 * m_max:4 * m_max]
    because[:] = -1
    together = floats[0:m_max]
    together[:] = 0.0
    best = np.zeros(m)
    hit_at = ints[4 * m_max:4 * m_max + n_held * m_max]
    hit_p = floats[m_max:m_max + n_held * m_max]
    h = 0
    if m:
        for t in range(n_held):
            i = held[t]
            s = i if identity else source_of[i]
            if s < 0:
                continue
            for p in range(nb_indptr[s], nb_indptr[s + 1]):
                c = np.int64(nb_indices[p])
                if not (bits[(c >> 6) & 15] >> (c & 63)) & 1:
                    continue
                lo, hi = 0, m
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if sorted_keys[mid] < c:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo == m or sorted_keys[lo] != c:
                    continue
                at = by_key[lo]
                j = items[at]  # the model's index of evidence item c
                n_ij = np.float64(nb_counts[p])
                pij = (n_ij + smoothing * base[j]) / (counts[i] + smoothing)
                pij = min(max(pij, 0.0), 1.0 - 1e-12)  # np.clip
                hit_at[h] = at
                hit_p[h] = -pij  # what log1p takes (an exact negation)
                h += 1
                if pij > best[at]:
                    best[at] = pij
                    because[at] = i
                    together[at] = n_ij
    return m, h


@numba.njit(cache=True, nogil=True)
def cross_sell_rank(ints: np.ndarray, floats: np.ndarray, m: int, m_max: int, rule_nums: np.ndarray,
                    exp_total: np.ndarray, counts: np.ndarray, base: np.ndarray, item_ints: np.ndarray,
                    item_floats: np.ndarray, gap: float, k: int, out_i: np.ndarray, out_f: np.ndarray,
                    out_b: np.ndarray) -> int:
    """`filters.rank_and_cut` for the shortlist `cross_sell_shortlist` wrote (m items in buffers of M = m_max):
    p = max(1 - exp(total), b_j) (`exp_total`: np.exp of each item's summed log(1 - p_ij)), expected revenue
    p x price and margin p x (price - cost), ranked by pins (in the order given), items closing the gap,
    the objective (0 probability, 1 revenue, 2 margin), the model's rank; then the category cap and the top
    k. Writes the n <= k kept, best first, packed by n: out_i[0:n] items, [n:2n] because; out_f[0:n] p,
    [n:2n] revenue, [2n:3n] margin, [3n:4n] together, [4n:5n] price, [5n:6n] the because item's orders n_i
    (0 for none), [6n:7n] the item's base rate, [7n:8n] because again; out_b[0:n] closes the gap, [n:2n]
    pinned (out_i and out_f may be the tails of the shortlist's buffers; sizes 2k, 8k, 2k); returns n."""
    n_pins, objective, cap = int(rule_nums[6]), int(rule_nums[7]), int(rule_nums[8])
    category, price, price0, cost = item_ints[0], item_floats[0], item_floats[1], item_floats[2]
    items = ints[0:m]
    rank = ints[m_max:m_max + m]
    pin_order = ints[2 * m_max:2 * m_max + m]
    because = ints[3 * m_max:3 * m_max + m]
    together = floats[0:m]
    p = np.empty(m)
    revenue = np.empty(m)
    margin = np.empty(m)
    neg_key = np.empty(m)
    not_closes = np.empty(m)
    closes = np.empty(m, dtype=np.bool_)
    pinned = np.empty(m, dtype=np.bool_)
    for t in range(m):
        j = items[t]
        q = 1.0 - exp_total[t]
        b = base[j]
        p[t] = q if (q >= b or q != q) else b  # np.maximum
        revenue[t] = p[t] * price0[j]
        margin[t] = p[t] * (price[j] - cost[j])
        neg_key[t] = -_objective_key(p[t], revenue[t], margin[t], objective)
        closes[t] = price0[j] >= gap and gap > 0
        not_closes[t] = 0.0 if closes[t] else 1.0
        pinned[t] = pin_order[t] < n_pins
    order = np.arange(m)
    _merge_sort(order, pin_order.astype(np.float64), not_closes, neg_key, rank.astype(np.float64))
    at = _cap_and_cut(order, items, pinned, category, cap, k)
    n = len(at)
    for t in range(n):
        q = at[t]
        j, b = items[q], because[q]
        out_i[t] = j
        out_i[n + t] = b
        out_f[t] = p[q]
        out_f[n + t] = revenue[q]
        out_f[2 * n + t] = margin[q]
        out_f[3 * n + t] = together[q]
        out_f[4 * n + t] = price[j]
        out_f[5 * n + t] = counts[b] if b >= 0 else 0.0
        out_f[6 * n + t] = base[j]
        out_f[7 * n + t] = b
        out_b[t] = closes[q]
        out_b[n + t] = pinned[q]
    return n


# -- up-sell ------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def up_sell(i: int, item_ints: np.ndarray, item_floats: np.ndarray, item_flags: np.ndarray, up_key: np.ndarray,
            up_items: np.ndarray, cents: np.ndarray, band: float, sub_indptr: np.ndarray, sub_indices: np.ndarray,
            rule_ints: np.ndarray, rule_at: np.ndarray, rule_nums: np.ndarray, bad_category: np.ndarray,
            base: np.ndarray, k: int, out_i: np.ndarray, out_f: np.ndarray, out_b: np.ndarray) -> int:
    """`UpSell.frame` for one priced item i: its substitutes in (price, band x price] (the same up-sell
    group: a binary search in the snapshot's (group, price) order, so the cost does not grow with the
    catalog; else its data-driven substitutes, sub_indptr/sub_indices, empty: none), through the rules
    (the item the row holds), pins first, then by share of orders x extra value (`objective`), then item
    index; the category cap and the top k. Writes the n <= k kept, best first, packed by n: out_i[0:n]
    items; out_f[0:n] share of orders, [n:2n] price, [2n:3n] extra price, [3n:4n] expected revenue,
    [4n:5n] expected margin; out_b[0:n] pinned (sizes k, 5k, k); returns n."""
    exclude, allow, block_src, block_dst, pin_src, pin_dst, pin_pos = _rule_arrays(rule_ints, rule_at)
    use_allow, in_stock_only = rule_nums[0] != 0, rule_nums[1] != 0
    has_min, has_max = rule_nums[2] != 0, rule_nums[4] != 0
    min_price, max_price = rule_nums[3], rule_nums[5]
    n_pins, objective, cap = int(rule_nums[6]), int(rule_nums[7]), int(rule_nums[8])
    category, group, cent_rank = item_ints[0], item_ints[2], item_ints[3]
    price, cost, in_stock, priced = item_floats[0], item_floats[2], item_flags[0], item_flags[1]
    pi = price[i]
    m_max = len(pin_src)
    lo = hi = 0
    g = group[i]
    if g >= 0:
        high = g << 32
        lo = _right(up_key, high | cent_rank[i])
        upper = np.floor(band * pi * 100 + 1e-6)
        top = max(_right(cents, upper) - 1, cent_rank[i])
        hi = _right(up_key, high | top)
        m_max += max(hi - lo, 0)
    elif len(sub_indptr):
        m_max += sub_indptr[i + 1] - sub_indptr[i]
    items = np.empty(m_max, dtype=np.int64)
    pin_order = np.empty(m_max, dtype=np.int64)
    m = 0
    for t in range(len(pin_src)):  # pins of this item (held: the item itself), priced ones only
        b = pin_dst[t]
        if pin_src[t] == i and b != i and priced[b]:
            if not _among(items, m, b):
                items[m] = b
                pin_order[m] = pin_pos[t]
                m += 1
    n_pinned = m
    n_cand = hi - lo if g >= 0 else (sub_indptr[i + 1] - sub_indptr[i] if len(sub_indptr) else 0)
    for t in range(max(n_cand, 0)):
        if g >= 0:
            c = up_items[lo + t]
        else:
            c = sub_indices[sub_indptr[i] + t]
            if not (priced[c] and price[c] > pi and price[c] <= band * pi):
                continue
        if c == i or not price[c] > pi:
            continue
        if not _allowed(c, exclude, use_allow, allow, bad_category, in_stock_only, has_min, min_price, has_max,
                        max_price, category, in_stock, price):
            continue
        blocked = False
        for u in range(len(block_src)):
            if block_dst[u] == c and block_src[u] == i:
                blocked = True
                break
        if blocked:
            continue
        if _among(items, n_pinned, c):  # pinned already
            continue
        items[m] = c
        pin_order[m] = n_pins
        m += 1
    items, pin_order = items[:m], pin_order[:m]
    likely = np.empty(m)
    extra = np.empty(m)
    extra_margin = np.empty(m)
    neg_score = np.empty(m)
    pinned_all = np.empty(m, dtype=np.bool_)
    for t in range(m):
        c = items[t]
        likely[t] = base[c]
        extra[t] = price[c] - pi
        extra_margin[t] = (price[c] - cost[c]) - (pi - cost[i])
        neg_score[t] = -_objective_key(likely[t], likely[t] * extra[t], likely[t] * extra_margin[t], objective)
        pinned_all[t] = pin_order[t] < n_pins
    order = np.arange(m)
    _merge_sort(order, pin_order.astype(np.float64), neg_score, items.astype(np.float64), np.zeros(m))
    at = _cap_and_cut(order, items, pinned_all, category, cap, k)
    n = len(at)
    for t in range(n):
        q = at[t]
        c = items[q]
        out_i[t] = c
        out_f[t] = likely[q]
        out_f[n + t] = price[c]
        out_f[2 * n + t] = extra[q]
        out_f[3 * n + t] = likely[q] * extra[q]
        out_f[4 * n + t] = likely[q] * extra_margin[q]
        out_b[t] = pinned_all[q]
    return n


# -- a catalog swap -----------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _utf8_points(data: np.ndarray, p: int, end: int, buf: np.ndarray) -> int:
    """Decode the UTF-8 bytes data[p:end] into `buf` (code points); their number, or -1 when they hold a NUL
    or do not fit."""
    length = 0
    while p < end:
        b0 = np.uint32(data[p])
        if b0 < 0x80:
            c = b0
            p += 1
        elif b0 < 0xE0:
            c = ((b0 & 0x1F) << 6) | (np.uint32(data[p + 1]) & 0x3F)
            p += 2
        elif b0 < 0xF0:
            c = ((b0 & 0x0F) << 12) | ((np.uint32(data[p + 1]) & 0x3F) << 6) | (np.uint32(data[p + 2]) & 0x3F)
            p += 3
        else:
            c = (((b0 & 0x07) << 18) | ((np.uint32(data[p + 1]) & 0x3F) << 12)
                 | ((np.uint32(data[p + 2]) & 0x3F) << 6) | (np.uint32(data[p + 3]) & 0x3F))
            p += 4
        if c == 0 or length == len(buf):
            return -1
        buf[length] = c
        length += 1
    return length


@numba.njit(cache=True, nogil=True)
def _same_row(model: np.ndarray, j: int, buf: np.ndarray, length: int) -> bool:
    """Model id j (NUL-padded code points) equals buf[:length]."""
    w = model.shape[1]
    if length < w and model[j, length] != 0:
        return False
    for t in range(length):
        if model[j, t] != buf[t]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _fnv(points: np.ndarray, length: int) -> np.uint64:
    """FNV-1a over the first `length` code points (stops early at a NUL: a model row's padding)."""
    h = _FNV_OFFSET
    for t in range(length):
        c = points[t]
        if c == 0:
            break
        h = (h ^ np.uint64(c)) * _FNV_PRIME
    return h


@numba.njit(cache=True, nogil=True)
def _by_partition(hashes: np.ndarray, shift: int, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
    """(start of each partition, positions ordered by partition) for partitions by the hashes' top bits."""
    start = np.zeros(n_parts + 1, dtype=np.int64)
    for h in hashes:
        start[np.int64(h >> np.uint64(shift)) + 1] += 1
    for p in range(n_parts):
        start[p + 1] += start[p]
    fill = start[:-1].copy()
    order = np.empty(len(hashes), dtype=np.int64)
    for e in range(len(hashes)):
        part = np.int64(hashes[e] >> np.uint64(shift))
        order[fill[part]] = e
        fill[part] += 1
    return start, order


@numba.njit(cache=True, nogil=True)
def match_utf8(model: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The model item of each catalog id, by exact string equality (-1: none): model ids as a
    (items, width) array of UTF-32 code points, NUL-padded (a numpy unicode array's view); catalog ids
    as UTF-8 `data` between `offsets` (an Arrow string array's buffers). No Python string is made.

    A catalog listing the model's items in the model's order matches row by row. Other rows are joined
    on a 64-bit FNV-1a hash of their code points, partitioned by the hash's top bits so that each
    partition's table stays in the CPU cache (a single table over a million ids costs a cache miss per
    insert and per probe), then every match is confirmed by comparing the strings in catalog order; a
    hash shared by two different ids falls back to the model ids of that partition."""
    n, w = model.shape
    m = len(offsets) - 1
    out = np.full(m, -1, dtype=np.int64)
    buf = np.empty(w, dtype=np.uint32)
    rows = np.empty(m, dtype=np.int64)  # the catalog rows not matched by position
    row_hash = np.empty(m, dtype=np.uint64)
    missed = 0
    for r in range(m):
        length = _utf8_points(data, int(offsets[r]), int(offsets[r + 1]), buf)
        if length < 0:  # a NUL, or longer than every model id: no match
            continue
        if r < n and _same_row(model, r, buf, length):
            out[r] = r
            continue
        rows[missed] = r
        row_hash[missed] = _fnv(buf, length)
        missed += 1
    if missed == 0 or n == 0:
        return out
    rows, row_hash = rows[:missed], row_hash[:missed]
    model_hash = np.empty(n, dtype=np.uint64)
    for j in range(n):
        model_hash[j] = _fnv(model[j], w)
    bits = 0
    while (n >> bits) > 2048:  # about 2,048 model ids a partition: its table (16 KB) in the L1/L2 cache
        bits += 1
    n_parts = 1 << bits
    shift = 64 - bits
    if bits == 0:  # two partitions by the top bit (a shift by 64 is undefined)
        shift, n_parts = 63, 2
    m_start, m_order = _by_partition(model_hash, shift, n_parts)
    c_start, c_order = _by_partition(row_hash, shift, n_parts)
    widest = 1
    for p in range(n_parts):
        widest = max(widest, m_start[p + 1] - m_start[p])
    size = 1
    while size < 2 * widest:
        size <<= 1
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)  # a model row; -1: empty
    candidate = np.full(missed, -1, dtype=np.int64)  # per missed row: the model row with its hash
    for p in range(n_parts):
        for e in range(m_start[p], m_start[p + 1]):
            j = m_order[e]
            slot = np.int64(model_hash[j] & mask)
            while table[slot] >= 0:
                slot = (slot + 1) & (size - 1)
            table[slot] = j
        for e in range(c_start[p], c_start[p + 1]):
            q = c_order[e]
            h = row_hash[q]
            slot = np.int64(h & mask)
            while table[slot] >= 0:
                j = table[slot]
                if model_hash[j] == h:
                    candidate[q] = j
                    break
                slot = (slot + 1) & (size - 1)
        for e in range(m_start[p], m_start[p + 1]):  # empty the table for the next partition
            slot = np.int64(model_hash[m_order[e]] & mask)
            while table[slot] >= 0:
                table[slot] = -1
                slot = (slot + 1) & (size - 1)
    for q in range(missed):  # confirm each match by the strings, in catalog order
        j = candidate[q]
        if j < 0:
            continue
        r = rows[q]
        length = _utf8_points(data, int(offsets[r]), int(offsets[r + 1]), buf)
        if _same_row(model, j, buf, length):
            out[r] = j
            continue
        h = row_hash[q]  # two ids share this hash: look through the partition's model ids
        part = np.int64(h >> np.uint64(shift))
        for e in range(m_start[part], m_start[part + 1]):
            j = m_order[e]
            if model_hash[j] == h and _same_row(model, j, buf, length):
                out[r] = j
                break
    return out


@numba.njit(cache=True, nogil=True)
def first_seen(codes: np.ndarray, row: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize over the model's items of catalog values given as codes over the catalog's rows
    (-1: none) and each model item's catalog row (-1: not in the catalog): (a code per model item in
    order of first appearance, -1 for none; the catalog code of each new code)."""
    n = len(row)
    new = np.full(n_codes, -1, dtype=np.int64)
    old = np.empty(n_codes, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    used = 0
    for t in range(n):
        r = row[t]
        c = codes[r] if r >= 0 else -1
        if c < 0:
            out[t] = -1
            continue
        if new[c] < 0:
            new[c] = used
            old[used] = c
            used += 1
        out[t] = new[c]
    return out, old[:used]


@numba.njit(cache=True, nogil=True)
def price_order(cents_all: np.ndarray, by_price: np.ndarray, group: np.ndarray,
                n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The up-sell search arrays of a snapshot from the priced items sorted by price in cents (`by_price`,
    ties by index): (cents: the distinct prices in cents, ascending; cent_rank: each item's position in
    cents, 0 for unpriced items; up_items: the priced items with an up-sell group (>= 0), by (group, price,
    index)) -- np.unique, np.searchsorted and np.lexsort's answers in two linear passes."""
    n = len(cents_all)
    cents = np.empty(len(by_price))
    cent_rank = np.zeros(n, dtype=np.int64)
    used = 0
    for t in range(len(by_price)):
        i = by_price[t]
        v = cents_all[i]
        if used == 0 or v != cents[used - 1]:
            cents[used] = v
            used += 1
        cent_rank[i] = used - 1
    count = np.zeros(n_groups + 1, dtype=np.int64)
    for t in range(len(by_price)):
        g = group[by_price[t]]
        if g >= 0:
            count[g + 1] += 1
    for g in range(n_groups):
        count[g + 1] += count[g]
    up_items = np.empty(count[n_groups], dtype=np.int64)
    for t in range(len(by_price)):  # a stable counting sort by group: price order within each
        i = by_price[t]
        g = group[i]
        if g >= 0:
            up_items[count[g]] = i
            count[g] += 1
    return cents[:used], cent_rank, up_items
