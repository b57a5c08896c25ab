"""Order lines: loading, validation, cleaning and the sparse matrices models use.

An `Orders` holds one row per (order, item) after cleaning, as parallel numpy
arrays of internal indices plus the id maps that translate them back. It is
immutable; every model's `fit` takes one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.data.idmap import IdMap
from xsell.errors import InputError

REQUIRED = ("order_id", "item_id")
OPTIONAL = ("customer_id", "timestamp", "quantity", "price")
CANONICAL = REQUIRED + OPTIONAL
_ID_COLUMNS = ("order_id", "item_id", "customer_id")
_SHOW = 5  # offending rows shown in an error message


@dataclass(frozen=True)
class LoadReport:
    """What cleaning did to the input, in lines. Shown to the user after loading."""

    source: str
    lines_read: int
    returns_dropped: int
    duplicates_aggregated: int
    lines_kept: int
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        parts = [f"{self.lines_read:,} lines read from {self.source}"]
        if self.returns_dropped:
            parts.append(f"{self.returns_dropped:,} returns/cancellations (quantity <= 0) left out")
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
            known = self.customer_index >= 0
            m = sp.csr_matrix(
                (np.ones(int(known.sum()), dtype=dtype),
                 (self.customer_index[known], self.item_index[known])),
                shape=(self.n_customers, self.n_items),
            )
            m.sum_duplicates()
            self._matrices[key] = m
        return self._matrices[key]

    def item_counts(self) -> np.ndarray:
        """Number of orders that contain each item (int64, by internal index)."""
        return np.bincount(self.item_index, minlength=self.n_items).astype(np.int64)

    def item_prices(self) -> np.ndarray | None:
        """Median unit price of each item over its lines (float64), or None without prices."""
        if self.price is None:
            return None
        s = pd.Series(self.price).groupby(self.item_index).median()
        out = np.full(self.n_items, np.nan)
        out[s.index.to_numpy()] = s.to_numpy()
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

    def order_times(self) -> np.ndarray:
        """Time of each order (int64 ns; the earliest of its lines). Raises without timestamps."""
        if self.timestamp is None:
            raise InputError("these orders have no timestamp column; map one with columns={'timestamp': ...}")
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
) -> Orders:
    """Sort lines by (order, item), merge duplicates and build an Orders."""
    n_items = max(len(item_map), 1)
    key = order_index.astype(np.int64) * n_items + item_index
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    n_dup = int(len(key) - first.sum())

    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[order][first]

    if n_dup:
        group = np.cumsum(first) - 1
        if quantity is not None:
            q = quantity[order]
            q_sum = np.bincount(group, weights=q)
            if price is not None:
                w = np.abs(q)
                w_sum = np.bincount(group, weights=w)
                p = price[order]
                mean = np.bincount(group, weights=p) / np.bincount(group)
                with np.errstate(invalid="ignore", divide="ignore"):
                    price = np.where(w_sum > 0, np.bincount(group, weights=w * p) / w_sum, mean)
            quantity = q_sum
        elif price is not None:
            price = np.bincount(group, weights=price[order]) / np.bincount(group)
        order_index, item_index = take(order_index), take(item_index)
        customer_index, timestamp = take(customer_index), take(timestamp)
    else:
        order_index, item_index = order_index[order], item_index[order]
        customer_index, timestamp = take(customer_index), take(timestamp)
        quantity, price = take(quantity), take(price)
    report = LoadReport(source, lines_read, returns_dropped, n_dup, len(order_index), notes)
    return Orders(orders=order_map, items=item_map, order_index=order_index, item_index=item_index,
                  customers=customer_map, customer_index=customer_index, timestamp=timestamp,
                  quantity=quantity, price=price, report=report)


# -- loading -------------------------------------------------------------------
def _resolve_columns(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Canonical role -> user's column name. Accepts either direction of mapping."""
    out: dict[str, str] = {}
    for key, value in (columns or {}).items():
        if key in CANONICAL:
            role, name = key, value
        elif value in CANONICAL:
            role, name = value, key
        else:
            raise InputError(f"unknown column role in columns: {key!r}: {value!r}; "
                             f"each entry maps one of {', '.join(CANONICAL)} to a column of the input")
        if role in out:
            raise InputError(f"column role {role!r} is mapped twice in columns")
        out[role] = str(name)
    return out


def _describe(role: str, name: str) -> str:
    return f"'{role}'" if role == name else f"'{role}' (column '{name}')"


def _rows(mask: np.ndarray, values: Any = None) -> str:
    idx = np.flatnonzero(mask)[:_SHOW]
    if values is None:
        shown = ", ".join(str(i) for i in idx)
    else:
        vals = np.asarray(values)[idx].tolist()  # Python scalars: the same text under numpy 1 and 2
        shown = ", ".join(f"{i} ({v!r})" for i, v in zip(idx, vals))
    return f"first rows (0-based): {shown}"


def _read_source(source: Any, wanted: list[str], required: list[str]) -> tuple[pd.DataFrame, str]:
    """The input as a DataFrame of the wanted columns (all columns' names when a required one is missing)."""
    if isinstance(source, pd.DataFrame):
        return source, "DataFrame"
    try:
        import pyarrow as pa
        if isinstance(source, pa.Table):
            present = [c for c in wanted if c in source.column_names]
            return source.select(present).to_pandas(), "pyarrow Table"
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"orders file not found: {path}")
        if path.is_dir():
            raise InputError(f"orders path is a folder, not a file: {path}")
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq
            try:
                schema = pq.read_schema(path)
                if any(c not in schema.names for c in required):
                    return pd.DataFrame(columns=schema.names), str(path)
                present = [c for c in wanted if c in schema.names]
                return pq.read_table(path, columns=present or None).to_pandas(), str(path)
            except Exception as exc:  # pyarrow raises several types for damaged files
                raise InputError(f"cannot read Parquet file {path}: {exc}") from None
        if suffix in (".csv", ".tsv", ".txt", ".gz"):
            sep = "\t" if ".tsv" in path.name.lower() else ","
            try:
                header = pd.read_csv(path, sep=sep, nrows=0)
                if any(c not in header.columns for c in required):
                    return header, str(path)
                df = pd.read_csv(path, sep=sep, usecols=lambda c: c in wanted, dtype=str,
                                 keep_default_na=False, na_values=[""])
            except Exception as exc:
                raise InputError(f"cannot read CSV file {path}: {exc}") from None
            return df, str(path)
        raise InputError(f"cannot read {path}: unknown file type {suffix!r}; use .csv, .tsv or .parquet")
    raise InputError(f"orders must be a CSV or Parquet path, a pandas DataFrame or a pyarrow Table, "
                     f"not {type(source).__name__}")


def _id_column(col: pd.Series, role: str, name: str, nullable: bool) -> tuple[IdMap, np.ndarray]:
    """Validate an id column and factorize it; nulls become -1 where allowed."""
    values = col
    null = values.isna().to_numpy()
    if null.any() and not nullable:
        raise InputError(f"column {_describe(role, name)} has {int(null.sum()):,} null ids; {_rows(null)}")
    if values.dtype.kind == "f":
        ok = ~null
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ok & (v != np.round(v))
        if bad.any():
            raise InputError(f"column {_describe(role, name)} has non-integer numeric ids; "
                             f"{_rows(bad, v)}")
        values = pd.Series(pd.arrays.IntegerArray(np.where(null, 0, v).astype(np.int64), null))
    elif values.dtype.kind == "O":
        kinds = pd.api.types.infer_dtype(values, skipna=True)
        if kinds not in ("string", "integer", "empty"):
            is_str = np.fromiter((isinstance(x, str) for x in values), bool, len(values))
            other = ~is_str & ~null
            raise InputError(
                f"column {_describe(role, name)} mixes ids of different types ({kinds}); "
                f"{_rows(other & is_str.any() | (is_str & ~is_str.any()), values.to_numpy())}; "
                f"convert it to one type, for example df[{name!r}].astype(str)")
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


def _numeric_column(col: pd.Series, role: str, name: str) -> np.ndarray:
    if col.dtype.kind in "iuf":
        out = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        out = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(out) & col.notna().to_numpy()
        if bad.any():
            raise InputError(f"column {_describe(role, name)} has {int(bad.sum()):,} non-numeric values; "
                             f"{_rows(bad, col.to_numpy())}")
    missing = np.isnan(out)
    if missing.any():
        raise InputError(f"column {_describe(role, name)} has {int(missing.sum()):,} missing values; "
                         f"{_rows(missing)}")
    return out


def _time_column(col: pd.Series, role: str, name: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = col
    else:
        parsed = pd.to_datetime(col, errors="coerce", format="mixed", utc=True) if col.dtype.kind in "OU" or \
            pd.api.types.is_string_dtype(col) else pd.Series(pd.NaT, index=col.index)
        bad = parsed.isna().to_numpy() & col.notna().to_numpy()
        if bad.any():
            raise InputError(f"column {_describe(role, name)} has {int(bad.sum()):,} unparseable timestamps; "
                             f"{_rows(bad, col.to_numpy())}")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = parsed.isna().to_numpy()
    if missing.any():
        raise InputError(f"column {_describe(role, name)} has {int(missing.sum()):,} missing timestamps; "
                         f"{_rows(missing)}")
    return parsed.to_numpy().astype("datetime64[ns]").astype(np.int64)


def load_orders(
    source: Any,
    columns: Mapping[str, str] | None = None,
    *,
    keep_returns: bool = False,
) -> Orders:
    """Read order lines into a validated, cleaned `Orders`.

    source: a CSV/TSV or Parquet path, a pandas DataFrame or a pyarrow Table.
    columns: maps canonical roles to the input's column names, for example
        {"order_id": "InvoiceNo", "item_id": "StockCode"} (the reverse direction,
        {"InvoiceNo": "order_id"}, is accepted too). Roles: order_id and item_id
        (required); customer_id, timestamp, quantity, price (optional). Columns
        already named by their role need no entry.
    keep_returns: keep lines with quantity <= 0 (returns, cancellations). By default
        they are left out and counted in `orders.report`.

    Duplicate (order, item) lines are merged: quantities summed, unit price
    averaged weighted by quantity, the first line's customer and time kept.
    CSV ids are read as strings, so SKU "0042" stays "0042".
    """
    mapping = _resolve_columns(columns)
    names = {role: mapping.get(role, role) for role in CANONICAL}
    df, label = _read_source(source, list(names.values()), [names[r] for r in REQUIRED])
    for role in REQUIRED:
        if names[role] not in df.columns:
            via = f" (mapped to '{names[role]}')" if names[role] != role else ""
            raise InputError(f"missing required column '{role}'{via} in {label}; its columns are: "
                             f"{', '.join(map(str, df.columns)) or '(none)'}; map yours with "
                             f"--column {role}=NAME or columns={{'{role}': NAME}}")
    for role in OPTIONAL:
        if role in mapping and names[role] not in df.columns:
            raise InputError(f"column '{names[role]}' mapped to '{role}' is not in {label}; its columns are: "
                             f"{', '.join(map(str, df.columns))}")
    if len(df) == 0:
        raise InputError(f"no order lines in {label}: the input is empty")
    lines_read = len(df)
    df = df.reset_index(drop=True)
    present = [role for role in OPTIONAL if names[role] in df.columns]

    order_map, order_index = _id_column(df[names["order_id"]], "order_id", names["order_id"], False)
    item_map, item_index = _id_column(df[names["item_id"]], "item_id", names["item_id"], False)
    customer_map = customer_index = timestamp = quantity = price = None
    if "customer_id" in present:
        customer_map, customer_index = _id_column(df[names["customer_id"]], "customer_id",
                                                  names["customer_id"], True)
    if "timestamp" in present:
        timestamp = _time_column(df[names["timestamp"]], "timestamp", names["timestamp"])
    if "quantity" in present:
        quantity = _numeric_column(df[names["quantity"]], "quantity", names["quantity"])
    if "price" in present:
        price = _numeric_column(df[names["price"]], "price", names["price"])

    returns = 0
    if quantity is not None and not keep_returns:
        keep = quantity > 0
        returns = int(len(keep) - keep.sum())
        if returns:
            if not keep.any():
                raise InputError(f"no order lines left in {label}: all {lines_read:,} lines have "
                                 f"quantity <= 0 (returns); pass keep_returns=True to keep them")
            order_index, item_index = order_index[keep], item_index[keep]
            quantity = quantity[keep]
            customer_index = None if customer_index is None else customer_index[keep]
            timestamp = None if timestamp is None else timestamp[keep]
            price = None if price is None else price[keep]
            order_map, order_index = _compact(order_map, order_index)
            item_map, item_index = _compact(item_map, item_index)
            if customer_map is not None and customer_index is not None:
                customer_map, customer_index = _compact(customer_map, customer_index)
    return _assemble(order_map, item_map, order_index, item_index, customer_map, customer_index,
                     timestamp, quantity, price, label, lines_read, returns)


def _compact(idmap: IdMap, codes: np.ndarray) -> tuple[IdMap, np.ndarray]:
    """Drop ids no longer used by any line; keep first-seen order; -1 stays -1."""
    used = np.zeros(len(idmap), dtype=bool)
    used[codes[codes >= 0]] = True
    if used.all():
        return idmap, codes
    new_code = np.cumsum(used, dtype=np.int64).astype(np.int32) - 1
    out = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1).astype(np.int32)
    return IdMap(idmap.ids[used]), out
