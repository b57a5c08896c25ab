"""Model files: one zip holding a JSON manifest and .npy arrays. No pickle, ever.

Layout of a model file (zip, members stored uncompressed):
  manifest.json        format, format_version, model_type, params, state, items (kind, count),
                       arrays (name -> dtype, shape), training summary
  items.npy            the external item ids (int64 or fixed-width unicode)
  items_order.npy      the internal item indices in ascending order of their ids (int32; optional,
                       declared in the manifest's arrays): what single look-ups binary-search, so a
                       load needs no sort of the ids (`IdMap.order`, `IdMap.set_order`)
  customers_order.npy  the same for the customer ids of a customer-aware model (optional)
  <name>.npy           one per array the model declares

`save_model` aligns every .npy member so that its array data starts at a 64-byte aligned offset of
the file (zip extra-field padding in the member's local header, as Android's zipalign does, plus
numpy's own header padding to 64 bytes). `load_model` then maps the file and makes each such array
a read-only view on its pages: no copy and no CRC pass, and every process that loads the same file
shares the same pages of the page cache. Files smaller than 4 MiB, and any file with
`load_model(path, mmap=False)`, are read into memory once instead (immune to later changes of the
file). Members not laid out that way (files of xsell 0.1.0, deflated members, foreign zips) are read
as before: copied through zipfile, with its CRC check.

Loading trusts nothing. Structure, before any array data is touched: each name once and exactly the
declared members; no links, encryption or compression other than stored/deflated; entries and local
headers inside the file and no two members overlapping; the manifest read to at most 1 MiB and 20
levels of nesting; each .npy header (at most 10,000 bytes) parsed and its dtype, shape and order
checked against what the model type requires; object dtypes refused; the data bytes that dtype and
shape imply must be exactly what the entry holds. A copied member is never inflated past them
whatever the zip entry declares, nor a deflated member past 100x its compressed size + 1 MiB, nor
all members together past 100x the file's size + 1 MiB (a file of a few MB never costs GBs,
whatever shapes its manifest declares); a mapped member costs no memory but the file's pages.
Content, completely, before `load_model` returns (mapped or not): ids valid text, distinct (one
pass over the stored sorted order when there is one, else a sort) and at most 256 characters;
prices; every index in range, every row pointer from 0 to its end without decreasing, every number
finite (or as the model declares) and non-negative where it must be, every score row sorted best
first (the model's schema, xsell/models/schema.py, large arrays checked by one-pass compiled
kernels, xsell/kernels/validate.py, and `Recommender.from_file`). Nothing a model serves from was
left unchecked.

A mapped file must not change in place while a process serves from it: replace a model file by
writing a new file and renaming it over the old one (what `save_model` does: processes that mapped
the old file keep its pages; the next `load_model` maps the new one). A file changed while it is
being loaded is refused. A file truncated in place (e.g. `cp new.xsell model.xsell` over a file in
use) makes a process that mapped it fail with SIGBUS at its next read of a lost page, as for any
memory-mapped file, and one overwritten in place changes the arrays under it after they were
checked: load with `mmap=False` where files may be rewritten in place.

`save_model` runs the same checks on the state in memory before writing, so whatever it writes
loads. Files are written to a temporary file in the same folder and renamed into place, so a crash
never leaves half a model.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io as _io
import json
import math
import mmap as _mmap
import os
import stat
import struct
import threading
import zipfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

import numpy as np

from xsell.data.idmap import IdMap
from xsell.files import atomic_write
from xsell.errors import InputError, ModelFileError
from xsell.models.registry import MODELS

if TYPE_CHECKING:
    from xsell.models.base import Recommender

FORMAT = "xsell-model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_MAX_MANIFEST = 1 << 20
_MAX_DEPTH = 20  # manifest JSON nesting; a real one is 3 deep
_NPY_HEADER_MAX = 10_000  # as numpy's own limit; xsell writes headers of about 128 bytes
_CHUNK = 1 << 24  # bytes inflated per read of a member
_DEFLATE_MAX_RATIO = 1100  # deflate gives at most about 1032 bytes per compressed byte
# save_model stores members uncompressed, so a real model file holds about as many bytes as its arrays;
# a deflated member may inflate to at most this many times its compressed size (plus _INFLATE_SLACK),
# and all members together to at most this many times the archive's size (plus _INFLATE_SLACK)
_INFLATE_MAX_RATIO = 100
_INFLATE_SLACK = 1 << 20
_METHODS = {9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstandard", 98: "ppmd", 99: "aes"}  # for messages
_ALIGN = 64  # array data of a stored member starts at a multiple of this in the file
_ALIGN_EXTRA = 0xD935  # zip extra-field id of the padding (Android zipalign's: alignment, then zeros)
_MAP_MIN = 4 << 20  # files at least this large are memory-mapped; smaller ones are read once
_LOCAL = struct.Struct("<4s5H3I2H")  # a zip local file header: signature .. extra length (30 bytes)
_ORDERS = {"items_order": "items", "customers_order": "customers"}  # optional: order member -> ids
_BESIDE_MIN = 100_000  # ids from which the check of their stored order runs in a thread beside the others


def _npy_header(array: np.ndarray) -> bytes:
    """The .npy header of a C-contiguous array, as numpy writes it (padded to a multiple of 64 bytes)."""
    header = np.lib.format.header_data_from_array_1_0(array)
    buf = _io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, header)
    except ValueError:  # a header too long for version 1.0 (a very long shape or dtype)
        buf = _io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


def _padding(offset: int, name: str, zip64: bool, head: int) -> bytes:
    """The extra field that puts the array data of a member whose local header starts at `offset`
    (zipfile appends its 20-byte zip64 field after it when zip64) on a multiple of _ALIGN."""
    fixed = 30 + len(name.encode("utf-8")) + 6 + (20 if zip64 else 0) + head  # 6: the field's id, size, alignment
    pad = -(offset + fixed) % _ALIGN
    return struct.pack("<HHH", _ALIGN_EXTRA, 2 + pad, _ALIGN) + bytes(pad)


def _write_archive(fh: IO[bytes], manifest: bytes, arrays: list[tuple[str, np.ndarray]]) -> None:
    """The zip: the manifest first (inspect_model reads only it), then each array as a stored .npy
    member whose data starts at a multiple of _ALIGN in the file, streamed from the array (no copy)."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_MANIFEST, manifest)
        for name, array in arrays:
            data = np.ascontiguousarray(array)
            head = _npy_header(data)
            size = len(head) + data.nbytes
            zip64 = size * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule for a member of known size
            info = zipfile.ZipInfo(name, date_time=_dt.datetime.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o600 << 16  # as zipfile's writestr
            info.file_size = size
            info.extra = _padding(fh.tell(), name, zip64, len(head))
            flat = data.reshape(-1).view(np.uint8).data  # a memoryview: slices without copies
            with zf.open(info, "w", force_zip64=zip64) as out:
                out.write(head)
                for at in range(0, len(flat), _CHUNK):
                    out.write(flat[at:at + _CHUNK])


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted model to `path` atomically. Returns the path.

    Before anything is written the state in memory goes through the checks `load_model` makes
    (manifest, array dtypes and shapes, ids, prices, the model's content checks): a model that
    would be refused when loaded raises InputError here instead, naming what is wrong. Each
    array's data starts at a 64-byte aligned offset of the file, so `load_model` can map it."""
    from xsell import __version__
    from xsell.models.base import Recommender

    if not isinstance(model, Recommender) or model.model_type not in MODELS:
        raise InputError(f"cannot save a {type(model).__name__}: not an xsell model")
    state, arrays = model.file_state()
    arrays = dict(arrays)
    prices = getattr(model, "item_prices_", None)
    if prices is not None:  # every model type may carry the items' median prices (for xsell.Engine)
        arrays["item_prices"] = np.asarray(prices, dtype=np.float64)
    items = model.items_.ids
    arrays["items_order"] = _order_of(model.items_)  # loading then needs no sort of the ids
    customers = model.customers_
    if customers is not None and "customers" in arrays:
        arrays["customers_order"] = _order_of(customers)
    label = f"cannot save {type(model).__name__} to {path}"
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_type": model.model_type,
        "xsell_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "params": model.get_params(),
        "state": state,
        "items": {"kind": model.items_.kind, "count": int(len(items))},
        "arrays": {name: {"dtype": a.dtype.str, "shape": list(a.shape)} for name, a in arrays.items()},
        "training": getattr(model, "training_summary_", {}),
    }
    try:
        text = json.dumps(manifest, indent=2, default=_json_default, allow_nan=False).encode("utf-8")
    except ValueError:  # allow_nan=False: a NaN would come back as a non-standard JSON constant
        raise InputError(f"{label}: its manifest holds NaN or an infinity, which JSON cannot store") from None
    except TypeError as exc:  # from _json_default
        raise InputError(f"{label}: {exc}") from None
    try:
        parsed = _parse_manifest(text, label)
        cls, required = _required_arrays(parsed, label)
        if set(arrays) != set(required):
            raise ModelFileError(f"{label}: it holds arrays {sorted(arrays)}, a {model.model_type} model file "
                                 f"holds {sorted(required)}")
        _check_header("items.npy", items.dtype, items.shape, False, None, (len(items),), label)
        for name, (dtype, shape) in required.items():
            _check_header(f"{name}.npy", arrays[name].dtype, arrays[name].shape, False, dtype, shape, label)
        _check_declared(parsed, arrays, label)
        _build_model(cls, parsed, items, arrays, label)
    except ModelFileError as exc:
        raise InputError(str(exc)) from None

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            _write_archive(fh, text, [("items.npy", items)] + [(f"{name}.npy", a) for name, a in arrays.items()])

    atomic_write(path, write)
    return Path(path)


def _order_of(ids: IdMap) -> np.ndarray:
    """The map's internal indices in ascending order of the ids (int32), as the file stores it."""
    order = np.asarray(ids.order())
    if order.dtype != np.int32:  # IdMap.order() is int32; a map of 2**31 ids or more cannot be stored
        raise InputError(f"cannot store the order of {len(ids):,} ids as int32")
    return order


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a model manifest")


def _open(path: str | os.PathLike[str]) -> tuple[zipfile.ZipFile, int]:
    """The open archive and its size in bytes."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelFileError(f"model path is a folder, not a file: {p}")
    if not zipfile.is_zipfile(p):
        raise ModelFileError(f"{p} is not an xsell model file (not a zip archive)")
    try:
        return zipfile.ZipFile(p), p.stat().st_size
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ModelFileError(f"{p} is not an xsell model file ({exc})") from None


def _check_entry(info: zipfile.ZipInfo, archive_size: int, label: str) -> None:
    """Refuse a zip entry before reading it: links, encryption, compression other than stored or deflated
    (zipfile inflates bzip2 and lzma without a bound), and sizes the archive cannot hold, so that an
    entry's declared size, which the callers check against what the manifest implies, is also real."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ModelFileError(f"{label}: {name} is a symbolic link; refused")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"{label}: {name} is encrypted; model files are never encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        method = _METHODS.get(info.compress_type, "unknown")
        raise ModelFileError(f"{label}: {name} uses compression method {info.compress_type} ({method}); "
                             f"model files hold only stored or deflated members")
    if info.header_offset + info.compress_size > archive_size:
        raise ModelFileError(f"{label}: {name} runs past the end of the file (truncated)")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise ModelFileError(f"{label}: {name} is stored uncompressed but declares {info.file_size:,} bytes "
                             f"in {info.compress_size:,}")
    if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
        raise ModelFileError(f"{label}: {name} declares {info.file_size:,} bytes from {info.compress_size:,} "
                             f"compressed bytes, more than deflate can give (a zip bomb?)")


def _open_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Any:
    """The entry as a stream for reads of at most limit + 1 bytes in all: one byte past the limit tells
    an entry that holds more than it should, whatever the archive declares.

    Memory is bounded by the reads, not by the declared size: zipfile inflates at most
    max(request, 4 KiB) per read. It also stops, checking the CRC, at the declared size; declaring room
    for one more read past limit + 1 keeps that stop from turning the excess into a CRC error."""
    probe = copy.copy(info)
    probe.file_size = 2 * (limit + 1) + _CHUNK
    return zf.open(probe)


def _read_manifest(zf: zipfile.ZipFile, label: str, archive_size: int) -> dict[str, Any]:
    try:
        info = zf.getinfo(_MANIFEST)
    except KeyError:
        raise ModelFileError(f"{label} is not an xsell model file (no {_MANIFEST})") from None
    _check_entry(info, archive_size, label)
    too_large = f"{label}: {_MANIFEST} is larger than {_MAX_MANIFEST:,} bytes"
    if info.file_size > _MAX_MANIFEST:
        raise ModelFileError(too_large)
    with _open_bounded(zf, info, _MAX_MANIFEST) as fh:
        raw = fh.read(_MAX_MANIFEST + 1)
    if len(raw) > _MAX_MANIFEST:
        raise ModelFileError(too_large)
    if len(raw) != info.file_size:
        raise ModelFileError(f"{label}: {_MANIFEST} is damaged (holds {len(raw):,} bytes, its zip entry "
                             f"declares {info.file_size:,})")
    return _parse_manifest(raw, label)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= _MAX_DEPTH:
            children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _parse_manifest(raw: bytes, label: str) -> dict[str, Any]:
    """Parse and check a manifest (the same checks for a file being loaded and a model being saved)."""
    too_deep = f"{label}: {_MANIFEST} is damaged (nested more than {_MAX_DEPTH} levels deep)"
    if len(raw) > _MAX_MANIFEST:
        raise ModelFileError(f"{label}: {_MANIFEST} is larger than {_MAX_MANIFEST:,} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ModelFileError(too_deep) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{label}: {_MANIFEST} is damaged ({exc})") from None
    if _depth(manifest) > _MAX_DEPTH:
        raise ModelFileError(too_deep)
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{label}: {_MANIFEST} is damaged (not a JSON object)")
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{label} is not an xsell model file (format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{label} has model format version {version!r}; this xsell reads version "
                             f"{FORMAT_VERSION}; refit the model or use a matching xsell version")
    if not isinstance(manifest.get("model_type"), str) or manifest["model_type"] not in MODELS:
        raise ModelFileError(f"{label}: unknown model type {manifest.get('model_type')!r}")
    for key in ("params", "state", "items", "arrays", "training"):
        if not isinstance(manifest.get(key), dict):
            raise ModelFileError(f"{label}: manifest field {key!r} is missing or not an object")
    items = manifest["items"]
    if items.get("kind") not in ("int", "str") or not _is_count(items.get("count")):
        raise ModelFileError(f"{label}: manifest field 'items' is malformed")
    return manifest


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def inspect_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a model file (type, params, training summary), without loading arrays.

    Cheap whatever the file holds: only the manifest is read, at most 1 MiB of it."""
    label = str(path)
    zf, archive_size = _open(path)
    try:
        with zf:
            return _read_manifest(zf, label, archive_size)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise ModelFileError(f"{label} is damaged ({exc})") from None


def _required_arrays(manifest: dict[str, Any], label: str) -> tuple[Any, dict[str, tuple[Any, tuple[int, ...]]]]:
    """The model class and name -> (dtype or None for ids, shape) of every array its file must hold."""
    cls = MODELS[manifest["model_type"]].cls
    shapes: dict[str, tuple[int, ...]] = {}
    for name, spec in manifest["arrays"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) or \
                not all(_is_count(d) for d in spec["shape"]):
            raise ModelFileError(f"{label}: manifest entry for array {name!r} is malformed")
        shapes[name] = tuple(spec["shape"])
    n_items = manifest["items"]["count"]
    try:
        required = cls.file_arrays(manifest["state"], n_items, shapes)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ModelFileError(f"{label}: manifest does not fit a {manifest['model_type']} model "
                             f"({exc})") from None
    if "item_prices" in shapes:
        required = {**required, "item_prices": ("<f8", (n_items,))}
    for order, ids in _ORDERS.items():  # optional: the stored sorted order of the items' (customers') ids
        if order in shapes and (ids == "items" or ids in required):
            required = {**required, order: ("<i4", (n_items,) if ids == "items" else required[ids][1])}
    return cls, required


def _check_declared(manifest: dict[str, Any], arrays: dict[str, np.ndarray], label: str) -> None:
    """Every manifest 'arrays' entry declares exactly the dtype and shape of the array read for it (which
    was checked against what the model type requires): a manifest that says otherwise, e.g. a shape the
    model does not use, is refused."""
    for name, array in arrays.items():
        spec = manifest["arrays"][name]
        dtype, shape = spec.get("dtype"), tuple(spec["shape"])
        if dtype != array.dtype.str or shape != array.shape:
            raise ModelFileError(f"{label}: manifest entry for array {name!r} declares dtype {dtype!r} and shape "
                                 f"{shape}, the {manifest['model_type']} model file holds {array.dtype.str} and "
                                 f"{array.shape}")


def _check_header(member: str, dtype: np.dtype, shape: tuple[int, ...], fortran: bool, want: str | None,
                  want_shape: tuple[int, ...], label: str) -> None:
    """An array's dtype, shape and order against what the model type requires (None: int64 or unicode ids)."""
    if dtype.hasobject:
        raise ModelFileError(f"{label}: {member} holds Python objects; refused (model files never use pickle)")
    if want is None:
        ok = dtype.str == "<i8" or (dtype.kind == "U" and dtype.str.startswith("<"))
    else:
        ok = dtype.str == want
    if not ok or tuple(shape) != tuple(want_shape):
        raise ModelFileError(f"{label}: {member} has dtype {dtype.str} and shape {tuple(shape)}, "
                             f"expected {want or 'int64 or unicode'} and {tuple(want_shape)}")
    if fortran and len(shape) > 1:
        raise ModelFileError(f"{label}: {member} is in Fortran order; model files hold C-order arrays")


class _Budget:
    """Bytes the members of one archive may still inflate to: _INFLATE_MAX_RATIO x the archive's size
    + _INFLATE_SLACK in all (stored members never exceed the archive; deflated ones are bounded)."""

    def __init__(self, archive_size: int) -> None:
        self.cap = _INFLATE_MAX_RATIO * archive_size + _INFLATE_SLACK
        self.used = 0

    def take(self, info: zipfile.ZipInfo, label: str) -> None:
        """Refuse `info` before anything of it is allocated when it would inflate past the bounds."""
        name = info.filename
        if info.compress_type == zipfile.ZIP_DEFLATED and \
                info.file_size > _INFLATE_MAX_RATIO * info.compress_size + _INFLATE_SLACK:
            raise ModelFileError(f"{label}: {name} inflates to {info.file_size:,} bytes from {info.compress_size:,} "
                                 f"(more than {_INFLATE_MAX_RATIO}x); refused (a zip bomb?)")
        if self.used + info.file_size > self.cap:
            raise ModelFileError(f"{label}: its members inflate to more than {self.cap:,} bytes in all, from a "
                                 f"{(self.cap - _INFLATE_SLACK) // _INFLATE_MAX_RATIO:,}-byte file (more than "
                                 f"{_INFLATE_MAX_RATIO}x); refused (a zip bomb?)")
        self.used += info.file_size


def _npy_head(read: Callable[[int], bytes], member: str, dtype: str | None, shape: tuple[int, ...], label: str,
              declared: int) -> tuple[np.dtype, int, int]:
    """Parse the .npy header of a member (read(n): its next n bytes at most), at most _NPY_HEADER_MAX
    bytes of it, and check it against the required dtype and shape and the entry's declared size.
    Returns (dtype, header length, data bytes)."""
    def invalid(why: str) -> ModelFileError:
        return ModelFileError(f"{label}: {member} is not a valid .npy array ({why})")

    prefix = read(10)
    if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
        raise invalid("no .npy magic string")
    version = (prefix[6], prefix[7])
    if version not in ((1, 0), (2, 0)):
        raise invalid(f"unsupported .npy version {version[0]}.{version[1]}")
    if version == (2, 0):
        prefix += read(2)
    header_len = int.from_bytes(prefix[8:], "little")
    if header_len > _NPY_HEADER_MAX:
        raise invalid(f"a header of {header_len:,} bytes; at most {_NPY_HEADER_MAX:,} are read")
    header = read(header_len)
    if len(header) != header_len:
        raise invalid("its header is cut short")
    try:
        buf = _io.BytesIO(prefix + header)
        np.lib.format.read_magic(buf)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        hdr_shape, fortran, hdr_dtype = read_header(buf)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError) as exc:
        raise invalid(str(exc)) from None
    _check_header(member, hdr_dtype, hdr_shape, fortran, dtype, shape, label)
    expected = math.prod(shape) * hdr_dtype.itemsize  # Python ints: no overflow, checked before any allocation
    head = len(prefix) + header_len
    if declared != head + expected:
        raise ModelFileError(f"{label}: {member} holds {max(declared - head, 0):,} data bytes, "
                             f"expected {expected:,} (truncated or padded)")
    return hdr_dtype, head, expected


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dtype: str | None, shape: tuple[int, ...],
              label: str, budget: _Budget | None = None) -> np.ndarray:
    """Copy one .npy member through zipfile (a member that cannot be mapped): header first, checked
    (`_npy_head`); then exactly the data bytes it implies, which the entry's declared size must match,
    with zipfile's CRC check. Never reads or allocates more than the checked sizes allow, whatever
    the archive claims."""
    member = info.filename
    with _open_bounded(zf, info, info.file_size) as fh:
        hdr_dtype, _, expected = _npy_head(fh.read, member, dtype, shape, label, info.file_size)
        if budget is not None:
            budget.take(info, label)
        array = np.empty(shape, dtype=hdr_dtype)
        flat = array.reshape(-1).view(np.uint8)
        done = 0
        while done < expected:
            chunk = fh.read(min(_CHUNK, expected - done))
            if not chunk:
                break
            flat[done:done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            done += len(chunk)
        if done != expected:
            raise ModelFileError(f"{label}: {member} holds {done:,} data bytes, expected {expected:,} "
                                 f"(truncated or padded)")
        if fh.read(1):
            raise ModelFileError(f"{label}: {member} inflates to more than the {info.file_size:,} bytes its "
                                 f"zip entry declares; refused (a zip bomb?)")
    array.flags.writeable = False  # as the views on a mapped file: a loaded model's arrays are read-only
    return array


class _Archive:
    """An open model file: its zip directory (zipfile), and, for members stored with their array data
    at an aligned offset, read-only views on the whole file held once, mapped (large files) or read
    into memory (small files, or mmap=False)."""

    def __init__(self, path: str | os.PathLike[str], label: str, allow_map: bool) -> None:
        p = Path(path)
        if not p.exists():
            raise ModelFileError(f"model file not found: {p}")
        if p.is_dir():
            raise ModelFileError(f"model path is a folder, not a file: {p}")
        self.label = label
        self.allow_map = allow_map
        try:
            self.fh: _io.BufferedReader = open(p, "rb")
        except OSError as exc:
            raise ModelFileError(f"{p} is not an xsell model file ({exc})") from None
        try:
            st = os.fstat(self.fh.fileno())
            self.size = st.st_size
            self.identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if not zipfile.is_zipfile(self.fh):
                raise ModelFileError(f"{p} is not an xsell model file (not a zip archive)")
            try:
                self.zf = zipfile.ZipFile(self.fh)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise ModelFileError(f"{p} is not an xsell model file ({exc})") from None
        except BaseException:
            self.fh.close()
            raise
        self.starts: dict[str, int] = {}  # member -> offset of its data, for stored members with a sound local header
        self.buffer: Any = None  # the whole file: an mmap, or bytes
        self.mapped = False

    def close(self) -> None:
        """Close the file (views on a mapping keep it alive until the last of them is gone)."""
        self.zf.close()
        self.fh.close()

    def _pread(self, size: int, offset: int) -> bytes:
        """Up to `size` bytes at `offset` (zipfile seeks before each of its own reads of this handle)."""
        self.fh.seek(offset)
        return self.fh.read(size)

    def check_layout(self, entries: dict[str, zipfile.ZipInfo]) -> None:
        """Read each member's local header: where its data starts, for stored members whose local header
        agrees with the directory (the others are read through zipfile, which reports what is wrong);
        refuse members that overlap."""
        spans = []
        for name, info in entries.items():
            raw = self._pread(_LOCAL.size, info.header_offset)
            if len(raw) < _LOCAL.size:
                continue
            signature, _, flags, method, _, _, _, _, _, name_len, extra_len = _LOCAL.unpack(raw)
            if signature != b"PK\x03\x04":
                continue
            start = info.header_offset + _LOCAL.size + name_len + extra_len
            end = start + info.compress_size
            if end > self.size:
                continue
            spans.append((info.header_offset, end, name))
            if method == info.compress_type == zipfile.ZIP_STORED and not flags & 0x1 and \
                    self._pread(name_len, info.header_offset + _LOCAL.size) == name.encode("utf-8"):
                self.starts[name] = start
        spans.sort()
        for (_, end, first), (begin, _, second) in zip(spans, spans[1:]):
            if begin < end:
                raise ModelFileError(f"{self.label}: {first} and {second} overlap in the archive; refused")

    def _whole(self) -> Any:
        """The whole file, once: mapped read-only and shared when it is large enough (and allowed),
        else read into memory."""
        if self.buffer is None:
            if self.allow_map and self.size >= _MAP_MIN:
                try:
                    mapping = _mmap.mmap(self.fh.fileno(), 0, access=_mmap.ACCESS_READ)
                except (OSError, ValueError):  # a file system that cannot map: read it
                    mapping = None
                if mapping is not None:
                    if len(mapping) != self.size:  # cut or grown since it was opened
                        mapping.close()
                        raise self._changed()
                    self.buffer, self.mapped = mapping, True
            if self.buffer is None:
                buffer = bytearray(self.size)
                view, done = memoryview(buffer), 0
                self.fh.seek(0)
                while done < self.size:
                    got = self.fh.readinto(view[done:])
                    if not got:
                        break
                    done += got
                if done != self.size or self.fh.read(1):
                    raise self._changed()
                self.buffer = buffer
        return self.buffer

    def _changed(self) -> ModelFileError:
        return ModelFileError(f"{self.label} changed while it was being loaded; refused (replace a model file by "
                              f"renaming a new file over it, as save_model does)")

    def check_unchanged(self) -> None:
        """Refuse a mapped file that changed (size, times, inode) while it was being loaded."""
        if self.mapped:
            st = os.fstat(self.fh.fileno())
            if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != self.identity:
                raise self._changed()

    def read(self, info: zipfile.ZipInfo, dtype: str | None, shape: tuple[int, ...], budget: _Budget) -> np.ndarray:
        """One .npy member: a read-only view on the file when it is stored with its array data at an
        aligned offset, else a copy through zipfile."""
        start = self.starts.get(info.filename)
        if start is None:
            return _read_npy(self.zf, info, dtype, shape, self.label, budget)
        whole = memoryview(self._whole())
        end = start + info.compress_size
        at = start

        def read(n: int) -> bytes:
            nonlocal at
            chunk = bytes(whole[at:min(at + n, end)])
            at += len(chunk)
            return chunk

        hdr_dtype, head, expected = _npy_head(read, info.filename, dtype, shape, self.label, info.file_size)
        if (start + head) % _ALIGN:  # not laid out for views (an older file): copied, with the CRC check
            return _read_npy(self.zf, info, dtype, shape, self.label, budget)
        budget.take(info, self.label)
        if expected == 0:
            array = np.empty(shape, dtype=hdr_dtype)
        else:
            array = np.frombuffer(whole, dtype=hdr_dtype, count=math.prod(shape), offset=start + head).reshape(shape)
        array.flags.writeable = False
        return array


def _check_members(zf: zipfile.ZipFile, manifest: dict[str, Any], required: dict[str, Any], label: str,
                   archive_size: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by name: each name once, exactly the declared members, each readable."""
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        if info.filename in entries:
            raise ModelFileError(f"{label}: {info.filename} appears twice in the archive; refused")
        entries[info.filename] = info
    expected = {_MANIFEST, "items.npy"} | {f"{n}.npy" for n in required}
    if set(entries) != expected or set(manifest["arrays"]) != set(required):
        raise ModelFileError(f"{label}: unexpected contents {sorted(set(entries) ^ expected)}; "
                             f"a {manifest['model_type']} model file holds exactly {sorted(expected)}")
    for info in entries.values():
        _check_entry(info, archive_size, label)
    return entries


def _set_order(ids: IdMap, order: np.ndarray, what: str, label: str) -> None:
    """Give a map the sorted order stored beside its ids: `IdMap.set_order` checks that it lists every
    id once in strictly ascending order, which also proves the ids distinct (one pass, no sort)."""
    from xsell.models.schema import has_duplicates

    try:
        ids.set_order(order)
    except InputError:
        if has_duplicates(ids.ids):
            raise ModelFileError(f"{label}: {what}.npy holds duplicate ids") from None
        raise ModelFileError(f"{label}: {what}_order.npy is not the sorted order of {what}.npy") from None


class _Beside:
    """`work` run in a thread beside the caller's: the compiled checks release the GIL, so on a machine
    with a free core the two run at once. `join` waits and re-raises what `work` raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(work,), name="xsell-load-check", daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to join(), in the caller's thread
            self.error = exc

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def _build_model(cls: type[Recommender], manifest: dict[str, Any], ids: np.ndarray, arrays: dict[str, np.ndarray],
                 label: str) -> Recommender:
    """The model from checked arrays, after the content checks (ids, prices, the model's own):
    the same for a file being loaded and a model being saved."""
    from xsell.models.schema import check_id_length, check_ids, check_values

    if (manifest["items"]["kind"] == "int") != (ids.dtype.kind == "i"):
        raise ModelFileError(f"{label}: items.npy does not match the manifest's item kind")
    arrays = dict(arrays)
    prices = arrays.pop("item_prices", None)
    items_order = arrays.pop("items_order", None)
    customers_order = arrays.pop("customers_order", None)
    try:
        check_ids("items.npy", ids, distinct=items_order is None)  # with an order, set_order proves it
    except InputError as exc:
        raise ModelFileError(f"{label}: {exc}") from None
    try:
        check_id_length(ids)
        items = IdMap.from_checked(ids)
    except InputError as exc:
        raise ModelFileError(f"{label}: invalid model content ({exc})") from None
    ordering = None
    if items_order is not None:
        # one pass over the ids in their sorted order: for a large catalog whose internal order is unrelated
        # to its ids (most real ones) it jumps across all of them, so it runs beside the model's checks
        def order() -> None:
            _set_order(items, items_order, "items", label)

        if len(ids) >= _BESIDE_MIN:
            ordering = _Beside(order)
        else:
            order()
    failure: ModelFileError | None = None
    try:
        if prices is not None:
            check_values("item_prices", prices, low=0, nan=True)  # NaN: price unknown
        model = cls.from_file(manifest["params"], manifest["state"], arrays, items)
    except (InputError, TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        failure = ModelFileError(f"{label}: invalid model content ({exc})")
    finally:
        if ordering is not None:
            ordering.join()  # what is wrong with the ids is reported first, as when run in turn
    if failure is not None:
        raise failure
    if customers_order is not None:
        customers = model.customers_
        if customers is not None:
            _set_order(customers, customers_order, "customers", label)
        elif len(customers_order):
            raise ModelFileError(f"{label}: customers_order.npy orders customers the model does not keep")
    model.training_summary_ = manifest["training"]
    model.item_prices_ = prices
    return model


def load_model(path: str | os.PathLike[str], *, mmap: bool = True) -> Recommender:
    """Load a model saved with `save_model`, validating everything; never runs code from the file.

    The arrays of a file laid out by `save_model` are read-only views on the file, memory-mapped
    (shared by every process that loads the same file) when it is 4 MiB or larger; `mmap=False`
    reads the file into this process's memory instead, for a file that may be rewritten in place
    while the model serves (see the module docstring). Every array is checked before this returns.

    Memory is bounded by what the manifest's shapes imply: no entry is inflated past its checked size; and
    by the file's own size: a deflated member may declare at most 100x its compressed size + 1 MiB, all
    members together at most 100x the archive's size + 1 MiB (save_model stores members uncompressed)."""
    label = str(path)
    archive = _Archive(path, label, mmap)
    try:
        try:
            manifest = _read_manifest(archive.zf, label, archive.size)
            cls, required = _required_arrays(manifest, label)
            entries = _check_members(archive.zf, manifest, required, label, archive.size)
            archive.check_layout(entries)
            budget = _Budget(archive.size)
            ids = archive.read(entries["items.npy"], None, (manifest["items"]["count"],), budget)
            arrays = {name: archive.read(entries[f"{name}.npy"], dtype, shape, budget)
                      for name, (dtype, shape) in required.items()}
            _check_declared(manifest, arrays, label)
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
            raise ModelFileError(f"{label} is damaged ({exc})") from None
        model = _build_model(cls, manifest, ids, arrays, label)
        archive.check_unchanged()
    finally:
        archive.close()
    return model
