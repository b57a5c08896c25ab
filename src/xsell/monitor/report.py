"""One self-contained HTML page showing what a model (or rule set) learned differently.

write_diff_report(diff, path, top=50) writes, atomically:
  header     the two sides, k, what ranks the movers, and the health line in a box (red when the share
             of compared items whose top k changed by more than half is above `alarm_above`, by default
             a third; `xsell diff --fail-above` passes its threshold; else green)
  summary    the counts of `ModelDiff.summary`
  plot       the distribution of overlap@k (Jaccard of each item's two top-k lists), as a histogram
  tables     biggest movers, links entered and left (strongest first), items added and gone: the
             first `top` rows of each, numbers to 4 significant digits, every id escaped
Like the evaluation report: a base64 PNG inside the page, no links, scripts or fonts outside it;
matplotlib (xsell[report]) through Figure and FigureCanvasAgg only.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell.errors import InputError
from xsell.evaluation.report import CSS, _fmt, _load_matplotlib, _png, write_page

if TYPE_CHECKING:
    from xsell.monitor.diff import ModelDiff

ALARM_SHARE = 1 / 3  # the report's box turns red above this share of changed items
EXTRA_CSS = """.health{padding:.7em 1em;border-radius:6px;font-weight:600}.ok{background:#e6f4ea;color:#1e4620}
.alarm{background:#fce8e6;color:#7a1c13}p.note{color:#555}"""
SUMMARY = [("items_old", "Items (old)"), ("items_new", "Items (new)"), ("added", "Added"), ("gone", "Gone"),
           ("compared", "Compared"), ("changed", "Changed by more than half"), ("overlap_mean", "Mean overlap@k"),
           ("overlap_median", "Median overlap@k"), ("links_old", "Links (old)"), ("links_new", "Links (new)"),
           ("stayed", "Links in both"), ("entered", "Links entered"), ("left", "Links left"),
           ("tie_swaps", "Ties swapped at the last place"),
           ("rules_old", "Rules (old)"), ("rules_new", "Rules (new)"), ("rules_added", "Rules added"),
           ("rules_gone", "Rules gone")]


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return _fmt(value)
    return str(value)


def _table(frame: pd.DataFrame, top: int, total: int) -> str:
    if frame.empty:
        return '<p class="note">none</p>'
    part = frame.head(top)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in part.columns)
    numeric = [pd.api.types.is_numeric_dtype(part[c]) and not pd.api.types.is_bool_dtype(part[c])
               for c in part.columns]
    rows = []
    for values in zip(*(part[c].tolist() for c in part.columns)):
        cells = "".join(f'<td class="num">{html.escape(_cell(v))}</td>' if num else f"<td>{html.escape(_cell(v))}</td>"
                        for v, num in zip(values, numeric))
        rows.append(f"<tr>{cells}</tr>")
    more = f'<p class="note">first {top:,} of {total:,} rows</p>' if total > top else ""
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>" + more


def _paired(frame: pd.DataFrame) -> pd.DataFrame:
    """Movers with each `x_old`, `x_new` pair shown as one column `x` reading "old → new" (half as wide)."""
    out = {}
    for column in frame.columns:
        name = str(column)
        if name.endswith("_new") and f"{name[:-4]}_old" in frame.columns:
            continue
        if name.endswith("_old") and f"{name[:-4]}_new" in frame.columns:
            old, new = frame[column].tolist(), frame[f"{name[:-4]}_new"].tolist()
            out[name[:-4]] = [f"{_cell(a)} \u2192 {_cell(b)}" for a, b in zip(old, new)]
        else:
            out[name] = frame[column].tolist()
    return pd.DataFrame(out, columns=list(out))


def _overlap_plot(change: "ModelDiff") -> str | None:
    if change.items.empty:
        return None
    figure_cls, canvas_cls = _load_matplotlib()
    fig = figure_cls(figsize=(6.5, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.hist(change.items["overlap"].to_numpy(dtype=float), bins=np.linspace(0, 1, 21), color="C0",
            edgecolor="white")
    ax.set_xlabel(f"overlap@{change.k} (Jaccard of the old and new top {change.k})")
    ax.set_ylabel("antecedents" if change.kind == "rules" else "items")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    return _png(fig, canvas_cls)


def write_diff_report(change: "ModelDiff", path: str | os.PathLike[str], top: int = 50,
                      alarm_above: float | None = None) -> Path:
    """Write the HTML page of `change` (a ModelDiff) to `path`; see the module docstring."""
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise InputError(f"top must be a whole number >= 1, got {top!r}")
    if Path(path).suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the diff report must be an .html file, got {path}")
    plot = _overlap_plot(change)
    s = change.summary
    what = {"rules": "rule sets", "upsell": "engines"}.get(change.kind, "models")
    title = f"xsell diff: {change.labels[0]} -> {change.labels[1]}"
    alarm = s["changed_share"] > (ALARM_SHARE if alarm_above is None else alarm_above)
    facts = "".join(f"<dt>{label}</dt><dd>{html.escape(_cell(s[key]))}</dd>" for key, label in SUMMARY
                    if key in s and not (isinstance(s[key], float) and np.isnan(s[key])))
    owner = "antecedent" if change.kind == "rules" else "item"
    how = (f"Each {owner}'s top {change.k} " +
           {"rules": "consequents by confidence", "upsell": "up-sells (what up_sell(item) answers)"}.get(
               change.kind, "(what recommend([item]) answers)") +
           f" in the old and the new {what[:-1]}. Overlap@{change.k} is the Jaccard index of the two lists; an "
           f"{owner} changed by more than half when fewer than half of its longer list's links are in both. "
           f"Movers are links in both lists, by the change of {change.by}.")
    sections = [("Biggest movers", _paired(change.movers.head(top))), ("Links entered (strongest first)", change.entered),
                ("Links left (strongest before)", change.left), (f"{owner.capitalize()}s added", change.added),
                (f"{owner.capitalize()}s gone", change.gone)]
    sizes = [len(change.movers), len(change.entered), len(change.left), len(change.added), len(change.gone)]
    body = "".join(f"<h2>{html.escape(name)} ({size:,})</h2>\n{_table(frame, top, size)}\n"
                   for (name, frame), size in zip(sections, sizes))
    figure = (f'<h2>Overlap@{change.k} per {owner}</h2>\n<img alt="overlap distribution" '
              f'src="data:image/png;base64,{plot}">\n') if plot else ""
    return write_page(path, html.escape(title),
                      f'<p class="health {"alarm" if alarm else "ok"}">{html.escape(change.health())}</p>\n'
                      f"<p>{html.escape(how)}</p>\n<dl>{facts}</dl>\n{figure}{body}", css=f"{CSS}\n{EXTRA_CSS}")
