"""The `xsell` command: parse, make one library call, format. Nothing else lives here.

Errors from the library (XsellError) and from the file system become one
line on stderr and exit code 1; usage errors exit 2; SIGINT, SIGTERM and SIGHUP
exit 128 + the signal number after cleaning up (see `main`). No traceback
reaches the user.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, NoReturn, Optional, TypeVar, cast

import typer

from xsell.models.registry import ALIASES, MODELS, canonical_name
from xsell.names import RULE_METRICS

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from rich.status import Status

_MODEL_LIST = ", ".join(MODELS)  # the registry's names: a new model shows up in fit and evaluate by itself
_ALIAS_LIST = " and ".join(ALIASES)
_ORDER_FILES = ("Order lines: CSV/TSV (also .gz, .zst), Parquet, Excel (.xlsx) or JSON (.json, .jsonl); with "
                "--layout baskets a text file of one basket per line.")

app = typer.Typer(
    name="xsell",
    help="Cross-sell and 'also bought' recommendations learned from order history.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _print_version(value: bool) -> None:
    if value:
        from xsell import __version__

        typer.echo(f"xsell {__version__}")
        raise typer.Exit()


_QUIET = [False]  # --quiet: no notes (load reports, progress) on stderr; errors still


def _note(text: str) -> None:
    """A note for the person at the terminal (a load report, what was written): stderr, unless --quiet."""
    if not _QUIET[0]:
        typer.echo(text, err=True)


def _set_logging(verbose: int, quiet: bool) -> None:
    """The `xsell` logger's records on stderr: warnings by default, info with -v, debug with -vv, errors only
    with --quiet. The library only logs; it never prints."""
    logger = logging.getLogger("xsell")
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is logged (not the stream of the first run: main()
    may be called again with stderr replaced, as by a test runner or an embedding program)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ and setStream assign it: ignored
        pass


def _config(ctx: typer.Context, path: Optional[Path]) -> None:
    """--config FILE: the commands' defaults from a TOML file (xsell.config), as Click's default_map."""
    if path is None:
        return
    from xsell.config import default_map
    from xsell.errors import InputError

    group = cast(Any, ctx.command)
    commands = {name: {p.name for p in command.params if p.name and p.param_type_name == "option"}
                for name, command in group.commands.items()}
    try:
        ctx.default_map = default_map(path, commands)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--config'") from None


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print xsell's version and exit.")] = False,
    config: Annotated[Optional[Path], typer.Option(
        "--config", envvar="XSELL_CONFIG", metavar="FILE",
        help="TOML file of options for every command: a table 'orders' (columns, sep, layout, cleaning) and "
             "one per command (fit: model, params...; score; rules) by the options' long names. The command "
             "line wins.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors: no load reports, "
                                                              "notes or progress on stderr.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="Log what the library does on stderr (-v: steps, -vv: details).")
                       ] = 0,
) -> None:
    """Cross-sell and 'also bought' recommendations learned from order history.

    Exit codes: 0 success; 1 an error in the data, a file or a model (one line on stderr); 2 a usage error
    (unknown option, bad value, bad --config); 3 `xsell diff --fail-above`: the drift alarm; 128 + N when
    stopped by signal N (130: Ctrl-C; 141: the output's reader stopped reading, as `| head` does)."""
    _QUIET[0] = quiet
    _set_logging(verbose, quiet)
    _config(ctx, config)


ModelArg = Annotated[Path, typer.Argument(help="Model file written by `xsell fit`.")]
KOpt = Annotated[int, typer.Option("-k", "--k", help="How many items to return.", min=1)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]


class Layout(str, Enum):
    """How an orders file holds its orders (`xsell.load_orders(layout=...)`)."""

    lines = "lines"
    baskets = "baskets"


class Mode(str, Enum):
    """`xsell score --mode`."""

    recommend = "recommend"
    cross_sell = "cross-sell"
    up_sell = "up-sell"
    uplift = "uplift"


Metric: Any = Enum("Metric", [(name, name) for name in RULE_METRICS], type=str)  # type: ignore[misc]
"""`xsell rules --sort` and `xsell fit --metric`: a rule's metrics (choices in --help and completion)."""
if TYPE_CHECKING:
    MetricType = Enum
else:
    MetricType = Metric


class Objective(str, Enum):
    """`xsell score --objective`: what the engine ranks by."""

    probability = "probability"
    revenue = "revenue"
    margin = "margin"


class DiffBy(str, Enum):
    """`xsell diff --by`: what ranks the biggest movers."""

    score = "score"
    rank = "rank"
    count_ = "count"  # the value is what --by takes; `count` itself is str.count
    support = "support"
    confidence = "confidence"
    lift = "lift"
    probability = "probability"
    extra_price = "extra_price"
    expected_revenue = "expected_revenue"
    expected_margin = "expected_margin"


class Task(str, Enum):
    """`xsell evaluate --task`."""

    basket_completion = "basket-completion"
    next_order = "next-order"


class Split(str, Enum):
    """`xsell evaluate --split`."""

    temporal = "temporal"
    leave_last_out = "leave-last-out"


LayoutOpt = Annotated[Layout, typer.Option(
    "--layout", case_sensitive=False,
    help="lines: one order line per row, named columns (CSV, TSV, Parquet); baskets: one basket per line, "
         "its items split by --sep, no header (the arules/mlxtend basket format, e.g. Groceries).")]
SepOpt = Annotated[Optional[str], typer.Option("--sep", help="A CSV's separator (default: found from the file: "
                                                              ", ; tab or |); with --layout baskets the item "
                                                              "separator (default ',').")]
ParamOpt = Annotated[
    Optional[list[str]],
    typer.Option("--param", "-p", help="Set any parameter of the model, e.g. --model ease --param l2=50 "
                 "(repeatable; wins over the options above; `none` for None). MODEL.NAME=VALUE applies only "
                 "when MODEL is the one fitted (ease.l2=50)."),
]
ColumnOpt = Annotated[
    Optional[list[str]],
    typer.Option("--column", "-c", help="Map a role to your column, e.g. order_id=InvoiceNo (repeatable). "
                 "Roles: order_id, item_id, customer_id, timestamp, quantity, price; a date and a time column "
                 "together: timestamp=Date+Time."),
]
DropItemOpt = Annotated[
    Optional[list[str]],
    typer.Option("--drop-item", metavar="ID", help="Leave out lines of this item, e.g. POST or a gift card "
                 "(repeatable; counted in the load report)."),
]
SinceOpt = Annotated[Optional[str], typer.Option(
    "--since", metavar="WINDOW", help="Only the recent orders: 90d, 12w or 36h before the newest order (the unit "
                                      "is needed), or a date such as 2011-09-01 (needs a timestamp column).")]
KeepReturnsOpt = Annotated[bool, typer.Option(help="Keep lines with quantity <= 0.")]
KeepPlaceholdersOpt = Annotated[bool, typer.Option(
    "--keep-placeholders", help="Keep items whose id is a placeholder (empty, '?', '-', NONE, null, nan, N/A, "
    "#N/A, undefined; any case), left out and counted by default.")]
ModelName: Any = Enum("ModelName", [(name, name) for name in [*MODELS, *ALIASES]], type=str)  # type: ignore[misc]
"""`xsell fit --model`: the registry's names, then the older ones (choices in --help and completion)."""
if TYPE_CHECKING:  # an Enum made from the registry at run time: mypy sees an Enum
    ModelOpt = Enum
else:
    ModelOpt = Annotated[ModelName, typer.Option(
        "--model", case_sensitive=False, help=f"The model to fit (older names {_ALIAS_LIST} still work).")]


def _model_params(pairs: Optional[list[str]], name: str) -> dict[str, Any]:
    """--param NAME=VALUE pairs as keyword arguments of model `name`: each value read as its parameter's
    constraint expects (a whole number, a number, a choice; `none` for None); the model checks it."""
    from xsell.errors import InputError
    from xsell.models.params import Choice, Int, Number

    cls = MODELS[name].cls
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise InputError(f"--param takes NAME=VALUE, got {pair!r}")
        model, dot, rest = key.partition(".")
        if dot and canonical_name(model) in MODELS:  # MODEL.NAME=VALUE: only when that model is fitted
            if canonical_name(model) != name:
                continue
            key = rest.strip()
        constraint = cls.constraints.get(key)
        if constraint is None:
            raise InputError(f"--param {key}: {name} has no parameter {key!r}; its parameters: "
                             f"{', '.join(cls.constraints)}")
        value: Any = text
        if text.lower() == "none":
            value = None
        elif isinstance(constraint, Int) or (not isinstance(constraint, (Number, Choice))
                                             and text.lstrip("-").isdigit()):
            try:
                value = int(text)
            except ValueError:
                value = text  # the model's check names what it wants
        elif not isinstance(constraint, Choice):
            try:
                value = float(text)
            except ValueError:
                value = {"true": True, "false": False}.get(text.lower(), text)
        out[key] = value
    return out


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(1)


def _silence_stdout() -> None:
    """Point stdout at /dev/null: its reader is gone, and the interpreter's last flush would fail again
    and print a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by something without a descriptor (a test runner)
        pass
    finally:
        os.close(devnull)


def _stdout_gone() -> NoReturn:
    """Exit 141 (128 + SIGPIPE, what a shell tool reports) without a message: stdout's reader is gone."""
    _silence_stdout()
    raise typer.Exit(141)


def _handles_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from xsell.errors import XsellError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.BadParameter):  # BadParameter: a usage error, exit 2 (see main)
            raise
        except XsellError as exc:
            _fail(str(exc))
        except BrokenPipeError:  # the reader stopped reading (`xsell diff ... | head`): nothing to say
            _stdout_gone()
        except (OSError, MemoryError) as exc:
            _fail(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug: still one line, with how to see more
            _fail(f"unexpected {type(exc).__name__}: {exc} (please report this)")
    return cast(F, wrapper)


def _columns(pairs: list[str] | None) -> dict[str, Any]:
    """--column ROLE=NAME pairs as load_orders' columns; timestamp=Date+Time maps a date and a time column
    together (a column whose own name holds '+' cannot be the timestamp this way: rename it)."""
    from xsell.errors import InputError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        role, sep, name = pair.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise InputError(f"--column expects ROLE=NAME, for example order_id=InvoiceNo; got {pair!r}")
        date, plus, time = name.strip().partition("+")
        both = role.strip() == "timestamp" and plus and date.strip() and time.strip()
        out[role.strip()] = (date.strip(), time.strip()) if both else name.strip()
    return out


def _load_orders(path: Path, column: list[str] | None, *, layout: Layout = Layout.lines, sep: str | None = None,
                 keep_returns: bool = False, drop_item: list[str] | None = None,
                 keep_placeholders: bool = False, note: bool = True, since: str | None = None) -> Any:
    """xsell.load_orders with the CLI's options (and `Orders.since` for --since); the load report is a note on
    stderr (unless note=False)."""
    import xsell

    data = xsell.load_orders(path, columns=_columns(column), keep_returns=keep_returns, layout=layout.value,
                             sep=sep, drop_items=drop_item or (), drop_placeholders=not keep_placeholders)
    if since is not None:
        data = data.since(since)
    if note:
        _note(str(data.report))
    return data


def _print_frame(frame: Any, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        from xsell.data.records import frame_records

        # plain values at full precision (pandas' to_json keeps 10 digits); NaN becomes null
        payload = {**(extra or {}), "results": frame_records(frame)}
        typer.echo(json.dumps(payload))
        return
    if extra and extra.get("fallback"):
        typer.echo("(unknown customer: showing popular items)" if "customer" in extra
                   else "(no known item: showing popular items)")
    if len(frame) == 0:
        typer.echo("(no recommendations)")
        return
    typer.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


@app.command()
@_handles_errors
def fit(
    orders: Annotated[Path, typer.Argument(help=_ORDER_FILES)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    model: ModelOpt = ModelName["cooccurrence"],
    column: ColumnOpt = None,
    param: ParamOpt = None,
    layout: LayoutOpt = Layout.lines,
    sep: SepOpt = None,
    drop_item: DropItemOpt = None,
    keep_placeholders: KeepPlaceholdersOpt = False,
    since: SinceOpt = None,
    min_count: Annotated[int, typer.Option(help="cooccurrence: ignore pairs seen in fewer orders.", min=1)] = 2,
    min_support: Annotated[Optional[float], typer.Option(
        help="Ignore itemsets with lower support (default: 0 for cooccurrence, 0.001 for rules).")] = None,
    neighbors: Annotated[int, typer.Option(help="cooccurrence: neighbours kept per item.", min=1)] = 100,
    keep_counts: Annotated[Optional[int], typer.Option(
        help="cooccurrence, association_rules (max-len 2): keep the counts `xsell update` adds new orders to "
             "(1: every pair, updates equal a refit; N: pairs seen in N or more orders, a smaller file, updates "
             "may undercount).",
        min=1)] = None,
    max_len: Annotated[int, typer.Option(help="rules: 2 (item -> item) or 3 (also pairs -> item).")] = 2,
    metric: Annotated[MetricType, typer.Option(help="rules: the metric that scores recommendations.")
                      ] = Metric["confidence"],
    keep_returns: KeepReturnsOpt = False,
    seed: Annotated[int, typer.Option(help="als, bpr: random seed (same seed, same model).")] = 0,
    threads: Annotated[int, typer.Option(help="als, bpr, itemknn: threads (0: all cores; bpr is reproducible "
                                              "only with 1, its default).", min=0)] = 0,
    json_: JsonOpt = False,
) -> None:
    """Learn a model from order lines and save it."""
    import xsell
    from xsell.files import check_output_path

    check_output_path(output)  # before reading and fitting, which may take minutes

    from xsell.evaluation.runner import model_factories
    name = canonical_name(model.value)
    if name != model.value:
        _note(f"note: model {model.value!r} is now called {name!r}; the old name still works")
    makers: dict[str, Callable[..., Any]] = {
        **model_factories(seed, threads),  # the models as `xsell evaluate` fits them
        "cooccurrence": lambda **set_: xsell.CoOccurrence(**{
            "min_count": min_count, "min_support": min_support or 0.0, "neighbors": neighbors,
            "keep_counts": keep_counts, **set_}),
        "association_rules": lambda **set_: xsell.AssociationRules(**{
            "min_support": 0.001 if min_support is None else min_support, "max_len": max_len, "metric": metric.value,
            "keep_counts": keep_counts, **set_}),
    }
    fitted = makers[name](**_model_params(param, name))
    data = _load_orders(orders, column, layout=layout, sep=sep, keep_returns=keep_returns, drop_item=drop_item,
                        keep_placeholders=keep_placeholders, since=since)
    fitted.fit(data)
    xsell.save_model(fitted, output)
    if json_:
        sizes = {"cooccurrence": lambda: {"neighbour_pairs": int(len(fitted.neighbor_indices_))},
                 "association_rules": lambda: {"rules": int(fitted.n_rules)}}.get(name, lambda: {})()
        typer.echo(json.dumps({"output": str(output), "model": name, "items": int(data.n_items),
                               "orders": int(data.n_orders), "lines": int(data.n_lines), **sizes}))
        return
    size = {"cooccurrence": lambda: f", {len(fitted.neighbor_indices_):,} neighbour pairs",
            "association_rules": lambda: f", {fitted.n_rules:,} rules"}.get(name, lambda: "")()
    typer.echo(f"saved {output}: {name}, {data.n_items:,} items, {data.n_orders:,} orders{size}")


@app.command()
@_handles_errors
def update(
    model: ModelArg,
    orders: Annotated[Path, typer.Argument(help="The new orders: " + _ORDER_FILES)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Updated model file to write (may be MODEL "
                                                                "itself: written atomically).")],
    column: ColumnOpt = None,
    layout: LayoutOpt = Layout.lines,
    sep: SepOpt = None,
    keep_returns: KeepReturnsOpt = False,
    drop_item: DropItemOpt = None,
    keep_placeholders: KeepPlaceholdersOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Add new orders to a model and save it: new items included, orders already in the model refused
    (cooccurrence and association_rules fitted with --keep-counts: exact; als: folded in)."""
    import xsell
    from xsell.files import check_output_path

    check_output_path(output)
    loaded = xsell.load_model(model)
    update_with: Callable[[Any], Any] | None = getattr(loaded, "update", None)
    if update_with is None:
        _fail(f"{loaded.model_type} models cannot be updated yet; fit it again (xsell update takes cooccurrence "
              f"and association_rules models fitted with --keep-counts, and als models)")

    def n_orders() -> int:
        counted = getattr(loaded, "kept_orders_", None)  # the ids of the orders the model has seen
        return 0 if counted is None else len(counted)

    before_items, before_orders = loaded.n_items, n_orders()
    data = _load_orders(orders, column, layout=layout, sep=sep, keep_returns=keep_returns, drop_item=drop_item,
                        keep_placeholders=keep_placeholders)
    update_with(data)
    xsell.save_model(loaded, output)
    added = {"orders": n_orders() - before_orders, "items": int(loaded.n_items - before_items)}
    if json_:
        typer.echo(json.dumps({"output": str(output), "model": loaded.model_type, "orders": n_orders(),
                               "items": int(loaded.n_items), "new_orders": added["orders"],
                               "new_items": added["items"]}))
        return
    typer.echo(f"saved {output}: {loaded.model_type}, {loaded.n_items:,} items ({added['items']:,} new), "
               f"{n_orders():,} orders ({added['orders']:,} new)")


@app.command()
@_handles_errors
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier model file (xsell fit, xsell update) or rules file "
                                             "(xsell rules: .parquet or .csv).")],
    new: Annotated[Path, typer.Argument(help="The later one, of the same kind.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Compare each item's top k (rules: each antecedent's k "
                                                       "consequents by confidence).", min=1)] = 10,
    top: Annotated[int, typer.Option(help="Rows shown per table (movers, links entered and left, items added "
                                          "and gone); the report too.", min=1)] = 20,
    by: Annotated[Optional[DiffBy], typer.Option(
        case_sensitive=False, help="What ranks the movers: score or rank, or a statistic both sides explain "
                                   "(count, support, confidence, lift; cooccurrence models and rules). Default: "
                                   "score for models, confidence for rules.")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Write an HTML report with the overlap distribution "
                                                        "here (needs matplotlib: pip install 'xsell\\[report]').")
                      ] = None,
    fail_above: Annotated[Optional[float], typer.Option(
        min=0.0, max=1.0, help="Drift alarm for nightly jobs: exit 3 when the share of items whose top k "
                               "changed by more than half is above this (0-1), after printing and writing "
                               "the report.")] = None,
    upsell: Annotated[bool, typer.Option(
        "--upsell", help="Compare the engine's up-sell links (each item's up_sell(item, k)) instead of its "
                         "'also bought' lists; --by probability, extra_price, expected_revenue, "
                         "expected_margin, score or rank (default probability).")] = False,
    catalog: Annotated[Optional[Path], typer.Option(
        help="With --upsell: the catalog (item_id, price, category, ...) both engines use.")] = None,
    json_: JsonOpt = False,
) -> None:
    """What the new model (or rule set) learned differently from the old one: items added and gone, links
    that entered or left each item's top k, the biggest movers, and a one-line health summary.

    Exit codes: 0, or 3 when --fail-above is passed; 1 and 2 as for every command."""
    import xsell
    from xsell.monitor.diff import RULE_FILES, diff_rules

    kinds = ["rules" if path.suffix.lower() in RULE_FILES else "model" for path in (old, new)]
    if kinds[0] != kinds[1]:
        raise typer.BadParameter(f"OLD and NEW must both be model files or both rules files (.parquet, .csv); "
                                 f"got a {kinds[0]} file and a {kinds[1]} file", param_hint="'NEW'")
    if report is not None:
        if report.suffix.lower() not in (".html", ".htm"):
            raise typer.BadParameter(f"must name an .html file, got {report}", param_hint="'--report'")
        if not report.parent.is_dir():
            raise xsell.InputError(f"folder does not exist: {report.parent}")
        _needs_matplotlib()
    if (upsell or catalog is not None) and kinds[0] == "rules":
        raise typer.BadParameter("compares the up-sells of two model files, not rules files", param_hint="'--upsell'")
    if catalog is not None and not upsell:
        raise typer.BadParameter("is for --upsell (the engines' catalog)", param_hint="'--catalog'")
    if upsell and catalog is None:
        raise typer.BadParameter("needs --catalog: up-sells compare prices and categories", param_hint="'--upsell'")
    if kinds[0] == "rules":
        change = diff_rules(str(old), str(new), k=k, by=(by or DiffBy.confidence).value)
    elif upsell:
        from xsell.monitor.diff import diff_upsell

        cat = xsell.load_catalog(catalog) if catalog is not None else None
        before, after = (xsell.Engine(xsell.load_model(path), cat) for path in (old, new))
        change = diff_upsell(before, after, k=k, by=by.value if by is not None else "probability")
        change = dataclasses.replace(change, labels=(str(old), str(new)))
    else:
        change = xsell.diff(str(old), str(new), k=k, by=(by or DiffBy.score).value)
    if report is not None:
        change.write_report(report, top=top, alarm_above=fail_above)
    alarm = fail_above is not None and change.changed_share > fail_above
    reader_gone = False
    try:
        if json_:
            typer.echo(json.dumps({**change.to_dict(top=top), "fail_above": fail_above, "alarm": alarm}))
        else:
            _print_diff(change, top)
    except BrokenPipeError:  # `| head`: the alarm below still decides the exit code
        _silence_stdout()
        reader_gone = True
    if report is not None:
        _note(f"report written to {report}")
    if alarm:
        typer.echo(f"drift alarm: {change.changed_share:.1%} of the compared items changed their top {k} by more "
                   f"than half, above --fail-above {fail_above:g}", err=True)
        raise typer.Exit(3)
    if reader_gone:
        raise typer.Exit(141)


def _print_diff(change: Any, top: int) -> None:
    typer.echo(f"{change.labels[0]} -> {change.labels[1]}: {change.health()}")
    owner = "antecedents" if change.kind == "rules" else "items"
    links = "up-sells" if change.kind == "upsell" else "links"
    for title, frame in ((f"biggest movers (by {change.by})", change.movers),
                         (f"{links} entered (strongest first)", change.entered),
                         (f"{links} left (strongest before)", change.left), (f"{owner} added", change.added),
                         (f"{owner} gone", change.gone)):
        if len(frame):
            more = f", first {top:,}" if len(frame) > top else ""
            typer.echo(f"\n{title}: {len(frame):,}{more}")
            typer.echo(frame.head(top).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


@app.command()
@_handles_errors
def rules(
    orders: Annotated[Path, typer.Argument(help=_ORDER_FILES)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Rules file to write: .parquet or .csv.")],
    min_support: Annotated[float, typer.Option(help="Share of orders an itemset must be in, in (0, 1].")] = 0.001,
    min_confidence: Annotated[float, typer.Option(help="Drop rules below this confidence.")] = 0.0,
    max_len: Annotated[int, typer.Option(help="Items per rule, antecedent and consequent together.")] = 2,
    min_lift: Annotated[Optional[float], typer.Option(help="Drop rules below this lift.")] = None,
    sort: Annotated[MetricType, typer.Option(help="Metric to sort by, descending.")] = Metric["lift"],
    top: Annotated[Optional[int], typer.Option(help="Keep the first N rules after sorting.")] = None,
    drop_mirrored: Annotated[bool, typer.Option(
        "--drop-mirrored", help="Of two rules over the same items with the sides swapped (a -> b and b -> a), "
                                "keep one: the higher confidence; on a tie, the one whose antecedent holds the "
                                "smallest id. Before --sort and --top.")] = False,
    max_basket_items: Annotated[Optional[int], typer.Option(
        help="Leave out baskets with more distinct items (default: 100 when --max-len >= 3; 0 keeps every "
             "basket).")] = None,
    column: ColumnOpt = None,
    layout: LayoutOpt = Layout.lines,
    sep: SepOpt = None,
    keep_returns: KeepReturnsOpt = False,
    drop_item: DropItemOpt = None,
    keep_placeholders: KeepPlaceholdersOpt = False,
    since: SinceOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Mine association rules for review: every standard metric beside the order counts behind it
    (antecedent_count, consequent_count, count, n_orders), written to Parquet (item lists) or CSV
    (items as `a & b`)."""
    import warnings

    from xsell.mining.export import check_rules_output, mine_rules_to_file

    check_rules_output(output)  # before the orders are read
    data = _load_orders(orders, column, layout=layout, sep=sep, keep_returns=keep_returns, drop_item=drop_item,
                        keep_placeholders=keep_placeholders, since=since)
    with warnings.catch_warnings(record=True) as caught, _stages() as stage:
        warnings.simplefilter("always")
        summary = mine_rules_to_file(
            data, output, min_support=min_support, min_confidence=min_confidence, max_len=max_len,
            min_lift=min_lift, sort_by=sort.value, top=top,
            max_basket_items="auto" if max_basket_items is None else (max_basket_items or None), progress=stage,
            drop_mirrored=drop_mirrored)
    for warning in caught:  # in the CLI's words: a Python keyword is no advice to someone at a shell
        _note(f"warning: {warning.message}".replace("pass max_basket_items=None", "pass --max-basket-items 0"))
    if json_:
        typer.echo(json.dumps({"output": summary.output, "rules": summary.rules, "orders": summary.n_orders,
                               "itemsets": {str(size): count for size, count in sorted(summary.itemsets.items())},
                               "skipped_baskets": summary.skipped_baskets, "mirrored_dropped": summary.mirrored_dropped,
                               "seconds": round(summary.seconds, 3)}))
        return
    sets = ", ".join(f"{size} items: {count:,}" for size, count in sorted(summary.itemsets.items()))
    mirrored = f"; {summary.mirrored_dropped:,} mirrored rules dropped" if drop_mirrored else ""
    typer.echo(f"wrote {summary.output}: {summary.rules:,} rules from {summary.n_orders:,} orders "
               f"(frequent itemsets: {sets}{mirrored}) in {summary.seconds:.2f} s")


@app.command()
@_handles_errors
def evaluate(
    orders: Annotated[Path, typer.Argument(help=f"{_ORDER_FILES} With timestamps.")],
    models: Annotated[str, typer.Option(help=f"Comma-separated: {_MODEL_LIST} (older names {_ALIAS_LIST} still "
                                             f"work).")] = ",".join(MODELS),
    task: Annotated[Task, typer.Option(help="basket-completion (hide an item of each test order) or next-order "
                                            "(predict a customer's next order).")] = Task.basket_completion,
    split: Annotated[Split, typer.Option(help="temporal (at --quantile of order time) or leave-last-out "
                                              "(each customer's last order).")] = Split.temporal,
    k: KOpt = 10,
    quantile: Annotated[float, typer.Option(help="Train on orders before this quantile of order time.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed of the hidden-item draw and of the models.")] = 0,
    tune: Annotated[bool, typer.Option(help="Fit the hybrid's weights on a validation split of the "
                                            "training orders first.")] = False,
    threads: Annotated[int, typer.Option(help="Threads for ALS, BPR and item-KNN (0: all cores).", min=0)] = 0,
    report: Annotated[Optional[Path], typer.Option(help="Write an HTML report with plots here (needs "
                                                        "matplotlib: pip install 'xsell\\[report]').")] = None,
    column: ColumnOpt = None,
    layout: LayoutOpt = Layout.lines,
    sep: SepOpt = None,
    keep_returns: KeepReturnsOpt = False,
    drop_item: DropItemOpt = None,
    keep_placeholders: KeepPlaceholdersOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Compare models offline on your own history: a split, a task, metrics at k; optionally an HTML report."""
    import xsell
    from xsell.evaluation.runner import compare

    if report is not None:
        from xsell.evaluation.report import write_report

        if report.suffix.lower() not in (".html", ".htm"):
            raise xsell.InputError(f"--report must name an .html file, got {report}")
        if not report.parent.is_dir():
            raise xsell.InputError(f"folder does not exist: {report.parent}")
        _needs_matplotlib()
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [name for name in names if canonical_name(name) not in MODELS]
    if unknown or not names:  # before the orders are read
        raise typer.BadParameter(f"{', '.join(map(repr, unknown)) or 'none given'}: choose from {_MODEL_LIST} "
                                 f"(comma-separated)", param_hint="'--models'")
    for name in names:
        if name in ALIASES:
            _note(f"note: model {name!r} is now called {ALIASES[name]!r}; the old name still works")
    data = _load_orders(orders, column, layout=layout, sep=sep, keep_returns=keep_returns, drop_item=drop_item,
                        keep_placeholders=keep_placeholders)
    with _steps() as step:
        result = compare(data, names, k=k, task=task.value, split=split.value,
                         quantile=quantile, seed=seed, tune=tune, threads=threads, progress=step)
    for name, message in result.meta.get("skipped", {}).items():
        _note(f"skipped {name}: {message}")
    if report is not None:
        write_report(report, result.table, result.curves,
                     {**result.meta, "dataset": orders.name, "xsell_version": xsell.__version__,
                      "title": f"xsell evaluation: {orders.name}"})
    table = result.table
    if json_:
        from xsell.data.records import frame_records

        typer.echo(json.dumps({**result.meta, "results": frame_records(table)}))
        return
    what = "one hidden item each" if task is Task.basket_completion else "a customer's next order each"
    typer.echo(f"{result.meta['baskets']:,} test baskets ({what}), k={k}, split: {result.meta['split']}")
    if "tuned" in result.meta:
        typer.echo("hybrid tuned on a validation split: " +
                   ", ".join(f"{n}={v:g}" for n, v in result.meta["tuned"].items()))
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if report is not None:
        _note(f"report written to {report}")


def _needs_matplotlib() -> None:
    import importlib.util

    import xsell

    if importlib.util.find_spec("matplotlib") is None:
        raise xsell.InputError("the HTML report needs matplotlib: pip install 'xsell[report]'")


def _progress_log() -> Any:
    """Where progress goes when stderr is not a terminal: the `xsell.cli` logger (shown with -v), so a job's
    log stays quiet by default."""
    import logging

    return logging.getLogger("xsell.cli")


class _steps:
    """A progress bar over the evaluation's steps on a terminal (naming the model being trained or
    scored); log records (-v) otherwise."""

    _progress: Progress | None
    _task: TaskID

    def __enter__(self) -> Callable[[str, int, int], None]:
        self._progress = None
        if _QUIET[0]:
            return lambda text, done, total: None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            progress = self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
                "{task.completed}/{task.total}"), TimeElapsedColumn(), console=Console(stderr=True))
            progress.__enter__()
            self._task = progress.add_task("starting", total=None)

            def update(text: str, done: int, total: int) -> None:
                progress.update(self._task, description=text, completed=done, total=total)

            return update
        return lambda text, done, total: _progress_log().info("[%d/%d] %s", done, total, text)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


class _stages:
    """A spinner naming the current stage on a terminal; log records (-v) otherwise."""

    _status: Status | None

    def __enter__(self) -> Callable[[str], None]:
        self._status = None
        if _QUIET[0]:
            return lambda text: None
        if sys.stderr.isatty():
            from rich.console import Console

            status = self._status = Console(stderr=True).status("starting")
            status.__enter__()
            return lambda text: status.update(text)
        return lambda text: _progress_log().info("%s", text)

    def __exit__(self, *exc: Any) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)


@app.command("also-bought")
@_handles_errors
def also_bought(model: ModelArg, item: Annotated[str, typer.Argument(help="Item id.")],
                k: KOpt = 10, json_: JsonOpt = False) -> None:
    """Customers who bought ITEM also bought..."""
    import xsell

    result = xsell.load_model(model).also_bought(item, k=k)
    _print_frame(result.to_frame(), json_, {"item": item, "fallback": result.fallback})


@app.command()
@_handles_errors
def recommend(
    model: ModelArg,
    items: Annotated[list[str], typer.Argument(help="Item ids in the basket.", metavar="ITEM")],
    k: KOpt = 10,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Item id never to show (repeatable).")] = None,
    customer: Annotated[Optional[str], typer.Option(help="Customer id: als, bpr, itemknn and hybrid models add "
                                                         "the customer's history.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Items that complete a basket."""
    import xsell

    result = xsell.load_model(model).recommend(items, k=k, exclude=exclude or (), customer=customer)
    _print_frame(result.to_frame(), json_, {"basket": items, "fallback": result.fallback})


@app.command("for-customer")
@_handles_errors
def for_customer(
    model: ModelArg,
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    k: KOpt = 10,
    include_bought: Annotated[bool, typer.Option(help="Also show items the customer bought before.")] = False,
    json_: JsonOpt = False,
) -> None:
    """What a known customer is likely to buy next (als, bpr, itemknn and hybrid models)."""
    import xsell

    result = xsell.load_model(model).recommend_for_customer(customer, k=k, exclude_bought=not include_bought)
    _print_frame(result.to_frame(), json_, {"customer": customer, "fallback": result.fallback})


@app.command()
@_handles_errors
def score(
    model: ModelArg,
    baskets: Annotated[Path, typer.Argument(help="basket_id,item_id lines (CSV, TSV, Parquet, .xlsx, JSON Lines; "
                                                  "also .gz/.zst), in any order "
                                                  "(a file sorted by basket streams in one pass; otherwise the "
                                                  "lines are first regrouped through temporary files beside "
                                                  "the output).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .parquet or .csv, written atomically.")],
    k: KOpt = 10,
    chunk_lines: Annotated[int, typer.Option(help="Lines read and scored per chunk (memory).", min=1)] = 500_000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    mode: Annotated[Mode, typer.Option(help="recommend (the model alone), cross-sell, up-sell (the file holds "
                                            "item_id lines) or uplift (one row per basket).")] = Mode.recommend,
    catalog: Annotated[Optional[Path], typer.Option(help="Catalog file in any orders format (item_id, price, cost, "
                                                         "category, parent, in_stock...).")] = None,
    objective: Annotated[Objective, typer.Option(help="Rank by probability, revenue or margin.",
                                                 case_sensitive=False)] = Objective.revenue,
    threshold: Annotated[Optional[float], typer.Option(help="Free-shipping or minimum order value: baskets "
                                                            "below it get gap-closing items first.")] = None,
    orders: Annotated[Optional[Path], typer.Option(help="Training orders: needed by the engine for models "
                                                        "other than cooccurrence, and for data-driven "
                                                        "substitutes; read with --column, --layout, --sep, "
                                                        "--keep-returns, --drop-item, --keep-placeholders.")
                      ] = None,
    column: ColumnOpt = None,
    layout: LayoutOpt = Layout.lines,
    sep: SepOpt = None,
    keep_returns: Annotated[bool, typer.Option(help="--orders: keep lines with quantity <= 0.")] = False,
    drop_item: DropItemOpt = None,
    keep_placeholders: KeepPlaceholdersOpt = False,
    workers: Annotated[Optional[int], typer.Option(help="Processes scoring chunks in parallel (default: 2 on a "
                                                       "machine with 2 or more cores; 1: no extra process).",
                                                  min=1)] = None,
    wide: Annotated[bool, typer.Option("--wide", help="One row per basket (per item for up-sell) instead of one "
                                                      "per suggestion: item_id_1..item_id_k, then each other "
                                                      "column once per rank (probability_1..probability_k, "
                                                      "reason_1..reason_k, ...); not with uplift.")] = False,
    catalog_column: Annotated[Optional[list[str]], typer.Option(
        "--catalog-column", help="A --catalog column to add beside each suggested item, e.g. --catalog-column "
                                 "name (repeatable): category, brand, parent, in_stock, cost or any other column "
                                 "of the file.")] = None,
    reasons: Annotated[bool, typer.Option(help="Cross-sell rows carry a reason (--no-reasons: faster, smaller "
                                               "files).")] = True,
    explain: Annotated[bool, typer.Option("--explain", help="Recommend rows (the model alone) also carry the "
                                                            "model's explanation: for cooccurrence count, support, "
                                                            "confidence, lift and the basket item behind the row "
                                                            "(because); for rules the rule.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Score many baskets from a file, streaming: recommendations, cross-sells, up-sells or uplift.

    --sep sets the separator of every CSV it reads: the baskets, --catalog and --orders."""
    import xsell
    from xsell.batch import score_file
    from xsell.files import check_output_path

    check_output_path(output)  # before loading the model, catalog and orders
    if catalog_column and catalog is None:
        _fail("--catalog-column needs --catalog, the file the columns come from")
    how, rank_by = mode.value, objective.value
    if explain and (how != "recommend" or catalog is not None or threshold is not None or rank_by != "revenue"):
        raise typer.BadParameter("only for recommend rows of the model alone (--mode recommend without --catalog, "
                                 "--threshold or --objective); cross-sell and up-sell rows carry a reason",
                                 param_hint="'--explain'")

    loaded = xsell.load_model(model)
    engine = None
    if how != "recommend" or catalog is not None or threshold is not None or rank_by != "revenue":
        cat = xsell.load_catalog(catalog, sep=sep) if catalog is not None else None
        history = None if orders is None else _load_orders(
            orders, column, layout=layout, sep=sep, keep_returns=keep_returns, drop_item=drop_item,
            keep_placeholders=keep_placeholders)
        engine = xsell.Engine(loaded, cat, xsell.BusinessRules(objective=rank_by), orders=history,
                              threshold=threshold)
        if how == "recommend":
            how = "cross-sell"
    what = "items" if how == "up-sell" else "baskets"
    shape: dict[str, Any] = {"reasons": reasons, "catalog_columns": catalog_column or None, "wide": wide,
                             "sep": sep, "explain": explain}
    progress = progress and not _QUIET[0]
    if progress and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        # a CSV's size in lines is unknown until its end: the count and the elapsed time say how far it got
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} lines"),
                      TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"scoring {what}", total=None)
            summary = score_file(loaded, baskets, output, k=k, chunk_lines=chunk_lines, engine=engine, mode=how,
                                 workers=workers or min(2, os.cpu_count() or 1),
                                 progress=lambda done, total: bar.update(task, completed=done, total=total,
                                                                         refresh=True),
                                 **shape)
    else:
        summary = score_file(loaded, baskets, output, k=k, chunk_lines=chunk_lines, engine=engine, mode=how,
                             workers=workers or min(2, os.cpu_count() or 1),
                             progress=_plain_progress if progress else None, **shape)
    if json_:
        typer.echo(json.dumps({"output": summary.output, "mode": how, what: summary.baskets,
                               "lines": summary.lines, "rows": summary.rows_written,
                               "fallback_baskets": summary.fallback_baskets, "partitions": summary.partitions}))
        return
    fallback = (f" ({summary.fallback_baskets:,} with no known item got popular items)" if how == "recommend"
                else "")
    regrouped = (f" (lines of a basket were not next to each other: regrouped through {summary.partitions} "
                 f"temporary partition{'s' if summary.partitions > 1 else ''})" if summary.partitions else "")
    typer.echo(f"wrote {summary.output}: {summary.baskets:,} {what}{fallback}, {summary.rows_written:,} rows"
               f"{regrouped}")


def _plain_progress(done: int, total: int | None) -> None:
    """score's progress off a terminal: records of the `xsell.cli` logger (shown with -v)."""
    _progress_log().info("%s", f"{done:,} lines scored" if done else "lines of a basket are not next to each "
                         "other: regrouping the input by basket first")


@app.command()
@_handles_errors
def inspect(
    model: ModelArg,
    json_: JsonOpt = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Load and check every array as serving would: 'ok: ...' or the error.")] = False,
) -> None:
    """Show a model file's manifest without loading its arrays (--verify: check everything)."""
    import xsell

    if verify:
        loaded = xsell.load_model(model)
        if json_:
            typer.echo(json.dumps({"ok": True, "model_type": loaded.model_type, "items": loaded.n_items}))
        else:
            typer.echo(f"ok: {loaded.model_type} model, {loaded.n_items:,} items, all arrays valid")
        return
    manifest = xsell.inspect_model(model)
    if json_:
        typer.echo(json.dumps(manifest))
        return
    typer.echo(f"{manifest['model_type']} model, format {manifest['format_version']}, "
               f"xsell {manifest.get('xsell_version')}, created {manifest.get('created')}")
    typer.echo(f"items: {manifest['items']['count']:,}")
    for key, value in manifest["params"].items():
        typer.echo(f"  {key}: {value}")
    typer.echo("training: " + ", ".join(f"{k}={v}" for k, v in manifest["training"].items()))


@app.command()
@_handles_errors
def serve(
    model: ModelArg,
    catalog: Annotated[Optional[Path], typer.Option(help="Catalog file (CSV/Parquet: item_id, price, ...): "
                                                         "cross-sell and up-sell endpoints need it.")] = None,
    rules: Annotated[Optional[Path], typer.Option(help="Business rules (TOML): items never shown, pinned "
                                                       "items, per-category limits.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one, named in the start-up "
                                                             "line).")] = 8000,
    reload_interval: Annotated[float, typer.Option(
        min=0.0, help="Seconds between checks for a replaced model, catalog or rules file (0: never reload).")] = 2.0,
    threshold: Annotated[Optional[float], typer.Option(help="Free-shipping threshold for the gap closer.")] = None,
    mmap: Annotated[bool, typer.Option(help="Memory-map the model file (pages shared between servers).")] = False,
    access_log: Annotated[bool, typer.Option(help="One log line per request.")] = True,
) -> None:
    """Serve MODEL over HTTP (FastAPI; needs the serve extra): also-bought, recommend, cross-sell, up-sell,
    health and ready endpoints, hot reload of replaced files. Stop with Ctrl-C."""
    from xsell.serve import run

    run(model, catalog=catalog, rules=rules, host=host, port=port,
        reload_interval=reload_interval if reload_interval > 0 else None, threshold=threshold, mmap=mmap,
        access_log=access_log)


@app.command()
@_handles_errors
def demo(
    orders: Annotated[Optional[Path], typer.Option(help="Run on your own order file instead.")] = None,
    column: ColumnOpt = None,
    layout: LayoutOpt = Layout.lines,
    sep: SepOpt = None,
    keep_returns: Annotated[bool, typer.Option(help="--orders: keep lines with quantity <= 0.")] = False,
    drop_item: DropItemOpt = None,
    keep_placeholders: KeepPlaceholdersOpt = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic shop.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Fit on a built-in synthetic shop (no download) and show recommendations."""
    from xsell.demo import demo_json, run_demo

    data = None if orders is None else _load_orders(  # its load report is one of the demo's lines
        orders, column, layout=layout, sep=sep, keep_returns=keep_returns, drop_item=drop_item,
        keep_placeholders=keep_placeholders, note=False)
    if json_:
        typer.echo(json.dumps(demo_json(data, seed=seed)))
        return
    for line in run_demo(data, seed=seed):
        typer.echo(line)


@app.command()
def version(json_: JsonOpt = False) -> None:
    """Print xsell's version."""
    from xsell import __version__

    typer.echo(json.dumps({"version": __version__}) if json_ else __version__)


class _Signalled(BaseException):
    """Raised in the main thread by SIGINT, SIGTERM or SIGHUP, so that every `finally` runs
    (temporary files removed, worker processes stopped) before the command exits.
    Not a KeyboardInterrupt: click would turn that into a silent exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_on_signals() -> dict[int, Any]:
    """Install the handlers; returns the previous ones. A signal within a second of the one before
    is ignored, so that a second Ctrl-C cannot cut the cleanup short (it takes milliseconds); a
    later one raises again, in case Python swallowed the first (raised inside a finalizer)."""
    import signal
    import time

    names = [n for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    last = [-1e9]

    def handler(signum: int, frame: Any) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0:
            return
        last[0] = now
        raise _Signalled(signum)

    return {number: signal.signal(number, handler) for number in (getattr(signal, n) for n in names)}


def main() -> None:
    """Console entry point. Every failure is one line on stderr, never a traceback:
    exit 1 for an error in the data or files (XsellError, OSError), 2 for a usage error (missing
    argument, unknown option, bad option value), 128 + the signal's number when stopped by a
    signal: 130 for Ctrl-C ("error: interrupted"), 143 for SIGTERM and 129 for SIGHUP
    ("error: interrupted by SIGTERM"); temporary files are removed and worker processes stopped
    first."""
    import signal

    previous = _raise_on_signals()
    try:
        code = app(prog_name="xsell", standalone_mode=False)  # returns the exit code, not exits
    except _Signalled as exc:
        name = signal.Signals(exc.signum).name
        typer.echo("error: interrupted" if exc.signum == signal.SIGINT else f"error: interrupted by {name}",
                   err=True)
        # every `finally` has run (temporary files gone, workers killed); what is left of a normal
        # exit (freeing a large heap, joining the pool's threads) took 0.6-1 s: exit now instead
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing more to say
                pass
        os._exit(128 + exc.signum)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        raise SystemExit(1) from None
    except Exception as exc:  # click's usage errors (typer vendors click: match by interface)
        if not hasattr(exc, "format_message"):
            typer.echo(f"error: unexpected {type(exc).__name__}: {exc} (please report this)", err=True)
            raise SystemExit(1) from None
        # click 8.5 words a bad choice "Value error, 'x' is not one of ...": the first two words say nothing
        message = " ".join(exc.format_message().split()).replace("Value error, ", "", 1)
        if not message:  # `xsell` alone: the help was shown, nothing went wrong
            raise SystemExit(0) from None
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {message}{hint}", err=True)
        exit_code = getattr(exc, "exit_code", 1)  # click: 2 for usage errors, 1 for its file errors
        raise SystemExit(exit_code if isinstance(exit_code, int) and exit_code > 0 else 1) from None
    finally:
        for number, handler in previous.items():
            if handler is not None:  # None: installed outside Python; leave ours
                signal.signal(number, handler)
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
