"""IdMap: external ids <-> internal indices, both directions, int and str ids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from xsell import IdMap, InputError


def test_int_ids_both_directions() -> None:
    m = IdMap([42, 7, 100])
    assert m.kind == "int"
    assert m.ids.dtype == np.int64
    assert len(m) == 3
    assert m.to_internal([7, 100, 42]).tolist() == [1, 2, 0]
    assert m.to_internal([7, 100, 42]).dtype == np.int32
    assert m.to_external(np.array([2, 0, 1])).tolist() == [100, 42, 7]
    assert [m.index_of(v) for v in (42, 7, 100)] == [0, 1, 2]
    # round trip
    idx = m.to_internal(m.ids)
    assert idx.tolist() == [0, 1, 2]
    assert m.to_external(idx).tolist() == m.ids.tolist()


def test_str_ids_both_directions() -> None:
    m = IdMap(["85123A", "0042", "42"])
    assert m.kind == "str"
    assert m.ids.dtype.kind == "U"
    assert m.to_internal(["42", "85123A", "0042"]).tolist() == [2, 0, 1]
    assert m.to_external(np.array([1, 2])).tolist() == ["0042", "42"]
    assert [m.index_of(v) for v in ("85123A", "0042", "42")] == [0, 1, 2]


def test_unknown_ids_give_minus_one() -> None:
    ints = IdMap([42, 7])
    assert ints.to_internal([7, 5, 42, 1000]).tolist() == [1, -1, 0, -1]
    assert ints.index_of(5) == -1
    assert ints.index_of("5") == -1
    assert ints.index_of("x") == -1
    strs = IdMap(["a", "b"])
    assert strs.to_internal(["b", "zz", "a"]).tolist() == [1, -1, 0]
    assert strs.index_of("zz") == -1
    assert strs.index_of(3) == -1


def test_empty_lookups() -> None:
    m = IdMap(["a"])
    out = m.to_internal([])
    assert out.dtype == np.int32 and out.tolist() == []


def test_index_of_finds_an_int_id_given_as_a_string() -> None:
    m = IdMap([42, -5, 7])
    assert m.index_of("42") == 0
    assert m.index_of("-5") == 1
    assert m.index_of(np.int64(7)) == 2


def test_index_of_finds_a_string_id_given_as_an_int() -> None:
    m = IdMap(["7", "42", "0042"])
    assert m.index_of(42) == 1
    assert m.index_of("0042") == 2
    assert m.index_of(43) == -1


def test_to_internal_of_ints_against_string_ids() -> None:
    m = IdMap(["42", "7"])
    assert m.to_internal(np.array([7, 42, 8])).tolist() == [1, 0, -1]


def test_indices_of_keeps_known_ids_in_order() -> None:
    assert IdMap([42, 7]).indices_of([7, "42", 9]) == [1, 0]
    assert IdMap(["a", "42"]).indices_of(["42", 42, "q", "a"]) == [1, 1, 0]


def test_whole_floats_become_int_ids() -> None:
    m = IdMap(np.array([3.0, 1.0]))
    assert m.kind == "int"
    assert m.ids.tolist() == [3, 1]


def test_pandas_string_series_gives_str_ids() -> None:
    m = IdMap(pd.Series(["x", "y"], dtype="string"))
    assert m.kind == "str"
    assert m.ids.tolist() == ["x", "y"]


MIX = "ids must be all strings or all integers, not a mix"


@pytest.mark.parametrize("ids", [
    np.array(["a", 1], dtype=object),
    pd.Series(["a", 1]),
    pd.Series([1, None, 3], dtype=object),
    ["a", None],
], ids=["object-array", "series", "int-and-none", "str-and-none"])
def test_mixed_types_are_refused(ids) -> None:
    with pytest.raises(InputError, match="^" + re.escape(MIX) + "$"):
        IdMap(ids)


def test_a_plain_list_of_strings_and_ints_is_refused() -> None:
    # np.asarray(["a", 1]) silently makes ["a", "1"]; the mix must be refused like any other
    with pytest.raises(InputError, match="^" + re.escape(MIX) + "$"):
        IdMap(["a", 1])


def test_booleans_and_fractions_are_refused() -> None:
    with pytest.raises(InputError, match="^" + re.escape("ids must be strings or integers, not booleans") + "$"):
        IdMap([True, False])
    with pytest.raises(InputError, match="^" + re.escape(
            "ids must be strings or integers; got non-integer numbers") + "$"):
        IdMap([1.0, 2.5])


def test_ids_are_read_only() -> None:
    m = IdMap([1, 2])
    with pytest.raises(ValueError):
        m.ids[0] = 5
    assert m.ids.tolist() == [1, 2]


def test_from_values_factorizes_in_first_seen_order() -> None:
    m, codes = IdMap.from_values(["b", "a", "b", "c"])
    assert m.ids.tolist() == ["b", "a", "c"]
    assert codes.tolist() == [0, 1, 0, 2]
    assert codes.dtype == np.int32
    with pytest.raises(InputError, match="^ids contain nulls$"):
        IdMap.from_values(pd.Series(["a", None]))


# -- single look-ups: a binary search over the sorted ids, checked against a plain dict --------------------

@pytest.mark.parametrize("seed", range(6))
def test_index_of_agrees_with_a_dict_of_every_id(seed: int) -> None:
    rng = np.random.default_rng(seed)
    if seed % 2:  # integers, negative ones and int64's ends included
        ids = list(dict.fromkeys(rng.integers(-1000, 1000, 300).tolist() + [2**63 - 1, -(2**63)]))
        probes = ids + rng.integers(-1500, 1500, 300).tolist() + [str(v) for v in ids[:50]]
    else:  # strings: prefixes of each other, the empty id, non-ASCII and astral code points
        alphabet = list("ab\u00e9\u4e2d\U0001f600")
        ids = list(dict.fromkeys("".join(rng.choice(alphabet, rng.integers(0, 6))) for _ in range(400)))
        probes = ids + ["".join(rng.choice(alphabet, rng.integers(0, 8))) for _ in range(400)] + [7, "a" * 300]
    m = IdMap(ids)
    reference = {v: i for i, v in enumerate(m.ids.tolist())}
    for repeat in range(2):  # the second time from the cache of ids found
        got = [m.index_of(p) for p in probes]
        want = [reference.get(p if m.kind == "str" and isinstance(p, str) or m.kind == "int" and isinstance(p, int)
                              else (int(p) if m.kind == "int" else str(p)), -1) for p in probes]
        assert got == want, repeat
    assert m.indices_of(probes) == [i for i in want if i >= 0]


def test_a_cached_int_id_does_not_answer_for_true_or_a_float() -> None:
    m = IdMap([1, 2])
    assert m.index_of(1) == 0
    assert m.index_of(True) == -1  # True == 1 and hash(True) == hash(1): the cache must not mix them
    assert m.index_of(1.0) == 0  # a whole float matches by match_key, not through the cache
    assert m.index_of(1.5) == -1


def test_set_order_takes_only_the_sorting_permutation() -> None:
    m = IdMap(["b", "c", "a"])
    assert m.order().tolist() == [2, 0, 1]
    fresh = IdMap(["b", "c", "a"])
    fresh.set_order(np.array([2, 0, 1], dtype=np.int32))
    assert fresh.index_of("c") == 1
    message = "the id order must list every id once, in ascending order of the ids"
    for bad in ([0, 1, 2], [2, 0, 0], [2, 0, 3], [2, 0], [-1, 0, 1]):
        with pytest.raises(InputError, match=re.escape(message)):
            IdMap(["b", "c", "a"]).set_order(np.array(bad, dtype=np.int32))
    with pytest.raises(InputError, match=re.escape(message)):
        IdMap(["b", "c", "a"]).set_order(np.array([2, 0, 1], dtype=np.int64))


@pytest.mark.parametrize("n", [8191, 8192, 8193, 20_000])
@pytest.mark.parametrize("kind", ["str", "int"])
@pytest.mark.parametrize("kernel", ["_sorts_prefetching", "_sorts_plain"])
def test_set_order_checks_every_neighbouring_pair(n: int, kind: str, kernel: str, monkeypatch) -> None:
    """A stored order with one swapped pair anywhere (first, last, around powers of two) or two equal ids side
    by side is refused; the right order of shuffled ids is taken. Both kernels: the prefetching one (rows
    loaded ahead) and the plain one a numba that cannot build the prefetch gets."""
    from xsell.kernels import ids as kernels

    assert kernels._sorts is kernels._sorts_prefetching  # this numba builds it
    monkeypatch.setattr(kernels, "_sorts", getattr(kernels, kernel))
    shuffled = np.random.default_rng(n).permutation(n)
    ids = [f"SKU-{v:06d}" for v in shuffled] if kind == "str" else (shuffled * 7 - 5_000).tolist()
    right = np.argsort(np.array(ids), kind="stable").astype(np.int32)
    m = IdMap(ids)
    m.set_order(right.copy())
    assert m.index_of(ids[123]) == 123
    message = "the id order must list every id once, in ascending order of the ids"
    for i in sorted(i for i in {0, 8190, 8191, 16383, n - 2} if i + 1 < n):
        wrong = right.copy()
        wrong[[i, i + 1]] = wrong[[i + 1, i]]
        with pytest.raises(InputError, match=re.escape(message)):
            IdMap(ids).set_order(wrong)
    twice = list(ids)  # two equal ids side by side in the order: not strictly ascending
    twice[right[8192 % n]] = twice[right[(8192 % n) - 1]]
    with pytest.raises(InputError, match=re.escape(message)):
        IdMap(np.array(twice)).set_order(right.copy())
