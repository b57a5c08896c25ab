"""Up-sell: pricier alternatives to an item, one at a time or many at once (one implementation).

An up-sell of item i is a substitute of i (the same category with a catalog, else the same product
family, else, with the training orders, an item bought by the same customers but rarely in the same
order) priced above i, at most `band` times its price, ranked by how often it sells (share of orders)
times the extra value (objective revenue or margin; probability: share of orders alone). Items
without a known price are never up-sells and get none. The business rules apply as for cross-sell,
each source item being the row that "holds" itself (`xsell.engine.filters`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.engine import filters, single
from xsell.engine.evidence import read_only
from xsell.engine.filters import Held, Rules
from xsell.engine.reasons import PINNED, money_texts
from xsell.engine.snapshot import Snapshot
from xsell.engine.suggestions import Columns, Suggestions, item_id, plain
from xsell.errors import InputError


class UpSell:
    """Up-sells over a model's items (`items`), with `band` and the data-driven substitutes `subs`
    (items x items, or None); `base`: each item's share of the training orders."""

    def __init__(self, items: IdMap, base: np.ndarray, band: float, subs: sp.csr_matrix | None,
                 subs_args: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.items = items
        self.base = read_only(base)
        self.band = band
        self.subs = subs
        self.subs_args = single.substitute_args(subs) if subs_args is None else subs_args

    def one(self, st: Snapshot, item: Any, k: int, rules: Rules) -> Suggestions:
        """Up-sells of one item, with reasons; InputError for an unknown item, one without a price, or one
        with nothing to compare it with."""
        i = self.items.index_of(item_id(item, "item"))
        if i < 0:
            raise InputError(f"unknown item {plain(item)!r}: the model was not trained on it")
        if not st.priced[i]:
            raise InputError(f"no price known for item {item!r}: give a catalog with prices or orders with prices")
        cat = st.cat
        if cat.category[i] < 0 and cat.parent[i] < 0 and self.subs is None:
            self.check(st)
            raise InputError(f"item {item!r} has no category or product family in the catalog, so nothing to "
                             f"up-sell it with: give it one, or the engine the training orders with customers "
                             f"(Engine(model, orders=orders); xsell score: --orders FILE)")
        n, ints, floats, bools = single.up_sell(st, rules, i, float(self.band), self.subs_args, self.base, k)
        base = float(st.price[i])
        how = _how(st, i)
        likely, price = floats[:2 * n].reshape(2, n).tolist()
        pinned = "pinned by the merchandiser"
        reasons = [f"{pinned if pin else how}, {p / base:.2f}x the price (+{p - base:,.2f}); in {lk:.1%} of orders"
                   for p, lk, pin in zip(price, likely, bools[:n].tolist())]  # the +amount as money() writes it
        ids = self.items.ids[ints[:n]]

        def columns() -> dict[str, Any]:
            return {"item_id": ids, "probability": floats[:n], "price": floats[n:2 * n],
                    "extra_price": floats[2 * n:3 * n], "expected_revenue": floats[3 * n:4 * n],
                    "expected_margin": floats[4 * n:5 * n],
                    "closes_gap": np.zeros(n, bool), "pinned": bools[:n], "reason": reasons}

        return Suggestions.of(Columns(ids, columns), basket_value=base)

    def many(self, st: Snapshot, items: Any, k: int, rules: Rules, reasons: bool = True) -> pd.DataFrame:
        """Up-sells of many items (a column or list of item ids): item_id, rank, upsell_id, probability, price,
        extra_price, expected_revenue, expected_margin, closes_gap, pinned, reason (as `one` writes it; left out
        with reasons=False); unknown and unpriced items get no rows."""
        if isinstance(items, pd.DataFrame):
            if "item_id" not in items.columns:
                raise InputError(f"items frame lacks column item_id; it has: {', '.join(map(str, items.columns))}")
            column = items["item_id"]
            if isinstance(column, pd.DataFrame):
                raise InputError(f"items frame has {column.shape[1]} columns named item_id; keep one")
            values = column.to_numpy()
        elif items is None or isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
            raise InputError(f"items must be a list of item ids or a DataFrame with an item_id column, "
                             f"not {type(items).__name__}")
        else:
            values = (items if isinstance(items, pd.Series) else pd.Series(list(items), dtype=object)).to_numpy()
        self.check(st)
        idx = self.items.to_internal(values).astype(np.int64)  # the model's matching rule, vectorised
        idx = idx[idx >= 0]
        uniq = np.unique(idx[st.priced[idx]])
        frame, source = self.frame(st, uniq, k, rules, with_source=True)
        frame = frame.rename(columns={"item_id": "upsell_id", "source_id": "item_id"})
        columns = ["item_id", "rank", "upsell_id", "probability", "price", "extra_price", "expected_revenue",
                   "expected_margin", "closes_gap", "pinned"]
        if reasons:
            frame["reason"] = self.reasons(st, source, frame["price"].to_numpy(), frame["probability"].to_numpy(),
                                           frame["pinned"].to_numpy())
            columns.append("reason")
        out: pd.DataFrame = frame[columns]
        return out

    def reasons(self, st: Snapshot, source: np.ndarray, price: np.ndarray, likely: np.ndarray,
                pinned: np.ndarray) -> Any:
        """`one`'s reasons for many rows (source items as internal indices), vectorised with Arrow's string
        kernels: the text per source item once, the numbers formatted as Python's format() writes them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(source) == 0:
            return pd.array([], dtype=object)
        sources, at = np.unique(source, return_inverse=True)
        how = [_how(st, i) for i in sources.tolist()]  # once per source item
        head = pc.if_else(pa.array(pinned), PINNED, pa.array(how, type=pa.string()).take(at.ravel()))
        base = st.price[source]
        ratio = price / base
        ratio_text = money_texts(ratio)
        wide = ratio >= 1000  # '{:.2f}' has no thousands separator: the few such rows written by Python
        if wide.any():
            rows = np.flatnonzero(wide)
            written = pa.array([f"{v:.2f}" for v in ratio[rows].tolist()], type=pa.string())
            ratio_text = pc.if_else(pa.array(wide), written.take(np.maximum(np.cumsum(wide) - 1, 0)), ratio_text)
        shares, share_at = np.unique(likely, return_inverse=True)
        share_text = pa.array([f"{v:.1%}" for v in shares.tolist()], type=pa.string()).take(share_at.ravel())
        text = pc.binary_join_element_wise(head, ", ", ratio_text, "x the price (+", money_texts(price - base),
                                           "); in ", share_text, " of orders", "")
        return text.to_numpy(zero_copy_only=False)

    def check(self, st: Snapshot) -> None:
        """Refuse up-sell requests this engine can never answer (every up-sell path calls it): without a
        category, family or data-driven substitutes nothing compares with anything; without a price for
        any item nothing is an up-sell."""
        if self.subs is None and not (st.group >= 0).any():
            raise InputError("up_sell needs a catalog with categories or families, or the training orders with "
                             "customers (Engine(model, orders=orders); xsell score: --orders FILE)")
        if not st.priced.any():
            raise InputError("up_sell needs prices and no item has one: give a catalog with prices or orders "
                             "with prices")

    def pairs(self, st: Snapshot, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
                                     + filters.cumcount(np.repeat(np.arange(len(grouped)), lengths))])
        rest = src[group[src] < 0]
        if len(rest) and self.subs is not None:
            sub = self.subs[rest].tocoo()
            s_, c_ = rest[sub.row], sub.col.astype(np.int64)
            ok = st.priced[c_] & (price[c_] > price[s_]) & (price[c_] <= self.band * price[s_])
            out_s.append(s_[ok])
            out_c.append(c_[ok])
        if not out_s:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        s_all, c_all = np.concatenate(out_s), np.concatenate(out_c)
        keep = (c_all != s_all) & (price[c_all] > price[s_all])
        return s_all[keep], c_all[keep]

    def frame(self, st: Snapshot, src: np.ndarray, k: int, rules: Rules, with_source: bool = False) -> Any:
        """The top k up-sells of each source item (internal indices, priced), through the business rules."""
        s_, c_ = self.pairs(st, src)
        held = Held.own(src[st.priced[src]], len(self.items))  # each source item is a row holding itself
        chosen = filters.shortlist(st, rules, held, s_, c_, np.zeros(len(s_), np.int64), None, cross_sell=False)
        s_, c_, pin_order = chosen.rows, chosen.items, chosen.pin_order
        price, cost = st.price, st.cost
        likely = self.base[c_]
        extra = price[c_] - price[s_]
        extra_margin = (price[c_] - cost[c_]) - (price[s_] - cost[s_])
        score = {"probability": likely, "revenue": likely * extra,
                 "margin": np.nan_to_num(likely * extra_margin, nan=-np.inf)}[rules.objective]
        order = np.lexsort((c_, -score, pin_order, s_))
        pinned = pin_order[order] < rules.n_pins
        at, rank = filters.cap_and_cut(st, rules, s_[order], c_[order], pinned, k)
        order = order[at]
        s_, c_, likely, extra, extra_margin, pinned = (s_[order], c_[order], likely[order], extra[order],
                                                       extra_margin[order], pinned[at])
        ids = self.items.ids
        frame = pd.DataFrame({"source_id": ids[s_], "rank": rank.astype(np.int32), "item_id": ids[c_],
                              "probability": likely, "price": price[c_], "extra_price": extra,
                              "expected_revenue": likely * extra, "expected_margin": likely * extra_margin,
                              "closes_gap": np.zeros(len(s_), bool), "pinned": pinned})
        return (frame, s_) if with_source else frame


def _how(st: Snapshot, i: int) -> str:
    """How item i's up-sells were found, the first words of their reason."""
    cat = st.cat
    if cat.category[i] >= 0:
        return f"same category '{cat.category_names[cat.category[i]]}'"
    return "same product family" if cat.parent[i] >= 0 else "bought by the same customers, rarely in the same order"


__all__ = ["UpSell"]
