"""load_rules: business rules from a TOML file (what `xsell serve --rules` reads): every key round trips to
the BusinessRules one would write in Python, and a bad file gets one message naming the file and what to fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xsell.engine.rules import RULE_KEYS, BusinessRules, load_rules
from xsell.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the backport xsell depends on there
    import tomli as tomllib

KEYS = ("exclude_items, exclude_categories, allow, in_stock_only, min_price, max_price, max_per_category, pin, "
        "block, objective")


def write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_rules(path)
    return str(info.value)


def test_every_key_round_trips(tmp_path):
    path = write(tmp_path, """
        exclude_items = ["POST", 85123, "a,b"]   # an integer id is the id's digits
        exclude_categories = ["gift cards"]
        allow = ["x", "y", "POST"]
        in_stock_only = false
        min_price = 2.5
        max_price = 200
        max_per_category = 2
        pin = [["x", "y"], ["y", "x"]]
        block = [["x", "POST"]]
        objective = "margin"
    """)
    rules = load_rules(path)
    assert rules == BusinessRules(exclude_items=["POST", "85123", "a,b"], exclude_categories=["gift cards"],
                                  allow=["x", "y", "POST"], in_stock_only=False, min_price=2.5, max_price=200.0,
                                  max_per_category=2, pin=[("x", "y"), ("y", "x")], block=[("x", "POST")],
                                  objective="margin")
    assert (rules.exclude_items, rules.allow, rules.pin, rules.max_price) == (
        frozenset({"POST", "85123", "a,b"}), frozenset({"x", "y", "POST"}), (("x", "y"), ("y", "x")), 200.0)
    assert RULE_KEYS == tuple(KEYS.split(", "))
    assert set(tomllib.loads(path.read_text())) == set(RULE_KEYS)  # the file above names every key


def test_keys_left_out_keep_the_defaults(tmp_path):
    assert load_rules(write(tmp_path, "")) == BusinessRules()
    assert load_rules(write(tmp_path, "# only a comment\nobjective = 'probability'\n")) == \
        BusinessRules(objective="probability")
    assert load_rules(str(write(tmp_path, "max_per_category = 1\n"))) == BusinessRules(max_per_category=1)


def test_unknown_keys_are_named_with_the_allowed_ones(tmp_path):
    path = write(tmp_path, 'objectiv = "margin"\n')
    assert refused(path) == (f"rules file {path} has unknown key 'objectiv' (did you mean 'objective'?); "
                             f"the keys are {KEYS}")
    path = write(tmp_path, "exclude = ['a']\ncolour = 'red'\n")
    assert refused(path) == (f"rules file {path} has unknown keys 'exclude' (did you mean 'exclude_items'?), "
                             f"'colour'; the keys are {KEYS}")
    path = write(tmp_path, "[rules]\nobjective = 'margin'\n")
    assert refused(path) == (f"rules file {path} has unknown key 'rules' (a table: write its keys at the top of "
                             f"the file, without [rules]); the keys are {KEYS}")


def test_toml_syntax_errors_name_the_file_and_line(tmp_path):
    path = write(tmp_path, "min_price = 1\nmax_price = = 2\n")
    assert refused(path) == f"rules file {path} is not valid TOML: line 2, column 13: invalid value"
    path = write(tmp_path, 'exclude_items = ["a"]\nexclude_items = ["b"]\n')
    assert refused(path) == f"rules file {path} is not valid TOML: line 2, column 22: cannot overwrite a value"
    path = write(tmp_path, 'objective = "margin"\nexclude_items = ["a",\n')
    assert refused(path) == f"rules file {path} is not valid TOML: line 2 (end of file): invalid value"


@pytest.mark.parametrize("text, message", [
    ('objective = "price"', "objective must be one of probability, revenue, margin; got 'price'"),
    ('exclude_items = "POST"', "exclude_items must be a list of ids, not one string"),
    ("max_per_category = 0", "max_per_category must be a whole number >= 1, got 0"),
    ("max_per_category = 2.0", "max_per_category must be a whole number >= 1, got 2.0"),
    ('in_stock_only = "yes"', "in_stock_only must be True or False, got 'yes'"),
    ('pin = [["a"]]', "pin[0] must be a pair (item, item), got ['a']"),
    ('block = [["a", ["b"]]]', "block[0] must be a pair (item, item), got ['a', ['b']]"),
    ("min_price = -1", "min_price must be a finite number >= 0, got -1"),
    ("max_price = inf", "max_price must be a finite number >= 0, got inf"),
    ("min_price = 5\nmax_price = 2", "min_price 5 is above max_price 2"),
    ("allow = [[1]]", "allow must be a list of ids (strings or numbers), got [1] in it"),
])
def test_bad_values_get_businessrules_message_with_the_file(tmp_path, text, message):
    path = write(tmp_path, text + "\n")
    assert refused(path) == f"rules file {path}: {message}"


def test_files_that_cannot_be_read(tmp_path):
    assert refused(tmp_path / "none.toml") == f"rules file not found: {tmp_path / 'none.toml'}"
    assert refused(tmp_path) == f"rules file {tmp_path} is a folder, not a file"
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'objective = "margin"\nexclude_items = ["caf\xe9"]\n')
    assert refused(path) == f"rules file {path} is not UTF-8 (line 2); save it as UTF-8"


def test_python_310_reads_with_tomli(tmp_path, monkeypatch):
    """Before 3.11 there is no tomllib: the tomli backport (the same parser) is imported instead."""
    monkeypatch.setattr(sys, "version_info", (3, 10, 0, "final", 0))
    monkeypatch.setitem(sys.modules, "tomli", tomllib)
    monkeypatch.delitem(sys.modules, "tomllib", raising=False)
    monkeypatch.setattr("builtins.__import__", _refusing("tomllib"))
    assert load_rules(write(tmp_path, "objective = 'margin'\n")) == BusinessRules(objective="margin")
    path = write(tmp_path, "objective = \n")
    assert refused(path) == f"rules file {path} is not valid TOML: line 1, column 13: invalid value"


def _refusing(name: str):
    real = __import__

    def guarded(module, *args, **kwargs):
        if module == name:
            raise ModuleNotFoundError(f"No module named {module!r}")
        return real(module, *args, **kwargs)

    return guarded
