"""Model files: one zip holding a JSON manifest and .npy arrays. No pickle, ever.

Layout of a model file (zip, stored uncompressed so loading is a copy):
  manifest.json   format, format_version, model_type, params, state, items
                  (kind, count), arrays (name -> dtype, shape), training summary
  items.npy       the external item ids (int64 or fixed-width unicode)
  <name>.npy      one per array the model declares

Loading trusts nothing: the member names must be exactly the declared ones;
each .npy header is parsed and its dtype and shape checked against what the
model type requires before any data is read; object dtypes are refused;
arrays are read with allow_pickle=False; then the model checks the content
(index ranges, row pointers). Files are written to a temporary file in the
same folder and renamed into place, so a crash never leaves half a model.
"""

from __future__ import annotations

import datetime as _dt
import io as _io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from xsell.data.idmap import IdMap
from xsell.errors import InputError, ModelFileError

FORMAT = "xsell-model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_MAX_MANIFEST = 1 << 20

# read once at import: os.umask can only be read by setting it, which is racy in threads
_UMASK = os.umask(0)
os.umask(_UMASK)

_MODEL_TYPES = {
    "cooccurrence": ("xsell.models.cooccurrence", "CoOccurrence"),
    "association_rules": ("xsell.models.association", "AssociationRules"),
    "ease": ("xsell.models.dense", "EASE"),
    "popular": ("xsell.models.dense", "Popular"),
    "als": ("xsell.models.cf", "ALS"),
    "bpr": ("xsell.models.cf", "BPR"),
    "itemknn": ("xsell.models.cf", "ItemKNN"),
    "hybrid": ("xsell.models.hybrid", "Hybrid"),
}


def _model_class(model_type: str) -> Any:
    import importlib

    module, name = _MODEL_TYPES[model_type]
    return getattr(importlib.import_module(module), name)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def atomic_write(path: str | os.PathLike[str], write: Any) -> None:
    """Call write(tmp_path) for a temporary file beside `path`, then rename it into place."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"folder does not exist: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted model to `path` atomically. Returns the path."""
    from xsell import __version__
    from xsell.models.base import Recommender

    if not isinstance(model, Recommender) or model.model_type not in _MODEL_TYPES:
        raise InputError(f"cannot save a {type(model).__name__}: not an xsell model")
    state, arrays = model._get_state()
    arrays = dict(arrays)
    prices = getattr(model, "item_prices_", None)
    if prices is not None:  # every model type may carry the items' median prices (for xsell.Engine)
        arrays["item_prices"] = np.asarray(prices, dtype=np.float64)
    items = model.items_.ids
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

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_MANIFEST, json.dumps(manifest, indent=2, default=_json_default))
            zf.writestr("items.npy", _npy_bytes(items))
            for name, array in arrays.items():
                zf.writestr(f"{name}.npy", _npy_bytes(array))

    atomic_write(path, write)
    return Path(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a model manifest")


def _open(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelFileError(f"model path is a folder, not a file: {p}")
    if not zipfile.is_zipfile(p):
        raise ModelFileError(f"{p} is not an xsell model file (not a zip archive)")
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{p} is not an xsell model file ({exc})") from None


def _read_manifest(zf: zipfile.ZipFile, label: str) -> dict[str, Any]:
    try:
        info = zf.getinfo(_MANIFEST)
    except KeyError:
        raise ModelFileError(f"{label} is not an xsell model file (no {_MANIFEST})") from None
    if info.file_size > _MAX_MANIFEST:
        raise ModelFileError(f"{label}: {_MANIFEST} is larger than {_MAX_MANIFEST:,} bytes")
    try:
        manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{label}: {_MANIFEST} is damaged ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{label} is not an xsell model file (format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{label} has model format version {version!r}; this xsell reads version "
                             f"{FORMAT_VERSION}; refit the model or use a matching xsell version")
    if manifest.get("model_type") not in _MODEL_TYPES:
        raise ModelFileError(f"{label}: unknown model type {manifest.get('model_type')!r}")
    for key, kind in (("params", dict), ("state", dict), ("items", dict), ("arrays", dict),
                      ("training", dict)):
        if not isinstance(manifest.get(key), kind):
            raise ModelFileError(f"{label}: manifest field {key!r} is missing or not an object")
    items = manifest["items"]
    if items.get("kind") not in ("int", "str") or not _is_count(items.get("count")):
        raise ModelFileError(f"{label}: manifest field 'items' is malformed")
    return manifest


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def inspect_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a model file (type, params, training summary), without loading arrays."""
    with _open(path) as zf:
        return _read_manifest(zf, str(path))


def _read_npy(zf: zipfile.ZipFile, member: str, dtype: str | None, shape: tuple[int, ...],
              label: str) -> np.ndarray:
    """Read one .npy member after checking its header; dtype None means 'int64 or unicode'."""
    info = zf.getinfo(member)
    with zf.open(info) as fh:
        try:
            major, minor = np.lib.format.read_magic(fh)
            if (major, minor) == (1, 0):
                hdr_shape, fortran, hdr_dtype = np.lib.format.read_array_header_1_0(fh)
            elif (major, minor) == (2, 0):
                hdr_shape, fortran, hdr_dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {major}.{minor}")
        except ValueError as exc:
            raise ModelFileError(f"{label}: {member} is not a valid .npy array ({exc})") from None
        if hdr_dtype.hasobject or hdr_dtype.fields is not None:
            raise ModelFileError(f"{label}: {member} holds Python objects; refused (model files never use pickle)")
        if dtype is None:
            ok = hdr_dtype.str == "<i8" or (hdr_dtype.kind == "U" and hdr_dtype.byteorder in "<=|")
        else:
            ok = hdr_dtype.str == dtype
        if not ok or tuple(hdr_shape) != tuple(shape) or fortran:
            raise ModelFileError(f"{label}: {member} has dtype {hdr_dtype.str} and shape {tuple(hdr_shape)}, "
                                 f"expected {dtype or 'int64 or unicode'} and {tuple(shape)}")
        expected = int(np.prod(shape, dtype=np.int64)) * hdr_dtype.itemsize
        data = fh.read(expected + 1)
        if len(data) != expected:
            raise ModelFileError(f"{label}: {member} holds {len(data)} data bytes, expected {expected} "
                                 f"(truncated or padded)")
    array = np.frombuffer(data, dtype=hdr_dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)
    return array


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved with `save_model`, validating everything; never runs code from the file."""
    label = str(path)
    try:
        with _open(path) as zf:
            manifest = _read_manifest(zf, label)
            cls = _model_class(manifest["model_type"])
            n_items = manifest["items"]["count"]
            declared = manifest["arrays"]
            shapes: dict[str, tuple[int, ...]] = {}
            for name, spec in declared.items():
                if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) or \
                        not all(_is_count(d) for d in spec["shape"]):
                    raise ModelFileError(f"{label}: manifest entry for array {name!r} is malformed")
                shapes[name] = tuple(spec["shape"])
            try:
                required = cls._array_spec(manifest["state"], n_items, shapes)
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                raise ModelFileError(f"{label}: manifest does not fit a {manifest['model_type']} model "
                                     f"({exc})") from None
            if "item_prices" in declared:
                required = {**required, "item_prices": ("<f8", (n_items,))}
            expected_members = {_MANIFEST, "items.npy"} | {f"{n}.npy" for n in required}
            names = zf.namelist()
            if len(names) != len(set(names)) or set(names) != expected_members or set(declared) != set(required):
                raise ModelFileError(f"{label}: unexpected contents {sorted(set(names) ^ expected_members)}; "
                                     f"a {manifest['model_type']} model file holds exactly "
                                     f"{sorted(expected_members)}")
            ids = _read_npy(zf, "items.npy", None, (n_items,), label)
            if (manifest["items"]["kind"] == "int") != (ids.dtype.kind == "i"):
                raise ModelFileError(f"{label}: items.npy does not match the manifest's item kind")
            arrays = {name: _read_npy(zf, f"{name}.npy", dt, shape, label)
                      for name, (dt, shape) in required.items()}
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{label} is damaged ({exc})") from None
    if len(np.unique(ids)) != len(ids):
        raise ModelFileError(f"{label}: items.npy holds duplicate ids")
    prices = arrays.pop("item_prices", None)
    if prices is not None and (np.isinf(prices).any() or (prices < 0).any()):
        raise ModelFileError(f"{label}: invalid model content (item_prices must be >= 0 or NaN)")
    try:
        model = cls._from_state(manifest["params"], manifest["state"], arrays, IdMap(ids))
    except (InputError, TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{label}: invalid model content ({exc})") from None
    model.training_summary_ = manifest["training"]
    model.item_prices_ = prices
    return model
