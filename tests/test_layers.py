"""The package's layers hold (reconciler/__init__.py states them): who may import whom,
who may import mlflow (and only lazily), and no import cycles. Read from the source with
``ast``, so a rule broken anywhere, even inside a function, fails here."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "reconciler"

ALLOWED = {
    "errors": set(),
    "state": {"errors"},
    "core": {"errors", "state"},
    "mlflow": {"errors", "state", "core"},
    "render": {"errors", "state", "core"},
    "training": {"errors", "state", "core", "mlflow"},
    "demo": {"errors", "state", "core", "mlflow", "training"},
    "api": {"errors", "state", "core", "mlflow", "render"},
    "logged_apply": {"errors", "state", "core", "mlflow", "render"},
    "serve": {"errors", "state", "core", "mlflow", "render", "api", "logged_apply"},
    "cli": {
        "package",
        "serve",
        "errors",
        "state",
        "core",
        "mlflow",
        "render",
        "api",
        "logged_apply",
        "demo",
        "training",
    },
    "package": set(),
}
"""Layer -> the other layers it may import (its own modules always)."""
MLFLOW_USERS = {"mlflow", "training", "demo"}
"""Layers that may import mlflow itself: the adapter, and the demo's own training."""


@functools.cache
def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def layer(module: str) -> str:
    """``reconciler.core.plan`` -> core; ``reconciler.api`` -> api; ``reconciler`` -> package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def imports(path: Path) -> Iterator[tuple[str, ast.stmt, bool]]:
    """(imported name, statement, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, id(node) in top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            known = modules()
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield (full if full in known else node.module), node, id(node) in top


def graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module level or inside functions)."""
    known = modules()
    return {
        name: {n for n, _, _ in imports(path) if n in known and n != name}
        for name, path in known.items()
    }


def test_each_layer_imports_only_the_layers_below_it() -> None:
    """core/ and state/ import nothing from mlflow/, render/ or cli/; state/ nothing from
    core/; render/ neither cli/ nor mlflow/; only cli/ imports cli/ (see ALLOWED)."""
    broken = [
        f"{name} imports {dep}"
        for name, deps in graph().items()
        for dep in sorted(deps)
        if layer(dep) != layer(name) and layer(dep) not in ALLOWED[layer(name)]
    ]
    assert broken == []


def test_every_module_belongs_to_a_known_layer() -> None:
    """A new folder or top-level module gets its rule here before it lands."""
    assert {layer(m) for m in modules()} <= set(ALLOWED)


def test_only_the_adapter_and_the_demo_training_import_mlflow_and_only_lazily() -> None:
    """mlflow is imported in mlflow/, training.py and demo.py, always inside a function
    (validate, promote and friends never pay for it); nowhere else."""
    found = [
        (name, line.lineno, at_top)
        for name, path in modules().items()
        for imported, line, at_top in imports(path)
        if imported == "mlflow" or imported.startswith("mlflow.")
    ]
    assert found, "the adapter imports mlflow somewhere"
    assert [f for f in found if layer(f[0]) not in MLFLOW_USERS] == []
    assert [f for f in found if f[2]] == []


def in_cycles(edges: Mapping[str, set[str]]) -> list[str]:
    """The modules that reach themselves through the imports they make (at any depth)."""
    found = []
    for start in sorted(edges):
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            module = todo.pop()
            if module == start:
                found.append(start)
                break
            if module not in seen:
                seen.add(module)
                todo.extend(edges.get(module, ()))
    return found


def test_there_are_no_import_cycles() -> None:
    """No module of the package reaches itself through its imports, lazy ones included."""
    assert in_cycles(graph()) == []


def test_the_checks_see_a_breach(tmp_path: Path) -> None:
    """The walker sees a lazy import inside a function, and a cycle three modules deep
    is found (the checks above are not vacuous)."""
    assert in_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from reconciler.cli import console\n", encoding="utf-8")
    found = list(imports(source))
    assert [(n, top) for n, _, top in found] == [("reconciler.cli.console", False)]
    assert layer("reconciler.cli.console") not in ALLOWED["core"]
