"""Order lines: loading, validation, cleaning and the sparse matrices models use.

An `Orders` holds one row per (order, item) after cleaning, as parallel numpy
arrays of internal indices plus the id maps that translate them back. It is
immutable; every model's `fit` takes one.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import MAX_ID_LENGTH, IdMap, short_repr
from xsell.data.tables import Missing, read_baskets, read_table, table_format
from xsell.errors import InputError

REQUIRED = ("order_id", "item_id")
OPTIONAL = ("customer_id", "timestamp", "quantity", "price")
CANONICAL = REQUIRED + OPTIONAL
_ID_COLUMNS = ("order_id", "item_id", "customer_id")
_SHOW = 5  # offending rows shown in an error message
# the input's row numbers of the lines being validated, when lines were left out before (placeholder items):
# error messages name rows of the input as the user sees it, not of what was left
_ROW_NUMBERS: ContextVar[np.ndarray | None] = ContextVar("xsell_row_numbers", default=None)


def _input_rows(positions: np.ndarray) -> np.ndarray:
    rows = _ROW_NUMBERS.get()
    return positions if rows is None else rows[positions]
_log = logging.getLogger("xsell.data")
PLACEHOLDER_ITEMS = ("", "?", "-", "none", "null", "nan", "n/a", "#n/a", "undefined")
"""Item ids left out by default (drop_placeholders=True), compared stripped and case-insensitively: a till's
'NONE', an empty cell, '?'. An empty cell is shown as '(empty)' in the load report."""
_NON_PRODUCT = (r"^(?:post|postage|shipping|delivery|carriage|freight|discount|fee|manual|adjust|adjustment|"
                r"bank charges|dot|gift ?card|voucher|coupon|service charge|deposit|sample|samples)$"
                r"|^(?:gift|voucher|coupon|discount|shipping|postage)[ _-]")
"""Item ids noted in the load report as looking like non-products (kept: drop them with drop_items)."""


@dataclass(frozen=True)
class LoadReport:
    """What cleaning did to the input, in lines. Shown to the user after loading.

    Each line left out is counted once, under the first of: a placeholder or
    dropped item (`items_dropped`, per item), bad quantity (missing or
    infinite), bad price (negative, missing or infinite), return (quantity
    <= 0), amount overflow (price x quantity beyond float64). `notes` name
    items kept that look like non-products (postage, discounts, vouchers).
    """

    source: str
    lines_read: int
    returns_dropped: int
    duplicates_aggregated: int
    lines_kept: int
    notes: tuple[str, ...] = field(default=())
    bad_quantity_dropped: int = 0
    bad_price_dropped: int = 0
    overflow_dropped: int = 0
    items_dropped: tuple[tuple[str, int], ...] = ()  # (item as shown, lines): placeholders and drop_items

    @property
    def item_lines_dropped(self) -> int:
        return sum(lines for _item, lines in self.items_dropped)

    def left_out(self) -> list[str]:
        """One phrase per reason lines were left out, e.g. '2 lines with a negative, ... price'."""
        parts = []
        if self.items_dropped:
            shown = ", ".join(f"{item} {lines:,}" for item, lines in self.items_dropped[:_SHOW])
            more = f", {len(self.items_dropped) - _SHOW:,} more" if len(self.items_dropped) > _SHOW else ""
            parts.append(f"{self.item_lines_dropped:,} lines with placeholder or dropped items ({shown}{more})")
        if self.bad_quantity_dropped:
            parts.append(f"{self.bad_quantity_dropped:,} lines with a missing or infinite quantity")
        if self.bad_price_dropped:
            parts.append(f"{self.bad_price_dropped:,} lines with a negative, missing or infinite price")
        if self.returns_dropped:
            parts.append(f"{self.returns_dropped:,} returns/cancellations (quantity <= 0)")
        if self.overflow_dropped:
            parts.append(f"{self.overflow_dropped:,} lines whose price x quantity overflows float64")
        return parts

    def __str__(self) -> str:
        parts = [f"{self.lines_read:,} lines read from {self.source}"]
        parts.extend(f"{part} left out" for part in self.left_out())
        if self.duplicates_aggregated:
            parts.append(f"{self.duplicates_aggregated:,} duplicate (order, item) lines merged")
        parts.extend(self.notes)
        parts.append(f"{self.lines_kept:,} lines kept")
        return "; ".join(parts)


class Orders:
    """Cleaned order lines, one per distinct (order, item), sorted by order then item.

    Attributes (all numpy arrays, one entry per line unless noted):
      order_index, item_index: int32 internal indices
      customer_index: int32, -1 for anonymous orders (None without a customer column)
      timestamp: int64 nanoseconds since the epoch, UTC-naive (None without one)
      quantity: float64 summed over merged duplicates (None without one)
      price: float64 unit price, quantity-weighted over merged duplicates (None without one)
      orders, items, customers: IdMap for each kind of id (customers may be None)
      report: LoadReport of what cleaning did
    """

    def __init__(
        self,
        *,
        orders: IdMap,
        items: IdMap,
        order_index: np.ndarray,
        item_index: np.ndarray,
        customers: IdMap | None = None,
        customer_index: np.ndarray | None = None,
        timestamp: np.ndarray | None = None,
        quantity: np.ndarray | None = None,
        price: np.ndarray | None = None,
        report: LoadReport | None = None,
    ) -> None:
        self.orders = orders
        self.items = items
        self.customers = customers
        self.order_index = order_index
        self.item_index = item_index
        self.customer_index = customer_index
        self.timestamp = timestamp
        self.quantity = quantity
        self.price = price
        self.report = report or LoadReport("arrays", len(order_index), 0, 0, len(order_index))
        self._matrices: dict[str, sp.csr_matrix] = {}

    # -- sizes -----------------------------------------------------------------
    @property
    def n_orders(self) -> int:
        return len(self.orders)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_customers(self) -> int:
        return 0 if self.customers is None else len(self.customers)

    @property
    def n_lines(self) -> int:
        return len(self.order_index)

    def __len__(self) -> int:
        return self.n_lines

    def __repr__(self) -> str:
        return (f"Orders({self.n_orders:,} orders, {self.n_items:,} items, "
                f"{self.n_customers:,} customers, {self.n_lines:,} lines)")

    # -- matrices --------------------------------------------------------------
    def order_item_matrix(self, dtype: Any = np.float32) -> sp.csr_matrix:
        """Binary orders x items matrix (CSR, int32 indices, sorted, no duplicates)."""
        key = f"oi-{np.dtype(dtype).str}"
        if key not in self._matrices:
            indptr = np.zeros(self.n_orders + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.order_index, minlength=self.n_orders), out=indptr[1:])
            if indptr[-1] < np.iinfo(np.int32).max:
                indptr = indptr.astype(np.int32)
            data = np.ones(self.n_lines, dtype=dtype)
            m = sp.csr_matrix((data, self.item_index, indptr), shape=(self.n_orders, self.n_items))
            m.has_sorted_indices = True
            self._matrices[key] = m
        return self._matrices[key]

    def customer_item_matrix(self, dtype: Any = np.float32) -> sp.csr_matrix:
        """customers x items matrix: in how many of the customer's orders each item was.

        Anonymous lines are left out. Raises InputError without a customer column.
        """
        if self.customer_index is None or self.customers is None:
            raise InputError("these orders have no customer_id column; "
                             "map one with columns={'customer_id': 'YourColumn'}")
        key = f"ci-{np.dtype(dtype).str}"
        if key not in self._matrices:
            from xsell.kernels.orders import count_pairs_csr  # compiled: numba is imported on first use

            # one compiled pass: the arrays of sp.csr_matrix((ones, (customer, item))).sum_duplicates()
            indptr, indices, counts = count_pairs_csr(self.customer_index, self.item_index, self.n_customers,
                                                      self.n_items)
            wide = max(len(indices), self.n_customers, self.n_items) >= np.iinfo(np.int32).max
            index_dtype = np.int64 if wide else np.int32  # what scipy chooses
            m = sp.csr_matrix((counts.astype(dtype), indices.astype(index_dtype, copy=False),
                               indptr.astype(index_dtype)), shape=(self.n_customers, self.n_items))
            m.has_sorted_indices = True
            m.has_canonical_format = True
            self._matrices[key] = m
        return self._matrices[key]

    def item_counts(self) -> np.ndarray:
        """Number of orders that contain each item (int64, by internal index)."""
        return np.bincount(self.item_index, minlength=self.n_items).astype(np.int64)

    def item_prices(self) -> np.ndarray | None:
        """Median unit price of each item over its lines (float64), or None without prices."""
        if self.price is None:
            return None
        from xsell.kernels.orders import group_medians  # compiled: numba is imported on first use

        # pd.Series(price).groupby(item_index).median(), NaN for an item without a priced line
        out: np.ndarray = group_medians(np.asarray(self.price, dtype=np.float64), self.item_index, self.n_items)
        return out

    # -- views -----------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The cleaned lines as a DataFrame with external ids and canonical columns."""
        cols: dict[str, Any] = {
            "order_id": self.orders.ids[self.order_index],
            "item_id": self.items.ids[self.item_index],
        }
        if self.customer_index is not None and self.customers is not None:
            cust = pd.Series(self.customers.ids[np.maximum(self.customer_index, 0)])
            if self.customers.kind == "int":
                cust = cust.astype("Int64")
            cust[self.customer_index < 0] = pd.NA
            cols["customer_id"] = cust.array
        if self.timestamp is not None:
            cols["timestamp"] = self.timestamp.astype("datetime64[ns]")
        if self.quantity is not None:
            cols["quantity"] = self.quantity
        if self.price is not None:
            cols["price"] = self.price
        return pd.DataFrame(cols)

    def summary(self) -> dict[str, Any]:
        """Counts and date range, as stored in a model file's training summary."""
        out: dict[str, Any] = {
            "orders": self.n_orders,
            "items": self.n_items,
            "customers": self.n_customers,
            "lines": self.n_lines,
        }
        if self.timestamp is not None and self.n_lines:
            out["first_order"] = str(np.datetime64(int(self.timestamp.min()), "ns").astype("datetime64[s]"))
            out["last_order"] = str(np.datetime64(int(self.timestamp.max()), "ns").astype("datetime64[s]"))
        return out

    def select_orders(self, keep: np.ndarray) -> "Orders":
        """The lines of the orders where `keep` (bool, one per order) is True.

        Id maps are shared, so indices stay comparable across the parts of a
        split; items without a line in the part simply have no count.
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_orders,):
            raise InputError(f"keep must have one entry per order ({self.n_orders:,}), got shape {keep.shape}")
        line = keep[self.order_index]

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[line]

        n = int(line.sum())
        report = LoadReport(f"{self.report.source} (selected orders)", n, 0, 0, n)
        return Orders(orders=self.orders, items=self.items, order_index=self.order_index[line],
                      item_index=self.item_index[line], customers=self.customers,
                      customer_index=take(self.customer_index), timestamp=take(self.timestamp),
                      quantity=take(self.quantity), price=take(self.price), report=report)

    def since(self, window: Any) -> "Orders":
        """The orders of a recent window only: "90d" (also h, w; text needs its unit; a number is days) or a
        `pandas.Timedelta` keeps the orders placed at most that long before the newest order; a date
        ("2011-09-01", a datetime) keeps the orders placed on or after it. Items, orders and customers
        without a line left are dropped from the id maps; the report says how many orders were left out.
        An order's time is the earliest of its lines'. Raises without timestamps or when nothing is left."""
        times = self.order_times()
        # orders without a line (a split's part shares the id maps of the whole) have no time
        placed = np.bincount(self.order_index, minlength=self.n_orders) > 0
        if not placed.any():
            raise InputError("since: there are no orders")
        newest = int(times[placed].max())
        cutoff, label = _cutoff(window, newest)
        keep = placed & (times >= cutoff)
        if not keep.any():
            raise InputError(f"since={window!r} leaves no order: the newest is from {_day(newest)}")
        line = keep[self.order_index]

        def compact(ids: IdMap, index: np.ndarray) -> tuple[IdMap, np.ndarray]:
            used = np.zeros(len(ids), dtype=bool)
            used[index[index >= 0]] = True
            new_index = np.cumsum(used, dtype=np.int64) - 1
            return IdMap.from_checked(ids.ids[used]), np.where(index >= 0, new_index[index], -1).astype(np.int32)

        order_map, order_index = compact(self.orders, self.order_index[line])
        item_map, item_index = compact(self.items, self.item_index[line])
        customers, customer_index = self.customers, None
        if self.customers is not None and self.customer_index is not None:
            customers, customer_index = compact(self.customers, self.customer_index[line])

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[line]

        left_out = int((placed & ~keep).sum())
        note = f"{left_out:,} order{'' if left_out == 1 else 's'} before {label} left out (since={window})"
        r = self.report
        report = LoadReport(r.source, r.lines_read, r.returns_dropped, r.duplicates_aggregated, int(line.sum()),
                            (*r.notes, note), r.bad_quantity_dropped, r.bad_price_dropped, r.overflow_dropped,
                            r.items_dropped)
        return Orders(orders=order_map, items=item_map, order_index=order_index, item_index=item_index,
                      customers=customers, customer_index=customer_index, timestamp=take(self.timestamp),
                      quantity=take(self.quantity), price=take(self.price), report=report)

    def order_times(self) -> np.ndarray:
        """Time of each order (int64 ns; the earliest of its lines). Raises without timestamps."""
        if self.timestamp is None:
            raise InputError("these orders have no timestamp column; map one with columns={'timestamp': NAME} "
                             "(xsell: --column timestamp=NAME)")
        out = np.full(self.n_orders, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(out, self.order_index, self.timestamp)
        return out

    # -- construction ----------------------------------------------------------
    @classmethod
    def from_indices(
        cls,
        order_index: np.ndarray,
        item_index: np.ndarray,
        *,
        items: IdMap | Any,
        orders: IdMap | Any | None = None,
        source: str = "arrays",
    ) -> "Orders":
        """Build from internal indices directly (generated logs); duplicates are merged."""
        item_map = items if isinstance(items, IdMap) else IdMap(items)
        n_orders = int(order_index.max()) + 1 if len(order_index) else 0
        order_map = orders if isinstance(orders, IdMap) else IdMap(
            np.arange(n_orders, dtype=np.int64) if orders is None else orders)
        return _assemble(order_map, item_map, order_index.astype(np.int32), item_index.astype(np.int32),
                         None, None, None, None, None, source, len(order_index), 0)


def _assemble(
    order_map: IdMap,
    item_map: IdMap,
    order_index: np.ndarray,
    item_index: np.ndarray,
    customer_map: IdMap | None,
    customer_index: np.ndarray | None,
    timestamp: np.ndarray | None,
    quantity: np.ndarray | None,
    price: np.ndarray | None,
    source: str,
    lines_read: int,
    returns_dropped: int,
    notes: tuple[str, ...] = (),
    dropped: tuple[int, int, int] = (0, 0, 0),
    items_dropped: tuple[tuple[str, int], ...] = (),
) -> Orders:
    """Sort lines by (order, item), merge duplicates and build an Orders.

    dropped: lines left out for a bad quantity, a bad price, an amount overflow.
    Raises InputError when a merged quantity overflows float64.
    """
    n_items = max(len(item_map), 1)
    key = order_index.astype(np.int64) * n_items + item_index
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    n_dup = int(len(key) - first.sum())

    def take(a: np.ndarray) -> np.ndarray:
        return a[order][first]

    def take_optional(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else take(a)

    if n_dup:
        group = np.cumsum(first) - 1
        start = np.flatnonzero(first)
        size = np.diff(np.append(start, len(key)))
        if price is not None:
            # plain mean, as sum(p / n): cannot overflow for finite prices
            p = price[order]
            price = np.bincount(group, weights=p / size[group])
        if quantity is not None:
            q = quantity[order]
            with np.errstate(over="ignore", invalid="ignore"):
                q_sum = np.bincount(group, weights=q)
            if price is not None:
                # weights scaled to sum to 1 within the group: no sum can overflow
                w = np.abs(q)
                w_max = np.maximum.reduceat(w, start)
                with np.errstate(invalid="ignore", divide="ignore"):
                    w = w / w_max[group]
                    w = w / np.bincount(group, weights=w)[group]
                    weighted = np.bincount(group, weights=w * p)
                price = np.where(w_max > 0, weighted, price)
            bad = ~np.isfinite(q_sum)
            if bad.any():
                orders_shown = order_map.ids[order_index[order][first][bad][:_SHOW]].tolist()
                items_shown = item_map.ids[item_index[order][first][bad][:_SHOW]].tolist()
                pairs = ", ".join(f"({o!r}, {i!r})" for o, i in zip(orders_shown, items_shown))
                raise InputError(f"merging duplicate (order, item) lines gives a quantity beyond float64 for "
                                 f"{int(bad.sum()):,} pairs; first (order, item): {pairs}; check the quantity column")
            quantity = q_sum
        order_index, item_index = take(order_index), take(item_index)
        customer_index, timestamp = take_optional(customer_index), take_optional(timestamp)
    else:
        order_index, item_index = order_index[order], item_index[order]
        customer_index, timestamp = take_optional(customer_index), take_optional(timestamp)
        quantity, price = take_optional(quantity), take_optional(price)
    report = LoadReport(source, lines_read, returns_dropped, n_dup, len(order_index), notes, *dropped,
                        items_dropped=items_dropped)
    return Orders(orders=order_map, items=item_map, order_index=order_index, item_index=item_index,
                  customers=customer_map, customer_index=customer_index, timestamp=timestamp,
                  quantity=quantity, price=price, report=report)


_WINDOW_HOURS = {"h": 1.0, "d": 24.0, "w": 168.0}
_NS_MIN = -(2**63) + 10**9 * 86400 * 366  # cutoffs before about 1678 print as "the first order"


def _day(ns: int) -> str:
    return str(np.datetime64(ns, "ns").astype("datetime64[s]")).replace("T", " ")


def _cutoff(window: Any, newest: int) -> tuple[int, str]:
    """(cutoff in int64 ns, the cutoff as text) of `Orders.since`: a window before `newest` or a date."""
    import datetime as dt
    import re

    what = (f"since must be a window like '90d', '12w' or '36h' (before the newest order), a number of days, "
            f"or a date like '2011-09-01'; got {window!r}")
    if isinstance(window, (bool, np.bool_)) or window is None:
        raise InputError(what)
    delta: pd.Timedelta | None = None
    try:
        if isinstance(window, (pd.Timedelta, dt.timedelta, np.timedelta64)):  # before numbers: timedelta64 is one
            delta = pd.Timedelta(window)
        elif isinstance(window, (int, float, np.integer, np.floating)):
            if not np.isfinite(window) or window <= 0:
                raise InputError(what)
            delta = pd.Timedelta(days=float(window))
        elif isinstance(window, str):
            found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hdw]?)\s*", window.lower())
            if found and not found.group(2):
                raise InputError(f"since {window!r} needs a unit (90d, 12w, 36h) or a full date (2011-09-01)")
            if found:
                delta = pd.Timedelta(hours=float(found.group(1)) * _WINDOW_HOURS[found.group(2)])
        span = None if delta is None or pd.isna(delta) else int(delta.value)  # overflows here past ~292 years
    except (OverflowError, ValueError) as exc:  # pandas' OutOfBounds errors are ValueErrors
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{what} (too long a window)") from None
    if delta is not None:
        if span is None or span <= 0:
            raise InputError(what)
        cutoff = max(newest - span, int(np.iinfo(np.int64).min) + 1)
        return cutoff, _day(cutoff) if cutoff > _NS_MIN else "the first order"
    if not isinstance(window, (str, dt.date, np.datetime64, pd.Timestamp)):
        raise InputError(what)
    try:
        stamp = pd.Timestamp(window)
        if pd.isna(stamp):
            raise InputError(what)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        value = int(stamp.as_unit("ns").value)
    except (OverflowError, ValueError, TypeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(what) from None
    return value, _day(value)


# -- loading -------------------------------------------------------------------
# timestamps are stored as int64 nanoseconds: this is the range that fits (to the second)
_TIME_MIN, _TIME_MAX = "1677-09-22T00:00:00", "2262-04-11T23:47:16"


def _timestamp_pair(columns: Mapping[str, Any] | None) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
    """A date and a time column mapped together, timestamp=("Date", "Time"): the mapping with the date column
    standing for the timestamp, and the (date, time) pair; (columns, None) when there is no pair."""
    if not isinstance(columns, Mapping) or not isinstance(columns.get("timestamp"), (tuple, list)):
        return columns, None
    pair = columns["timestamp"]
    if len(pair) != 2 or not all(isinstance(name, str) and name for name in pair) or pair[0] == pair[1]:
        raise InputError(f"timestamp=(DATE, TIME) takes two different column names, the date's and the time's "
                         f"(xsell: --column timestamp=Date+Time); got {short_repr(pair)}")
    return {**columns, "timestamp": pair[0]}, (pair[0], pair[1])


def _date_and_time(date: pd.Series, time: pd.Series) -> pd.Series:
    """One text column 'DATE TIME' from a date column and a time column (text, dates/datetimes, times of
    day, durations); missing where either is missing."""
    def text(col: pd.Series, part: str) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(col):
            return pd.Series(col.dt.strftime("%Y-%m-%d" if part == "date" else "%H:%M:%S.%f"))
        if pd.api.types.is_timedelta64_dtype(col):
            return pd.Series(pd.Timestamp("1970-01-01") + col).dt.strftime("%H:%M:%S.%f")
        return col.astype("string").str.strip()

    combined = text(date, "date") + " " + text(time, "time")
    return combined.astype(object).where(combined.notna(), None)


# a time of day alone: 9:58, 09:58:11.5, 9:58 pm, 09:58:11Z, 09:58 UTC, 09:58:11+01:00, T09:58
_TIME_OF_DAY = (r"^\s*T?\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*([AaPp]\.?[Mm]\.?)?\s*"
                r"([Zz]|(UTC|GMT|utc|gmt)?\s*([+-]\d{1,2}(:?\d{2})?)?)?\s*$")


def _time_only(col: pd.Series, parsed: pd.Series, where: str, name: str) -> None:
    """Refuse a column of times of day without a date ('09:58:11'), which pandas would stamp with today's
    date: only rows parsed as today need a look at their text."""
    now = (pd.Timestamp.now().normalize(), pd.Timestamp.now(tz="UTC").tz_localize(None).normalize())
    today = {day + pd.Timedelta(days=shift) for day in now for shift in (-1, 0, 1)}  # a UTC offset moves the day
    dates = parsed.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(parsed.dt, "tz", None) is not None \
        else parsed
    suspect = dates.dt.normalize().isin(list(today)).to_numpy()
    if not suspect.any():
        return
    text = col[suspect].astype(str)
    clock = text.str.match(_TIME_OF_DAY).to_numpy()
    if clock.any():
        mask = np.zeros(len(col), dtype=bool)
        mask[np.flatnonzero(suspect)[clock]] = True
        raise _time_of_day_error(where, name, mask, col)


def _time_of_day_error(where: str, name: str, mask: np.ndarray, col: pd.Series) -> InputError:
    return InputError(f"{where} holds times of day without a date ({_rows_text(mask, col)}); a time alone "
                      f"would be stamped with today's date. Map the date column and the time column together: "
                      f"columns={{'timestamp': ('DATE', {name!r})}} (xsell: --column timestamp=DATE+{name})")


def _resolve_columns(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Canonical role -> user's column name. Accepts either direction of mapping."""
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise InputError("columns must be a mapping of role to column name, e.g. {'order_id': 'InvoiceNo'}; "
                         f"got {type(columns).__name__}")
    out: dict[str, str] = {}
    for key, value in columns.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InputError(f"columns must map roles to column names given as strings; got {key!r}: {value!r}")
        if key in CANONICAL:
            role, name = key, value
        elif value in CANONICAL:
            role, name = value, key
        else:
            raise InputError(f"unknown column role in columns: {key!r}: {value!r}; each entry maps one of "
                             f"{', '.join(CANONICAL)} to a column of the input")
        if role in out:
            raise InputError(f"column role {role!r} is mapped twice in columns")
        out[role] = name
    # one column for two roles: the roles not mapped take the column named by the role itself
    by_column: dict[str, str] = {}
    for role in CANONICAL:
        name = out.get(role, role)
        if name in by_column:
            raise InputError(f"column '{name}' is mapped to two roles: {by_column[name]} and {role}")
        by_column[name] = role
    return out


def _absent_columns(names: dict[str, str]) -> Missing:
    """The message for absent columns: the first required role's, else the first mapped optional role's."""
    def message(label: str, columns: list[Any], absent: list[str]) -> str:
        for role in REQUIRED:
            if names[role] in absent:
                via = f" (mapped to '{names[role]}')" if names[role] != role else ""
                baskets = "" if any(names[r] != r for r in REQUIRED) or table_format(label) not in ("csv", "tsv") else \
                    "; a file of one basket per line, items split by commas and no header, reads with " \
                    "layout='baskets' (--layout baskets)"
                if table_format(label) in ("csv", "tsv") and any(_is_number(name) for name in columns):
                    baskets = "; its first line looks like data, not column names: add a header line such as " \
                              "order_id,item_id,quantity" + baskets
                return (f"missing required column '{role}'{via} in {label}; its columns are: "
                        f"{', '.join(map(str, columns)) or '(none)'}; map yours with "
                        f"--column {role}=NAME or columns={{'{role}': NAME}}{baskets}")
        optional = next((role for role in OPTIONAL if names[role] in absent), None)
        if optional is None:  # the time column of timestamp=(DATE, TIME)
            return f"column '{absent[0]}' mapped to the time of 'timestamp' is not in {label}; its columns are: " \
                   f"{', '.join(map(str, columns))}"
        return f"column '{names[optional]}' mapped to '{optional}' is not in {label}; its columns are: " \
               f"{', '.join(map(str, columns))}"
    return message


def _is_number(text: Any) -> bool:
    try:
        float(str(text).replace(",", "."))
    except ValueError:
        return False
    return True


def _repeated_columns(label: str, repeated: dict[Any, int]) -> str:
    shown = ", ".join(f"'{name}' ({times} times)" for name, times in repeated.items())
    return f"{label} has more than one column named {shown}; rename or drop the extra ones"


def _describe(role: str, name: str) -> str:
    return f"'{role}'" if role == name else f"'{role}' (column '{name}')"


def _rows(mask: np.ndarray, values: Any = None) -> str:
    idx = np.flatnonzero(mask)[:_SHOW]
    if values is None:
        shown = ", ".join(str(i) for i in _input_rows(idx))
    else:
        vals = np.asarray(values)[idx].tolist()  # Python scalars: the same text under numpy 1 and 2
        shown = ", ".join(f"{i} ({v!r})" for i, v in zip(_input_rows(idx), vals))
    return f"first rows (0-based): {shown}"


def _rows_text(mask: np.ndarray, col: pd.Series) -> str:
    """Like _rows, showing each value as text ('2300-01-01 00:00:00', not a datetime repr)."""
    idx = np.flatnonzero(mask)[:_SHOW]
    shown = ", ".join(f"{i} ({str(v)!r})" for i, v in zip(_input_rows(idx), col.iloc[idx]))
    return f"first rows (0-based): {shown}"


def _beyond_int64(where: str, name: str, mask: np.ndarray, values: Any) -> InputError:
    return InputError(f"{where} has {int(mask.sum()):,} ids beyond the int64 range; {_rows(mask, values)}; "
                      f"convert it to strings, for example df[{name!r}].astype(str)")


def _check_string_ids(values: pd.Series, where: str) -> None:
    """Ids longer than MAX_ID_LENGTH or holding a NUL; before any fixed-width array is built."""
    lengths = values.str.len().to_numpy(dtype=np.float64, na_value=np.nan)
    long = lengths > MAX_ID_LENGTH
    if long.any():
        idx = np.flatnonzero(long)[:_SHOW]
        shown = ", ".join(f"{row} ({int(lengths[i])} characters)" for i, row in zip(idx, _input_rows(idx)))
        raise InputError(f"{where} has {int(long.sum()):,} ids longer than {MAX_ID_LENGTH} characters; "
                         f"first rows (0-based): {shown}")
    nul = values.str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
    if nul.any():  # numpy drops trailing NULs: 'A\x00' would become 'A'
        raise InputError(f"{where} has {int(nul.sum()):,} ids containing the NUL character ('\\x00'); "
                         f"{_rows(nul, values.to_numpy(dtype=object))}")


def _id_column(col: pd.Series, role: str, name: str, nullable: bool) -> tuple[IdMap, np.ndarray]:
    """Validate an id column and factorize it; nulls become -1 where allowed.

    Accepted: strings (at most MAX_ID_LENGTH characters, no NUL) or integers
    within int64 (whole floats too). An empty string counts as null. Anything
    else is refused naming the column.
    """
    where = f"column {_describe(role, name)}"
    values = col.astype(object) if isinstance(col.dtype, pd.CategoricalDtype) else col
    null = values.isna().to_numpy()
    if values.dtype.kind == "O":  # an empty id is a missing one, as in a CSV
        empty = (values == "").to_numpy(dtype=bool, na_value=False)
        if empty.any():
            null = null | empty
            values = values.mask(empty)
    if null.any() and not nullable:
        raise InputError(f"{where} has {int(null.sum()):,} null ids; {_rows(null)}")
    kind = values.dtype.kind
    convert = f"convert it, for example df[{name!r}].astype(str)"
    if kind == "b":
        raise InputError(f"{where} holds booleans (True/False), not ids; map the column that holds the ids")
    if kind in "mM":
        raise InputError(f"{where} holds dates or times, not ids; {convert}")
    if kind == "u":
        v = values.to_numpy(dtype=np.uint64, na_value=0)
        big = ~null & (v > np.iinfo(np.int64).max)
        if big.any():
            raise _beyond_int64(where, name, big, v)
        values = pd.Series(pd.arrays.IntegerArray(v.astype(np.int64), null))
    elif kind == "f":
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = ~null
        bad = ok & (v != np.round(v))
        if bad.any():
            raise InputError(f"{where} has non-integer numeric ids; {_rows(bad, v)}")
        big = ok & ~((v >= -(2.0**63)) & (v < 2.0**63))  # inf too
        if big.any():
            raise _beyond_int64(where, name, big, v)
        values = pd.Series(pd.arrays.IntegerArray(np.where(null, 0, v).astype(np.int64), null))
    elif kind == "O":
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred == "string":
            _check_string_ids(values, where)
        elif inferred == "integer":  # Python ints in an object column: int ids, as IdMap makes them
            objs = values.to_numpy(dtype=object)
            try:
                ints = np.where(null, 0, objs).astype(np.int64)
            except OverflowError:
                big = np.fromiter((not n and not -(2**63) <= int(x) < 2**63 for x, n in zip(objs, null)),
                                  bool, len(objs))  # only to name the rows
                raise _beyond_int64(where, name, big, objs) from None
            values = pd.Series(pd.arrays.IntegerArray(ints, null))
        elif inferred == "boolean":
            raise InputError(f"{where} holds booleans (True/False), not ids; map the column that holds the ids")
        elif inferred in ("datetime", "datetime64", "date", "time", "timedelta", "timedelta64", "period"):
            raise InputError(f"{where} holds dates or times, not ids; {convert}")
        elif inferred == "bytes":
            raise InputError(f"{where} holds bytes, not ids; decode them, for example "
                             f"df[{name!r}].str.decode('utf-8')")
        elif inferred != "empty":
            is_str = np.fromiter((isinstance(x, str) for x in values), bool, len(values))
            if not is_str.any():
                kinds = sorted({type(x).__name__ for x in values[~null]})  # the error path only
                shown = kinds[0] if len(kinds) == 1 else inferred
                raise InputError(f"{where} holds {shown} values, not string or integer ids; {convert}")
            raise InputError(
                f"{where} mixes ids of different types ({inferred}); {_rows(~is_str & ~null, values.to_numpy())}; "
                f"convert it to one type, for example df[{name!r}].astype(str)")
    elif kind not in "i":
        raise InputError(f"{where} holds {values.dtype} values, not string or integer ids; {convert}")
    codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=True)
    codes = codes.astype(np.int32)
    if null.any():
        codes[null] = -1
    if pd.api.types.is_integer_dtype(uniques.dtype):  # a nullable IntegerArray (uniques never hold NA)
        ids = np.asarray(uniques, dtype=np.int64)
    else:
        ids = np.asarray(uniques)
    if ids.dtype.kind not in "iuU":
        ids = ids.astype(str) if ids.dtype.kind in "OS" or str(ids.dtype) in ("str", "string") else ids
    return IdMap(ids), codes


# what pandas reads as missing by default; CSVs are read without these so that an id 'NA' stays an id
_MISSING_TEXT = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                 "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


def _numeric_column(col: pd.Series, role: str, name: str) -> np.ndarray:
    """float64 values; NaN where missing, also 'NA', 'null' etc. (load_orders leaves those lines out).

    Other text ('two', '1,50') is refused.
    """
    if col.dtype.kind in "mM":
        raise InputError(f"column {_describe(role, name)} holds dates or times, not numbers")
    if col.dtype.kind in "iuf":
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    out = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(out) & col.notna().to_numpy()
    if bad.any() and pd.api.types.infer_dtype(col, skipna=True) == "string":
        text = col[bad].str.strip()
        # older pandas give NaN for '1e400'; it is a number, too large: inf, as newer pandas say
        huge = text.str.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+").to_numpy(dtype=bool, na_value=False)
        if huge.any():
            out = out.copy()
            out[np.flatnonzero(bad)[huge]] = np.array(text[huge].tolist(), dtype=np.float64)
        bad = np.isnan(out) & col.notna().to_numpy() & ~col.str.strip().isin(_MISSING_TEXT).to_numpy(dtype=bool)
    if bad.any():
        raise InputError(f"column {_describe(role, name)} has {int(bad.sum()):,} non-numeric values; "
                         f"{_rows(bad, col.to_numpy())}")
    return out


def _time_column(col: pd.Series, role: str, name: str) -> np.ndarray:
    """int64 nanoseconds since the epoch, UTC-naive. Unparseable, missing or out-of-range values are refused,
    and so are times of day without a date (pandas would stamp them with today's date)."""
    where = f"column {_describe(role, name)}"
    if col.dtype == object:
        times = col.map(lambda value: isinstance(value, datetime.time)).to_numpy(dtype=bool) if len(col) and \
            isinstance(col.iloc[0], datetime.time) else None  # a Parquet/Excel time-of-day column
        if times is not None and times.any():
            raise _time_of_day_error(where, name, times, col)
    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = col
    else:
        parsed = pd.to_datetime(col, errors="coerce", format="mixed", utc=True) if col.dtype.kind in "OU" or \
            pd.api.types.is_string_dtype(col) else pd.Series(pd.NaT, index=col.index)
        bad = parsed.isna().to_numpy() & col.notna().to_numpy()
        if bad.any() and not _parses_far_dates():
            # older pandas parse only the nanosecond range: tell dates outside it from text that is no date
            outside = bad.copy()
            outside[bad] = [_outside_range(value) for value in col.to_numpy()[bad]]  # the refused rows only
            if not outside[bad].all():
                unparseable = bad & ~outside
                raise InputError(f"{where} has {int(unparseable.sum()):,} unparseable timestamps; "
                                 f"{_rows(unparseable, col.to_numpy())}")
            raise _outside_error(where, outside, col)
        if bad.any():
            raise InputError(f"{where} has {int(bad.sum()):,} unparseable timestamps; {_rows(bad, col.to_numpy())}")
        _time_only(col, parsed, where, name)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = parsed.isna().to_numpy()
    if missing.any():
        raise InputError(f"{where} has {int(missing.sum()):,} missing timestamps; {_rows(missing)}")
    times = parsed.to_numpy()
    low, high = np.array([_TIME_MIN, _TIME_MAX], dtype="datetime64[s]").astype(times.dtype)  # in the column's unit
    outside = (times < low) | (times > high)
    if outside.any():  # nanoseconds would wrap around (2300 becomes 1715)
        raise _outside_error(where, outside, col)
    return times.astype("datetime64[ns]").astype(np.int64)


def _outside_error(where: str, outside: np.ndarray, col: pd.Series) -> InputError:
    return InputError(f"{where} has {int(outside.sum()):,} timestamps outside {_TIME_MIN.replace('T', ' ')}.."
                      f"{_TIME_MAX.replace('T', ' ')}; {_rows_text(outside, col)}")


@functools.lru_cache(maxsize=None)
def _parses_far_dates() -> bool:
    """Whether this pandas parses '2300-01-01' (2.0 gives NaT: no date beyond nanoseconds)."""
    parsed = pd.to_datetime(pd.Series(["2300-01-01"]), errors="coerce", format="mixed", utc=True)
    return not bool(parsed.isna().iloc[0])


def _outside_range(value: Any) -> bool:
    """Whether one value is a date or time outside the range timestamps are stored in."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return False
    if pd.isna(stamp):
        return False
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return not pd.Timestamp(_TIME_MIN) <= stamp <= pd.Timestamp(_TIME_MAX)


LAYOUTS = ("lines", "baskets")


def _item_filter(col: pd.Series, placeholders: bool, drop: frozenset[Any], name: str
                 ) -> tuple[np.ndarray | None, tuple[tuple[str, int], ...], tuple[str, ...]]:
    """Lines to keep (None: all), the items left out with their line counts (most lines first), and a note
    naming kept items that look like non-products. Works on the column's distinct values, then one isin.
    A column whose values cannot be told apart (lists, dicts) is left to _id_column's refusal."""
    if isinstance(col.dtype, pd.CategoricalDtype):  # its categories, used or not, would be counted
        col = col.astype(object)
    try:
        uniques = pd.Series(col.dropna().unique())
    except TypeError:  # unhashable values: not ids
        return None, (), ()
    if uniques.dtype.kind == "f":  # whole-number float ids are integer ids (_id_column): 1.0 is '1'
        v = uniques.to_numpy()
        if bool((np.abs(v) < 2.0**63).all() and (v == np.round(v)).all()):  # else _id_column refuses them
            uniques = uniques.astype(np.int64)
            col = col.astype("Int64")
    text = uniques.astype(str) if uniques.dtype.kind not in "OSU" else uniques.map(str)
    nul = uniques.dtype.kind == "O" and bool(text.str.contains("\x00", regex=False).any())
    if nul:  # pandas < 2.1 hashes text only up to a NUL ('\x00a' == ''): exact sets instead (such ids are refused
        # later anyway, so this slow path only runs on the way to that error)
        uniques = pd.Series(list(dict.fromkeys(col.dropna().tolist())), dtype=object)
        text = uniques.map(str)
    folded = text.str.strip().str.casefold()
    bad = folded.isin(PLACEHOLDER_ITEMS).to_numpy() if placeholders else np.zeros(len(uniques), dtype=bool)
    if drop:
        bad = bad | uniques.isin(drop).to_numpy(dtype=bool) | text.isin({str(v) for v in drop}).to_numpy()
    empty = col.isna().to_numpy() if placeholders else np.zeros(len(col), dtype=bool)
    notes: tuple[str, ...] = ()
    odd = folded.str.contains(_NON_PRODUCT, regex=True).to_numpy() & ~bad
    if odd.any():
        counts = col[col.isin(uniques[odd])].value_counts()
        shown = ", ".join(f"{item} ({lines:,} lines)" for item, lines in counts.head(_SHOW).items())
        notes = (f"items that look like non-products kept in '{name}': {shown}; leave them out with "
                 f"drop_items=[...] (xsell: --drop-item ID)",)
    if not bad.any() and not empty.any():
        return None, (), notes
    if nul:
        bad_set = set(uniques[bad].tolist())
        gone = np.fromiter((v in bad_set for v in col.tolist()), dtype=bool, count=len(col)) | empty
        counts = pd.Series(col[gone].tolist(), dtype=object).value_counts(dropna=False)
    else:
        gone = col.isin(uniques[bad]).to_numpy(dtype=bool, na_value=False) | empty
        counts = col[gone].value_counts(dropna=False)
    dropped = tuple(("(empty)" if pd.isna(cast(Any, item)) or item == "" else repr(item) if not str(item).strip()
                     else str(item), int(lines)) for item, lines in counts.items())
    return ~gone, dropped, notes


def load_orders(
    source: Any,
    columns: Mapping[str, str] | None = None,
    *,
    keep_returns: bool = False,
    layout: str = "lines",
    sep: str | None = None,
    drop_items: Iterable[Any] = (),
    drop_placeholders: bool = True,
) -> Orders:
    """Read order lines into a validated, cleaned `Orders`.

    source: a path (CSV/TSV, Parquet, Excel .xlsx, JSON or JSON Lines; text formats also .gz/.zst), a pandas
        DataFrame, a pyarrow Table, or any table with `__arrow_c_stream__` (a polars DataFrame, a DuckDB relation).
    layout: "lines" (one order line per row, with named columns) or "baskets": a text file with one
        basket per line, its items split by `sep` (default ","), no header (the arules/mlxtend basket
        format, e.g. Groceries); blank lines skipped, whitespace around items and empty items left out,
        order ids the baskets' numbers 1, 2, ... (`xsell.data.tables.read_baskets`).
    sep: a CSV's separator (one character; by default found from the file: , ; tab or |, as European
        spreadsheets write ';'), or the item separator of layout="baskets" (default ",").
    columns: maps canonical roles to the input's column names, for example
        {"order_id": "InvoiceNo", "item_id": "StockCode"} (the reverse direction,
        {"InvoiceNo": "order_id"}, is accepted too). Roles: order_id and item_id
        (required); customer_id, timestamp, quantity, price (optional). Columns
        already named by their role need no entry.
    keep_returns: keep lines with quantity <= 0 (returns, cancellations). By default
        they are left out and counted in `orders.report`.
    drop_items: item ids to leave out (postage, discounts, gift cards: 'POST', 'DOT'...), as written
        (a CSV's ids are text; an integer column matches integers or their text); counted per item in
        `orders.report`.
    drop_placeholders: leave out lines whose item id is an obvious placeholder (`PLACEHOLDER_ITEMS`:
        empty, '?', '-', 'NONE', 'null', 'nan', 'N/A', '#N/A', 'undefined'; stripped, any case), counted
        per item in `orders.report` (default True; False keeps them, and an empty item id is refused).
        Items that only look like non-products (POST, DISCOUNT, GIFT_...) are kept and named in the
        report's notes.

    Left out and counted in `orders.report`, each line under the first reason
    that applies: a missing or infinite quantity; a negative, missing or
    infinite price; quantity <= 0 (unless keep_returns); price x quantity
    beyond float64 (an amount no shop has; merging such lines would give inf).
    When every line is left out, InputError says why.

    Duplicate (order, item) lines are merged: quantities summed, unit price
    averaged weighted by quantity, the first line's customer and time kept.
    A summed quantity beyond float64 is refused.

    Ids are strings or integers within int64, as given (CSV ids are read as
    strings, so SKU "0042" stays "0042"; whitespace is kept). Refused with
    InputError naming the column and first rows: null order/item ids, ids
    longer than MAX_ID_LENGTH (256) characters or holding a NUL character,
    mixed types, booleans, dates; non-numeric quantity or price text; missing,
    unparseable or out-of-range (outside 1677-09-22..2262-04-11) timestamps;
    a used column name appearing twice.
    """
    if not isinstance(keep_returns, (bool, np.bool_)):
        raise InputError(f"keep_returns must be True or False, got {short_repr(keep_returns)}")
    if not isinstance(drop_placeholders, (bool, np.bool_)):
        raise InputError(f"drop_placeholders must be True or False, got {short_repr(drop_placeholders)}")
    if isinstance(drop_items, (str, bytes)) or not isinstance(drop_items, Iterable):
        raise InputError(f"drop_items must be a list of item ids, e.g. ['POST', 'DOT'], got {short_repr(drop_items)}")
    dropping = frozenset(drop_items)
    started = time.perf_counter()
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise InputError(f"layout must be 'lines' or 'baskets', got {short_repr(layout)}")
    if layout == "baskets" and columns:
        raise InputError("columns do not apply to layout='baskets': a basket file has no header; each line is "
                         "one order and its items")
    columns, date_time = _timestamp_pair(columns)
    mapping = _resolve_columns(None if layout == "baskets" else columns)
    names = {role: mapping.get(role, role) for role in CANONICAL}
    needed = [names[role] for role in REQUIRED] + [names[role] for role in OPTIONAL if role in mapping]
    if date_time is not None:
        if date_time[1] in names.values():
            raise InputError(f"column '{date_time[1]}' is mapped to two roles: the time of 'timestamp' and "
                             f"{next(role for role in CANONICAL if names[role] == date_time[1])}")
        needed.append(date_time[1])
    read = [*names.values(), *needed[len(needed) - (date_time is not None):]]  # the time column too
    if layout == "baskets":
        df, label = read_baskets(source, sep="," if sep is None else sep, what="orders",
                                 empty=lambda path: f"no order lines in {path}: the file is empty")
    else:
        df, label = read_table(source, what="orders", columns=read, required=needed, missing=_absent_columns(names), duplicates=_repeated_columns,
                               empty=lambda path: f"no order lines in {path}: the file is empty", sep=sep)
    if len(df) == 0:
        raise InputError(f"no order lines in {label}: the input is empty")
    lines_read = len(df)
    df = df.reset_index(drop=True)
    present = [role for role in OPTIONAL if names[role] in df.columns]
    keep_items, items_dropped, notes = _item_filter(df[names["item_id"]], bool(drop_placeholders), dropping,
                                                    names["item_id"])
    if keep_items is not None:
        if not keep_items.any():
            why = LoadReport(label, lines_read, 0, 0, 0, (), items_dropped=items_dropped).left_out()
            raise InputError(f"no order lines left in {label}: all {lines_read:,} lines were left out: {why[0]}")
        df = df[keep_items].reset_index(drop=True)

    token = _ROW_NUMBERS.set(None if keep_items is None else np.flatnonzero(keep_items))
    try:
        return _validated(df, names, present, date_time, bool(keep_returns), label, lines_read, notes,
                          items_dropped, started)
    finally:
        _ROW_NUMBERS.reset(token)


def _validated(df: pd.DataFrame, names: dict[str, str], present: list[str], date_time: tuple[str, str] | None,
               keep_returns: bool, label: str, lines_read: int, notes: tuple[str, ...],
               items_dropped: tuple[tuple[str, int], ...], started: float) -> Orders:
    """load_orders after reading and leaving out placeholder items: each column validated, lines with a bad
    quantity or price (or returns) left out, the Orders assembled."""
    order_map, order_index = _id_column(df[names["order_id"]], "order_id", names["order_id"], False)
    item_map, item_index = _id_column(df[names["item_id"]], "item_id", names["item_id"], False)
    customer_map = customer_index = timestamp = quantity = price = None
    if "customer_id" in present:
        customer_map, customer_index = _id_column(df[names["customer_id"]], "customer_id",
                                                  names["customer_id"], True)
    if date_time is not None:
        timestamp = _time_column(_date_and_time(df[date_time[0]], df[date_time[1]]), "timestamp", "+".join(date_time))
    elif "timestamp" in present:
        timestamp = _time_column(df[names["timestamp"]], "timestamp", names["timestamp"])
    if "quantity" in present:
        quantity = _numeric_column(df[names["quantity"]], "quantity", names["quantity"])
    if "price" in present:
        price = _numeric_column(df[names["price"]], "price", names["price"])

    keep, dropped, returns = _lines_to_keep(quantity, price, keep_returns)
    if not keep.all():
        if not keep.any():
            if not any(dropped) and not items_dropped:
                raise InputError(f"no order lines left in {label}: all {lines_read:,} lines have "
                                 f"quantity <= 0 (returns); pass keep_returns=True (xsell: --keep-returns) to keep them")
            why = LoadReport(label, lines_read, returns, 0, 0, (), *dropped, items_dropped=items_dropped).left_out()
            raise InputError(f"no order lines left in {label}: all {lines_read:,} lines were left out: "
                             f"{'; '.join(why)}")
        order_index, item_index = order_index[keep], item_index[keep]
        customer_index = None if customer_index is None else customer_index[keep]
        timestamp = None if timestamp is None else timestamp[keep]
        quantity = None if quantity is None else quantity[keep]
        price = None if price is None else price[keep]
        order_map, order_index = _compact(order_map, order_index)
        item_map, item_index = _compact(item_map, item_index)
        if customer_map is not None and customer_index is not None:
            customer_map, customer_index = _compact(customer_map, customer_index)
    orders = _assemble(order_map, item_map, order_index, item_index, customer_map, customer_index,
                       timestamp, quantity, price, label, lines_read, returns, notes, dropped=dropped,
                       items_dropped=items_dropped)
    _log.info("loaded %s orders of %s items from %s in %.2f s", f"{orders.n_orders:,}", f"{orders.n_items:,}", label,
              time.perf_counter() - started)
    return orders


def _lines_to_keep(quantity: np.ndarray | None, price: np.ndarray | None,
                   keep_returns: bool) -> tuple[np.ndarray, tuple[int, int, int], int]:
    """Lines to keep; lines left out for a bad quantity, bad price, overflow; returns left out.

    Each line counts once, under the first reason (the order of LoadReport).
    """
    n = len(quantity) if quantity is not None else len(price) if price is not None else 0
    keep = np.ones(n, dtype=bool)

    def drop(mask: np.ndarray) -> int:
        mask = mask & keep
        keep[mask] = False
        return int(mask.sum())

    bad_quantity = bad_price = overflow = returns = 0
    if quantity is not None:
        bad_quantity = drop(~np.isfinite(quantity))
    if price is not None:
        bad_price = drop(~(np.isfinite(price) & (price >= 0)))
    if quantity is not None and not keep_returns:
        returns = drop(~(quantity > 0))
    if quantity is not None and price is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            overflow = drop(~np.isfinite(price * quantity))
    return keep, (bad_quantity, bad_price, overflow), returns


def _compact(idmap: IdMap, codes: np.ndarray) -> tuple[IdMap, np.ndarray]:
    """Drop ids no longer used by any line; keep first-seen order; -1 stays -1."""
    used = np.zeros(len(idmap), dtype=bool)
    used[codes[codes >= 0]] = True
    if used.all():
        return idmap, codes
    new_code = np.cumsum(used, dtype=np.int64).astype(np.int32) - 1
    out = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1).astype(np.int32)
    return IdMap(idmap.ids[used]), out
