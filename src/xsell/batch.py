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

Output: basket_id, rank, item_id, score (or the engine's columns) as Parquet or CSV, written
to a temporary file beside it and renamed into place when complete (`xsell.files.atomic_write`).
Worker processes (workers > 1) die with the scoring process, even when it is killed.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

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


def _read_chunks(path: Path, chunk_lines: int, required: tuple[str, ...]) -> Chunks:
    """The required (and optional) columns in chunks: CSV cells as text, Parquet columns as stored."""
    return read_chunks(path, what="baskets", required=required, optional=_OPTIONAL, chunk_lines=chunk_lines,
                       first_lines=_FIRST_CSV_CHUNK)


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


_JOB: Any = None  # (model, engine, mode, k, threshold) of the running score_file; forked workers inherit it


def _score_chunk(chunk: pd.DataFrame) -> pd.DataFrame:
    model, engine, mode, k, threshold = _JOB
    scored: pd.DataFrame
    if mode == "recommend":
        scored = model.recommend_batch(chunk, k=k)
    elif mode == "up-sell":
        scored = engine.up_sell_batch(chunk, k=k)
    else:
        scored = engine.score_batch(chunk, k=k, threshold=threshold, mode=mode)
    return scored


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
            frame.to_csv(self.tmp, mode="w" if self._first else "a", header=self._first, index=False)
        self._first = False

    def close(self, empty_schema: pd.DataFrame | None) -> None:
        """Finish the file; with empty_schema None, just release it (its content is abandoned)."""
        if self._first and empty_schema is not None:
            self.write(empty_schema)
        if self._pq is not None:
            self._pq.close()
            self._pq = None


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
    """
    for name, value in (("workers", workers), ("chunk_lines", chunk_lines), ("k", k)):
        check_int(name, value, 1)
    modes = ("recommend", "cross-sell", "up-sell", "uplift")
    if mode not in modes:
        raise InputError(f"mode must be one of {', '.join(modes)}, got {mode!r}")
    if mode != "recommend" and engine is None:
        raise InputError(f"mode {mode} needs an xsell.Engine")
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
    chunks = _read_chunks(src, chunk_lines, required)
    total = chunks.total
    counts = {"lines": 0, "baskets": 0, "fallback": 0, "rows": 0, "partitions": 0}

    if not model.fork_safe:
        workers = 1  # e.g. ALS folds baskets in with implicit's OpenMP code, which is not safe to fork
    global _JOB
    if engine is not None:
        engine.prepare_batch()
    _JOB = (model, engine, mode, k, threshold)
    empty = pd.DataFrame({"basket_id": pd.Series([], dtype=str), "item_id": pd.Series([], dtype=str)})

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
            again = _read_chunks(src, max(chunk_lines, _PARTITION_LINES), required)
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
