"""griffe extension: render xsell's plain-prose docstrings with the line structure they were written in.

xsell's docstrings are prose with `code` in backticks, not Google or NumPy sections, so mkdocstrings
renders them as Markdown (`docstring_style: null`). Markdown would join every line of a paragraph;
where the author's lines carry meaning, this extension keeps them, changing no word:

- a line that starts with a label (`min_price, max_price: ...`, `in_stock_only (default True): ...`)
  right after a line that ends a sentence or clause starts a new line (a Markdown hard break);
  a bare `__init__` in prose is shown as code, not as a bold "init";
- lines indented under a line ending in ":" (a table of roles, formulas, a file layout) become a
  text block, aligned as written;
- a paragraph of labels whose text runs on in indented lines (`basket_completion: in each ...` /
  `    training, hide ...`) becomes a list, one item per label, its lines joined;
- a list (`- `, `1. `) that starts right under a line of prose gets the blank line Markdown needs.

Lines that simply wrap a sentence still flow as one paragraph.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_NAME = r"`?[A-Za-z_][\w.]*`?(?:\(\))?"
_LABEL = re.compile(rf"^{_NAME}(?:\s*(?:,|/|or|and)\s*{_NAME})*(?:\s+\([^()]*\))?:(?:\s|$)")
_LIST_ITEM = re.compile(r"^(?:[-*]|\d+\.)\s")
_COLUMN_GAP = re.compile(r"\S {2,}\S")
_SENTENCE_END = (".", ";", ":", "!", "?", ")")
_DUNDER = re.compile(r"(`[^`]*`)|(?<![\w\\])(__\w+__)(?!\w)")  # a code span, or a bare __name__


def _indented(line: str) -> bool:
    return line.startswith(" ") and bool(line.strip())


def _code_dunders(line: str) -> str:
    # Markdown would make `__init__` a bold "init"
    return _DUNDER.sub(lambda m: m.group(1) or f"`{m.group(2)}`", line)


def _prose(lines: list[str]) -> list[str]:
    out = [_code_dunders(line) for line in lines]
    for i in range(1, len(out)):
        before = out[i - 1].rstrip()
        if _LABEL.match(out[i]) and before.endswith(_SENTENCE_END):
            out[i - 1] = before + "  "  # two trailing spaces: a Markdown line break
    return out


def _fence(lines: list[str]) -> list[str]:
    return ["", "```text", *textwrap.dedent("\n".join(lines)).splitlines(), "```", ""]


def _columns(lines: list[str]) -> bool:
    """Lines laid out in columns (`hit_rate   share of ...`), not text that runs on."""
    return any(_COLUMN_GAP.search(line) for line in lines)


def _entries(lines: list[str]) -> list[list[str]]:
    """Each line that is not indented, with the indented lines under it."""
    entries: list[list[str]] = []
    for line in lines:
        if _indented(line) and entries:
            entries[-1].append(line)
        else:
            entries.append([line])
    return entries


def _hanging(entries: list[list[str]]) -> list[str]:
    # `name: text` lines whose text runs on, indented, below them: a list, one item per name
    out = [""]
    for head, *rest in entries:
        if rest and head.rstrip().endswith(":") and _columns(rest):
            out += [f"- {_code_dunders(head)}", "", *("    " + line for line in _fence(rest)[1:])]
        else:
            out.append("- " + " ".join(_code_dunders(part.strip()) for part in [head, *rest]))
    return [*out, ""]


def _paragraph(lines: list[str]) -> list[str]:
    if _LIST_ITEM.match(lines[0]) or lines[0].startswith(" "):
        return lines  # a list, or an indented block Markdown already keeps as code
    start = next((i for i, line in enumerate(lines) if i > 0 and _LIST_ITEM.match(line)), None)
    if start is not None:
        return [*_paragraph(lines[:start]), "", *lines[start:]]
    entries = _entries(lines)
    if any(rest and not head.rstrip().endswith(":") for head, *rest in entries):
        return _hanging(entries)
    out: list[str] = []
    prose: list[str] = []
    for head, *rest in entries:
        prose.append(head)
        if rest:  # lines set out under "...:": a table, formulas, a layout
            out += [*_prose(prose), *_fence(rest)]
            prose = []
    return out + _prose(prose)


def render(text: str) -> str:
    """The docstring `text` as Markdown that shows its line structure."""
    out: list[str] = []
    paragraph: list[str] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or line.lstrip().startswith("```"):
            if paragraph:
                out += _paragraph(paragraph)
                paragraph = []
            out.append(line)
        elif line.strip():
            paragraph.append(line)
        else:
            if paragraph:
                out += _paragraph(paragraph)
                paragraph = []
            out.append("")
    return "\n".join(out).strip("\n")


class PlainDocstrings(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Any] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias or id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = render(obj.docstring.value)
            stack.extend(obj.members.values())
