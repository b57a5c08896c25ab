"""Hostile model files: each crafted file is refused with one exact message, without running code
and without inflating more than the manifest's shapes allow; save refuses what load would refuse;
every registered model type survives a round trip unchanged.

The crafted files are written byte by byte (`_raw_zip`), so they can lie the way an attacker
would: sizes, CRCs, flags, compression methods, file modes, duplicate names.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import xsell
import xsell.models.registry
import xsell.io
from tests.conftest import assert_same_answers
from xsell import InputError, ModelFileError
from xsell.cli import app
from xsell.data.idmap import IdMap
from xsell.datasets import synthetic_shop

runner = CliRunner()
BOMB = 200 << 20  # bytes a bomb inflates to (200 MiB of zeros, about 200 KB deflated)

FACTORIES: dict[str, Callable[[], Any]] = {
    # every registered model, with its quick parameters unless a line below says otherwise
    **{name: (lambda entry=entry: entry.cls(**entry.quick)) for name, entry in xsell.models.registry.MODELS.items()},
    "cooccurrence": lambda: xsell.CoOccurrence(min_count=1),
    "association_rules": lambda: xsell.AssociationRules(min_support=0.01, max_len=3),
    "ease": lambda: xsell.EASE(l2=50.0),
    "popular": lambda: xsell.Popular(),
    "als": lambda: xsell.ALS(factors=8, iterations=3),
    "bpr": lambda: xsell.BPR(factors=8, iterations=5),
    "itemknn": lambda: xsell.ItemKNN(),
    "hybrid": lambda: xsell.Hybrid(),
}
TINY = ["item_counts.npy", "items.npy", "items_order.npy", "manifest.json", "neighbor_counts.npy",
        "neighbor_indices.npy", "neighbor_indptr.npy", "neighbor_scores.npy"]
HOLDS = f"a cooccurrence model file holds exactly {TINY}"


# -- writing zips byte by byte ------------------------------------------------------------------
def _deflate(*parts: bytes, zeros: int = 0) -> tuple[bytes, int]:
    """Raw deflate of the parts followed by `zeros` zero bytes (made in 1 MiB steps), and its CRC."""
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    out, crc = [], 0
    for part in parts:
        out.append(co.compress(part))
        crc = zlib.crc32(part, crc)
    block = bytes(1 << 20)
    for _ in range(zeros >> 20):
        out.append(co.compress(block))
        crc = zlib.crc32(block, crc)
    out.append(co.flush())
    return b"".join(out), crc


def _entry(name: str, content: bytes, *, deflate: bool = False, **lies: int) -> dict[str, Any]:
    """One zip entry; `lies` override what the headers declare (file_size, crc, compress_size,
    method, flags, mode)."""
    data = _deflate(content)[0] if deflate else content
    entry = {"name": name, "data": data, "file_size": len(content), "crc": zlib.crc32(content),
             "compress_size": len(data), "method": 8 if deflate else 0, "flags": 0, "mode": 0o100644}
    entry.update(lies)
    return entry


ALIGNED = False  # True (the `aligned` fixture): _raw_zip lays members out as save_model does, to be mapped


def _padding(offset: int, name: bytes, data: bytes) -> bytes:
    """The local extra field that puts the array data of a stored .npy member on a multiple of 64 in
    the file, as save_model's zipalign-style padding does (none for data that is not a .npy)."""
    head = 0
    if data[:6] == b"\x93NUMPY" and len(data) >= 10:
        head = (10 + int.from_bytes(data[8:10], "little")) if data[6] == 1 else (12 + int.from_bytes(data[8:12], "little"))
    pad = -(offset + 30 + len(name) + 6 + head) % 64
    return struct.pack("<HHH", 0xD935, 2 + pad, 64) + bytes(pad)


def _raw_zip(path: Path, entries: list[dict[str, Any]]) -> Path:
    out, central = bytearray(), bytearray()
    for e in entries:
        name = e["name"].encode()
        offset = len(out)
        fields = (e["flags"], e["method"], 0, 0x21, e["crc"], e["compress_size"], e["file_size"], len(name))
        extra = _padding(offset, name, e["data"]) if ALIGNED and e["method"] == 0 else b""
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, *fields, len(extra)) + name + extra + e["data"]
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, *fields, 0, 0, 0, 0,
                               e["mode"] << 16, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def _members(path: Path) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _npy_header(descr: str, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False).copy()


class _Payload:
    """Unpickling this creates `marker`: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# -- valid files to start from ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def shop_orders() -> xsell.Orders:
    return synthetic_shop(seed=1, n_products=20, n_customers=100, n_orders=600).orders


@pytest.fixture(scope="module")
def fitted(shop_orders) -> dict[str, Any]:
    return {name: make().fit(shop_orders) for name, make in FACTORIES.items()}


@pytest.fixture(scope="module")
def valid(tmp_path_factory, fitted) -> dict[str, Path]:
    """A valid file per model type, plus 'tiny': a co-occurrence model of four items a, b, c, d."""
    folder = tmp_path_factory.mktemp("valid")
    files = {name: xsell.save_model(model, folder / f"{name}.xsell") for name, model in fitted.items()}
    lines = [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (3, "a"), (3, "c"), (3, "d"), (4, "b"), (4, "c")]
    tiny_orders = xsell.load_orders(pd.DataFrame(lines, columns=["order_id", "item_id"]))
    tiny = xsell.CoOccurrence(min_count=1).fit(tiny_orders)
    files["tiny"] = xsell.save_model(tiny, folder / "tiny.xsell")
    return files


# -- crafting: each returns the crafted file's path --------------------------------------------------
Craft = Callable[[Path, Path], Path]  # (valid file, crafted file) -> crafted file


def members(change: Callable[[dict[str, bytes], dict[str, Any]], None]) -> Craft:
    """Rewrite the members and the (re-serialised) manifest of a valid file."""
    def craft(src: Path, out: Path) -> Path:
        found = _members(src)
        manifest = json.loads(found["manifest.json"])
        change(found, manifest)
        if "manifest.json" in found:
            found["manifest.json"] = json.dumps(manifest).encode()
        return _raw_zip(out, [_entry(n, d) for n, d in found.items()])
    return craft


def manifest_bytes(raw: bytes) -> Craft:
    def craft(src: Path, out: Path) -> Path:
        found = _members(src)
        found["manifest.json"] = raw
        return _raw_zip(out, [_entry(n, d) for n, d in found.items()])
    return craft


def array(name: str, change: Callable[[np.ndarray], np.ndarray | None]) -> Craft:
    """Rewrite one array of a valid file (change edits a copy in place, or returns a new array)."""
    def edit(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
        values = _load_npy(found[f"{name}.npy"])
        new = change(values)
        found[f"{name}.npy"] = _npy(values if new is None else new, allow_pickle=True)
    return members(edit)


def entries(change: Callable[[list[dict[str, Any]], dict[str, bytes]], None]) -> Craft:
    """Rewrite the zip entries (names, sizes, flags) of a valid file."""
    def craft(src: Path, out: Path) -> Path:
        found = _members(src)
        listed = [_entry(n, d) for n, d in found.items()]
        change(listed, found)
        return _raw_zip(out, listed)
    return craft


def whole_file(data: bytes | Callable[[Path], bytes]) -> Craft:
    def craft(src: Path, out: Path) -> Path:
        out.write_bytes(data(src) if callable(data) else data)
        return out
    return craft


def _set(index: int, value: float) -> Callable[[np.ndarray], None]:
    def change(values: np.ndarray) -> None:
        values.flat[index] = value
    return change


def _unsorted(indptr_name: str) -> Callable[[dict[str, bytes], dict[str, Any]], None]:
    """Raise the second score of the first row holding two, so that row is no longer best first."""
    scores_name = indptr_name.replace("indptr", "scores")

    def change(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
        indptr = _load_npy(found[f"{indptr_name}.npy"])
        scores = _load_npy(found[f"{scores_name}.npy"])
        row = int(np.flatnonzero(np.diff(indptr) >= 2)[0])
        first = int(indptr[row])
        scores[first + 1] = scores[first] + 1
        found[f"{scores_name}.npy"] = _npy(scores)
    return change


def _at(name: str, index: int, value: Any) -> Callable[[dict[str, bytes], dict[str, Any]], None]:
    def change(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
        values = _load_npy(found[name])
        values[index] = value
        found[name] = _npy(values)
    return change


def _replace(name: str, data: bytes | Callable[[bytes], bytes]) -> Craft:
    return members(lambda found, manifest: found.update({name: data(found[name]) if callable(data) else data}))


def _swap(name: str, **lies: Any) -> Craft:
    """Re-declare one entry (flags, method, mode, sizes)."""
    def change(listed: list[dict[str, Any]], found: dict[str, bytes]) -> None:
        for e in listed:
            if e["name"] == name:
                e.update(lies)
    return entries(change)


def _bomb(name: str, *, honest: bool) -> Craft:
    """`name` deflated as its valid bytes followed by 200 MiB of zeros; `honest` declares the inflated
    size, otherwise the entry declares the valid size and CRC (a lying header)."""
    def change(listed: list[dict[str, Any]], found: dict[str, bytes]) -> None:
        valid_bytes = found[name]
        data, crc = _deflate(valid_bytes, zeros=BOMB)
        for e in listed:
            if e["name"] == name:
                e.update(data=data, compress_size=len(data), method=8,
                         file_size=len(valid_bytes) + BOMB if honest else len(valid_bytes),
                         crc=crc if honest else zlib.crc32(valid_bytes))
    return entries(change)


def _inflating_header(listed: list[dict[str, Any]], found: dict[str, bytes]) -> None:
    """items.npy declares (honestly) a 200 MiB header, deflated to about 200 KB."""
    head = b"\x93NUMPY\x02\x00" + BOMB.to_bytes(4, "little")
    data, crc = _deflate(head, zeros=BOMB)
    for e in listed:
        if e["name"] == "items.npy":
            e.update(data=data, compress_size=len(data), method=8, file_size=len(head) + BOMB, crc=crc)


def _manifest_update(**fields: Any) -> Craft:
    return members(lambda found, manifest: manifest.update(fields))


def _nested(levels: int) -> Craft:
    def change(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
        deep: Any = 1
        for _ in range(levels):
            deep = [deep]
        manifest["training"]["note"] = deep
    return members(change)


def _big_header(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
    found["items.npy"] = b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little") + b"{'descr': '<U1'"


def _overflow(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
    manifest["arrays"]["neighbor_indices"]["shape"] = [2**62]
    found["neighbor_indices.npy"] = _npy_header("<i4", (2**62,), found["neighbor_indices.npy"][128:])


def _huge_catalog(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
    manifest["items"]["count"] = 2**40
    found["items.npy"] = _npy_header("<U1", (2**40,), "abcd".encode("utf-32-le"))


def _huge_factors(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
    n = manifest["items"]["count"]
    manifest["arrays"]["item_factors"]["shape"] = [n, 2**40]
    found["item_factors.npy"] = _npy_header("<f4", (n, 2**40), found["item_factors.npy"][128:])


def _declared_zeros(n: int) -> Craft:
    """The tiny co-occurrence file whose neighbor arrays declare (in the manifest and their .npy headers)
    `n` entries each, deflated all-zero members of exactly the declared size: sizes and CRCs all honest."""
    def craft(src: Path, out: Path) -> Path:
        found = _members(src)
        manifest = json.loads(found["manifest.json"])
        listed = []
        for name in ("neighbor_indices", "neighbor_scores", "neighbor_counts"):
            manifest["arrays"][name]["shape"] = [n]
            head = _npy_header(manifest["arrays"][name]["dtype"], (n,))
            data, crc = _deflate(head, zeros=4 * n)
            listed.append(dict(_entry(f"{name}.npy", b""), data=data, compress_size=len(data), method=8,
                               file_size=len(head) + 4 * n, crc=crc))
            del found[f"{name}.npy"]
        found["manifest.json"] = json.dumps(manifest).encode()
        return _raw_zip(out, [_entry(name, data) for name, data in found.items()] + listed)
    return craft


def _declared_shape(name: str, dtype: str, shape: list[int]) -> Craft:
    """Only the manifest's entry for `name` changes; the member itself stays valid."""
    return members(lambda found, manifest: manifest["arrays"][name].update(dtype=dtype, shape=shape))


def _entry_sizes(path: Path, name: str) -> tuple[int, int]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
        return info.file_size, info.compress_size


def _ids_with_code(code: int) -> Craft:
    def edit(found: dict[str, bytes], manifest: dict[str, Any]) -> None:
        codes = np.array(["a", "b", "c", "d"]).view(np.uint32).copy()
        codes[1] = code
        found["items.npy"] = _npy(codes.view("<U1"))
    return members(edit)


def _object_array(marker_name: str) -> np.ndarray:
    payload = np.empty(4, dtype=object)
    payload[:] = [_Payload(Path(marker_name))] * 4
    return payload


def _version_3(data: bytes) -> bytes:
    return data[:6] + b"\x03\x00" + data[8:]


def _dup(name: str) -> Craft:
    def change(listed: list[dict[str, Any]], found: dict[str, bytes]) -> None:
        listed.append(_entry(name, found[name]))
    return entries(change)


def _rename(old: str, new: str) -> Craft:
    return entries(lambda listed, found: [e.update(name=new) for e in listed if e["name"] == old])


def _add(name: str, data: bytes = b"x") -> Craft:
    return entries(lambda listed, found: listed.append(_entry(name, data)))


def _overlap(name: str, onto: str) -> Craft:
    """The central directory entry of `name` points at the local header of `onto` (same sizes): two
    members sharing bytes."""
    def craft(src: Path, out: Path) -> Path:
        found = _members(src)
        _raw_zip(out, [_entry(n, d) for n, d in found.items()])
        raw = bytearray(out.read_bytes())
        offsets = {}
        at = raw.find(b"PK\x01\x02")
        while at >= 0:
            name_len = struct.unpack_from("<H", raw, at + 28)[0]
            offsets[bytes(raw[at + 46:at + 46 + name_len]).decode()] = at
            at = raw.find(b"PK\x01\x02", at + 46)
        target = struct.unpack_from("<I", raw, offsets[onto] + 42)[0]
        struct.pack_into("<I", raw, offsets[name] + 42, target)
        out.write_bytes(bytes(raw))
        return out
    return craft


def _cut(src: Path) -> bytes:
    data = src.read_bytes()
    return data[: len(data) // 2]


# -- the table: (id, valid file it starts from, craft, exact message with {p} for the path) ---------------
CASES: list[tuple[str, str, Craft, str]] = [
    # not a model file at all
    ("pickle-file", "tiny", whole_file(pickle.dumps(_Payload(Path("never-created-marker")))),
     "{p} is not an xsell model file (not a zip archive)"),
    ("empty-file", "tiny", whole_file(b""), "{p} is not an xsell model file (not a zip archive)"),
    ("text-file", "tiny", whole_file(b"order_id,item_id\n1,a\n"), "{p} is not an xsell model file (not a zip archive)"),
    ("truncated-file", "tiny", whole_file(_cut), "{p} is not an xsell model file (not a zip archive)"),
    ("zip-without-manifest", "tiny", entries(lambda listed, found: listed.__setitem__(
        slice(None), [_entry("readme.txt", b"hi")])), "{p} is not an xsell model file (no manifest.json)"),
    # pickles, objects and odd dtypes inside a zip
    ("pickle-as-member", "tiny", _replace("items.npy", pickle.dumps(["a", "b", "c", "d"])),
     "{p}: items.npy is not a valid .npy array (no .npy magic string)"),
    ("object-npy-items", "tiny", _replace("items.npy", _npy(_object_array("never-created-marker"), True)),
     "{p}: items.npy holds Python objects; refused (model files never use pickle)"),
    ("object-npy-scores", "tiny", _replace("neighbor_scores.npy", _npy(_object_array("never-created-marker"), True)),
     "{p}: neighbor_scores.npy holds Python objects; refused (model files never use pickle)"),
    ("structured-dtype", "tiny", _replace("item_counts.npy", _npy(np.zeros(4, dtype=[("a", "<i8")]))),
     "{p}: item_counts.npy has dtype |V8 and shape (4,), expected <i8 and (4,)"),
    ("wrong-dtype", "tiny", array("neighbor_scores", lambda a: a.astype(np.float64)),
     "{p}: neighbor_scores.npy has dtype <f8 and shape (10,), expected <f4 and (10,)"),
    ("wrong-shape", "tiny", array("item_counts", lambda a: np.append(a, 7)),
     "{p}: item_counts.npy has dtype <i8 and shape (5,), expected <i8 and (4,)"),
    ("big-endian", "tiny", array("item_counts", lambda a: a.astype(">i8")),
     "{p}: item_counts.npy has dtype >i8 and shape (4,), expected <i8 and (4,)"),
    ("big-endian-ids", "tiny", array("items", lambda a: a.astype(">U1")),
     "{p}: items.npy has dtype >U1 and shape (4,), expected int64 or unicode and (4,)"),
    ("float-ids", "tiny", array("items", lambda a: np.arange(4.0)),
     "{p}: items.npy has dtype <f8 and shape (4,), expected int64 or unicode and (4,)"),
    ("fortran-order", "ease", array("weights", lambda a: np.asfortranarray(a)),
     "{p}: weights.npy is in Fortran order; model files hold C-order arrays"),
    ("npy-version-3", "tiny", _replace("item_counts.npy", _version_3),
     "{p}: item_counts.npy is not a valid .npy array (unsupported .npy version 3.0)"),
    ("npy-cut-short", "tiny", _replace("item_counts.npy", lambda d: d[:-8]),
     "{p}: item_counts.npy holds 24 data bytes, expected 32 (truncated or padded)"),
    ("npy-padded", "tiny", _replace("item_counts.npy", lambda d: d + bytes(8)),
     "{p}: item_counts.npy holds 40 data bytes, expected 32 (truncated or padded)"),
    # names and entries
    ("traversal-member", "tiny", _add("../x.npy"), f"{{p}}: unexpected contents ['../x.npy']; {HOLDS}"),
    ("absolute-member", "tiny", _add("/abs.npy"), f"{{p}}: unexpected contents ['/abs.npy']; {HOLDS}"),
    ("traversal-instead-of-member", "tiny", _rename("items.npy", "../items.npy"),
     f"{{p}}: unexpected contents ['../items.npy', 'items.npy']; {HOLDS}"),
    ("directory-member", "tiny", _add("sub/", b""), f"{{p}}: unexpected contents ['sub/']; {HOLDS}"),
    ("extra-member", "tiny", _add("notes.txt"), f"{{p}}: unexpected contents ['notes.txt']; {HOLDS}"),
    ("missing-member", "tiny", members(lambda found, manifest: found.pop("neighbor_counts.npy")),
     f"{{p}}: unexpected contents ['neighbor_counts.npy']; {HOLDS}"),
    ("duplicate-member", "tiny", _dup("items.npy"), "{p}: items.npy appears twice in the archive; refused"),
    ("duplicate-manifest", "tiny", _dup("manifest.json"), "{p}: manifest.json appears twice in the archive; refused"),
    ("symlink-member", "tiny", _swap("items.npy", mode=0o120777), "{p}: items.npy is a symbolic link; refused"),
    ("symlink-manifest", "tiny", _swap("manifest.json", mode=0o120777),
     "{p}: manifest.json is a symbolic link; refused"),
    ("encrypted-member", "tiny", _swap("neighbor_scores.npy", flags=0x1),
     "{p}: neighbor_scores.npy is encrypted; model files are never encrypted"),
    ("method-99", "tiny", _swap("items.npy", method=99),
     "{p}: items.npy uses compression method 99 (aes); model files hold only stored or deflated members"),
    ("method-bzip2", "tiny", _swap("items.npy", method=12),
     "{p}: items.npy uses compression method 12 (bzip2); model files hold only stored or deflated members"),
    ("method-unknown", "tiny", _swap("items.npy", method=77),
     "{p}: items.npy uses compression method 77 (unknown); model files hold only stored or deflated members"),
    ("method-lzma", "tiny", _swap("manifest.json", method=14),
     "{p}: manifest.json uses compression method 14 (lzma); model files hold only stored or deflated members"),
    ("runs-past-the-end", "tiny", _swap("item_counts.npy", compress_size=10**6, file_size=10**6),
     "{p}: item_counts.npy runs past the end of the file (truncated)"),
    ("stored-size-lie", "tiny", _swap("item_counts.npy", file_size=1000),
     "{p}: item_counts.npy is stored uncompressed but declares 1,000 bytes in 160"),
    ("bad-crc", "tiny", _swap("item_counts.npy", crc=12345), "{p} is damaged (Bad CRC-32 for file 'item_counts.npy')"),
    # bombs and sizes
    ("data-bomb-lying-size", "tiny", _bomb("item_counts.npy", honest=False),
     "{p}: item_counts.npy inflates to more than the 160 bytes its zip entry declares; refused (a zip bomb?)"),
    ("data-bomb-honest-size", "tiny", _bomb("item_counts.npy", honest=True),
     "{p}: item_counts.npy holds 209,715,232 data bytes, expected 32 (truncated or padded)"),
    ("manifest-bomb-lying-size", "tiny", _bomb("manifest.json", honest=False),
     "{p}: manifest.json is larger than 1,048,576 bytes"),
    ("manifest-bomb-honest-size", "tiny", _bomb("manifest.json", honest=True),
     "{p}: manifest.json is larger than 1,048,576 bytes"),
    ("deflate-ratio-lie", "tiny", _swap("neighbor_scores.npy", data=b"\x03\x00", compress_size=2, method=8,
                                        file_size=0xFFFFFFF0),
     "{p}: neighbor_scores.npy declares 4,294,967,280 bytes from 2 compressed bytes, more than deflate can give "
     "(a zip bomb?)"),
    ("npy-header-bomb-inflating", "tiny", entries(_inflating_header),
     "{p}: items.npy is not a valid .npy array (a header of 209,715,200 bytes; at most 10,000 are read)"),
    ("npy-header-bomb", "tiny", members(_big_header),
     "{p}: items.npy is not a valid .npy array (a header of 2,147,483,648 bytes; at most 10,000 are read)"),
    ("shape-overflows-int64", "tiny", members(_overflow),
     "{p}: neighbor_indices.npy holds 40 data bytes, expected 18,446,744,073,709,551,616 (truncated or padded)"),
    ("catalog-of-2**40-items", "tiny", members(_huge_catalog),
     "{p}: items.npy holds 16 data bytes, expected 4,398,046,511,104 (truncated or padded)"),
    ("factors-2**40-wide", "als", members(_huge_factors),
     "{p}: item_factors.npy holds 1,920 data bytes, expected 263,882,790,666,240 (truncated or padded)"),
    ("overlapping-members", "tiny", _overlap("neighbor_counts.npy", onto="neighbor_scores.npy"),
     "{p}: neighbor_counts.npy and neighbor_scores.npy overlap in the archive; refused"),
    # the stored sorted orders of the ids
    ("items-order-unsorted", "tiny", array("items_order", lambda a: a[::-1].copy()),
     "{p}: items_order.npy is not the sorted order of items.npy"),
    ("items-order-out-of-range", "tiny", array("items_order", _set(0, 99)),
     "{p}: items_order.npy is not the sorted order of items.npy"),
    ("items-order-negative", "tiny", array("items_order", _set(2, -1)),
     "{p}: items_order.npy is not the sorted order of items.npy"),
    ("items-order-repeats", "tiny", array("items_order", _set(1, 0)),
     "{p}: items_order.npy is not the sorted order of items.npy"),
    ("items-order-int64", "tiny", array("items_order", lambda a: a.astype(np.int64)),
     "{p}: items_order.npy has dtype <i8 and shape (4,), expected <i4 and (4,)"),
    ("items-order-short", "tiny", array("items_order", lambda a: a[:3].copy()),
     "{p}: items_order.npy has dtype <i4 and shape (3,), expected <i4 and (4,)"),
    ("items-order-undeclared", "tiny", members(lambda found, manifest: manifest["arrays"].pop("items_order")),
     f"{{p}}: unexpected contents ['items_order.npy']; a cooccurrence model file holds exactly "
     f"{[m for m in TINY if m != 'items_order.npy']}"),
    ("duplicate-ids-sorted-order", "tiny", members(lambda found, manifest: found.update(
        {"items.npy": _npy(np.array(["a", "b", "b", "d"]))})), "{p}: items.npy holds duplicate ids"),
    ("customers-order-unsorted", "als", array("customers_order", lambda a: a[::-1].copy()),
     "{p}: customers_order.npy is not the sorted order of customers.npy"),
    ("customers-order-of-a-model-without-customers", "tiny", members(lambda found, manifest: (
        found.update({"customers_order.npy": _npy(np.arange(3, dtype=np.int32))}),
        manifest["arrays"].update(customers_order={"dtype": "<i4", "shape": [3]}))),
     f"{{p}}: unexpected contents ['customers_order.npy']; {HOLDS}"),
    # the manifest declares exactly the arrays the model type holds
    ("declared-shape-unused", "popular", _declared_shape("item_counts", "<f8", [2**40, 2**40]),
     "{p}: manifest entry for array 'item_counts' declares dtype '<f8' and shape (1099511627776, 1099511627776), "
     "the popular model file holds <f8 and (60,)"),
    ("declared-dtype-other", "tiny", _declared_shape("neighbor_scores", "<f8", [10]),
     "{p}: manifest entry for array 'neighbor_scores' declares dtype '<f8' and shape (10,), "
     "the cooccurrence model file holds <f4 and (10,)"),
    ("declared-ids-dtype-other", "als", _declared_shape("customers", "<i8", [99]),
     "{p}: manifest entry for array 'customers' declares dtype '<i8' and shape (99,), "
     "the als model file holds <U6 and (99,)"),
    # the manifest
    ("manifest-nested-100000", "tiny", manifest_bytes(b"[" * 100_000),
     "{p}: manifest.json is damaged (nested more than 20 levels deep)"),
    ("manifest-nested-50", "tiny", _nested(50), "{p}: manifest.json is damaged (nested more than 20 levels deep)"),
    ("manifest-not-object", "tiny", manifest_bytes(b"[1, 2]"), "{p}: manifest.json is damaged (not a JSON object)"),
    ("manifest-bad-utf8", "tiny", manifest_bytes(b"\xff{}"),
     "{p}: manifest.json is damaged ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
    ("manifest-nan", "tiny", manifest_bytes(b'{"format": NaN}'),
     "{p}: manifest.json is damaged (NaN is not valid JSON)"),
    ("manifest-other-format", "tiny", _manifest_update(format="other"),
     "{p} is not an xsell model file (format is not 'xsell-model')"),
    ("format-version-2", "tiny", _manifest_update(format_version=2),
     "{p} has model format version 2; this xsell reads version 1; refit the model or use a matching xsell version"),
    ("unknown-model-type", "tiny", _manifest_update(model_type="svd"), "{p}: unknown model type 'svd'"),
    ("model-type-a-list", "tiny", _manifest_update(model_type=["als"]), "{p}: unknown model type ['als']"),
    ("params-missing", "tiny", members(lambda found, manifest: manifest.pop("params")),
     "{p}: manifest field 'params' is missing or not an object"),
    ("items-count-negative", "tiny", _manifest_update(items={"kind": "str", "count": -1}),
     "{p}: manifest field 'items' is malformed"),
    ("array-entry-malformed", "tiny", members(lambda found, manifest: manifest["arrays"].update(
        item_counts={"dtype": "<i8", "shape": "4"})), "{p}: manifest entry for array 'item_counts' is malformed"),
    ("items-kind-mismatch", "tiny", _replace("items.npy", _npy(np.arange(4))),
     "{p}: items.npy does not match the manifest's item kind"),
    ("bad-params", "tiny", members(lambda found, manifest: manifest["params"].update(alpha=3)),
     "{p}: invalid model content (alpha must be in [0, 1], got 3)"),
    ("n-orders-zero", "tiny", members(lambda found, manifest: manifest["state"].update(n_orders=0)),
     "{p}: invalid model content (state n_orders must be a whole number >= 1)"),
    # ids
    ("duplicate-item-ids", "tiny", _replace("items.npy", _npy(np.array(["a", "b", "a", "d"]))),
     "{p}: items.npy holds duplicate ids"),
    ("nul-in-id", "tiny", _replace("items.npy", _npy(np.array(["a", "b\x00x", "c", "d"]))),
     "{p}: items.npy holds an id that is not valid text (NUL, surrogate or out-of-range character)"),
    ("id-beyond-unicode", "tiny", _ids_with_code(0x110000),
     "{p}: items.npy holds an id that is not valid text (NUL, surrogate or out-of-range character)"),
    ("id-with-surrogate", "tiny", _ids_with_code(0xD800),
     "{p}: items.npy holds an id that is not valid text (NUL, surrogate or out-of-range character)"),
    ("duplicate-customers", "als", members(_at("customers.npy", 1, "C00045")),
     "{p}: invalid model content (customers holds duplicate ids)"),
    # index ranges and row pointers
    ("index-out-of-range", "tiny", array("neighbor_indices", _set(3, 4)),
     "{p}: invalid model content (neighbor_indices out of range 0..3)"),
    ("negative-index", "tiny", array("neighbor_indices", _set(3, -1)),
     "{p}: invalid model content (neighbor_indices out of range 0..3)"),
    ("bad-row-pointer", "tiny", array("neighbor_indptr", lambda a: np.array([0, 3, 2, 8, 10])),
     "{p}: invalid model content (neighbor_indptr is not a valid row pointer)"),
    ("rule-item-out-of-range", "association_rules", array("r2_items", _set(0, 60)),
     "{p}: invalid model content (r2_items out of range 0..59)"),
    ("history-index-out-of-range", "als", array("history_indices", _set(0, -5)),
     "{p}: invalid model content (history_indices out of range 0..59)"),
    ("sim-row-pointer", "itemknn", array("sim_indptr", _set(-1, 10**6)),
     "{p}: invalid model content (sim_indptr is not a valid row pointer)"),
    # NaN, infinities and negatives in every model type's float arrays
    ("cooc-scores-nan", "cooccurrence", array("neighbor_scores", _set(0, np.nan)),
     "{p}: invalid model content (neighbor_scores must be finite and >= 0)"),
    ("cooc-scores-inf", "cooccurrence", array("neighbor_scores", _set(0, np.inf)),
     "{p}: invalid model content (neighbor_scores must be finite and >= 0)"),
    ("cooc-scores-negative", "cooccurrence", array("neighbor_scores", _set(0, -0.5)),
     "{p}: invalid model content (neighbor_scores must be finite and >= 0)"),
    ("cooc-scores-unsorted", "cooccurrence", members(_unsorted("neighbor_indptr")),
     "{p}: invalid model content (rows of neighbor_scores must be sorted best first)"),
    ("cooc-counts-negative", "cooccurrence", array("item_counts", _set(0, -1)),
     "{p}: invalid model content (item_counts must be >= 0)"),
    ("cooc-pair-counts-negative", "cooccurrence", array("neighbor_counts", _set(0, -1)),
     "{p}: invalid model content (neighbor_counts must be >= 0)"),
    ("rules-scores-nan", "association_rules", array("r1_scores", _set(0, np.nan)),
     "{p}: invalid model content (r1_scores must be finite)"),
    ("rules-scores-inf", "association_rules", array("r2_scores", _set(0, np.inf)),
     "{p}: invalid model content (r2_scores must be finite)"),
    ("rules-scores-unsorted", "association_rules", members(_unsorted("r1_indptr")),
     "{p}: invalid model content (rows of r1_scores must be sorted best first)"),
    ("rules-support-nan", "association_rules", array("r1_support", _set(0, np.nan)),
     "{p}: invalid model content (r1_support must be finite and >= 0)"),
    ("rules-confidence-inf", "association_rules", array("r2_confidence", _set(0, np.inf)),
     "{p}: invalid model content (r2_confidence must be finite and >= 0)"),
    ("rules-lift-negative", "association_rules", array("r1_lift", _set(0, -1.0)),
     "{p}: invalid model content (r1_lift must be finite and >= 0)"),
    ("rules-counts-negative", "association_rules", array("item_counts", _set(0, -3)),
     "{p}: invalid model content (item_counts must be >= 0)"),
    ("ease-weights-nan", "ease", array("weights", _set(5, np.nan)),
     "{p}: invalid model content (weights must be finite)"),
    ("ease-weights-inf", "ease", array("weights", _set(5, -np.inf)),
     "{p}: invalid model content (weights must be finite)"),
    ("ease-counts-negative", "ease", array("item_counts", _set(2, -1)),
     "{p}: invalid model content (item_counts must be >= 0)"),
    ("popular-counts-nan", "popular", array("item_counts", _set(0, np.nan)),
     "{p}: invalid model content (item_counts must be finite and >= 0)"),
    ("popular-counts-inf", "popular", array("item_counts", _set(0, np.inf)),
     "{p}: invalid model content (item_counts must be finite and >= 0)"),
    ("popular-counts-negative", "popular", array("item_counts", _set(0, -2.0)),
     "{p}: invalid model content (item_counts must be finite and >= 0)"),
    ("als-item-factors-nan", "als", array("item_factors", _set(3, np.nan)),
     "{p}: invalid model content (item_factors must be finite)"),
    ("als-user-factors-inf", "als", array("user_factors", _set(3, np.inf)),
     "{p}: invalid model content (user_factors must be finite)"),
    ("als-history-negative", "als", array("history_data", _set(0, -1.0)),
     "{p}: invalid model content (history_data must be finite and >= 0)"),
    ("bpr-item-factors-inf", "bpr", array("item_factors", _set(0, np.inf)),
     "{p}: invalid model content (item_factors must be finite)"),
    ("bpr-history-nan", "bpr", array("history_data", _set(0, np.nan)),
     "{p}: invalid model content (history_data must be finite and >= 0)"),
    ("itemknn-sim-nan", "itemknn", array("sim_data", _set(0, np.nan)),
     "{p}: invalid model content (sim_data must be finite)"),
    ("itemknn-counts-negative", "itemknn", array("item_counts", _set(0, -1)),
     "{p}: invalid model content (item_counts must be >= 0)"),
    ("hybrid-weights-inf", "hybrid", array("weights", _set(1, np.inf)),
     "{p}: invalid model content (weights must be finite)"),
    ("hybrid-decayed-negative", "hybrid", array("decayed_data", _set(0, -0.1)),
     "{p}: invalid model content (decayed_data must be finite and >= 0)"),
    ("hybrid-decayed-nan", "hybrid", array("decayed_data", _set(0, np.nan)),
     "{p}: invalid model content (decayed_data must be finite and >= 0)"),
    ("prices-negative", "cooccurrence", array("item_prices", _set(0, -1.0)),
     "{p}: invalid model content (item_prices must be >= 0 or NaN)"),
    ("prices-inf", "ease", array("item_prices", _set(0, np.inf)),
     "{p}: invalid model content (item_prices must be >= 0 or NaN)"),
]
CASE_IDS = [case[0] for case in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


def _craft(case_id: str, valid: dict[str, Path], folder: Path) -> tuple[Path, str]:
    _, source, craft, message = CASES[CASE_IDS.index(case_id)]
    path = craft(valid[source], folder / f"{case_id}.xsell")
    return path, message.replace("{p}", str(path))


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_a_crafted_file_is_refused_with_its_exact_message(case_id, valid, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a payload would drop its marker
    path, message = _craft(case_id, valid, tmp_path)
    with pytest.raises(ModelFileError, match="^" + re.escape(message) + "$"):
        xsell.load_model(path)
    assert not (tmp_path / "never-created-marker").exists()


@pytest.fixture
def mapped(monkeypatch):
    """Crafted files laid out as save_model lays them out, every file memory-mapped however small, and
    every content check run by the compiled kernels however small its arrays: the path a large model
    file takes."""
    import xsell.models.schema

    monkeypatch.setattr(sys.modules[__name__], "ALIGNED", True)
    monkeypatch.setattr(xsell.io, "_MAP_MIN", 0)
    monkeypatch.setattr(xsell.models.schema, "KERNEL_MIN_SIZE", 0)
    maps: list[bool] = []  # one entry per file whose arrays were read as views: True when mapped
    whole = xsell.io._Archive._whole

    def spy(self):
        buffer = whole(self)
        maps.append(self.mapped)
        return buffer

    monkeypatch.setattr(xsell.io._Archive, "_whole", spy)
    return maps


# no CRC pass over a mapped member (it would read every byte); the content checks guard the process
LOADS_WHEN_MAPPED = {"bad-crc"}


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_a_crafted_file_is_refused_with_its_exact_message_when_mapped(case_id, valid, tmp_path, monkeypatch, mapped):
    monkeypatch.chdir(tmp_path)
    path, message = _craft(case_id, valid, tmp_path)
    if case_id in LOADS_WHEN_MAPPED:
        assert xsell.load_model(path).n_items == 4
        assert mapped and all(mapped)
        return
    with pytest.raises(ModelFileError, match="^" + re.escape(message) + "$"):
        xsell.load_model(path)
    assert not (tmp_path / "never-created-marker").exists()
    if "invalid model content" in message or "ids" in message:  # the arrays were read: as views on a mapping
        assert mapped and all(mapped)


def test_the_payloads_do_run_when_unpickled(tmp_path, monkeypatch):
    # control: the pickles above are real, and loading them with pickle allowed would run code
    monkeypatch.chdir(tmp_path)
    np.load(io.BytesIO(_npy(_object_array("marker"), True)), allow_pickle=True)
    assert (tmp_path / "marker").exists()


def test_a_folder_and_a_missing_file_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="^" + re.escape(f"model path is a folder, not a file: {tmp_path}") + "$"):
        xsell.load_model(tmp_path)
    with pytest.raises(ModelFileError, match="^" + re.escape(f"model file not found: {tmp_path / 'x'}") + "$"):
        xsell.load_model(tmp_path / "x")


def test_an_unknown_price_is_accepted(valid, tmp_path, fitted):
    path = array("item_prices", _set(0, np.nan))(valid["cooccurrence"], tmp_path / "ok.xsell")
    loaded = xsell.load_model(path)
    assert np.isnan(loaded.item_prices_[0])
    np.testing.assert_array_equal(loaded.item_prices_[1:], fitted["cooccurrence"].item_prices_[1:])


def test_infinite_conviction_scores_are_accepted_but_nan_is_not(tmp_path, tiny_orders):
    # a rule that always holds has conviction +inf: a real value, served first
    model = xsell.AssociationRules(min_support=0.25, metric="conviction").fit(tiny_orders)
    assert np.isposinf(model.arrays_["r1_scores"]).any()
    path = xsell.save_model(model, tmp_path / "conviction.xsell")
    loaded = xsell.load_model(path)
    np.testing.assert_array_equal(loaded.arrays_["r1_scores"], model.arrays_["r1_scores"])
    assert loaded.also_bought("d").scores.tolist() == model.also_bought("d").scores.tolist()
    bad = array("r1_scores", _set(0, np.nan))(path, tmp_path / "bad.xsell")
    with pytest.raises(ModelFileError, match="^" + re.escape(
            f"{bad}: invalid model content (r1_scores must not be NaN or -inf)") + "$"):
        xsell.load_model(bad)


# -- memory: bombs stay small -------------------------------------------------------------------------
_PEAK = """
import resource, sys
import xsell
from xsell import ModelFileError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    getattr(xsell, sys.argv[2])(sys.argv[1])
    print("loaded", file=sys.stderr)
except ModelFileError as exc:
    print(exc, file=sys.stderr)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("case_id, call", [
    ("data-bomb-lying-size", "load_model"), ("data-bomb-honest-size", "load_model"),
    ("manifest-bomb-lying-size", "inspect_model"), ("manifest-bomb-honest-size", "inspect_model"),
    ("manifest-bomb-lying-size", "load_model"), ("npy-header-bomb-inflating", "load_model"),
])
def test_a_bomb_is_refused_without_inflating_it(case_id, call, valid, tmp_path):
    path, message = _craft(case_id, valid, tmp_path)
    assert path.stat().st_size < 400_000  # about 200 KB on disk for 200 MiB inflated
    result = subprocess.run([sys.executable, "-c", _PEAK, str(path), call], capture_output=True, text=True,
                            timeout=120)
    assert result.stderr.strip() == message
    growth_mb = int(result.stdout)
    assert growth_mb < 30, f"peak RSS grew by {growth_mb} MB"


def _inflation_message(path: Path) -> str:
    size, packed = _entry_sizes(path, "neighbor_indices.npy")
    return (f"{path}: neighbor_indices.npy inflates to {size:,} bytes from {packed:,} (more than 100x); "
            f"refused (a zip bomb?)")


@pytest.mark.parametrize("call", ["load_model", "cli"])
def test_declared_shapes_with_deflated_zeros_are_refused_without_allocating_them(call, valid, tmp_path):
    # three arrays of 2**24 entries (64 MiB each) in a file of about 200 KB: a real model file stores its
    # members, so one deflated past 100x its compressed size (+ 1 MiB) is refused before it is allocated
    path = _declared_zeros(2**24)(valid["tiny"], tmp_path / "zeros.xsell")
    assert path.stat().st_size < 400_000
    message = _inflation_message(path)
    assert _entry_sizes(path, "neighbor_indices.npy")[0] == 67_108_992
    if call == "cli":
        result = runner.invoke(app, ["inspect", str(path), "--verify"])
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [f"error: {message}"]
        assert result.stdout == ""
        return
    with pytest.raises(ModelFileError, match="^" + re.escape(message) + "$"):
        xsell.load_model(path)
    result = subprocess.run([sys.executable, "-c", _PEAK, str(path), "load_model"], capture_output=True, text=True,
                            timeout=120)
    assert result.stderr.strip() == message
    growth_mb = int(result.stdout)
    assert growth_mb < 30, f"peak RSS grew by {growth_mb} MB"


def test_members_inflating_past_100x_the_file_in_all_are_refused(valid, tmp_path):
    # each neighbor array: 1 MiB from about 1 KB, within 100x + 1 MiB alone; together past 100x the file + 1 MiB
    path = _declared_zeros(2**18)(valid["tiny"], tmp_path / "zeros.xsell")
    size = path.stat().st_size
    assert size < 10_000
    cap = 100 * size + 2**20
    message = (f"{path}: its members inflate to more than {cap:,} bytes in all, from a {size:,}-byte file "
               f"(more than 100x); refused (a zip bomb?)")
    with pytest.raises(ModelFileError, match="^" + re.escape(message) + "$"):
        xsell.load_model(path)


def test_a_deflated_copy_of_a_valid_file_still_loads(valid, fitted, tmp_path):
    import zipfile

    path = tmp_path / "deflated.xsell"
    with zipfile.ZipFile(valid["cooccurrence"]) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    loaded = xsell.load_model(path)
    np.testing.assert_array_equal(loaded.item_counts_, fitted["cooccurrence"].item_counts_)


# -- the command line ----------------------------------------------------------------------------------
CLI_CASES = ["declared-shape-unused", "pickle-file", "object-npy-items", "symlink-member", "data-bomb-lying-size", "manifest-nested-100000",
             "manifest-bad-utf8", "encrypted-member", "method-99", "shape-overflows-int64", "nul-in-id",
             "cooc-scores-nan", "rules-scores-inf", "popular-counts-nan", "model-type-a-list"]


@pytest.mark.parametrize("command", ["inspect --verify", "recommend"])
@pytest.mark.parametrize("case_id", CLI_CASES)
def test_the_cli_refuses_a_crafted_file_in_one_line(case_id, command, valid, tmp_path):
    path, message = _craft(case_id, valid, tmp_path)
    args = ["inspect", str(path), "--verify"] if command == "inspect --verify" else ["recommend", str(path), "a"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {message}"]
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("case_id", ["data-bomb-lying-size", "object-npy-scores", "cooc-scores-nan"])
def test_the_console_script_refuses_a_crafted_file_in_one_line(case_id, valid, tmp_path):
    path, message = _craft(case_id, valid, tmp_path)
    for args in (["inspect", str(path), "--verify"], ["recommend", str(path), "P000-B"]):
        result = subprocess.run([sys.executable, "-c", "from xsell.cli import main; main()", *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [f"error: {message}"]
        assert result.stdout == ""


@pytest.mark.parametrize("case_id", ["manifest-bomb-lying-size", "manifest-nested-100000", "method-lzma",
                                     "symlink-manifest"])
def test_plain_inspect_refuses_a_bad_manifest_in_one_line(case_id, valid, tmp_path):
    path, message = _craft(case_id, valid, tmp_path)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {message}"]


def test_plain_inspect_reads_only_the_manifest(valid, tmp_path):
    path, _ = _craft("data-bomb-lying-size", valid, tmp_path)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "items: 4"


@pytest.mark.parametrize("name", list(FACTORIES))
def test_inspect_verify_says_ok_for_a_valid_file(name, valid, fitted):
    result = runner.invoke(app, ["inspect", str(valid[name]), "--verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {name} model, {fitted[name].n_items} items, all arrays valid\n"
    as_json = json.loads(runner.invoke(app, ["inspect", str(valid[name]), "--verify", "--json"]).stdout)
    assert as_json == {"ok": True, "model_type": name, "items": fitted[name].n_items}


# -- save refuses what load would refuse ---------------------------------------------------------------
def _copy_of(model: Any) -> Any:
    import copy

    return copy.copy(model)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_save_refuses_a_negative_price_and_writes_nothing(name, fitted, tmp_path):
    model = _copy_of(fitted[name])
    model.item_prices_ = fitted[name].item_prices_.copy()
    model.item_prices_[2] = -4.5
    path = tmp_path / "m.xsell"
    cls = type(model).__name__
    with pytest.raises(InputError, match="^" + re.escape(
            f"cannot save {cls} to {path}: invalid model content (item_prices must be >= 0 or NaN)") + "$"):
        xsell.save_model(model, path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", list(FACTORIES))
def test_save_refuses_duplicate_item_ids_and_writes_nothing(name, fitted, tmp_path):
    model = _copy_of(fitted[name])
    ids = model.items_.ids.copy()
    ids[1] = ids[0]
    model.items_ = IdMap(ids)
    path = tmp_path / "m.xsell"
    with pytest.raises(InputError, match="^" + re.escape(
            f"cannot save {type(model).__name__} to {path}: items.npy holds duplicate ids") + "$"):
        xsell.save_model(model, path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, change, message", [
    ("cooccurrence", lambda m: setattr(m, "neighbor_scores_", np.full_like(m.neighbor_scores_, np.nan)),
     "invalid model content (neighbor_scores must be finite and >= 0)"),
    ("popular", lambda m: setattr(m, "item_counts_", m.item_counts_.astype(np.int64)),
     "item_counts.npy has dtype <i8 and shape (60,), expected <f8 and (60,)"),
    ("als", lambda m: setattr(m, "item_factors_", np.full_like(m.item_factors_, np.inf)),
     "invalid model content (item_factors must be finite)"),
    ("cooccurrence", lambda m: setattr(m, "training_summary_", {"mean_basket": float("nan")}),
     "its manifest holds NaN or an infinity, which JSON cannot store"),
    ("cooccurrence", lambda m: setattr(m, "training_summary_", {"deep": json.loads("[" * 22 + "1" + "]" * 22)}),
     "manifest.json is damaged (nested more than 20 levels deep)"),
    ("cooccurrence", lambda m: setattr(m, "training_summary_", {"notes": "x" * (1 << 20)}),
     "manifest.json is larger than 1,048,576 bytes"),
])
def test_save_runs_the_load_checks_first(name, change, message, fitted, tmp_path):
    model = _copy_of(fitted[name])
    change(model)
    path = tmp_path / "m.xsell"
    cls = type(model).__name__
    with pytest.raises(InputError, match="^" + re.escape(f"cannot save {cls} to {path}: {message}") + "$"):
        xsell.save_model(model, path)
    assert list(tmp_path.iterdir()) == []


# -- round trips over the registry -----------------------------------------------------------------------
def test_every_registered_model_type_is_covered():
    assert set(FACTORIES) == set(xsell.models.registry.MODELS)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_every_model_type_round_trips_with_identical_answers(name, fitted, valid, shop_orders):
    model = fitted[name]
    loaded = xsell.load_model(valid[name])
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert loaded.training_summary_ == model.training_summary_
    np.testing.assert_array_equal(loaded.item_prices_, model.item_prices_)
    ids = model.items_.ids
    popular = ids[model.popular_[:10]].tolist()
    baskets = {f"b{i}": [popular[i], popular[(i * 3 + 1) % 10]] for i in range(10)}
    baskets["single"] = [ids[-1]]
    baskets["unknown"] = ["no such item"]
    assert_same_answers(model, loaded, popular + [ids[-1], "no such item"], baskets)
    if model.uses_customers:
        for customer in shop_orders.customers.ids[:5].tolist():
            a, b = model.recommend_for_customer(customer, k=5), loaded.recommend_for_customer(customer, k=5)
            assert b.items == a.items
            np.testing.assert_array_equal(b.scores, a.scores)
            assert loaded.recommend(popular[:2], k=5, customer=customer).items == \
                model.recommend(popular[:2], k=5, customer=customer).items


# -- the compiled checks decide exactly as the numpy ones -----------------------------------------------------
def _outcome(check: Callable[[], None]) -> str | None:
    try:
        check()
    except InputError as exc:
        return str(exc)
    return None


def _both_ways(monkeypatch, check: Callable[[], None]) -> str | None:
    """The check's outcome by numpy (small arrays) and by the compiled kernels (large ones): the same."""
    import xsell.models.schema as schema

    monkeypatch.setattr(schema, "KERNEL_MIN_SIZE", 1 << 62)
    by_numpy = _outcome(check)
    monkeypatch.setattr(schema, "KERNEL_MIN_SIZE", 0)
    compiled = _outcome(check)
    assert compiled == by_numpy
    return compiled


def _sprinkle(rng: np.random.Generator, values: np.ndarray, specials: list[float]) -> np.ndarray:
    for special in specials:
        if len(values) and rng.random() < 0.3:
            values[rng.integers(len(values))] = special
    return values


@pytest.mark.parametrize("seed", range(40))
def test_the_compiled_checks_decide_as_the_numpy_checks(seed, monkeypatch):
    from xsell.models.schema import check_csr, check_ids, check_sorted_rows, check_values

    rng = np.random.default_rng(seed)
    outcomes = set()
    # numbers: NaN, infinities, values below the floor, in each dtype a file holds
    for dtype in ("<f4", "<f8", "<i4", "<i8"):
        n = int(rng.integers(0, 40))
        if dtype[1] == "f":
            values = _sprinkle(rng, rng.normal(1.0, 1.0, n).astype(dtype), [np.nan, np.inf, -np.inf, -0.0, -1e-30])
        else:
            values = rng.integers(-1 if rng.random() < 0.3 else 0, 1000, n).astype(dtype)
        for low in (None, 0, 0.5):
            for nan in (False, True):
                for posinf in (False, True):
                    outcomes.add(_both_ways(monkeypatch, lambda: check_values(
                        "x", values, low=low, nan=nan, posinf=posinf)))
    # row pointers and column indices
    n_rows, n_cols = int(rng.integers(1, 8)), int(rng.integers(1, 6))
    indptr = np.concatenate([[0], np.cumsum(rng.integers(0, 4, n_rows))]).astype(np.int64)
    indices = rng.integers(0, n_cols, int(indptr[-1])).astype(np.int32)
    if rng.random() < 0.3 and n_rows > 1:
        indptr[1] = indptr[-1] + 1  # a pointer that drops (or ends beyond the indices)
    if rng.random() < 0.2:
        indptr[0] = 1
    if rng.random() < 0.3 and len(indices):
        indices[rng.integers(len(indices))] = rng.choice([-1, n_cols, n_cols + 5])
    outcomes.add(_both_ways(monkeypatch, lambda: check_csr("t", indptr, indices, n_cols)))
    # rows sorted best first (for a valid row pointer, as the schemas check it first)
    lengths = rng.integers(0, 5, int(rng.integers(1, 8)))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    scores = np.concatenate([np.sort(rng.random(k))[::-1] for k in lengths] + [np.empty(0)]).astype(np.float32)
    _sprinkle(rng, scores, [np.nan, 2.0])
    if rng.random() < 0.3 and len(scores) > 1:
        scores[rng.integers(1, len(scores))] = 5.0
    outcomes.add(_both_ways(monkeypatch, lambda: check_sorted_rows("s", indptr, scores)))
    # text ids: NUL inside, surrogates, code points beyond Unicode (not the duplicate check: the same sort)
    width = int(rng.integers(1, 5))
    codes = rng.integers(0x41, 0x5B, (int(rng.integers(1, 6)), width)).astype(np.uint32)
    for row in codes:
        row[int(rng.integers(0, width + 1)):] = 0  # shorter ids, NUL-padded
    if rng.random() < 0.5:
        codes[rng.integers(len(codes)), rng.integers(width)] = rng.choice([0, 0xD800, 0xDFFF, 0x110000, 0x10FFFF])
    ids = codes.view(f"<U{width}").reshape(-1)
    outcomes.add(_both_ways(monkeypatch, lambda: check_ids("ids", ids, distinct=False)))
    # duplicates (hashes of the text ids sorted, or the ids themselves), among few letters: often repeated
    letters = rng.integers(0x61, 0x61 + int(rng.integers(1, 4)), (int(rng.integers(1, 9)), 2)).astype(np.uint32)
    text = letters.view("<U2").reshape(-1)
    outcomes.add(_both_ways(monkeypatch, lambda: check_ids("ids", text)))
    numbers = rng.integers(-3, 3, int(rng.integers(0, 6))).astype(np.int64)
    outcomes.add(_both_ways(monkeypatch, lambda: check_ids("ids", numbers)))
    assert len(outcomes) > 1  # some checks passed and some failed
