"""One self-contained HTML page comparing recommendation models evaluated offline.

write_report(path, results, curves, meta) writes, atomically:
  header     title and the run's facts from `meta` (dataset, task, split, k, baskets,
             train/test orders, seed, xsell version, tuned parameters), all escaped
  how to read  one line per metric
  table      `results`, one row per model, numbers to 4 significant digits; the best value
             of each "higher is better" metric in bold (not popularity, fit_s, score_s;
             nothing is bold when every model scores the same)
  plots      metrics at k (small multiples, one line per model), accuracy against coverage
             at the report's k (from `results`), revenue at k when there is any
Plots are base64 PNGs inside the page: no links, scripts, fonts or images outside it.
matplotlib (extra xsell[report]) is imported only here, through Figure and FigureCanvasAgg:
no pyplot, so no global state, no display and nothing left open.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from xsell.errors import InputError
from xsell.files import atomic_write

COLUMNS = ["model", "hit_rate", "precision", "recall", "ndcg", "mrr", "map", "coverage", "popularity",
           "revenue", "fit_s", "score_s"]
HIGHER_IS_BETTER = ["hit_rate", "precision", "recall", "ndcg", "mrr", "map", "coverage", "revenue"]
PANELS = ["hit_rate", "recall", "ndcg", "mrr", "map", "precision"]
CURVE_COLUMNS = ["model", "k", "metric", "value"]
META = [("dataset", "Dataset"), ("task", "Task"), ("split", "Split"), ("k", "k"), ("baskets", "Test baskets"),
        ("train_orders", "Training orders"), ("test_orders", "Test orders"), ("seed", "Seed"),
        ("xsell_version", "xsell version"), ("tuned", "Tuned parameters")]
HOW_TO_READ = [
    ("hit rate", "share of baskets with a hidden item in the top k"),
    ("precision", "hits divided by k"),
    ("recall", "hits divided by the number of hidden items"),
    ("ndcg", "hits discounted by rank (log2), against the best possible order"),
    ("mrr", "mean of 1 / rank of the first hit (0 without a hit)"),
    ("map", "mean average precision at k over baskets"),
    ("coverage", "share of the catalog recommended at least once"),
    ("popularity", "mean training popularity of recommended items (lower means less obvious picks)"),
    ("revenue", "price of the hidden items hit, summed over baskets"),
    ("fit_s, score_s", "seconds spent training and scoring"),
]
CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse}th,td{padding:.3em .7em;border-bottom:1px solid #ddd}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}"""


def _fmt(value: Any) -> str:
    """4 significant digits; large numbers with thousands separators instead of an exponent."""
    v = float(value)
    if not math.isfinite(v):
        return "n/a" if math.isnan(v) else str(v)
    if abs(v) >= 1e4:
        return f"{float(f'{v:.4g}'):,.0f}"
    return f"{v:.4g}"


def _meta_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _label(name: Any) -> str:
    """A model name as matplotlib text: '$' would otherwise start mathtext."""
    return str(name).replace("$", r"\$")


def _load_matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("the HTML report needs matplotlib: pip install 'xsell[report]'") from None
    return Figure, FigureCanvasAgg


def _lines(ax: Any, curves: pd.DataFrame, metric: str, models: list[str], color: dict[str, str]) -> None:
    """One line per model (in report order) of `metric` against k, on integer k ticks."""
    from matplotlib.ticker import MaxNLocator

    part = curves[curves["metric"] == metric]
    for model in models:
        line = part[part["model"] == model]
        if len(line):
            ax.plot(line["k"], line["value"], marker="o", ms=3, color=color[model], label=_label(model))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("k")
    ax.grid(alpha=0.3)


def _png(fig: Any, canvas_cls: Any) -> str:
    canvas_cls(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(results: pd.DataFrame, curves: pd.DataFrame, k: Any) -> list[tuple[str, str]]:
    """(title, base64 PNG) for each plot the data allows."""
    figure_cls, canvas_cls = _load_matplotlib()
    models = list(dict.fromkeys([*results["model"].astype(str), *curves["model"].astype(str)]))
    color = {m: f"C{i % 10}" for i, m in enumerate(models)}
    curves = curves.assign(model=curves["model"].astype(str)).sort_values("k", kind="stable")
    out = []
    panels = [m for m in PANELS if m in set(curves["metric"])]
    if panels:
        ncols = min(3, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        fig = figure_cls(figsize=(3.6 * ncols, 2.7 * nrows + 0.5), dpi=100, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, metric in zip(axes, panels):
            _lines(ax, curves, metric, models, color)
            ax.set_title(metric)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(models), 6))
        out.append(("Metrics at k", _png(fig, canvas_cls)))
    fig = figure_cls(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.subplots()
    for _, row in results.iterrows():
        x, y, name = float(row["coverage"]), float(row["hit_rate"]), str(row["model"])
        ax.scatter([x], [y], color=color[name], s=40)
        ax.annotate(_label(name), (x, y), xytext=(5, 5), textcoords="offset points")
    ax.margins(0.15)
    ax.set_xlabel("coverage (share of catalog recommended)")
    ax.set_ylabel("hit rate")
    ax.grid(alpha=0.3)
    out.append((f"Accuracy against coverage at k={k}", _png(fig, canvas_cls)))
    revenue = curves[curves["metric"] == "revenue"]
    if len(revenue) and revenue["value"].fillna(0).ne(0).any():
        fig = figure_cls(figsize=(6, 4), dpi=100, layout="constrained")
        ax = fig.subplots()
        _lines(ax, curves, "revenue", models, color)
        ax.set_ylabel("revenue of hidden items hit")
        ax.legend()
        out.append(("Revenue at k", _png(fig, canvas_cls)))
    return out


def _table(results: pd.DataFrame) -> str:
    best = {}
    for col in HIGHER_IS_BETTER:
        values = results[col]
        if values.notna().any() and values.max() > values.min():
            best[col] = values.max()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    rows = []
    for _, row in results.iterrows():
        cells = [f"<td>{html.escape(str(row['model']))}</td>"]
        for col in COLUMNS[1:]:
            text = html.escape(_fmt(row[col]))
            if col in best and row[col] == best[col]:
                text = f"<b>{text}</b>"
            cells.append(f'<td class="num">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def _task_text(meta: dict[str, Any]) -> str:
    train = ("the orders before each customer's last one" if str(meta.get("split", "")).startswith("leave")
             else "the earlier orders")
    if meta.get("task") == "next-order":
        return f"Each model is trained on {train} and asked to predict each test order from its customer alone."
    return f"Each model is trained on {train} and asked to complete test baskets from which items were hidden."


def write_report(path: str | os.PathLike[str], results: pd.DataFrame, curves: pd.DataFrame | None,
                 meta: dict[str, Any] | None = None) -> Path:
    """Write the HTML comparison of `results` (one row per model) and `curves` (metrics at k) to `path`."""
    meta = dict(meta or {})
    missing = [c for c in COLUMNS if c not in results.columns]
    if missing:
        raise InputError(f"results lack the column(s) {', '.join(missing)}")
    if results.empty:
        raise InputError("no models to report")
    if curves is None:
        curves = pd.DataFrame(columns=CURVE_COLUMNS)
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise InputError(f"curves lack the column(s) {', '.join(missing)}")
    try:
        results = results.assign(**{c: pd.to_numeric(results[c]).astype(float) for c in COLUMNS[1:]})
        curves = curves.assign(k=pd.to_numeric(curves["k"]), value=pd.to_numeric(curves["value"]).astype(float))
    except (ValueError, TypeError) as exc:
        raise InputError(f"results and curves need numeric metric values ({exc})") from None
    k = meta.get("k", int(curves["k"].max()) if len(curves) else "?")
    plots = _plots(results, curves, k)
    title = html.escape(str(meta.get("title") or "xsell model comparison"))
    facts = "".join(f"<dt>{label}</dt><dd>{html.escape(_meta_value(meta[key]))}</dd>"
                    for key, label in META if meta.get(key) is not None)
    guide = "".join(f"<li><b>{name}</b>: {html.escape(text)}</li>" for name, text in HOW_TO_READ)
    figures = "".join(f'<h2>{html.escape(name)}</h2>\n<img alt="{html.escape(name)}" '
                      f'src="data:image/png;base64,{data}">\n' for name, data in plots)
    body = (f"<dl>{facts}</dl>\n"
            f"<h2>How to read this</h2>\n<p>{html.escape(_task_text(meta))} Metrics are at k = "
            f"{html.escape(str(k))}. "
            f"Bold marks the best value where higher is better.</p>\n<ul>{guide}</ul>\n"
            f"<h2>Results</h2>\n{_table(results)}\n{figures}")
    return write_page(path, title, body)


def write_page(path: str | os.PathLike[str], title: str, body: str, css: str = CSS) -> Path:
    """One self-contained HTML page (`title` already escaped, `body` HTML), written atomically: what every
    report of xsell writes (the evaluation here, the model diff in xsell.monitor.report)."""
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"<style>{css}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n")

    def write(tmp: str) -> None:
        Path(tmp).write_text(page, encoding="utf-8")

    atomic_write(path, write)
    return Path(path)
