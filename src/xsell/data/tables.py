"""Reading tables: the one reader behind load_orders, load_catalog, `xsell score` and load_online_retail.

Sources:
- a CSV path (.csv, .txt), a TSV path (.tsv), a Parquet path (.parquet, .pq), an Excel workbook (.xlsx,
  .xlsm: its first sheet; needs openpyxl), JSON (.json: an array of objects, one per line of the table) or
  JSON Lines (.jsonl, .ndjson: one object per line); text formats may be compressed with gzip (.gz, e.g.
  orders.csv.gz) or Zstandard (.zst, e.g. orders.csv.zst); any other suffix is refused;
- a pandas DataFrame (returned as it is), a pyarrow Table, or any table exposing the Arrow PyCapsule
  interface (`__arrow_c_stream__`: a polars DataFrame, a DuckDB relation, a pyarrow RecordBatchReader...),
  read through Arrow (no pandas round trip on the caller's side; whole tables only).

CSV cells are read as text, exactly as written: SKU 0042 stays "0042", "NA" and "null" stay text, spaces
are kept; only an empty cell is missing (NaN). Excel cells are read as text too (the number 85123 as
"85123"); JSON values keep their JSON types (strings, numbers). Column names are read from the header as written (before
pandas would rename a repeated 'price' to 'price.1'); blank lines before it are skipped, a UTF-8 BOM is
dropped. Parquet and Arrow columns keep their types.

Checked before any line is read: the file exists, is a file, has a known suffix; no column used appears
twice; the required columns are there. A whole CSV table also has every line's number of fields checked
against the header's (pandas would silently shift or drop fields).

- `read_table` reads a whole table into one DataFrame.
- `read_chunks` streams a CSV or Parquet file in chunks of lines (`xsell score`: bounded memory).
- `table_format` says how a path would be read.

Where the callers word one problem differently (their tests pin the words), each passes its wording:
`missing`, `duplicates`, `empty`, `accepted` of read_table. read_chunks words its errors as `xsell score`
always has ('b.csv is not UTF-8 text; save it as UTF-8').
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Generator, Literal, NamedTuple, Sequence, cast

import numpy as np
import pandas as pd

from xsell.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

Format = Literal["csv", "tsv", "parquet", "excel", "json", "jsonl"]
Missing = Callable[[str, list[Any], list[str]], str]
"""(label, the table's column names, the required ones absent) -> the error message."""
Repeated = Callable[[str, dict[Any, int]], str]
"""(label, {column name: times it appears} for the used names given more than once) -> the error message."""

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
JSON_SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
COMPRESSED_SUFFIXES = (".gz", ".zst")  # gzip, Zstandard: text formats only (CSV, TSV, JSON)
WHOLE_FORMATS = ("excel", "json")  # read whole even by read_chunks: no streaming reader for them
_SOURCES = ("a CSV, Parquet, Excel or JSON path, a pandas DataFrame, a pyarrow Table or an Arrow stream "
            "(polars, DuckDB: __arrow_c_stream__)")
_SUFFIXES = ".csv, .tsv, .txt, .parquet, .xlsx, .json or .jsonl (text formats also compressed: .gz, .zst)"
_NOT_UTF8 = "it is not UTF-8 text; convert it to UTF-8, for example with iconv -f latin1 -t utf-8"


class Table(NamedTuple):
    """A table read whole."""

    frame: pd.DataFrame  # one row per data line; the columns asked for that exist (all of them without `columns`)
    label: str  # how messages name the source: the path as given, "DataFrame" or "pyarrow Table"


def table_format(path: str | os.PathLike[str]) -> Format | None:
    """How a path is read, from its suffixes: "parquet", "tsv" (tabs), "csv" (commas), "excel", "json",
    "jsonl", or None (not a table). A compression suffix (.gz, .zst) is looked through: orders.csv.zst is a
    CSV; a compressed file with no other known suffix (orders.gz) is read as CSV, as it always was."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    suffix = p.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    inner = suffixes[-2] if suffix in COMPRESSED_SUFFIXES and len(suffixes) > 1 else suffix
    if inner in PARQUET_SUFFIXES or inner in EXCEL_SUFFIXES:  # orders.parquet.gz: compressed twice, not read
        return None
    if inner in JSON_SUFFIXES:
        return "json" if JSON_SUFFIXES[inner] == "json" else "jsonl"
    if inner in CSV_SUFFIXES or suffix in COMPRESSED_SUFFIXES:
        return "tsv" if ".tsv" in suffixes else "csv"
    return None


def _lacks(label: str, names: list[Any], absent: list[str]) -> str:
    """The default message for absent required columns: 'b.csv lacks column(s) item_id; it has: basket_id, sku'."""
    return f"{label} lacks column(s) {', '.join(absent)}; it has: {', '.join(map(str, names)) or 'none'}"


def _repeated(label: str, repeated: dict[Any, int]) -> str:
    """The default message for repeated columns: 'b.csv has column(s) basket_id more than once; keep one of each'."""
    return f"{label} has column(s) {', '.join(sorted(map(str, repeated)))} more than once; keep one of each"


# -- whole tables ---------------------------------------------------------------------------------


def read_table(
    source: Any,
    *,
    what: str,
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
    missing: Missing = _lacks,
    duplicates: Repeated = _repeated,
    empty: Callable[[str], str] | None = None,
    accepted: str = _SOURCES,
    encoding_errors: Literal["strict", "replace"] = "strict",
    sep: str | None = None,
) -> Table:
    """A whole table from a path, a DataFrame (returned as it is) or a pyarrow Table, as Table(frame, label):
    one row per data line, the `columns` present (all columns without `columns`).

    what: the noun messages use: "orders" gives 'orders file not found: PATH',
        'orders path is a folder, not a file: PATH', 'orders must be {accepted}, not list'.
    columns: the columns to read, those of them present (None: all). Only these are checked for
        repeated names; a DataFrame keeps all its columns.
    required: columns that must be present (among `columns`); else InputError(missing(label, names, absent)).
    duplicates: the message for used columns that appear more than once.
    empty: the message for a file with nothing in it (0 bytes, or no header line), given the path as text;
        default '{what} file PATH is empty'.
    encoding_errors: "replace" reads a CSV that is not UTF-8 with U+FFFD for the bad bytes; "strict" refuses it.
    sep: a CSV's separator (one character); None: found from the file (`sniff_sep`: , ; tab or |).
    """
    check_sep(sep)
    if isinstance(source, pd.DataFrame):
        _check_columns(list(source.columns), "DataFrame", columns, required, missing, duplicates)
        return Table(source, "DataFrame")
    import pyarrow as pa

    label = "pyarrow Table"
    if not isinstance(source, pa.Table) and hasattr(source, "__arrow_c_stream__"):
        package = type(source).__module__.split(".")[0]
        label = type(source).__name__ if package in ("__main__", "builtins") or package.startswith("test") else \
            f"{package} {type(source).__name__}"  # "polars DataFrame", "duckdb DuckDBPyRelation"
        source = _arrow_stream(source, label)
    if isinstance(source, pa.Table):
        _check_columns(source.column_names, label, columns, required, missing, duplicates)
        table = source if columns is None else source.select([c for c in columns if c in source.column_names])
        return Table(_arrow_to_pandas(table), label)
    if not isinstance(source, (str, os.PathLike)):
        lazy = "; a lazy frame: call .collect() first" if hasattr(source, "collect") else ""
        raise InputError(f"{what} must be {accepted}, not {type(source).__name__}{lazy}")
    path = Path(source)
    _existing_file(path, what, f"{what} path is a folder, not a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(empty(str(path)) if empty is not None else f"{what} file {path} is empty")
    fmt = _known_format(path)
    if fmt == "parquet":
        frame = _read_parquet(path, columns, required, missing, duplicates)
    elif fmt in ("csv", "tsv"):
        frame = _read_csv(path, sep, "\t" if fmt == "tsv" else ",", what, columns, required, missing, duplicates,
                          empty, encoding_errors)
    else:
        frame = _read_other(path, fmt)
        if len(frame.columns) == 0:
            raise InputError(empty(str(path)) if empty is not None else f"{what} file {path} is empty")
        _check_columns(list(frame.columns), str(path), columns, required, missing, duplicates)
        if columns is not None:
            frame = frame[[c for c in frame.columns if c in set(columns)]]
    return Table(frame, str(path))


def _arrow_stream(source: Any, label: str) -> pa.Table:
    """A table exposing the Arrow PyCapsule stream interface (polars, DuckDB, pyarrow readers), as a pyarrow
    Table: its columns move through Arrow's C interface, not through pandas."""
    import pyarrow as pa

    try:
        return pa.table(source)
    except Exception as exc:  # the producer's own error (a DuckDB query that fails, say)
        raise InputError(f"cannot read {label} through its Arrow stream: {' '.join(str(exc).split())}") from None


def _read_other(path: Path, fmt: Format) -> pd.DataFrame:
    """An Excel workbook's first sheet (cells as text), a JSON array of objects or JSON Lines, whole."""
    if fmt == "excel":
        import importlib.util

        if importlib.util.find_spec("openpyxl") is None:  # pandas' reader for .xlsx
            raise InputError(f"reading {path} (.xlsx) needs openpyxl: pip install 'xsell[excel]'")
        try:
            # as CSVs are read: only an empty cell is missing, so an id 'NA' or 'None' stays an id
            frame = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False,
                                  na_values=[""])
        except Exception as exc:
            raise InputError(f"cannot read Excel file {path}: {' '.join(str(exc).split())}") from None
        return frame
    kind = "JSON Lines" if fmt == "jsonl" else "JSON"
    try:
        with _open_binary(path) as fh:
            data = fh.read()
        if fmt == "jsonl":
            import pyarrow as pa
            import pyarrow.json as pa_json

            try:
                return _arrow_to_pandas(pa_json.read_json(io.BytesIO(data)))
            except pa.ArrowInvalid as exc:
                if "changed from" not in str(exc):
                    raise
                # a column holding numbers on some lines and text on others ({"item_id": 42} then
                # {"item_id": "A-1"}): read as written, so load_orders names the rows that differ
                import json
                import re

                text = re.sub(rb"\}\s*\n\s*\{", b"},{", data.strip())  # one JSON array: raw newlines only
                return pd.DataFrame.from_records(json.loads(b"[" + text + b"]"))  # separate objects
        import json

        rows = json.loads(data)
    except UnicodeDecodeError:
        raise InputError(f"cannot read {kind} file {path}: {_NOT_UTF8}") from None
    except InputError:
        raise
    except Exception as exc:  # json.JSONDecodeError, pyarrow.ArrowInvalid
        raise InputError(f"cannot read {kind} file {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InputError(f"cannot read JSON file {path}: expected an array of objects, one per line of the table "
                         f"([{{\"order_id\": ..., \"item_id\": ...}}, ...]); for one object per line name it .jsonl")
    return pd.DataFrame.from_records(rows)


def read_baskets(source: Any, *, sep: str = ",", what: str = "orders",
                 empty: Callable[[str], str] | None = None) -> Table:
    """A "basket" file (the arules/mlxtend layout, e.g. Groceries): one basket per line, its items split
    by `sep`, no header, no quoting; as Table(frame of order_id, item_id lines, path). Blank lines are
    skipped; whitespace around an item and empty items (a trailing separator) are left out; order ids
    are the baskets' numbers, 1, 2, ... in file order. Split by pyarrow's compute functions: no Python
    loop per line. A .gz file is read decompressed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"{what} with layout='baskets' must be the path of a text file (one basket per line), "
                         f"not {type(source).__name__}")
    if not isinstance(sep, str) or not sep or "\n" in sep or "\r" in sep:
        raise InputError(f"sep must be a non-empty separator without line breaks, got {sep!r}")
    path = Path(source)
    _existing_file(path, what, f"{what} path is a folder, not a file: {path}")
    with _open_binary(path) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"cannot read {path}: {_NOT_UTF8}") from None
    lines: Any = pc.list_flatten(pc.split_pattern(pa.array([text.removeprefix("\ufeff")], pa.large_string()), "\n"))
    lines = pc.utf8_trim_whitespace(lines)  # also the \r of Windows line ends (Any: pyarrow's stubs lose the type)
    lines = lines.filter(pc.greater(pc.utf8_length(lines), pa.scalar(0, pa.int64())))
    parts = pc.split_pattern(lines, sep)
    basket = pc.list_parent_indices(parts)
    items: Any = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    kept = pc.greater(pc.utf8_length(items), pa.scalar(0, pa.int64()))
    if not pc.any(kept).as_py():  # blank lines and separators only
        raise InputError(empty(str(path)) if empty is not None else f"{what} file {path} is empty")
    frame = pd.DataFrame({"order_id": np.asarray(basket.filter(kept), dtype=np.int64) + 1,
                          "item_id": items.filter(kept).to_numpy(zero_copy_only=False)})
    return Table(frame, str(path))


def _read_parquet(path: Path, columns: Sequence[str] | None, required: Sequence[str], missing: Missing,
                  duplicates: Repeated) -> pd.DataFrame:
    """The columns of a Parquet file, after checking its schema's names."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise InputError(f"cannot read Parquet file {path}: {exc}") from None
    _check_columns(schema.names, str(path), columns, required, missing, duplicates)
    try:
        present = None if columns is None else [c for c in columns if c in schema.names]
        return _arrow_to_pandas(pq.read_table(path, columns=present))
    except Exception as exc:
        raise InputError(f"cannot read Parquet file {path}: {exc}") from None


def _read_csv(path: Path, given: str | None, default: str, what: str, columns: Sequence[str] | None,
              required: Sequence[str], missing: Missing, duplicates: Repeated, empty: Callable[[str], str] | None,
              encoding_errors: Literal["strict", "replace"]) -> pd.DataFrame:
    """The columns of a CSV as text, after checking the header's names and every line's number of fields;
    its separator `given`, else found from the file (`sniff_sep`, `default` when nothing fits better)."""
    try:
        sep = given if given is not None else sniff_sep(path, default)
        header = _csv_header(path, sep, encoding_errors)
        if not header:  # only blank lines (a compressed file of nothing, for one)
            raise InputError(empty(str(path)) if empty is not None else f"{what} file {path} is empty")
        _check_columns(header, str(path), columns, required, missing, duplicates)
        _check_field_counts(path, sep, len(header), encoding_errors)
        wanted = None if columns is None else set(columns)
        source = _csv_input(path)
        try:
            return pd.read_csv(source, sep=sep, usecols=None if wanted is None else (lambda c: c in wanted),
                               index_col=False, dtype=str, keep_default_na=False, na_values=[""],
                               encoding_errors=encoding_errors)
        finally:
            _close_input(source, path)
    except InputError:
        raise
    except UnicodeDecodeError:
        raise InputError(f"cannot read CSV file {path}: {_NOT_UTF8}") from None
    except Exception as exc:
        raise InputError(f"cannot read CSV file {path}: {' '.join(str(exc).split())}") from None


def _check_field_counts(path: Path, sep: str, n: int, encoding_errors: str) -> None:
    """Refuse the first line whose number of fields is not the header's n.

    pandas alone would take the first column as an index when data lines have one field more than the
    header (every column shifted by one), and usecols hides an extra field; a line with a field missing
    is refused too. The field counts are checked first by pyarrow (a fast parse of one column); when it
    objects, the csv module finds the line (or, for quoted line breaks pyarrow's fast mode does not take,
    finds none and the file is read).
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"c{i}" for i in range(n)]  # by position: the header may repeat a name not used
    try:
        pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
                        parse_options=pa_csv.ParseOptions(delimiter=sep),
                        convert_options=pa_csv.ConvertOptions(include_columns=names[:1],
                                                              column_types={names[0]: pa.string()}))
    except pa.ArrowInvalid:
        _find_ragged_line(path, sep, n, encoding_errors)


def _find_ragged_line(path: Path, sep: str, n: int, encoding_errors: str) -> None:
    """Refuse the first line whose number of fields is not n: 'line 5 has 3 fields, the header has 2'
    (line numbers 1-based, the header is line 1; blank lines are skipped, as pandas does)."""
    with _open_text(path, encoding_errors) as f:
        reader = csv.reader(f, delimiter=sep)
        next(reader, None)
        for fields in reader:
            if fields and len(fields) != n:
                raise InputError(f"cannot read CSV file {path}: line {reader.line_num:,} has {len(fields)} "
                                 f"field{'s' if len(fields) != 1 else ''}, the header has {n}")


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    import pyarrow as pa

    unsigned = [i for i, field in enumerate(table.schema) if pa.types.is_dictionary(field.type)
                and pa.types.is_unsigned_integer(field.type.index_type)]
    for i in unsigned:  # polars' Categorical has uint32 codes, which pyarrow < 17 cannot give pandas
        field = table.schema.field(i)
        signed = pa.dictionary(pa.int64(), field.type.value_type)
        table = table.set_column(i, field.name, table.column(i).cast(signed))
    try:
        return table.to_pandas()
    except pa.ArrowInvalid:  # older pyarrow casts to nanoseconds, and 2300-01-01 does not fit: checked later
        return table.to_pandas(timestamp_as_object=True)


# -- streaming ------------------------------------------------------------------------------------


@dataclass
class Chunks:
    """A CSV or Parquet file read in chunks of lines (see `read_chunks`)."""

    frames: Generator[pd.DataFrame, None, None]  # DataFrames of about chunk_lines rows each, in file order
    total: int | None  # data lines in the file when known before reading it (Parquet), else None (CSV)
    schema: pa.Schema  # the Arrow types of the chunks' columns: strings for a CSV, the file's own for Parquet
    path: Path

    @property
    def parquet(self) -> bool:
        """Whether the file is not a CSV/TSV (Parquet, Excel, JSON: its rows are counted from 1, no header)."""
        return table_format(self.path) not in ("csv", "tsv")

    def place(self, row: int) -> str:
        """How messages name the row-th data row (0-based): 'line N' of a CSV (the header is line 1), 'row N'
        of a Parquet, Excel or JSON file (from 1; JSON Lines: the file's line N)."""
        return f"row {row + 1:,}" if self.parquet else f"line {row + 2:,}"

    def line_count(self) -> int:
        """Data lines: known for Parquet; the newlines of a CSV (an upper bound: quoted newlines count, the
        header's too). Reads the file again, in 16 MiB blocks."""
        if self.total is not None:
            return self.total
        lines = 0
        with _open_binary(self.path) as fh:
            while block := fh.read(1 << 24):
                lines += block.count(b"\n")
        return lines

    def close(self) -> None:
        """Stop reading and release the file (also when the chunks were not all read)."""
        self.frames.close()


def read_chunks(
    path: str | os.PathLike[str],
    *,
    what: str,
    required: Sequence[str],
    optional: Sequence[str] = (),
    chunk_lines: int,
    first_lines: int | None = None,
    sep: str | None = None,
) -> Chunks:
    """Stream the required columns (and the optional ones present) of a CSV or Parquet file.

    Memory: one chunk of chunk_lines lines at a time; opening reads only the header (CSV) or the footer
    (Parquet), and checks their column names. CSV cells are text (an empty cell: NaN); Parquet columns
    keep their types. Lines are not checked against the header's number of fields (that would cost a pass
    over the file). first_lines: the first CSV chunk's size, when smaller than chunk_lines (Parquet
    chunks come as stored, chunk_lines rows each). Messages name the file by its path; what: the noun of
    'baskets file not found: PATH' and 'baskets path PATH is a folder; name one CSV or Parquet file'.
    """
    path = Path(path)
    _existing_file(path, what, f"{what} path {path} is a folder; name one CSV or Parquet file")
    fmt = _known_format(path)
    if fmt == "parquet":
        return _parquet_chunks(path, required, optional, chunk_lines)
    if fmt in ("excel", "json", "jsonl"):
        return _whole_chunks(path, fmt, what, required, optional, chunk_lines)
    check_sep(sep)
    try:
        sep = sep if sep is not None else sniff_sep(path, "\t" if fmt == "tsv" else ",")
        names = _csv_header(path, sep)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} in the header); "
                         f"save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"cannot read CSV file {path}: {exc}") from None
    if not names:
        raise InputError(f"{path} is empty: expected a header line naming {' and '.join(required)}")
    _check_columns(names, str(path), [*required, *optional], required, _lacks, _repeated)
    read = [*required, *(c for c in optional if c in names)]
    source = _csv_input(path)
    try:
        reader = pd.read_csv(source, sep=sep, usecols=read, dtype=str, chunksize=chunk_lines,
                             keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:  # older pandas decodes the first block here, newer ones in _csv_chunks
        _close_input(source, path)
        raise InputError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except Exception as exc:
        _close_input(source, path)
        raise InputError(f"cannot read CSV file {path}: {exc}") from None
    import pyarrow as pa

    first = chunk_lines if first_lines is None else min(first_lines, chunk_lines)
    return Chunks(_csv_chunks(reader, path, first, source), None, pa.schema([(c, pa.string()) for c in read]),
                  path)


def _parquet_chunks(path: Path, required: Sequence[str], optional: Sequence[str], chunk_lines: int) -> Chunks:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise InputError(f"cannot read Parquet file {path}: {exc}") from None
    names = pf.schema_arrow.names
    _check_columns(names, str(path), [*required, *optional], required, _lacks, _repeated)
    read = [*required, *(c for c in optional if c in names)]
    fields = [pf.schema_arrow.field(c) for c in read]  # dictionary columns come back decoded
    schema = pa.schema([(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in fields])
    frames = (batch.to_pandas() for batch in pf.iter_batches(batch_size=chunk_lines, columns=read))
    return Chunks(frames, pf.metadata.num_rows, schema, path)


def _whole_chunks(path: Path, fmt: Format, what: str, required: Sequence[str], optional: Sequence[str],
                  chunk_lines: int) -> Chunks:
    """An Excel, JSON or JSON Lines file read whole (no streaming reader for them), handed out in chunks."""
    import pyarrow as pa

    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty: expected a header line naming {' and '.join(required)}")
    frame = _read_other(path, fmt)
    names = list(frame.columns)
    _check_columns(names, str(path), [*required, *optional], required, _lacks, _repeated)
    read = [*required, *(c for c in optional if c in names)]
    frame = frame[read]
    schema = pa.Schema.from_pandas(frame, preserve_index=False)

    def frames() -> Generator[pd.DataFrame, None, None]:
        for start in range(0, len(frame), chunk_lines):
            yield frame.iloc[start:start + chunk_lines]

    return Chunks(frames(), len(frame), schema, path)


def _csv_chunks(reader: Any, path: Path, first: int, source: Any) -> Generator[pd.DataFrame, None, None]:
    """The reader's chunks, the first one `first` lines: a file not sorted by basket shows itself before
    much of it is parsed."""
    try:
        with reader:  # closes the file however the reading ends (pandas' own; `source`, a stream, below)
            yield reader.get_chunk(first)
            yield from reader
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read CSV file {path}: {' '.join(str(exc).split())}") from None
    finally:
        _close_input(source, path)


def _close_input(source: Any, path: Path) -> None:
    if source is not path:
        source.close()


# -- shared: files, formats, headers ----------------------------------------------------------------


SEPARATORS = (",", ";", "\t", "|")


def check_sep(sep: Any) -> None:
    """A CSV separator given by the user: one character, not a quote or a line break (None: found)."""
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1 or sep in "\"\r\n"):
        raise InputError(f"sep must be one character for a CSV file (e.g. ';' or '\\t'), got {sep!r}")


def sniff_sep(path: Path, default: str, sample: int = 50) -> str:
    """A CSV's separator: of `SEPARATORS`, the one that splits its header into the most fields (more than
    one) and each of the next `sample` lines into as many; else `default` (the file name's: tab for .tsv,
    comma for .csv). European spreadsheets write ';'. Reads only the first lines; bytes that are not UTF-8
    are read as U+FFFD here (the reading proper refuses them, naming where they are)."""
    lines: list[str] = []
    with _open_binary(path) as fh:
        for raw in fh:
            line = raw.decode("utf-8-sig", "replace")
            if line.strip():
                lines.append(line)
                if len(lines) > sample + 1:
                    break
    if not lines:
        return default
    complete = lines[:-1] if len(lines) > sample + 1 else lines  # the last line read may be cut short
    best, most = default, 1
    for sep in (default, *(c for c in SEPARATORS if c != default)):
        rows = list(csv.reader(complete, delimiter=sep))
        fields = len(rows[0])
        if fields > most and all(len(row) == fields for row in rows[1:]):
            best, most = sep, fields
    return best


def _csv_header(path: Path, sep: str, encoding_errors: str = "strict") -> list[str]:
    """The column names of a CSV as written (a repeated name stays repeated), from its first line that is not
    blank; [] when there is none. Raises UnicodeDecodeError (its .object the line's bytes) on bytes that are
    not UTF-8, unless encoding_errors is "replace"."""
    with _open_binary(path) as fh:
        lines = (raw.decode("utf-8-sig", encoding_errors) for raw in fh)  # line by line: only the header's bytes
        for fields in csv.reader(lines, delimiter=sep):
            if len(fields) > 1 or (fields and fields[0].strip()):  # pandas skips blank lines
                return fields
    return []


def _check_columns(names: list[Any], label: str, used: Sequence[Any] | None, required: Sequence[str],
                   missing: Missing, duplicates: Repeated) -> None:
    """Refuse used columns (all with used None) that appear more than once, then absent required ones."""
    counts = Counter(names)
    checked = names if used is None else [*used, *required]
    repeated = {name: counts[name] for name in dict.fromkeys(checked) if counts[name] > 1}
    if repeated:
        raise InputError(duplicates(label, repeated))
    absent = [name for name in required if name not in counts]
    if absent:
        raise InputError(missing(label, names, absent))


def _existing_file(path: Path, what: str, folder: str) -> None:
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.is_dir():
        raise InputError(folder)


def _known_format(path: Path) -> Format:
    fmt = table_format(path)
    if fmt is None:
        suffix = path.suffix.lower()
        shown = "".join(path.suffixes[-2:]).lower() if suffix in COMPRESSED_SUFFIXES else suffix
        raise InputError(f"cannot read {path}: unknown file type {shown!r}; use {_SUFFIXES}")
    return fmt


def _open_binary(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed when it ends in .gz (gzip) or .zst (Zstandard, through pyarrow)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".zst":
        import pyarrow as pa

        return io.BufferedReader(cast(Any, pa.input_stream(str(path), compression="zstd")))
    return open(path, "rb")


def _open_text(path: Path, encoding_errors: str) -> IO[str]:
    """The file as UTF-8 text for the csv module, decompressed when it ends in .gz or .zst."""
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return io.TextIOWrapper(cast(IO[bytes], _open_binary(path)), encoding="utf-8", errors=encoding_errors,
                                newline="")
    return open(path, newline="", encoding="utf-8", errors=encoding_errors)


def _csv_input(path: Path) -> Any:
    """What pandas' read_csv reads: the path (it decompresses .gz itself), or the decompressed stream of a
    .zst file (pandas would need the zstandard package; pyarrow has the codec)."""
    return _open_binary(path) if path.suffix.lower() == ".zst" else path
