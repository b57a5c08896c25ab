"""mkdocs hook: pages generated or adapted at build time, so the site cannot drift from the code.

- `cli.md`: its marker line becomes the Markdown that `typer xsell.cli utils docs` writes for the
  installed `xsell` command (every command, argument, option, choice and default), headings one
  level down under the page's title. A failure to generate fails the build.
- `guide.md` and `changelog.md`: their marker line becomes README.md or CHANGELOG.md, whole, where a
  list that starts right under a paragraph gets the blank line before it that Python-Markdown needs
  and GitHub does not.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

CLI_MARKER = "<!-- xsell-cli-reference -->"
INCLUDED = {"guide.md": "README.md", "changelog.md": "CHANGELOG.md"}  # page -> file of the repository root
_LIST_ITEM = re.compile(r"(?:[-*+]|\d+\.) ")
_NOT_PROSE = re.compile(r"(?:\s|[-*+] |\d+\. |\||#|>|```)")


def _cli_markdown() -> str:
    command = [sys.executable, "-m", "typer", "xsell.cli", "utils", "docs", "--name", "xsell"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])  # the end of a traceback says what broke
        raise PluginError(f"{' '.join(command[1:])} failed (exit {done.returncode}):\n{tail}")
    lines = []
    fenced = False
    for line in done.stdout.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#+ ", line):
            line = "#" + line  # the page's own title stays the only level-1 heading
        lines.append(line)
    return "\n".join(lines) + "\n"


def _lists_after_paragraphs(markdown: str) -> str:
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and _LIST_ITEM.match(line) and out and out[-1].strip() and not _NOT_PROSE.match(out[-1]):
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def _fill(markdown: str, page: str, marker: str, text: str) -> str:
    if marker not in markdown:
        raise PluginError(f"docs/{page} has lost its marker line {marker}")
    return markdown.replace(marker, text)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    if page.file.src_uri == "cli.md":
        return _fill(markdown, "cli.md", CLI_MARKER, _cli_markdown())
    if page.file.src_uri in INCLUDED:
        name = INCLUDED[page.file.src_uri]
        text = (Path(config["config_file_path"]).parent / name).read_text("utf-8")
        return _fill(markdown, page.file.src_uri, f"<!-- include {name} -->", _lists_after_paragraphs(text))
    return markdown
