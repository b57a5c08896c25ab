"""Batch scoring of basket files in chunks, with constant memory.

Input: CSV or Parquet of basket_id, item_id lines and, optionally, customer_id
(used by customer-aware models; other columns are ignored),
each basket's lines next to each other (as an export sorted by basket gives
them). Output: basket_id, rank, item_id, score as Parquet or CSV, written to a
temporary file and renamed into place when complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from xsell.errors import InputError
from xsell.io import atomic_write

_COLUMNS = ("basket_id", "item_id")
_OPTIONAL = ("customer_id",)


@dataclass(frozen=True)
class ScoreSummary:
    lines: int
    baskets: int
    fallback_baskets: int
    rows_written: int
    output: str


def _check_columns(names: list[str], label: str, required: tuple[str, ...] = _COLUMNS) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(f"{label} lacks column(s) {', '.join(missing)}; it has: {', '.join(names)}")


def _read_chunks(path: Path, chunk_lines: int, required: tuple[str, ...] = _COLUMNS
                 ) -> tuple[Iterator[pd.DataFrame], int | None]:
    """Chunks of the required (and optional) columns as strings-or-ints, and the total line count if known."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:
            raise InputError(f"cannot read Parquet file {path}: {exc}") from None
        names = pf.schema_arrow.names
        _check_columns(names, str(path), required)
        batches = pf.iter_batches(batch_size=chunk_lines,
                                  columns=list(required) + [c for c in _OPTIONAL if c in names])
        return (b.to_pandas() for b in batches), pf.metadata.num_rows
    if suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","
        try:
            head = pd.read_csv(path, sep=sep, nrows=0)
        except Exception as exc:
            raise InputError(f"cannot read CSV file {path}: {exc}") from None
        names = list(map(str, head.columns))
        _check_columns(names, str(path), required)
        reader = pd.read_csv(path, sep=sep, usecols=list(required) + [c for c in _OPTIONAL if c in names],
                             dtype=str, chunksize=chunk_lines,
                             keep_default_na=False, na_values=[""])
        return iter(reader), None
    raise InputError(f"cannot read {path}: unknown file type {suffix!r}; use .csv or .parquet")


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


_JOB: Any = None  # (model, engine, mode, k, threshold) of the running score_file; forked workers inherit it


def _score_chunk(chunk: pd.DataFrame) -> pd.DataFrame:
    model, engine, mode, k, threshold = _JOB
    if mode == "recommend":
        return model.recommend_batch(chunk, k=k)
    if mode == "up-sell":
        return engine.up_sell_batch(chunk, k=k)
    return engine.score_batch(chunk, k=k, threshold=threshold, mode=mode)


def _scored(chunks: Iterator[pd.DataFrame], workers: int) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(chunk, result) in input order; with workers > 1 from forked processes (the model is shared
    copy-on-write, never serialised), at most workers + 1 chunks in flight (constant memory)."""
    import multiprocessing

    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for chunk in chunks:
            yield chunk, _score_chunk(chunk)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: deque[tuple[pd.DataFrame, Any]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(_score_chunk, chunk)))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


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

    def close(self, empty_schema: pd.DataFrame) -> None:
        if self._first:
            self.write(empty_schema)
        if self._pq is not None:
            self._pq.close()


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
    """Score every basket of a CSV/Parquet file, chunk by chunk, with constant memory.

    mode: recommend (model.recommend_batch), or with an `xsell.Engine`: cross-sell, uplift (one row
    per basket), up-sell (the file holds item_id lines; one block of up-sells per item).
    progress(lines_done, total_lines_or_None) is called after each chunk. workers > 1 scores chunks
    in that many forked processes (Linux/macOS), at most workers + 1 chunks in flight, written in order
    (an ALS model is scored in one process: implicit's OpenMP code is not safe to fork).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a whole number >= 1, got {workers!r}")
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
    required = ("item_id",) if mode == "up-sell" else _COLUMNS
    chunks, total = _read_chunks(src, chunk_lines, required)
    counts = {"lines": 0, "baskets": 0, "fallback": 0, "rows": 0}

    if getattr(model, "model_type", "") == "als":
        workers = 1  # ALS folds baskets in with implicit's OpenMP code, which is not safe to fork
    global _JOB
    if engine is not None:
        engine.prepare_batch()
    _JOB = (model, engine, mode, k, threshold)
    score = _score_chunk

    def write(tmp: str) -> None:
        writer = _Writer(tmp, fmt)
        parts = chunks if mode == "up-sell" else _whole_baskets(chunks)
        for chunk, result in _scored(parts, workers):
            writer.write(result)
            counts["lines"] += len(chunk)
            counts["baskets"] += int(chunk["item_id" if mode == "up-sell" else "basket_id"].nunique())
            counts["fallback"] += int(result.attrs.get("fallback_baskets", 0))
            counts["rows"] += len(result)
            if progress is not None:
                progress(counts["lines"], total)
        writer.close(score(pd.DataFrame({"basket_id": pd.Series([], dtype=str),
                                         "item_id": pd.Series([], dtype=str)})))

    atomic_write(out, write)
    return ScoreSummary(counts["lines"], counts["baskets"], counts["fallback"], counts["rows"], str(out))
