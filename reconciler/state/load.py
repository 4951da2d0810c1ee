"""Load the desired state from YAML files: discovery, parsing, schema, cross-file rules.

Everything here is offline; ``validate`` is exactly this module. Errors name the
file and line a reviewer must fix, never a Python traceback, and all of them are
reported in one run: a file that does not parse does not hide the errors of the
others (``StateErrors``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import StateError, StateErrors
from reconciler.state.desired import DesiredState, Source
from reconciler.state.explain import schema_errors
from reconciler.state.models import (
    ModelSpec,
    StateFile,
    check_registry,
    check_workspace,
    from_prompt,
    ignore_conflicts,
)
from reconciler.state.scope import StateSet
from reconciler.state.yamlsafe import Document, parse, read_text

__all__ = ["DesiredState", "Source", "StateSet", "load_state"]


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def require_state(state: Path) -> None:
    """Refuse a state path that does not exist, saying how to point at or create one."""
    if state.exists() or state.is_symlink():
        return
    where = display_path(state)
    out = where if state.suffix in (".yaml", ".yml") else f"{where.rstrip('/')}/models.yaml"
    raise StateError(
        f"state path {where} does not exist: pass --state with your state file or "
        f"directory, or create it from the registry with `reconciler import --out {out}`"
    )


def find_state_files(state: Path) -> tuple[Path, list[Path]]:
    """The state root and the YAML files under it, sorted by path.

    Every directory that cannot be read is a located error (all of them, in one run).
    """
    check_state_root(state)
    require_state(state)
    if state.is_dir():
        root = _resolve(state)
        files: list[Path] = []
        errors: list[StateError] = []

        def unreadable(exc: OSError) -> None:
            where = display_path(Path(exc.filename)) if exc.filename else display_path(state)
            errors.append(StateError(f"cannot read the directory: {exc.strerror}", file=where))

        for dirpath, dirnames, filenames in os.walk(state, onerror=unreadable, followlinks=False):
            dirnames.sort()
            for name in [*dirnames, *filenames]:
                path = Path(dirpath, name)
                if path.is_symlink():
                    _check_inside(path, root)
            files.extend(Path(dirpath, f) for f in filenames if f.endswith((".yaml", ".yml")))
        if errors:
            raise StateErrors(errors)
        return state, sorted(files)
    root = _resolve(state.parent)
    _check_inside(state, root)
    return state.parent, [state]


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise StateError("symlink cannot be resolved (a loop?)", file=display_path(path)) from None


def _check_inside(path: Path, root: Path) -> None:
    target = _resolve(path)
    if target != root and root not in target.parents:
        raise StateError("symlink points outside the state directory", file=display_path(path))


def check_state_root(state: Path) -> None:
    """Refuse a state path through a symlink that leaves the working tree.

    A pull request can replace ``state/`` by a link to ``/`` or ``/etc``; following it
    would print other files' content in error messages. Components of the path below the
    working directory are checked (a path given elsewhere is the user's own choice).
    """
    cwd = Path.cwd().resolve()
    absolute = state if state.is_absolute() else cwd / state
    try:
        inside = absolute.relative_to(cwd)
    except ValueError:
        return
    current = cwd
    for part in inside.parts:
        current = current / part
        if current.is_symlink():
            target = _resolve(current)
            if target != cwd and cwd not in target.parents:
                raise StateError(
                    "the state path is a symlink leading out of the working tree; refused "
                    "(point --state at the real directory)",
                    file=display_path(current),
                )


def load_file(path: Path) -> tuple[StateFile, Document]:
    """Parse and schema-check one state file; ``StateErrors`` lists all its errors."""
    display = display_path(path)
    doc = parse(read_text(path, display), display)
    parsed, errors = check_document(doc)
    if parsed is None:
        raise StateErrors(errors)
    return parsed, doc


def check_document(doc: Document) -> tuple[StateFile | None, list[StateError]]:
    """The schema-checked file (None when invalid) and every error found in it."""
    errors = list(doc.errors)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        message = "a state file must be a mapping with a 'models' key"
        return None, [*errors, StateError(message, file=doc.file, line=1)]
    try:
        parsed = StateFile.model_validate(data)
    except ValidationError as exc:
        errors.extend(schema_errors(exc.errors(include_url=False), doc))
        return None, errors
    return (None if errors else parsed), errors


def _declared(doc: Document) -> list[tuple[str, str]]:
    """(section, name) of each model and prompt a document declares, even when its schema
    is invalid."""
    found: list[tuple[str, str]] = []
    for section in ("models", "prompts"):
        names = doc.data.get(section) if isinstance(doc.data, dict) else None
        found.extend((section, n) for n in (names if isinstance(names, dict) else ()))
    return found


def _spec(parsed: StateFile, section: str, name: str) -> ModelSpec:
    """The declaration as the plan reads it: a prompt's as a model spec (SPEC v4 §20)."""
    if section == "prompts":
        return from_prompt(parsed.prompts[name])
    return parsed.models[name]


def _twice(name: str, first: Source, section: str, file: str, line: int | None) -> str:
    """Why a second declaration of ``name`` is refused."""
    if first.section != section:
        return (
            f"{name!r} is declared under both models: and prompts: "
            f"({first.file}:{first.line} and {file}:{line}); a name is one or the other"
        )
    where = f"{first.file}:{first.line} and {file}:{line}"
    return f"{first.noun} {name!r} is declared in two files: {where}"


def load_state(state: Path, workspace: str | None = None) -> StateSet:
    """Read every state file and check the rules that span files; ``workspace`` is the
    default for files without a ``workspace:`` key (``--workspace`` / MLFLOW_WORKSPACE).

    Every file is read even after one fails, and every error is collected; the result is
    returned only when there is none. The same model name in two workspaces is two models.
    """
    _, paths = find_state_files(state)
    parts: dict[tuple[str | None, str | None], _Part] = {}
    errors: list[StateError] = []
    for path in paths:
        display = display_path(path)
        try:
            doc = parse(read_text(path, display), display)
        except StateError as exc:
            errors.append(exc)
            continue
        parsed, found = check_document(doc)
        errors.extend(found)
        named = file_workspace(doc)
        server = file_registry(doc)
        part = parts.setdefault((server, named or workspace), _Part())
        if named and part.named_at is None:
            part.named_at = Source(doc.file, doc.line_of(("workspace",)) or 1)
        if server and part.registry_at is None:
            part.registry_at = Source(doc.file, doc.line_of(("registry",)) or 1)
        for section, name in _declared(doc):
            line = doc.line_of((section, name))
            first = next(
                (
                    p.sources[name]
                    for p in _same(parts, server, named or workspace)
                    if name in p.sources
                ),
                None,
            )
            if first is not None:
                errors.append(
                    StateError(
                        _twice(name, first, section, doc.file, line) + _in(named or workspace),
                        file=doc.file,
                        line=line,
                    )
                )
                continue
            part.sources[name] = Source(doc.file, line, doc, section)
            if parsed is not None:
                spec = _spec(parsed, section, name)
                if parsed.defaults.ignore:
                    ignore = parsed.defaults.ignore.merged(spec.ignore)
                    spec = spec.model_copy(update={"ignore": ignore})
                if parsed.defaults.windows:
                    windows = [*parsed.defaults.windows, *spec.windows]
                    spec = spec.model_copy(update={"windows": windows})
                if spec.protect is None and parsed.defaults.protect is not None:
                    spec = spec.model_copy(update={"protect": parsed.defaults.protect})
                part.models[name] = spec
                for where, message in ignore_conflicts(spec):
                    errors.append(
                        StateError(
                            message, file=doc.file, line=part.sources[name].locate(name, *where)
                        )
                    )
    if errors:
        raise StateErrors(errors)
    files = tuple(display_path(p) for p in paths)
    return StateSet.of(
        [
            DesiredState(p.models, p.sources, files, ws, p.named_at, server, p.registry_at)
            for (server, ws), p in parts.items()
            if p.sources or p.named_at
        ],
        files,
        workspace,
    )


@dataclass
class _Part:
    """One workspace's models while the files are read."""

    models: dict[str, ModelSpec] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    named_at: Source | None = None
    registry_at: Source | None = None


def file_workspace(doc: Document) -> str | None:
    """The workspace a file names at its top level (None: absent or not a valid name;
    the schema check reports the latter)."""
    value = doc.data.get("workspace") if isinstance(doc.data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return check_workspace(value)
    except ValueError:
        return None


def _same(
    parts: Mapping[tuple[str | None, str | None], _Part],
    server: str | None,
    workspace: str | None,
) -> list[_Part]:
    """The parts of the same registry that name the same workspace (``default`` is the
    server's default): the same name on two servers is two models."""
    key = workspace or "default"
    return [p for (s, ws), p in parts.items() if s == server and (ws or "default") == key]


def file_registry(doc: Document) -> str | None:
    """The registry a file names at its top level (SPEC v4 §19), None when absent or
    not a valid name (the schema check reports the latter)."""
    value = doc.data.get("registry") if isinstance(doc.data, dict) else None
    try:
        return check_registry(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _in(workspace: str | None) -> str:
    return f" (workspace {workspace})" if workspace else ""
