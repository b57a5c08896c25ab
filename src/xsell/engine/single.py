"""One request (`cross_sell` of one basket, `up_sell` of one item) in two compiled kernels.

A single request holds a handful of candidates, where the vectorised pipeline of `filters` (which
batches use) would spend most of its time in numpy's per-call overhead. The kernels
(`xsell.kernels.engine`, imported on first use so `import xsell` stays fast) apply the same rules
in the same order with the same arithmetic, so a basket gets the same answer alone and in a batch
(tests/test_engine.py checks the two against each other). The probability's log1p and exp run in
numpy between the kernels, so their last bit is numpy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from xsell.engine.evidence import Evidence, read_only
from xsell.engine.filters import Rules, bad_categories
from xsell.engine.snapshot import Snapshot

_EMPTY = read_only(np.zeros(0, dtype=np.int32))
_KERNELS: Any = None  # xsell.kernels.engine, imported on first use (numba takes 0.3 s to import)


def kernels() -> Any:
    """The compiled kernels (`xsell.kernels.engine`), imported on first use."""
    global _KERNELS
    if _KERNELS is None:
        from xsell.kernels import engine

        _KERNELS = engine
    return _KERNELS


def substitute_args(subs: sp.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
    """The data-driven substitutes as the kernels take them: (indptr, indices), empty for none."""
    if subs is None:
        return _EMPTY, _EMPTY
    return read_only(subs.indptr), read_only(subs.indices)


def cross_sell(st: Snapshot, rules: Rules, held: np.ndarray, cand: np.ndarray,
               subs: tuple[np.ndarray, np.ndarray], evidence: Evidence, gap: float,
               k: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """One basket's answer: `held` its items (sorted unique internal indices), `cand` the model's candidates
    (best first), `gap` to the threshold (0: none). Returns (n <= k, ints, floats, bools), the answer best
    first, packed by n: ints items, the basket item behind each (-1: none); floats probability, expected
    revenue, expected margin, orders together, price, the behind item's orders, the item's base rate, the
    basket item behind each again; bools closes the gap, pinned (`kernels.engine.cross_sell_rank`)."""
    compiled = _KERNELS or kernels()
    m_max = len(rules.pin_src) + len(cand)
    hits = len(held) * m_max
    ints, floats = np.empty(4 * m_max + hits + 2 * k, dtype=np.int64), np.empty(m_max + hits + 8 * k)
    m, h = compiled.cross_sell_shortlist(held, cand, *rules.request_args, bad_categories(st, rules), st.item_ints,
                                        st.item_floats, st.item_flags, *subs, *evidence.request_args(), ints, floats)
    # the summed log(1 - p_ij) of each shortlisted item, basket items ascending (the evidence rows' order)
    total = np.bincount(ints[4 * m_max:4 * m_max + h], weights=np.log1p(floats[m_max:m_max + h]), minlength=m)
    out_i, out_f, out_b = ints[4 * m_max + hits:], floats[m_max + hits:], np.empty(2 * k, dtype=bool)
    n: int = compiled.cross_sell_rank(ints, floats, m, m_max, rules.request_args[2], np.exp(total), evidence.counts,
                                     evidence.base, st.item_ints, st.item_floats, gap, k, out_i, out_f, out_b)
    return n, out_i, out_f, out_b


def up_sell(st: Snapshot, rules: Rules, item: int, band: float, subs: tuple[np.ndarray, np.ndarray],
            base: np.ndarray, k: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """One priced item's up-sells: (n <= k, ints, floats, bools), best first, packed by n: ints items;
    floats share of orders, price, extra price, expected revenue, expected margin; bools pinned
    (`kernels.engine.up_sell`)."""
    compiled = _KERNELS or kernels()
    out_i, out_f, out_b = np.empty(k, dtype=np.int64), np.empty(5 * k), np.empty(k, dtype=bool)
    n: int = compiled.up_sell(item, st.item_ints, st.item_floats, st.item_flags, st.up_key, st.up_items, st.cents, band,
                             *subs, *rules.request_args, bad_categories(st, rules), base, k, out_i, out_f, out_b)
    return n, out_i, out_f, out_b


__all__ = ["cross_sell", "kernels", "substitute_args", "up_sell"]
