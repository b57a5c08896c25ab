"""`xsell --config xsell.toml`: the options a nightly job would otherwise repeat on every command.

A config file is TOML. Its `[orders]` table says how order files are read, for every command that reads
them (fit, rules, evaluate, score --orders, demo --orders); a table named after a command sets that
command's options by their long names (dashes or underscores); `params` sets a model's parameters
(`--param`). Options given on the command line win over the file; the file wins over the built-in
defaults. A list option given on the command line (--column, --param, --drop-item) replaces the file's
list, it does not add to it.

    [orders]
    columns = { order_id = "InvoiceNo", item_id = "StockCode", timestamp = ["Date", "Time"] }
    sep = ";"                 # or layout = "baskets"
    keep_returns = false
    drop_items = ["POST", "DOT"]

    [fit]
    model = "ease"
    params = { l2 = 50 }      # for the model fitted; or per model, used only when that one is fitted:

    [fit.cooccurrence]
    neighbors = 50

    [score]
    k = 5
    objective = "margin"

Unknown tables and keys are refused, naming the file, the table and the key, and listing what is allowed:
a misspelt option must not be silently ignored by a job that runs unattended.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

from xsell.errors import InputError

ORDERS_KEYS = {  # [orders] key -> the option it sets in every command that reads orders
    "columns": "column", "layout": "layout", "sep": "sep", "keep_returns": "keep_returns",
    "drop_items": "drop_item", "keep_placeholders": "keep_placeholders",
}
_LIST_KEYS = {"columns": "column", "params": "param", "drop_items": "drop_item"}  # tables/lists as repeated options


def read_toml(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A TOML file as a dict; InputError naming the file (and the line of a syntax error)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover (Python 3.10: the tomli backport, a dependency there)
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} path is a folder, not a file: {path}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {what} file {path}: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"cannot read {what} file {path}: {exc}") from None


def _as_option(key: str, value: Any, where: str) -> tuple[str, Any]:
    """A config key and value as (option name, value Click takes): tables and lists become repeated
    options' lists of text (columns -> ['order_id=InvoiceNo', ...], params -> ['l2=50'])."""
    name = key.replace("-", "_")
    if name in ("columns", "params"):
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: {key} must be a table, e.g. {key} = {{ order_id = \"InvoiceNo\" }}")
        out = []
        for role, column in value.items():
            if name == "columns" and isinstance(column, list):  # timestamp = ["Date", "Time"]
                if len(column) != 2 or not all(isinstance(c, str) for c in column):
                    raise InputError(f"{where}: columns.{role} must be a column name or [DATE, TIME], got {column!r}")
                column = "+".join(column)
            if not isinstance(column, (str, int, float)) or (name == "columns" and isinstance(column, bool)):
                raise InputError(f"{where}: {key}.{role} must be text or a number, got {column!r}")
            out.append(f"{role}={str(column).lower() if isinstance(column, bool) else column}")
        return _LIST_KEYS[name], out
    if name in _LIST_KEYS:
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise InputError(f"{where}: {key} must be a list, e.g. {key} = [\"POST\", \"DOT\"]")
        return _LIST_KEYS[name], [str(v) for v in value]
    if name == "json":
        name = "json_"
    if isinstance(value, (Mapping, list)) or value is None:
        raise InputError(f"{where}: {key} must be a single value, got {value!r}")
    return name, value


def default_map(path: str | os.PathLike[str], commands: Mapping[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Click's default_map (command -> {option name: value}) from a config file.

    commands: each command's option names (Click parameter names); keys of the file are checked against
    them. [orders] goes to every command having the option it sets. A table [fit.MODEL] holds that model's
    parameters, used only when MODEL is the one fitted (as --param MODEL.NAME=VALUE)."""
    from xsell.models.registry import ALIASES, MODELS

    models = {*MODELS, *ALIASES}
    data = read_toml(path, "config")
    out: dict[str, dict[str, Any]] = {name: {} for name in commands}
    orders = data.get("orders", {})
    if not isinstance(orders, Mapping):
        raise InputError(f"config {path}: [orders] must be a table")
    for key, value in orders.items():
        if key.replace("-", "_") not in ORDERS_KEYS:
            raise InputError(f"config {path}: unknown key {key!r} in [orders]; allowed: {', '.join(ORDERS_KEYS)}")
        option, converted = _as_option(key, value, f"config {path} [orders]")
        for name, options in commands.items():
            if option in options:
                out[name][option] = converted
    for table, values in data.items():
        if table == "orders":
            continue
        if table not in commands:
            raise InputError(f"config {path}: unknown table [{table}]; allowed: [orders], "
                             f"{', '.join(f'[{name}]' for name in commands if commands[name])}")
        if not isinstance(values, Mapping):
            raise InputError(f"config {path}: [{table}] must be a table of options")
        for key, value in values.items():
            if table == "fit" and key in models and isinstance(value, Mapping):  # [fit.ease]: that model's params
                option, converted = _as_option("params", value, f"config {path} [fit.{key}]")
                out[table].setdefault(option, []).extend(f"{key}.{entry}" for entry in converted)
                continue
            option, converted = _as_option(key, value, f"config {path} [{table}]")
            if option not in commands[table]:
                shown = sorted(o.replace("_", "-").rstrip("-") for o in commands[table])
                raise InputError(f"config {path}: [{table}] has no option {key!r}; its options: {', '.join(shown)}")
            if option == "param":
                out[table].setdefault(option, []).extend(converted)
            else:
                out[table][option] = converted
    return {name: values for name, values in out.items() if values}
