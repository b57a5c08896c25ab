"""Why each cross-sell was suggested, in words: one request's few (`request_reasons`, plain Python) and a
batch's many (`batch_reasons`, vectorised), the same text for the same suggestion.

A reason is, by the first that applies: "pinned by the merchandiser"; the basket item bought with it most
("bought together in 1,234 orders (12% of orders with 85123A)": the basket item with the highest
p_ij, ties to the lowest internal index, its orders together with the suggestion and the share of that
item's orders); else "suggested by CoOccurrence; in 0.3% of all orders" (the model, the item's share of all
orders). Then "; expected +1.23" (expected revenue) and, when its price closes the basket's gap to the
threshold, "; closes the 4.50 gap to 30.00".

A batch writes hundreds of thousands of reasons: `batch_reasons` builds them with Arrow's string kernels
(no Python loop per row), the numbers formatted exactly as Python's format() writes them (`money_texts`,
`thousands`), so a basket's reasons in a batch equal its reasons alone (tests/test_outputs.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xsell.engine.suggestions import money

PINNED = "pinned by the merchandiser"


def request_reasons(floats: list[list[float]], bools: list[list[bool]], names: list[Any], gap: float,
                    threshold: float | None, model: str) -> list[str]:
    """One request's reasons (the rows of `single.cross_sell`'s answer as lists: floats probability, expected
    revenue, expected margin, orders together, price, the behind item's orders, the item's base rate, the
    behind item; bools closes the gap, pinned; `names`: the ids of the basket items behind them)."""
    _p, revenue, _m, together, _price, held_counts, base, because = floats
    closes, pinned = bools
    closing = f"; closes the {money(gap)} gap to {money(threshold)}" if gap > 0 and threshold is not None else ""
    out = []
    for b, n_ij, rv, cl, pin, name, count, share_all in zip(because, together, revenue, closes, pinned, names,
                                                            held_counts, base):
        if pin:
            text = PINNED
        elif b >= 0:
            orders = int(n_ij)
            share = orders / max(count, 1.0)  # Evidence.share
            text = f"bought together in {orders:,} orders ({share:.0%} of orders with {name})"
        else:
            text = f"suggested by {model}; in {share_all:.1%} of all orders"
        out.append(f"{text}; expected +{rv:,.2f}{closing}" if cl else f"{text}; expected +{rv:,.2f}")  # money()
    return out


def batch_reasons(ids: np.ndarray, model: str, pinned: np.ndarray, because: np.ndarray, together: np.ndarray,
                  held_counts: np.ndarray, base: np.ndarray, revenue: np.ndarray, closes: np.ndarray,
                  gap: np.ndarray, threshold: float | None) -> Any:
    """Many suggestions' reasons as an Arrow string array, equal to `request_reasons` row for row.

    Per suggestion (arrays of one length): pinned; because: the internal index of the basket item behind it
    (-1: none); together: its orders with that item; held_counts: that item's orders; base: the suggestion's
    share of all orders; revenue: expected revenue; closes: its price closes the gap; gap: its basket's gap to
    `threshold`. `ids`: the model's item ids (internal order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(pinned)
    if n == 0:
        return pa.array([], type=pa.string())
    # the first part: each row's text among [pinned, one per row "bought together", one per distinct share
    # "suggested by"], gathered in one take
    texts: list[Any] = [pa.array([PINNED], type=pa.string())]
    first = np.zeros(n, dtype=np.int64)
    bought = ~pinned & (because >= 0)
    if bought.any():
        orders = together[bought].astype(np.int64)  # int(n_ij): n_ij is a whole count
        share = orders / np.maximum(held_counts[bought], 1.0)
        percent = np.rint(share * 100.0).astype(np.int64)  # '{:.0%}': x 100 in floating point, then rounded
        items, at = np.unique(because[bought], return_inverse=True)
        names = pa.array([f"{v}" for v in ids[items].tolist()], type=pa.string())  # once per item
        texts.append(_join("bought together in ", thousands(orders), " orders (",
                           pc.cast(pa.array(percent), pa.string()), "% of orders with ",
                           names.take(at.ravel().astype(np.int64)), ")"))
        first[bought] = 1 + np.arange(len(orders))
    suggested = ~pinned & (because < 0)
    if suggested.any():
        shares, at = np.unique(base[suggested], return_inverse=True)
        first[suggested] = sum(len(t) for t in texts) + at.ravel()
        texts.append(pa.array([f"suggested by {model}; in {v:.1%} of all orders" for v in shares.tolist()],
                              type=pa.string()))  # once per distinct share
    head = pa.concat_arrays(texts).take(first)
    # the last part: the gap closed, written once per distinct gap
    last = np.zeros(n, dtype=np.int64)
    closing: list[Any] = [pa.array([""], type=pa.string())]
    if closes.any() and threshold is not None:
        gaps, at = np.unique(gap[closes], return_inverse=True)
        closing.append(_join("; closes the ", money_texts(gaps), " gap to ", money(threshold)))
        last[closes] = 1 + at.ravel()
    return _join(head, "; expected +", money_texts(revenue), pa.concat_arrays(closing).take(last))


def _join(*parts: Any) -> Any:
    """Arrow's element-wise concatenation of string arrays and strings (which stand for every row)."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, "")


def thousands(values: np.ndarray) -> Any:
    """'{:,}' of non-negative integers (int64) as an Arrow string array: digits in groups of three."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=np.int64)
    plain = pc.cast(pa.array(values), pa.string())
    big = values >= 1000
    if not big.any():
        return plain
    head = thousands(values // 1000)
    tail = pc.utf8_lpad(pc.cast(pa.array(values % 1000), pa.string()), width=3, padding="0")
    return pc.if_else(pa.array(big), pc.binary_join_element_wise(head, tail, ","), plain)


def money_texts(values: np.ndarray) -> Any:
    """'{:,.2f}' of each value (what `money` writes), as an Arrow string array, exactly as Python rounds.

    Python rounds the exact binary value to cents, half to even. x * 100 in floating point is within half an
    ulp of the exact product, so its cents are the same unless it lies within that of half a cent: such
    values (rare), and negative, non-finite or huge ones, are written by Python itself."""
    import pyarrow as pa
    import pyarrow.compute as pc

    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        y = x * 100.0
        ok = np.isfinite(y) & ~np.signbit(x) & (y < 2.0**52)
        y = np.where(ok, y, 0.0)
        whole = np.floor(y)
        frac = y - whole  # exact below 2**52
        ok &= np.abs(frac - 0.5) > np.maximum(y, 1.0) * 2.0**-50
    cents = (whole + (frac > 0.5)).astype(np.int64)
    whole_part = thousands(cents // 100)
    cents_part = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0")
    text = pc.binary_join_element_wise(whole_part, cents_part, ".")
    if not ok.all():
        text = pc.replace_with_mask(text, pa.array(~ok), pa.array([money(v) for v in x[~ok].tolist()],
                                                                  type=pa.string()))
    return text


__all__ = ["PINNED", "batch_reasons", "money_texts", "request_reasons", "thousands"]
