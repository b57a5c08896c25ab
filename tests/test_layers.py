"""The package's layers: a module imports only from its own layer or lower ones, so a change low down
never has to know what sits above it (mining does not import models; io reaches models only through
the registry and the declared schema; the engine only through the models' public protocol)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "xsell"

# lowest first; a module's layer is that of its longest matching prefix
LAYERS = [
    ["xsell.errors", "xsell.checks", "xsell.files", "xsell.kernels", "xsell.names"],
    ["xsell.data"],
    ["xsell.mining"],
    ["xsell.models"],
    ["xsell.io"],
    ["xsell.engine"],
    ["xsell.batch", "xsell.evaluation", "xsell.datasets", "xsell.serve", "xsell.monitor"],
    ["xsell.demo", "xsell.cli", "xsell.config", "xsell.__main__"],
]
# io may use the registry and the schema of models/, the base class for isinstance, nothing else
ALLOWED = {"xsell.io": {"xsell.models.registry", "xsell.models.schema", "xsell.models.base"}}


def layer(module: str) -> int:
    best, found = -1, -1
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), rank
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "xsell":  # the package root re-exports everything lazily
            out.append((name, path))
    return out


def imports(path: Path, name: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("xsell")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("xsell"):
            module = node.module or ""
            if module == "xsell":  # `from xsell import __version__` (or a submodule by name)
                found |= {f"xsell.{a.name}" for a in node.names if a.name != "__version__"}
            else:
                found.add(module)
    return found


@pytest.mark.parametrize("name, path", modules(), ids=[n for n, _ in modules()])
def test_a_module_imports_only_its_own_layer_or_lower(name: str, path: Path) -> None:
    own = layer(name)
    assert own >= 0, f"{name} is in no layer: add it to LAYERS"
    upward = sorted(m for m in imports(path, name)
                    if layer(m) > own and m not in ALLOWED.get(name, set()))
    assert upward == [], f"{name} (layer {own}) imports from higher layers: {upward}"


def test_io_reaches_models_only_through_registry_schema_and_base() -> None:
    used = {m for m in imports(PACKAGE / "io.py", "xsell.io") if m.startswith("xsell.models")}
    assert used <= ALLOWED["xsell.io"], used


def test_the_engine_calls_no_private_member_of_a_model() -> None:
    for path in sorted((PACKAGE / "engine").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                owner = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                assert owner not in ("model", "recs", "ev", "evidence"), \
                    f"{path.name}:{node.lineno}: {owner}.{node.attr} is a private member of a model"


def test_io_calls_no_private_member_of_a_model() -> None:
    tree = ast.parse((PACKAGE / "io.py").read_text())
    private = [f"io.py:{node.lineno}: {node.value.id}.{node.attr}" for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
               and node.value.id in ("model", "cls") and node.attr.startswith("_")]
    assert private == []


@pytest.mark.parametrize("name, path", [(n, p) for n, p in modules() if n != "xsell.cli"],
                         ids=[n for n, _ in modules() if n != "xsell.cli"])
def test_the_library_never_prints_or_writes_to_the_standard_streams(name: str, path: Path) -> None:
    """Library progress and notes go to the `xsell` logger; only the command line (xsell.cli) prints."""
    said = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            said.append(f"print() at line {node.lineno}")
        if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            said.append(f"sys.{node.attr} at line {node.lineno}")
    assert said == []
