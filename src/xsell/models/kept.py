"""Kept counts: what a counting model stores so that `update(new orders)` adds to it instead of refitting.

A model class mixes in `KeptCounts`, declares a `keep_counts` parameter, adds `KEPT_ARRAYS` and
`KEPT_CHECKS` to its schema and says how to rebuild itself from counts (`_rebuild(counts)`). What is
kept: every pair count at or above `keep_counts` (a symmetric CSR: `kept_indptr`, `kept_indices`,
`kept_counts`), the item counts and number of orders (already in the model's own arrays), and the
sorted ids of the orders counted (`kept_orders`), so an update can refuse an order it has seen.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.data.orders import Orders
from xsell.errors import InputError
from xsell.mining.pairs import PairCounts, count_pairs, merge_counts, prune_counts
from xsell.models.schema import Array, Csr, Values

_log = logging.getLogger("xsell.models")

# keep_counts: every kept pair (both directions, each row ascending) and the orders counted
KEPT_ARRAYS = (Array("kept_indptr", "<i8", ("items+1",), optional=True),
               Array("kept_indices", "<i4", ("kept",), optional=True),
               Array("kept_counts", "<i4", ("kept",), optional=True),
               Array("kept_orders", None, ("orders",), optional=True))
KEPT_CHECKS = (Csr("kept", "kept_indptr", "kept_indices"), Values("kept_counts", low=1))


def counted_orders(orders: Orders) -> IdMap:
    """The ids of the orders that hold a line, ascending (what a model keeping counts records)."""
    used = np.unique(orders.order_index)
    return IdMap(np.sort(orders.orders.ids[used]))


def restore_kept(arrays: Mapping[str, np.ndarray], items: IdMap, n_orders: int, floor: int
                 ) -> tuple[PairCounts, IdMap]:
    """The kept counts of a model file, checked as a count table must be (the schema checked the
    row pointer, columns in range and counts >= 1): each row ascending without its own item,
    symmetric, at or above the floor; the order ids valid, distinct, ascending, one per order."""
    from xsell.models.schema import check_id_length, check_ids

    indptr, indices, counts = arrays["kept_indptr"], arrays["kept_indices"], arrays["kept_counts"]
    n = np.int64(len(items))
    row = np.repeat(np.arange(len(items), dtype=np.int64), np.diff(indptr))
    key = row * n + indices
    if len(key) and ((np.diff(key) <= 0).any() or (row == indices).any()):
        raise InputError("kept_indices must be ascending within each row, without the row's own item")
    # symmetric <=> its column-major form (a linear counting sort in scipy, rows ascending per column)
    # holds the same three arrays
    table = sp.csr_matrix((counts, indices, indptr), shape=(len(items), len(items)), copy=False).tocsc()
    if not (np.array_equal(table.indptr, indptr) and np.array_equal(table.indices, indices)
            and np.array_equal(table.data, counts)):
        raise InputError("kept counts must be symmetric (each pair in both directions, the same count)")
    if len(counts) and int(counts.min()) < floor:
        raise InputError(f"kept_counts must be >= keep_counts ({floor})")
    ids = arrays["kept_orders"]
    check_ids("kept_orders", ids, distinct=False)
    check_id_length(ids)
    if len(ids) and not (ids[1:] > ids[:-1]).all():
        raise InputError("kept_orders must be distinct and ascending")
    return (PairCounts(n_orders, items, arrays["item_counts"], indptr, indices, counts, floor),
            IdMap.from_checked(ids))


def new_order_ids(counted: IdMap | None, orders: Any, name: str) -> IdMap:
    """The ids of the orders an update adds, after the checks every update makes: an Orders, a model
    that recorded the orders it counted, none of them counted before (refused, naming them)."""
    if not isinstance(orders, Orders):
        raise InputError(f"update expects an Orders (from xsell.load_orders), not {type(orders).__name__}")
    if counted is None:
        raise InputError(f"this {name} keeps no counts to update; fit it with keep_counts=1 "
                         f"(xsell fit --keep-counts 1) to update it later")
    new_ids = counted_orders(orders)
    seen = counted.to_internal(new_ids.ids, "order ids") >= 0
    if seen.any():
        shown = ", ".join(map(repr, new_ids.ids[seen][:3].tolist()))
        raise InputError(f"{int(seen.sum()):,} of the {len(new_ids):,} new orders are already in the model "
                         f"(order ids {shown}{', ...' if seen.sum() > 3 else ''}); an update counts each order "
                         f"once: leave them out")
    return new_ids


def all_order_ids(counted: IdMap, added: IdMap) -> IdMap:
    """The counted order ids with the added ones, ascending (int ids so far and text ones now: all as text)."""
    old_ids, new_ids = counted.ids, added.ids
    if counted.kind != added.kind:
        return IdMap(np.sort(np.concatenate([old_ids.astype(str), new_ids.astype(str)])))
    # both ascending and disjoint: one merge (a linear copy), not a sort of every id (70 ms at 1M orders)
    common = np.promote_types(old_ids.dtype, new_ids.dtype)  # a longer text id must not be cut
    old_ids, new_ids = old_ids.astype(common, copy=False), new_ids.astype(common, copy=False)
    return IdMap(np.insert(old_ids, np.searchsorted(old_ids, new_ids), new_ids))


def updated_prices(prices: np.ndarray | None, items: IdMap, orders: Orders) -> np.ndarray | None:
    """Item prices after an update: an item sold in the new orders takes their median price."""
    new_prices = orders.item_prices()
    if prices is None and new_prices is None:
        return None
    out = np.full(len(items), np.nan)
    if prices is not None:
        out[:len(prices)] = prices
    if new_prices is not None:
        at = items.to_internal(orders.items.ids)
        sold = ~np.isnan(new_prices)
        out[at[sold]] = new_prices[sold]
    return out


def updated_summary(summary: Mapping[str, Any] | None, orders: Orders, n_orders: int, n_items: int) -> dict[str, Any]:
    """The training summary after an update: orders, items, lines, updates and the date range."""
    out = dict(summary or {})
    new = orders.summary()
    out.update({"orders": int(n_orders), "items": int(n_items), "updates": int(out.get("updates", 0)) + 1,
                "lines": int(out.get("lines", 0)) + new["lines"]})
    if "last_order" in new:  # ISO texts: they order as the times do
        out["last_order"] = max(out.get("last_order", new["last_order"]), new["last_order"])
        out["first_order"] = min(out.get("first_order", new["first_order"]), new["first_order"])
    out.pop("customers", None)  # customers of the new orders may repeat: not a count that adds up
    return out


class KeptCounts:
    """`update(orders)` for a counting model that kept its counts (see the module docstring)."""

    keep_counts: int | None
    kept_: PairCounts | None = None  # the counts update adds to (keep_counts), pruned at keep_counts
    kept_orders_: IdMap | None = None  # the ids of the orders counted, ascending
    items_: IdMap
    n_orders_: int
    item_prices_: np.ndarray | None
    training_summary_: dict[str, Any]

    if TYPE_CHECKING:  # given by the model class (and Recommender); declared, not defined, here: a
        # definition would come first in the model's method order and hide Recommender's
        def _rebuild(self, counts: PairCounts) -> None:
            """The model's own arrays from counts (what fit does after counting)."""

        def _check_fitted(self) -> None: ...

    def update(self, orders: Orders) -> Any:
        """Add new orders (new items included) to the kept counts and rebuild the model from them;
        returns self. Needs a model fitted with keep_counts (see the class docstring for what is
        exact). Orders whose id the model has counted already are refused, never counted twice.
        Item prices: an item sold in the new orders takes their median price (the current one; a
        median over all orders cannot be had from the kept counts), the others keep theirs."""
        self._check_fitted()
        name = type(self).__name__
        kept = self.kept_
        new_ids = new_order_ids(self.kept_orders_ if kept is not None else None, orders, name)
        assert kept is not None and self.kept_orders_ is not None
        started = time.perf_counter()
        merged = merge_counts(kept, count_pairs(orders, 1), self.keep_counts or 1)
        self._rebuild(merged)
        self._keep(merged, all_order_ids(self.kept_orders_, new_ids))
        self.item_prices_ = updated_prices(getattr(self, "item_prices_", None), merged.items, orders)
        self.training_summary_ = updated_summary(getattr(self, "training_summary_", None), orders, merged.n_orders,
                                                 len(merged.items))
        _log.info("updated %s with %s orders in %.2f s", name, f"{len(new_ids):,}", time.perf_counter() - started)
        return self

    def _keep(self, counts: PairCounts, counted: IdMap) -> None:
        floor = self.keep_counts or 1
        self.kept_ = counts if floor <= counts.min_count else prune_counts(counts, floor)
        self.kept_orders_ = counted

    def _kept_arrays(self) -> dict[str, np.ndarray]:
        if self.kept_ is None or self.kept_orders_ is None:
            return {}
        return {"kept_indptr": self.kept_.indptr.astype(np.int64), "kept_indices": self.kept_.indices.astype(np.int32),
                "kept_counts": self.kept_.counts.astype(np.int32), "kept_orders": np.asarray(self.kept_orders_.ids)}

    def _restore_kept_counts(self, arrays: Mapping[str, np.ndarray], items: IdMap, n_orders: int) -> None:
        """After the model's own arrays are restored: its kept counts, when the file holds them."""
        has_kept = "kept_indptr" in arrays
        if has_kept != (self.keep_counts is not None):
            raise InputError("keep_counts is set but the file holds no kept counts" if not has_kept else
                             "the file holds kept counts but keep_counts is not set")
        self.kept_ = self.kept_orders_ = None
        if has_kept:
            self.kept_, self.kept_orders_ = restore_kept(arrays, items, n_orders, self.keep_counts or 1)
