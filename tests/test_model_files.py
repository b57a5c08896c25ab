"""Model files: round trips, atomic writes, and crafted or damaged files refused without running code."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

import xsell
from tests.conftest import assert_same_answers
import xsell.io
from xsell import InputError, ModelFileError
from xsell.datasets import synthetic_shop

MEMBERS = ["item_counts.npy", "items.npy", "items_order.npy", "manifest.json", "neighbor_counts.npy",
           "neighbor_indices.npy", "neighbor_indptr.npy", "neighbor_scores.npy"]
HOLDS_EXACTLY = f"a cooccurrence model file holds exactly {MEMBERS}"


def _frame() -> pd.DataFrame:
    """Four orders {a,b,c}, {a,b}, {a,c,d}, {b,c}: counts a=b=c=3, d=1."""
    lines = [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (3, "a"), (3, "c"), (3, "d"), (4, "b"), (4, "c")]
    return pd.DataFrame(lines, columns=["order_id", "item_id"])


def _model() -> xsell.CoOccurrence:
    return xsell.CoOccurrence(min_count=1).fit(xsell.load_orders(_frame()))


@pytest.fixture(scope="module")
def shop_orders() -> xsell.Orders:
    return synthetic_shop(seed=0).orders


def _saved(tmp_path: Path, model: xsell.CoOccurrence | None = None, name: str = "model.xsell") -> Path:
    path = tmp_path / name
    xsell.save_model(model or _model(), path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write_zip(path: Path, members: dict[str, bytes] | list[tuple[str, bytes]]) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _crafted(tmp_path: Path, change: Callable[[dict[str, bytes], dict], None]) -> Path:
    """A copy of a valid model file after change(members, manifest); the manifest is re-serialised."""
    members = _members(_saved(tmp_path, name="valid.xsell"))
    manifest = json.loads(members["manifest.json"])
    change(members, manifest)
    if "manifest.json" in members:
        members["manifest.json"] = json.dumps(manifest).encode()
    return _write_zip(tmp_path / "crafted.xsell", members)


def _refused(path: Path, message: str) -> None:
    with pytest.raises(ModelFileError, match="^" + re.escape(message) + "$"):
        xsell.load_model(path)


class _Payload:
    """Unpickling this creates `marker`: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# -- round trips ---------------------------------------------------------------------



def test_round_trip_of_a_tiny_model(tmp_path: Path) -> None:
    model = _model()
    path = xsell.save_model(model, tmp_path / "tiny.xsell")
    assert path == tmp_path / "tiny.xsell"
    loaded = xsell.load_model(path)
    assert isinstance(loaded, xsell.CoOccurrence)
    assert loaded.get_params() == model.get_params() == {
        "min_count": 1, "min_support": 0.0, "neighbors": 100, "alpha": 0.5, "shrinkage": 5.0, "keep_counts": None}
    assert loaded.training_summary_ == {"orders": 4, "items": 4, "customers": 0, "lines": 10}
    # d was only bought with a (order 3) and c (order 3): both are its neighbours, b is not
    assert sorted(loaded.also_bought("d").items) == ["a", "c"]
    assert loaded.items_.ids.tolist() == ["a", "b", "c", "d"]
    assert_same_answers(model, loaded, ["a", "b", "c", "d", "unknown"],
                         {"b1": ["a"], "b2": ["a", "b"], "b3": ["d", "b"], "b4": ["nope"]})


def test_round_trip_with_integer_item_ids(tmp_path: Path) -> None:
    frame = _frame().replace({"item_id": {"a": 10, "b": 20, "c": 30, "d": 40}}).astype({"item_id": "int64"})
    model = xsell.CoOccurrence(min_count=1, alpha=0.2, shrinkage=0.0, neighbors=2).fit(xsell.load_orders(frame))
    loaded = xsell.load_model(xsell.save_model(model, tmp_path / "ints.xsell"))
    assert loaded.items_.kind == "int"
    assert loaded.items_.ids.tolist() == [10, 20, 30, 40]
    assert loaded.get_params() == {"min_count": 1, "min_support": 0.0, "neighbors": 2, "alpha": 0.2,
                                   "shrinkage": 0.0, "keep_counts": None}
    assert_same_answers(model, loaded, [10, "20", 30, 40, 99], {1: [10], 2: [10, 20], 3: [40, 20]})


def test_round_trip_of_the_synthetic_shop(tmp_path: Path, shop_orders: xsell.Orders) -> None:
    model = xsell.CoOccurrence(min_count=1).fit(shop_orders)
    loaded = xsell.load_model(_saved(tmp_path, model))
    ids = model.items_.ids
    popular = ids[model.popular_[:20]].tolist()
    baskets = {f"b{i}": [popular[i], popular[(i * 7 + 3) % 20]] for i in range(20)}
    baskets["single"] = [ids[-1]]
    baskets["unknown"] = ["no such item"]
    assert_same_answers(model, loaded, popular + [ids[-1]], baskets)
    for name in ("item_counts_", "neighbor_indptr_", "neighbor_indices_", "neighbor_scores_", "neighbor_counts_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name), err_msg=name)
    assert loaded.training_summary_ == model.training_summary_


def test_inspect_model_returns_the_manifest(tmp_path: Path) -> None:
    model = _model()
    path = _saved(tmp_path, model)
    manifest = xsell.inspect_model(path)
    assert manifest["format"] == "xsell-model"
    assert manifest["format_version"] == 1
    assert manifest["model_type"] == "cooccurrence"
    assert manifest["xsell_version"] == xsell.__version__
    assert manifest["params"] == model.get_params()
    assert manifest["training"] == {"orders": 4, "items": 4, "customers": 0, "lines": 10}
    assert manifest["items"] == {"kind": "str", "count": 4}
    assert manifest["state"] == {"n_orders": 4}
    nnz = len(model.neighbor_indices_)
    assert manifest["arrays"] == {
        "item_counts": {"dtype": "<i8", "shape": [4]},
        "neighbor_indptr": {"dtype": "<i8", "shape": [5]},
        "neighbor_indices": {"dtype": "<i4", "shape": [nnz]},
        "neighbor_scores": {"dtype": "<f4", "shape": [nnz]},
        "neighbor_counts": {"dtype": "<i4", "shape": [nnz]},
        "items_order": {"dtype": "<i4", "shape": [4]},
    }
    # pairs ab, ac, bc (2 each), ad, cd (1 each): 5 pairs, both directions
    assert nnz == 10


def test_inspect_model_does_not_read_arrays(tmp_path: Path) -> None:
    def damage(members: dict[str, bytes], manifest: dict) -> None:
        for name in MEMBERS:
            if name.endswith(".npy"):
                members[name] = b"garbage"
    path = _crafted(tmp_path, damage)
    manifest = xsell.inspect_model(path)
    assert manifest["model_type"] == "cooccurrence"
    assert manifest["training"]["orders"] == 4
    with pytest.raises(ModelFileError, match="^" + re.escape(f"{path}: items.npy is not a valid .npy array (")):
        xsell.load_model(path)


def test_model_file_layout(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == MEMBERS
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        items = np.load(io.BytesIO(zf.read("items.npy")), allow_pickle=False)
    assert items.tolist() == ["a", "b", "c", "d"]


def test_save_refuses_what_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^" + re.escape("cannot save a dict: not an xsell model") + "$"):
        xsell.save_model({}, tmp_path / "m.xsell")
    with pytest.raises(xsell.NotFittedError, match="^" + re.escape(
            "this CoOccurrence is not fitted yet; call fit(orders) first") + "$"):
        xsell.save_model(xsell.CoOccurrence(), tmp_path / "m.xsell")
    assert list(tmp_path.iterdir()) == []


def test_save_into_a_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    with pytest.raises(InputError, match="^" + re.escape(f"folder does not exist: {folder}") + "$"):
        xsell.save_model(_model(), folder / "m.xsell")


# -- atomic writes -------------------------------------------------------------------
def test_saving_over_an_existing_file_replaces_it(tmp_path: Path, shop_orders: xsell.Orders) -> None:
    path = _saved(tmp_path)
    assert xsell.load_model(path).n_items == 4
    bigger = xsell.CoOccurrence(min_count=1).fit(shop_orders)
    xsell.save_model(bigger, path)
    assert xsell.load_model(path).n_items == bigger.n_items != 4
    assert [p.name for p in tmp_path.iterdir()] == ["model.xsell"]


def test_a_failed_save_leaves_the_previous_file_and_no_temp_file(tmp_path: Path, monkeypatch,
                                                                 shop_orders: xsell.Orders) -> None:
    path = _saved(tmp_path)
    before = path.read_bytes()
    real = xsell.io._npy_header
    calls = []

    def failing(array: np.ndarray) -> bytes:
        calls.append(1)
        if len(calls) > 1:
            raise OSError("disk full")
        return real(array)

    monkeypatch.setattr(xsell.io, "_npy_header", failing)
    with pytest.raises(OSError, match="^disk full$"):
        xsell.save_model(xsell.CoOccurrence(min_count=1).fit(shop_orders), path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.xsell"]
    assert xsell.load_model(path).n_items == 4


def test_a_failed_first_save_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def failing(array: np.ndarray) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(xsell.io, "_npy_header", failing)
    with pytest.raises(OSError, match="^disk full$"):
        xsell.save_model(_model(), tmp_path / "model.xsell")
    assert list(tmp_path.iterdir()) == []


def test_a_saved_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    # a model written by a training job must be readable like any file that job writes
    # (e.g. by a serving process in the same group): mode 0666 & ~umask, not mkstemp's 0600
    old = os.umask(0o022)
    try:
        path = _saved(tmp_path)
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct((tmp_path / "plain.txt").stat().st_mode & 0o777) == "0o644"


# -- crafted and damaged files -----------------------------------------------------------
def test_a_pickle_file_is_refused_without_running_it(tmp_path: Path) -> None:
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_Payload(control)))  # the payload works when unpickled
    assert control.exists()

    marker = tmp_path / "marker"
    path = tmp_path / "model.xsell"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    _refused(path, f"{path} is not an xsell model file (not a zip archive)")
    with pytest.raises(ModelFileError, match="^" + re.escape(
            f"{path} is not an xsell model file (not a zip archive)") + "$"):
        xsell.inspect_model(path)
    assert not marker.exists()


def test_an_object_array_inside_a_valid_zip_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = np.empty(4, dtype=object)
    payload[:] = [_Payload(marker)] * 4
    payload_bytes = _npy(payload, allow_pickle=True)

    control = tmp_path / "control-marker"
    control_payload = np.empty(1, dtype=object)
    control_payload[0] = _Payload(control)
    np.load(io.BytesIO(_npy(control_payload, allow_pickle=True)), allow_pickle=True)
    assert control.exists()  # the payload works when loaded with pickle allowed

    path = _crafted(tmp_path, lambda members, manifest: members.update({"items.npy": payload_bytes}))
    _refused(path, f"{path}: items.npy holds Python objects; refused (model files never use pickle)")
    assert not marker.exists()

    path = _crafted(tmp_path, lambda members, manifest: members.update({"neighbor_scores.npy": payload_bytes}))
    _refused(path, f"{path}: neighbor_scores.npy holds Python objects; refused (model files never use pickle)")
    assert not marker.exists()


def test_a_truncated_model_file_is_refused(tmp_path: Path) -> None:
    data = _saved(tmp_path).read_bytes()
    path = tmp_path / "cut.xsell"
    path.write_bytes(data[: len(data) // 2])
    _refused(path, f"{path} is not an xsell model file (not a zip archive)")


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "random.xsell"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _refused(path, f"{path} is not an xsell model file (not a zip archive)")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.xsell"
    path.write_bytes(b"")
    _refused(path, f"{path} is not an xsell model file (not a zip archive)")


def test_a_zip_without_manifest_is_refused(tmp_path: Path) -> None:
    path = _write_zip(tmp_path / "other.zip", {"readme.txt": b"hello"})
    _refused(path, f"{path} is not an xsell model file (no manifest.json)")


def test_a_manifest_of_another_format_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: manifest.update({"format": "other"}))
    _refused(path, f"{path} is not an xsell model file (format is not 'xsell-model')")


def test_a_damaged_manifest_is_refused(tmp_path: Path) -> None:
    members = _members(_saved(tmp_path))
    members["manifest.json"] = b"{not json"
    path = _write_zip(tmp_path / "crafted.xsell", members)
    with pytest.raises(ModelFileError, match="^" + re.escape(f"{path}: manifest.json is damaged (")):
        xsell.load_model(path)


def test_a_zip_with_an_extra_member_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: members.update({"notes.txt": b"hi"}))
    _refused(path, f"{path}: unexpected contents ['notes.txt']; {HOLDS_EXACTLY}")


def test_a_zip_with_a_missing_member_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: members.pop("neighbor_counts.npy"))
    _refused(path, f"{path}: unexpected contents ['neighbor_counts.npy']; {HOLDS_EXACTLY}")


def test_a_zip_with_a_member_twice_is_refused(tmp_path: Path) -> None:
    members = _members(_saved(tmp_path))
    path = tmp_path / "twice.xsell"
    with pytest.warns(UserWarning):  # zipfile warns about the duplicate name
        _write_zip(path, list(members.items()) + [("items.npy", members["items.npy"])])
    _refused(path, f"{path}: items.npy appears twice in the archive; refused")


def test_format_version_2_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: manifest.update({"format_version": 2}))
    _refused(path, f"{path} has model format version 2; this xsell reads version 1; "
             "refit the model or use a matching xsell version")
    with pytest.raises(ModelFileError, match="^" + re.escape(f"{path} has model format version 2; ")):
        xsell.inspect_model(path)


def test_an_unknown_model_type_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: manifest.update({"model_type": "svd"}))
    _refused(path, f"{path}: unknown model type 'svd'")


def test_a_manifest_without_params_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: manifest.pop("params"))
    _refused(path, f"{path}: manifest field 'params' is missing or not an object")


def test_an_array_with_the_wrong_dtype_is_refused(tmp_path: Path) -> None:
    model = _model()
    scores = model.neighbor_scores_.astype(np.float64)
    path = _crafted(tmp_path, lambda members, manifest: members.update({"neighbor_scores.npy": _npy(scores)}))
    _refused(path, f"{path}: neighbor_scores.npy has dtype <f8 and shape (10,), expected <f4 and (10,)")


def test_an_array_with_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    counts = np.array([3, 3, 3, 1, 7], dtype=np.int64)
    path = _crafted(tmp_path, lambda members, manifest: members.update({"item_counts.npy": _npy(counts)}))
    _refused(path, f"{path}: item_counts.npy has dtype <i8 and shape (5,), expected <i8 and (4,)")


def test_items_of_the_wrong_dtype_are_refused(tmp_path: Path) -> None:
    items = np.array([1.0, 2.0, 3.0, 4.0])
    path = _crafted(tmp_path, lambda members, manifest: members.update({"items.npy": _npy(items)}))
    _refused(path, f"{path}: items.npy has dtype <f8 and shape (4,), expected int64 or unicode and (4,)")


def test_items_that_disagree_with_the_manifest_kind_are_refused(tmp_path: Path) -> None:
    items = np.array([1, 2, 3, 4], dtype=np.int64)
    path = _crafted(tmp_path, lambda members, manifest: members.update({"items.npy": _npy(items)}))
    _refused(path, f"{path}: items.npy does not match the manifest's item kind")


def test_duplicate_item_ids_are_refused(tmp_path: Path) -> None:
    items = np.array(["a", "b", "a", "d"])
    path = _crafted(tmp_path, lambda members, manifest: members.update({"items.npy": _npy(items)}))
    _refused(path, f"{path}: items.npy holds duplicate ids")


def test_an_array_with_missing_data_bytes_is_refused(tmp_path: Path) -> None:
    def cut(members: dict[str, bytes], manifest: dict) -> None:
        members["item_counts.npy"] = members["item_counts.npy"][:-8]
    path = _crafted(tmp_path, cut)
    _refused(path, f"{path}: item_counts.npy holds 24 data bytes, expected 32 (truncated or padded)")


def test_out_of_range_neighbor_indices_are_refused(tmp_path: Path) -> None:
    model = _model()
    indices = model.neighbor_indices_.copy()
    indices[3] = 4  # n_items is 4: valid indices are 0..3
    path = _crafted(tmp_path, lambda members, manifest: members.update({"neighbor_indices.npy": _npy(indices)}))
    _refused(path, f"{path}: invalid model content (neighbor_indices out of range 0..3)")
    indices[3] = -1
    path = _crafted(tmp_path, lambda members, manifest: members.update({"neighbor_indices.npy": _npy(indices)}))
    _refused(path, f"{path}: invalid model content (neighbor_indices out of range 0..3)")


def test_a_broken_row_pointer_is_refused(tmp_path: Path) -> None:
    indptr = np.array([0, 3, 2, 8, 10], dtype=np.int64)
    path = _crafted(tmp_path, lambda members, manifest: members.update({"neighbor_indptr.npy": _npy(indptr)}))
    _refused(path, f"{path}: invalid model content (neighbor_indptr is not a valid row pointer)")


def test_non_finite_scores_are_refused(tmp_path: Path) -> None:
    scores = _model().neighbor_scores_.copy()
    scores[0] = np.nan
    path = _crafted(tmp_path, lambda members, manifest: members.update({"neighbor_scores.npy": _npy(scores)}))
    _refused(path, f"{path}: invalid model content (neighbor_scores must be finite and >= 0)")


def test_bad_params_in_the_manifest_are_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda members, manifest: manifest["params"].update({"alpha": 3}))
    _refused(path, f"{path}: invalid model content (alpha must be in [0, 1], got 3)")


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.xsell"
    _refused(path, f"model file not found: {path}")
    with pytest.raises(ModelFileError, match="^" + re.escape(f"model file not found: {path}") + "$"):
        xsell.inspect_model(path)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, f"model path is a folder, not a file: {tmp_path}")


# -- layout: aligned members, mapped or read once, the stored id order ---------------------------------
def _data_offsets(path: Path) -> dict[str, int]:
    """Where each .npy member's array data starts in the file (local header, then .npy header)."""
    import struct

    raw = path.read_bytes()
    out = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
            start = info.header_offset + 30 + name_len + extra_len
            assert raw[start:start + 6] == b"\x93NUMPY"
            head = 10 + int.from_bytes(raw[start + 8:start + 10], "little")
            out[info.filename] = start + head
    return out


def _backing(array: np.ndarray) -> object:
    """The object at the end of an array's base chain (an mmap, a bytearray, or the array itself)."""
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


def _model_arrays(model: xsell.CoOccurrence) -> dict[str, np.ndarray]:
    return {"items": model.items_.ids, "item_counts": model.item_counts_, "neighbor_indptr": model.neighbor_indptr_,
            "neighbor_indices": model.neighbor_indices_, "neighbor_scores": model.neighbor_scores_,
            "neighbor_counts": model.neighbor_counts_, "items_order": model.items_.order()}


@pytest.fixture
def map_small_files(monkeypatch):
    """Map every model file, however small (the tests' files are a few KB; real ones are MBs)."""
    monkeypatch.setattr(xsell.io, "_MAP_MIN", 0)


def test_every_array_starts_at_a_64_byte_aligned_offset(tmp_path: Path, shop_orders: xsell.Orders) -> None:
    path = _saved(tmp_path, xsell.CoOccurrence(min_count=1).fit(shop_orders))
    offsets = _data_offsets(path)
    assert sorted(offsets) == sorted([m for m in MEMBERS if m.endswith(".npy")] + ["item_prices.npy"])
    assert all(offset % 64 == 0 for offset in offsets.values()), offsets
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # a plain zip: the CRCs are right, any unzip reads it
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}


def test_a_large_file_is_memory_mapped_read_only(tmp_path: Path, shop_orders: xsell.Orders, map_small_files) -> None:
    import mmap

    model = xsell.CoOccurrence(min_count=1).fit(shop_orders)
    path = _saved(tmp_path, model)
    loaded = xsell.load_model(path)
    offsets = _data_offsets(path)
    for name, array in _model_arrays(loaded).items():
        assert not array.flags.writeable, name
        backing = _backing(array)
        assert isinstance(backing, mmap.mmap), name
        start = np.frombuffer(backing, np.uint8).ctypes.data
        assert array.ctypes.data - start == offsets[f"{name}.npy"], name  # a view on the member's data: no copy
    with pytest.raises(ValueError, match="read-only"):
        loaded.neighbor_scores_[0] = 1.0
    np.testing.assert_array_equal(loaded.items_.order(), model.items_.order())
    assert_same_answers(model, loaded, model.items_.ids[:10].tolist(), {"b": model.items_.ids[:3].tolist()})


def test_a_small_file_is_read_into_memory_once(tmp_path: Path) -> None:
    loaded = xsell.load_model(_saved(tmp_path))  # a few KB: below the 4 MiB from which files are mapped
    backings = {id(_backing(a)) for a in _model_arrays(loaded).values()}
    assert len(backings) == 1  # one read of the whole file, the arrays views on it
    assert isinstance(_backing(loaded.neighbor_scores_), bytearray)
    assert not any(a.flags.writeable for a in _model_arrays(loaded).values())


def test_mmap_false_reads_a_large_file_into_memory(tmp_path: Path, shop_orders: xsell.Orders, map_small_files) -> None:
    model = xsell.CoOccurrence(min_count=1).fit(shop_orders)
    path = _saved(tmp_path, model)
    loaded = xsell.load_model(path, mmap=False)
    assert isinstance(_backing(loaded.neighbor_scores_), bytearray)
    assert_same_answers(model, loaded, model.items_.ids[:10].tolist(), {"b": model.items_.ids[:3].tolist()})


def test_the_stored_id_order_is_handed_to_the_id_map(tmp_path: Path, monkeypatch, map_small_files) -> None:
    from xsell.data.idmap import IdMap

    given = []
    real = IdMap.set_order

    def spy(self, order):
        given.append(order)
        return real(self, order)

    monkeypatch.setattr(IdMap, "set_order", spy)
    path = _saved(tmp_path)
    given.clear()  # save_model checks what it writes by building the model too
    loaded = xsell.load_model(path)
    assert len(given) == 1
    assert given[0].tolist() == [0, 1, 2, 3] and given[0].dtype == np.int32
    assert loaded.items_.order() is not None and np.shares_memory(loaded.items_.order(), given[0])


def test_a_file_without_the_stored_order_still_loads(tmp_path: Path) -> None:
    # files of xsell 0.1.0 have none: the ids are then checked for duplicates by a sort
    def drop(members: dict[str, bytes], manifest: dict) -> None:
        del members["items_order.npy"], manifest["arrays"]["items_order"]
    loaded = xsell.load_model(_crafted(tmp_path, drop))
    assert loaded.recommend(["a"]).items == _model().recommend(["a"]).items
    assert loaded.items_.order().tolist() == [0, 1, 2, 3]
    dup = _crafted(tmp_path, lambda members, manifest: (drop(members, manifest), members.update(
        {"items.npy": _npy(np.array(["a", "b", "a", "d"]))})))
    _refused(dup, f"{dup}: items.npy holds duplicate ids")


def test_a_customer_model_stores_the_order_of_its_customers(tmp_path: Path, shop_orders: xsell.Orders,
                                                            map_small_files) -> None:
    model = xsell.ALS(factors=4, iterations=2).fit(shop_orders)
    path = xsell.save_model(model, tmp_path / "als.xsell")
    with zipfile.ZipFile(path) as zf:
        assert "customers_order.npy" in zf.namelist()
    loaded = xsell.load_model(path)
    assert loaded.customers_ is not None
    np.testing.assert_array_equal(loaded.customers_.order(), np.argsort(model.customers_.ids, kind="stable"))
    customer = model.customers_.ids[3]
    assert loaded.recommend_for_customer(customer, k=5).items == model.recommend_for_customer(customer, k=5).items


def test_ids_checked_by_the_loader_are_not_checked_or_copied_again(tmp_path: Path) -> None:
    from xsell.data.idmap import IdMap

    ids = np.array(["a", "b"])
    ids.flags.writeable = False
    mapped = IdMap.from_checked(ids)
    assert mapped.ids is ids and mapped.kind == "str" and mapped.index_of("b") == 1
    assert IdMap.from_checked(np.array([7, 3], dtype=np.int64)).index_of(3) == 1
    with pytest.raises(TypeError, match="^from_checked takes int64 or unicode ids, not float64$"):
        IdMap.from_checked(np.array([1.0]))


# -- a file changed while a process maps it ------------------------------------------------------------------
def test_replacing_a_mapped_file_by_rename_leaves_the_loaded_model_as_it_was(tmp_path: Path, shop_orders: xsell.Orders,
                                                                           map_small_files) -> None:
    path = _saved(tmp_path)
    loaded = xsell.load_model(path)
    before = loaded.recommend(["a", "b"]).items, loaded.also_bought("d").items
    bigger = xsell.CoOccurrence(min_count=1).fit(shop_orders)
    xsell.save_model(bigger, path)  # a new file renamed over the old one: the mapped inode is untouched
    assert (loaded.recommend(["a", "b"]).items, loaded.also_bought("d").items) == before
    assert loaded.items_.ids.tolist() == ["a", "b", "c", "d"]
    assert xsell.load_model(path).n_items == bigger.n_items


@pytest.mark.parametrize("change", ["append", "touch"])
def test_a_file_changed_while_it_is_mapped_and_loaded_is_refused(change, tmp_path: Path, monkeypatch,
                                                                 map_small_files) -> None:
    path = _saved(tmp_path)
    real = xsell.io._build_model

    def build_then_change(*args, **kwargs):
        model = real(*args, **kwargs)
        if change == "append":
            with open(path, "ab") as f:
                f.write(b"x")
        else:
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        return model

    monkeypatch.setattr(xsell.io, "_build_model", build_then_change)
    _refused(path, f"{path} changed while it was being loaded; refused (replace a model file by renaming a new "
                   f"file over it, as save_model does)")
    assert xsell.load_model(path, mmap=False).n_items == 4  # read into memory first: what was read was checked


@pytest.mark.parametrize("mmap", [True, False])
def test_a_file_that_grows_between_its_directory_and_its_arrays_is_refused(mmap, tmp_path: Path, monkeypatch,
                                                                          map_small_files) -> None:
    path = _saved(tmp_path)
    real = xsell.io._Archive.check_layout

    def layout_then_grow(self, entries):
        real(self, entries)
        with open(path, "ab") as f:
            f.write(b"x")

    monkeypatch.setattr(xsell.io._Archive, "check_layout", layout_then_grow)
    with pytest.raises(ModelFileError, match="^" + re.escape(
            f"{path} changed while it was being loaded; refused (replace a model file by renaming a new file over "
            f"it, as save_model does)") + "$"):
        xsell.load_model(path, mmap=mmap)


def test_a_file_truncated_after_a_load_into_memory_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    loaded = xsell.load_model(path)  # a small file: read into memory
    before = loaded.recommend(["a", "b"]).items
    with open(path, "r+b") as f:
        f.truncate(0)
    assert loaded.recommend(["a", "b"]).items == before
    assert float(loaded.neighbor_scores_.sum()) > 0


_TRUNCATE = """
import sys
import xsell, xsell.io
xsell.io._MAP_MIN = 0
model = xsell.load_model(sys.argv[1], mmap=sys.argv[2] == "map")
with open(sys.argv[1], "r+b") as f:
    f.truncate(0)  # in place, as `cp other.xsell model.xsell` over a file in use does
print(float(model.neighbor_scores_.sum()), flush=True)
"""


def test_a_mapped_file_truncated_in_place_is_the_documented_limit(tmp_path: Path) -> None:
    # the kernel answers a read of a mapped page the file no longer holds with SIGBUS, which no process
    # survives: load_model's documentation says so and offers mmap=False, which this shows is immune
    import signal
    import subprocess
    import sys

    expected = float(_model().neighbor_scores_.sum())
    for mode in ("map", "copy"):
        path = _saved(tmp_path, name=f"{mode}.xsell")
        result = subprocess.run([sys.executable, "-c", _TRUNCATE, str(path), mode], capture_output=True, text=True,
                                timeout=120)
        if mode == "map":
            assert result.returncode == -signal.SIGBUS, result.stderr
        else:
            assert result.returncode == 0, result.stderr
            assert float(result.stdout) == pytest.approx(expected)
