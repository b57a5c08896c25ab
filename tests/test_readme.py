"""The newcomer path: README opens with the two set-up commands and CI runs the second as written."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_setup_commands():
    assert _setup_commands() == ["pip install . && xsell demo", "pip install -e '.[test]' && pytest"]
    assert (ROOT / "README.md").read_text().startswith("# xsell\n\n```bash\n")


def test_ci_runs_the_readme_test_command_as_written():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _setup_commands()[1] in ci
