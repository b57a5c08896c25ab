"""Model files: one zip holding a JSON manifest and .npy arrays. No pickle, ever.

Layout of a model file (zip, stored uncompressed so loading is a copy):
  manifest.json   format, format_version, model_type, params, state, items
                  (kind, count), arrays (name -> dtype, shape), training summary
  items.npy       the external item ids (int64 or fixed-width unicode)
  <name>.npy      one per array the model declares

Loading trusts nothing: each name once and exactly the declared members; no
links, encryption or compression other than stored/deflated; the manifest read
to at most 1 MiB and 20 levels of nesting; each .npy header (at most 10,000
bytes) parsed and its dtype, shape and order checked against what the model
type requires before any data is read; object dtypes refused; then exactly
the data bytes that dtype and shape imply are copied into a plain array (no
unpickling is possible), never inflating past them whatever the zip entry
declares, nor a deflated member past 100x its compressed size + 1 MiB, nor
all members together past 100x the file's size + 1 MiB (a file of a few MB
never costs GBs, whatever shapes its manifest declares); then the content is checked (ids, prices, index ranges, row
pointers, finite and non-negative values: the model's schema and `Recommender.from_file`).
`save_model` runs the same checks on the state in memory before writing, so
whatever it writes loads. Files are written to a temporary file in the same
folder and renamed into place, so a crash never leaves half a model.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io as _io
import json
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

def _npy_bytes(array: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted model to `path` atomically. Returns the path.

    Before anything is written the state in memory goes through the checks `load_model` makes
    (manifest, array dtypes and shapes, ids, prices, the model's content checks): a model that
    would be refused when loaded raises InputError here instead, naming what is wrong."""
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
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_MANIFEST, text)
            zf.writestr("items.npy", _npy_bytes(items))
            for name, array in arrays.items():
                zf.writestr(f"{name}.npy", _npy_bytes(array))

    atomic_write(path, write)
    return Path(path)


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


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dtype: str | None, shape: tuple[int, ...],
              label: str, budget: _Budget | None = None) -> np.ndarray:
    """Read one .npy member: header first (at most _NPY_HEADER_MAX bytes), checked against the required
    dtype and shape; then exactly the data bytes they imply, which the entry's declared size must match.
    Never reads or allocates more than the checked sizes allow, whatever the archive claims."""
    member = info.filename

    def invalid(why: str) -> ModelFileError:
        return ModelFileError(f"{label}: {member} is not a valid .npy array ({why})")

    with _open_bounded(zf, info, info.file_size) as fh:
        prefix = fh.read(10)
        if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
            raise invalid("no .npy magic string")
        version = (prefix[6], prefix[7])
        if version not in ((1, 0), (2, 0)):
            raise invalid(f"unsupported .npy version {version[0]}.{version[1]}")
        if version == (2, 0):
            prefix += fh.read(2)
        header_len = int.from_bytes(prefix[8:], "little")
        if header_len > _NPY_HEADER_MAX:
            raise invalid(f"a header of {header_len:,} bytes; at most {_NPY_HEADER_MAX:,} are read")
        header = fh.read(header_len)
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
        count = math.prod(shape)  # Python ints: no overflow, checked against the entry before any allocation
        expected = count * hdr_dtype.itemsize
        head = len(prefix) + header_len
        if info.file_size != head + expected:
            raise ModelFileError(f"{label}: {member} holds {max(info.file_size - head, 0):,} data bytes, "
                                 f"expected {expected:,} (truncated or padded)")
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


def _build_model(cls: type[Recommender], manifest: dict[str, Any], ids: np.ndarray, arrays: dict[str, np.ndarray],
                 label: str) -> Recommender:
    """The model from checked arrays, after the content checks (ids, prices, the model's own):
    the same for a file being loaded and a model being saved."""
    from xsell.models.schema import check_ids, check_values

    if (manifest["items"]["kind"] == "int") != (ids.dtype.kind == "i"):
        raise ModelFileError(f"{label}: items.npy does not match the manifest's item kind")
    try:
        check_ids("items.npy", ids)
    except InputError as exc:
        raise ModelFileError(f"{label}: {exc}") from None
    arrays = dict(arrays)
    prices = arrays.pop("item_prices", None)
    try:
        if prices is not None:
            check_values("item_prices", prices, low=0, nan=True)  # NaN: price unknown
        model = cls.from_file(manifest["params"], manifest["state"], arrays, IdMap(ids))
    except (InputError, TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise ModelFileError(f"{label}: invalid model content ({exc})") from None
    model.training_summary_ = manifest["training"]
    model.item_prices_ = prices
    return model


def load_model(path: str | os.PathLike[str]) -> Recommender:
    """Load a model saved with `save_model`, validating everything; never runs code from the file.

    Memory is bounded by what the manifest's shapes imply: no entry is inflated past its checked size; and
    by the file's own size: a deflated member may declare at most 100x its compressed size + 1 MiB, all
    members together at most 100x the archive's size + 1 MiB (save_model stores members uncompressed)."""
    label = str(path)
    zf, archive_size = _open(path)
    try:
        with zf:
            manifest = _read_manifest(zf, label, archive_size)
            cls, required = _required_arrays(manifest, label)
            entries = _check_members(zf, manifest, required, label, archive_size)
            budget = _Budget(archive_size)
            ids = _read_npy(zf, entries["items.npy"], None, (manifest["items"]["count"],), label, budget)
            arrays = {name: _read_npy(zf, entries[f"{name}.npy"], dtype, shape, label, budget)
                      for name, (dtype, shape) in required.items()}
            _check_declared(manifest, arrays, label)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise ModelFileError(f"{label} is damaged ({exc})") from None
    return _build_model(cls, manifest, ids, arrays, label)
