"""Batch scoring of basket files in chunks, with bounded memory.

Input: CSV/TSV or Parquet of basket_id, item_id lines and, optionally, customer_id (used by
customer-aware models; other columns are ignored). Ids longer than MAX_ID_LENGTH (256)
characters are refused with the row that holds one, before any fixed-width array is built;
so are lines without a basket id (or without an item id, unless a customer_id column says
whose empty basket it is). Rows are named as `line N` of a CSV (the header is line 1) and
`row N` of a Parquet file (from 1).

Order of the lines:
- Grouped input (each basket's lines in one run, as an export sorted by basket gives them) is
  streamed: read a chunk, score its whole baskets, write, carry the last basket over to the
  next chunk. Each chunk is checked before it is scored: its baskets must be runs, and none may
  have been scored before (a 64-bit hash of every basket scored is kept: 8 bytes a basket).
- When the check fails, the input is not grouped: what was written so far is dropped, the lines
  are hash-partitioned by basket_id into N temporary Parquet files (N = lines / max(chunk_lines,
  100,000), 1 to 256) in a temporary folder beside the output, and each partition is read
  whole, grouped and scored in chunks. Every basket is scored once, whole, whatever the order;
  a basket's output rows stay together, but baskets come out partition by partition, not in
  input order. The folder is removed on every exit (after a SIGKILL, by the next run writing
  the same output). Cost: one more read of the input and a write and read of its columns.

Output: basket_id, rank, item_id, score (or the engine's columns: `Engine.score_batch`,
`Engine.up_sell_batch`) as Parquet or CSV, written to a temporary file beside it and renamed into
place when complete (`xsell.files.atomic_write`). Worker processes (workers > 1) die with the
scoring process, even when it is killed. Each chunk's rows are finished where they are scored (in
the workers): catalog columns joined onto the suggested items (`catalog_columns`), and the wide
layout (`wide`: one row per basket, each column once per rank), so both stream as the rows do.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator, Iterator, Sequence

import numpy as np
import pandas as pd

from xsell.data.idmap import MAX_ID_LENGTH
from xsell.data.tables import Chunks, read_chunks
from xsell.checks import check_int
from xsell.errors import InputError
from xsell.files import atomic_write, check_output_path, temp_folder_beside

_COLUMNS = ("basket_id", "item_id")
_OPTIONAL = ("customer_id",)
_PARTITION_LINES = 100_000  # lines per partition at least: fewer, larger Parquet writes
_MAX_PARTITIONS = 256  # open Parquet writers while partitioning
_FIRST_CSV_CHUNK = 20_000


@dataclass(frozen=True)
class ScoreSummary:
    lines: int
    baskets: int
    fallback_baskets: int
    rows_written: int
    output: str
    partitions: int = 0  # > 0: the input was not grouped by basket and went through this many partitions


class _NotGrouped(Exception):
    """A basket's lines came back after the basket was scored."""


# -- reading -----------------------------------------------------------------------


def _read_chunks(path: Path, chunk_lines: int, required: tuple[str, ...], sep: str | None = None) -> Chunks:
    """The required (and optional) columns in chunks: CSV cells as text, Parquet columns as stored."""
    return read_chunks(path, what="baskets", required=required, optional=_OPTIONAL, chunk_lines=chunk_lines,
                       first_lines=_FIRST_CSV_CHUNK, sep=sep)


def _checked(chunks: Chunks, path: Path, required: tuple[str, ...]) -> Generator[pd.DataFrame, None, None]:
    """The chunks, after refusing null ids and ids longer than MAX_ID_LENGTH, naming the row."""
    done = 0

    def where(position: int) -> str:
        return chunks.place(done + position)

    for chunk in chunks.frames:
        has_customer = "customer_id" in chunk.columns
        # with a customer_id column a line may carry no item: an empty basket of that customer
        for col in required if not has_customer else tuple(c for c in required if c != "item_id"):
            null = np.flatnonzero(chunk[col].isna().to_numpy())
            if len(null):
                more = f" (and {len(null) - 1:,} more)" if len(null) > 1 else ""
                raise InputError(f"{path}: {where(int(null[0]))}{more} has no {col}; every line needs one")
        for col in chunk.columns:
            values = chunk[col]
            if values.dtype.kind in "iufbmM":
                continue
            try:
                lengths = values.str.len()
            except AttributeError:  # not strings (a categorical of numbers): no width to fear
                continue
            long = np.flatnonzero(lengths.fillna(0).to_numpy() > MAX_ID_LENGTH)
            if len(long):
                at = int(long[0])
                raise InputError(f"{path}: {where(at)}: {col} is {int(lengths.iloc[at]):,} characters long; "
                                 f"ids may be at most {MAX_ID_LENGTH} characters")
        done += len(chunk)
        yield chunk


# -- grouping --------------------------------------------------------------------------


def _whole_baskets(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Re-cut chunks so no basket is split: the last basket of a chunk waits for the next."""
    carry: pd.DataFrame | None = None
    for chunk in chunks:
        if carry is not None:
            chunk = pd.concat([carry, chunk], ignore_index=True)
        if len(chunk) == 0:
            continue
        last = chunk["basket_id"].iloc[-1]
        tail = (chunk["basket_id"] == last).to_numpy()
        cut = len(chunk) - int(np.argmin(tail[::-1])) if not tail.all() else 0
        carry = chunk.iloc[cut:]
        if cut:
            yield chunk.iloc[:cut]
    if carry is not None and len(carry):
        yield carry


def _basket_keys(ids: pd.Series) -> np.ndarray | None:
    """Sorted unique 64-bit hashes of the distinct basket ids (equal ids, equal hashes), or None
    when a basket's lines are not one run here (interleaved lines: not grouped)."""
    codes, uniques = pd.factorize(ids, sort=False)
    if len(codes) > 1 and int(np.count_nonzero(np.diff(codes))) + 1 != len(uniques):
        return None
    return np.unique(pd.util.hash_pandas_object(pd.Series(uniques), index=False).to_numpy())


class _SeenBaskets:
    """Hashes of the baskets scored so far, as a few sorted arrays (merged like a binary counter),
    so that checking a chunk costs a few binary searches, not a pass over every basket."""

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []

    def seen_any(self, keys: np.ndarray) -> bool:
        for level in self._levels:
            at = np.minimum(np.searchsorted(level, keys), len(level) - 1)
            if (level[at] == keys).any():
                return True
        return False

    def add(self, keys: np.ndarray) -> None:
        self._levels.append(keys)
        while len(self._levels) > 1 and len(self._levels[-2]) <= 2 * len(self._levels[-1]):
            newer, older = self._levels.pop(), self._levels.pop()
            self._levels.append(np.union1d(older, newer))


def _grouped(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The whole-basket chunks, raising _NotGrouped (before the chunk is scored) when a basket's
    lines are not one run: interleaved in the chunk, or back after the basket was scored.
    A hash collision only costs the partitioned path, never a wrong result."""
    seen = _SeenBaskets()
    for part in parts:
        keys = _basket_keys(part["basket_id"])
        if keys is None or seen.seen_any(keys):
            raise _NotGrouped
        seen.add(keys)
        yield part


def _partition(chunks: Iterator[pd.DataFrame], schema: Any, folder: Path, n: int) -> list[Path]:
    """Write the lines into n Parquet files by a hash of basket_id, keeping their input order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = [folder / f"part-{i:03d}.parquet" for i in range(n)]
    writers: list[Any] = [None] * n  # schema: the input's Arrow types, so partitions read back as chunks do
    try:
        for chunk in chunks:
            part = (pd.util.hash_pandas_object(chunk["basket_id"], index=False).to_numpy() % np.uint64(n)
                    ).astype(np.int64)
            order = np.argsort(part, kind="stable")
            bounds = np.searchsorted(part[order], np.arange(n + 1))
            table = pa.Table.from_pandas(chunk.iloc[order], schema=schema, preserve_index=False)
            for i in range(n):
                if bounds[i + 1] > bounds[i]:
                    if writers[i] is None:
                        writers[i] = pq.ParquetWriter(paths[i], schema)
                    writers[i].write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]))
    finally:
        for writer in writers:
            if writer is not None:
                writer.close()
    return [p for p, w in zip(paths, writers) if w is not None]


def _partition_chunks(paths: list[Path], chunk_lines: int) -> Iterator[pd.DataFrame]:
    """Each partition read whole, its baskets made contiguous (first seen first, lines in input
    order), cut into chunks of about chunk_lines lines without splitting a basket."""
    import pyarrow.parquet as pq

    for path in paths:
        frame = pq.read_table(path).to_pandas()
        codes, _ = pd.factorize(frame["basket_id"], sort=False)
        order = np.argsort(codes, kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        starts = np.flatnonzero(np.diff(codes[order])) + 1  # where each basket but the first begins
        cuts = np.unique(starts[np.minimum(np.searchsorted(starts, np.arange(chunk_lines, len(frame), chunk_lines)),
                                           len(starts) - 1)]) if len(starts) else np.empty(0, np.int64)
        bounds = [0, *cuts.tolist(), len(frame)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            yield frame.iloc[lo:hi]


# -- scoring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What every chunk of the running score_file is scored with (forked workers inherit it)."""

    model: Any
    engine: Any
    mode: str
    k: int
    threshold: float | None
    reasons: bool = True
    catalog: pd.DataFrame | None = None  # catalog_columns over the model's items (internal order)
    wide: bool = False
    explain: bool = False


_JOB: _Job | None = None


def _score_chunk(chunk: pd.DataFrame) -> pd.DataFrame:
    job = _JOB
    assert job is not None
    scored: pd.DataFrame
    if job.mode == "recommend":
        scored = job.model.recommend_batch(chunk, k=job.k, explain=job.explain)
    elif job.mode == "up-sell":
        scored = job.engine.up_sell_batch(chunk, k=job.k, reasons=job.reasons)
    elif job.mode == "cross-sell":
        scored = job.engine.score_batch(chunk, k=job.k, threshold=job.threshold, mode=job.mode, reasons=job.reasons)
    else:
        scored = job.engine.score_batch(chunk, k=job.k, threshold=job.threshold, mode=job.mode)
    suggested = "upsell_id" if job.mode == "up-sell" else "item_id"
    if job.catalog is not None:
        scored = join_catalog(scored, suggested, job.catalog, job.model.items_)
    if job.wide:
        scored = wide_layout(scored, "item_id" if job.mode == "up-sell" else "basket_id", job.k)
    return scored


def join_catalog(frame: pd.DataFrame, item: str, columns: pd.DataFrame, items: Any) -> pd.DataFrame:
    """`frame` with the catalog's `columns` (one row per model item, internal order) of each row's `item`
    inserted after that column."""
    values = frame[item]
    if isinstance(values.dtype, pd.CategoricalDtype):  # map the categories once, not every row
        codes = values.cat.codes.to_numpy()
        index = items.to_internal(values.cat.categories).astype(np.int64)[codes]
        index[codes < 0] = -1
    else:
        index = items.to_internal(values).astype(np.int64)
    joined = pd.DataFrame({name: pd.api.extensions.take(columns[name].array, index, allow_fill=True)
                           for name in columns.columns})  # -1 (not a model item): NA
    out = frame.reset_index(drop=True)
    at = list(out.columns).index(item) + 1
    parts = [out.iloc[:, :at], joined, out.iloc[:, at:]]
    result = pd.concat(parts, axis=1)
    result.attrs = dict(frame.attrs)
    return result


def wide_layout(frame: pd.DataFrame, key: str, k: int) -> pd.DataFrame:
    """The long layout (one row per suggestion, `rank` 1..k) as one row per `key` (basket, or item for
    up-sell): every other column once per rank, named column_1 .. column_k, best first; empty (NA) past a
    row's last suggestion. A categorical key (the engine's and the models' basket_id) keeps every basket
    scored, with suggestions or not, in its order; any other key, those with rows, in order of appearance.
    A reshape, no loop over rows: columns x k takes."""
    keys = frame[key]
    codes: np.ndarray
    if isinstance(keys.dtype, pd.CategoricalDtype):
        codes, labels = keys.cat.codes.to_numpy().astype(np.int64), keys.cat.categories
    else:
        factorized, labels = pd.factorize(keys, sort=False)
        codes = factorized.astype(np.int64)
    flat = np.full(len(labels) * k, -1, dtype=np.int64)  # row of the long layout per (key, rank); -1: none
    flat[codes * k + frame["rank"].to_numpy(dtype=np.int64) - 1] = np.arange(len(frame))
    slots = flat.reshape(len(labels), k)
    out: dict[str, Any] = {key: np.asarray(labels)}
    for name in frame.columns:
        if name in (key, "rank"):
            continue
        column = frame[name]
        values = column.astype(_holds_gaps(column)).array
        for rank in range(k):
            out[f"{name}_{rank + 1}"] = pd.api.extensions.take(values, slots[:, rank], allow_fill=True)
    wide = pd.DataFrame(out)
    wide.attrs = dict(frame.attrs)
    return wide


def _holds_gaps(column: pd.Series) -> Any:
    """A type of the column's values that can hold a gap (NA): numpy whole numbers and booleans become
    pandas' nullable ones; others (floats, text, categories) hold NaN already."""
    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else None
    if kind == "O" and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return pd.StringDtype()  # text held as objects (pandas 2): a string column even when all empty
    return "Int64" if kind in ("i", "u") else "boolean" if kind == "b" else column.dtype


def _worker_start(parent: int) -> None:
    """In each worker: die with the parent, and leave signals to it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (forked) that raises
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the parent dies
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _stop_workers(pool: Any) -> None:
    """Cancel what is queued and kill the workers now (they hold nothing to clean up)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public kill in the executor
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join(timeout=1)


def _scored(chunks: Iterator[pd.DataFrame], workers: int
            ) -> Generator[tuple[pd.DataFrame, pd.DataFrame], None, None]:
    """(chunk, result) in input order; with workers > 1 from forked processes (the model is shared
    copy-on-write, never serialised), at most workers + 1 chunks in flight (constant memory).
    Close the generator (contextlib.closing) so an error or signal stops the workers at once."""
    import multiprocessing

    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for chunk in chunks:
            yield chunk, _score_chunk(chunk)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_worker_start, initargs=(os.getpid(),))
    finished = False
    try:
        pending: deque[tuple[pd.DataFrame, Any]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(_score_chunk, chunk)))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop_workers(pool)


class _Writer:
    def __init__(self, tmp: str, fmt: str) -> None:
        self.tmp, self.fmt = tmp, fmt
        self._pq: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            # categorical ids: one dictionary index width for every chunk (pandas picks int8/16 by size)
            fields = [pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type))
                      if pa.types.is_dictionary(f.type) else f for f in table.schema]
            table = table.cast(pa.schema(fields))
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.tmp, table.schema)
            self._pq.write_table(table.cast(self._pq.schema))
        else:
            with np.errstate(invalid="ignore"):  # pandas 2.0 casts NaN to text through numpy, which warns
                frame.to_csv(self.tmp, mode="w" if self._first else "a", header=self._first, index=False)
        self._first = False

    def close(self, empty_schema: pd.DataFrame | None) -> None:
        """Finish the file; with empty_schema None, just release it (its content is abandoned)."""
        if self._first and empty_schema is not None:
            self.write(empty_schema)
        if self._pq is not None:
            self._pq.close()
            self._pq = None


def _catalog_names(catalog_columns: Sequence[str] | None, engine: Any, mode: str) -> list[str]:
    """catalog_columns checked: a list of distinct names, an engine with a catalog, a mode with items."""
    if catalog_columns is None:
        return []
    if isinstance(catalog_columns, (str, bytes)) or not all(isinstance(c, str) for c in catalog_columns):
        raise InputError(f"catalog_columns must be a list of column names, got {catalog_columns!r}")
    names = list(catalog_columns)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"catalog_columns names {', '.join(map(repr, twice))} more than once")
    if names and (engine is None or engine.catalog is None):
        raise InputError("catalog columns need an engine with a catalog: Engine(model, xsell.load_catalog(...))")
    if names and mode == "uplift":
        raise InputError("catalog columns describe suggested items; uplift rows are baskets")
    return names


def score_file(
    model: Any,
    baskets: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    k: int = 10,
    chunk_lines: int = 500_000,
    progress: Callable[[int, int | None], None] | None = None,
    engine: Any = None,
    mode: str = "recommend",
    threshold: float | None = None,
    workers: int = 1,
    reasons: bool = True,
    catalog_columns: Sequence[str] | None = None,
    wide: bool = False,
    sep: str | None = None,
    explain: bool = False,
) -> ScoreSummary:
    """Score every basket of a CSV/Parquet file, chunk by chunk, with bounded memory.

    mode: recommend (model.recommend_batch), or with an `xsell.Engine`: cross-sell, uplift (one row
    per basket), up-sell (the file holds item_id lines; one block of up-sells per item).
    Lines need not be sorted by basket (see the module docstring: ungrouped input goes through
    temporary partitions; summary.partitions says how many).
    progress(lines_done, total_lines_or_None) is called after each chunk; it starts again from 0
    when the input turns out not to be grouped. workers > 1 scores chunks in that many forked
    processes (Linux/macOS), at most workers + 1 chunks in flight, written in order (an ALS model
    is scored in one process: implicit's OpenMP code is not safe to fork).

    reasons: cross-sell rows carry `reason` (False: left out, faster and smaller). catalog_columns:
    columns of the engine's catalog (`Catalog.column_names`: name, category, brand, ...) joined onto
    each row's suggested item (item_id; upsell_id for up-sell), after it. wide: one row per basket
    (per item for up-sell) instead of one per suggestion, each column once per rank: item_id_1 ..
    item_id_k, then probability_1 .. probability_k and so on (`wide_layout`); not for uplift, which
    is one row per basket already. sep: a CSV input's separator (one character; default: found from the
    file, as `load_orders` does). explain: recommend rows also carry the model's explanation columns
    (`recommend_batch(explain=True)`: for co-occurrence count, support, confidence, lift, because).
    """
    for name, value in (("workers", workers), ("chunk_lines", chunk_lines), ("k", k)):
        check_int(name, value, 1)
    modes = ("recommend", "cross-sell", "up-sell", "uplift")
    if mode not in modes:
        raise InputError(f"mode must be one of {', '.join(modes)}, got {mode!r}")
    if mode != "recommend" and engine is None:
        raise InputError(f"mode {mode} needs an xsell.Engine")
    for name, flag in (("reasons", reasons), ("wide", wide), ("explain", explain)):
        if not isinstance(flag, (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, got {flag!r}")
    if wide and mode == "uplift":
        raise InputError("the wide layout needs rows per suggestion (recommend, cross-sell, up-sell); uplift is "
                         "one row per basket already")
    if explain and mode != "recommend":
        raise InputError(f"explain adds the model's explanation columns to recommend rows; {mode} rows explain "
                         f"themselves (reason)" if mode != "uplift" else "explain is for recommend rows, not uplift")
    if not reasons and mode != "cross-sell":
        raise InputError(f"only cross-sell rows have reasons to leave out; {mode} rows have none")
    names = _catalog_names(catalog_columns, engine, mode)
    src = Path(baskets)
    if not src.exists():
        raise InputError(f"baskets file not found: {src}")
    out = Path(output)
    fmt = "parquet" if out.suffix.lower() in (".parquet", ".pq") else "csv" if out.suffix.lower() == ".csv" \
        else None
    if fmt is None:
        raise InputError(f"output {out} must end in .parquet or .csv")
    check_output_path(out)
    required = ("item_id",) if mode == "up-sell" else _COLUMNS
    chunks = _read_chunks(src, chunk_lines, required, sep)
    total = chunks.total
    counts = {"lines": 0, "baskets": 0, "fallback": 0, "rows": 0, "partitions": 0}

    if not model.fork_safe:
        workers = 1  # e.g. ALS folds baskets in with implicit's OpenMP code, which is not safe to fork
    global _JOB
    if engine is not None:
        engine.prepare_batch()
    empty = pd.DataFrame({"basket_id": pd.Series([], dtype=str), "item_id": pd.Series([], dtype=str)})
    lookup = None
    if names:
        _JOB = _Job(model, engine, mode, k, threshold, reasons, explain=bool(explain))
        taken = [n for n in names if n in _score_chunk(empty).columns]
        if taken:
            raise InputError(f"catalog column {', '.join(map(repr, taken))} is already a column of the {mode} "
                             f"output; leave it out of catalog_columns")
        lookup = engine.catalog.item_columns(model.items_, names)  # once, before workers are forked
    _JOB = _Job(model, engine, mode, k, threshold, reasons, lookup, wide, bool(explain))

    def write_parts(tmp: str, parts: Iterator[pd.DataFrame]) -> None:
        for key in ("lines", "baskets", "fallback", "rows"):
            counts[key] = 0
        writer = _Writer(tmp, fmt)
        try:
            with closing(_scored(parts, workers)) as scored:
                for chunk, result in scored:
                    writer.write(result)
                    counts["lines"] += len(chunk)
                    counts["baskets"] += int(chunk["item_id" if mode == "up-sell" else "basket_id"].nunique())
                    counts["fallback"] += int(result.attrs.get("fallback_baskets", 0))
                    counts["rows"] += len(result)
                    if progress is not None:
                        progress(counts["lines"], total)
        except BaseException:
            writer.close(None)
            raise
        writer.close(_score_chunk(empty))

    def write(tmp: str) -> None:
        checked = _checked(chunks, src, required)
        if mode == "up-sell":
            write_parts(tmp, checked)
            return
        try:
            write_parts(tmp, _grouped(_whole_baskets(checked)))
            return
        except _NotGrouped:
            checked.close()
            chunks.close()  # releases the file
        if progress is not None:
            progress(0, total)
        lines = chunks.line_count()
        n = min(_MAX_PARTITIONS, max(1, math.ceil(lines / max(chunk_lines, _PARTITION_LINES))))
        with temp_folder_beside(out) as folder:
            again = _read_chunks(src, max(chunk_lines, _PARTITION_LINES), required, sep)
            with closing(again):
                paths = _partition(_checked(again, src, required), again.schema, folder, n)
            counts["partitions"] = n
            write_parts(tmp, _partition_chunks(paths, chunk_lines))

    try:
        atomic_write(out, write)
    finally:
        chunks.close()  # the input file, however scoring ended
    return ScoreSummary(counts["lines"], counts["baskets"], counts["fallback"], counts["rows"], str(out),
                        counts["partitions"])
