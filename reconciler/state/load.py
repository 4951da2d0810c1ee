"""Load the desired state from YAML files: discovery, parsing, schema, cross-file rules.

Everything here is offline; ``validate`` is exactly this module. Errors name the
file and line a reviewer must fix, never a Python traceback, and all of them are
reported in one run: a file that does not parse does not hide the errors of the
others (``StateErrors``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import StateError, StateErrors
from reconciler.state.explain import schema_errors
from reconciler.state.models import ModelSpec, StateFile, ignore_conflicts
from reconciler.state.yamlsafe import Document, parse, read_text


@dataclass(frozen=True)
class Source:
    """Where a model is declared."""

    file: str
    line: int | None
    doc: Document | None = None
    """The parsed file, to locate keys inside the model's block."""

    def locate(self, *path: object) -> int | None:
        """Line of a key inside this model's block (falls back to the model's line)."""
        if self.doc is None:
            return self.line
        return self.doc.line_of(("models", *path)) or self.line


@dataclass(frozen=True)
class DesiredState:
    """All models declared in the state files, by name, with where each is declared."""

    models: Mapping[str, ModelSpec]
    sources: Mapping[str, Source]
    files: tuple[str, ...]

    def digest(self) -> str:
        """A stable hash of the declared content (not of formatting or comments)."""
        body = {
            name: spec.model_dump(mode="json", by_alias=True)
            for name, spec in sorted(self.models.items())
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    def only(self, names: tuple[str, ...]) -> DesiredState:
        """The state restricted to ``names`` (``--model``); unknown names are an error."""
        if not names:
            return self
        missing = [n for n in names if n not in self.models]
        if missing:
            raise StateError(f"model {missing[0]!r} is not declared in the state files")
        keep = set(names)
        return DesiredState(
            models={n: s for n, s in self.models.items() if n in keep},
            sources={n: s for n, s in self.sources.items() if n in keep},
            files=self.files,
        )


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
    """The state root and the YAML files under it, sorted by path."""
    require_state(state)
    if state.is_dir():
        root = state.resolve()
        files: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(state, followlinks=False):
            dirnames.sort()
            for name in [*dirnames, *filenames]:
                path = Path(dirpath, name)
                if path.is_symlink():
                    _check_inside(path, root)
            files.extend(Path(dirpath, f) for f in filenames if f.endswith((".yaml", ".yml")))
        return state, sorted(files)
    root = state.parent.resolve()
    _check_inside(state, root)
    return state.parent, [state]


def _check_inside(path: Path, root: Path) -> None:
    target = path.resolve()
    if target != root and root not in target.parents:
        raise StateError("symlink points outside the state directory", file=display_path(path))


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


def _declared(doc: Document) -> list[str]:
    """Model names a document declares, even when its schema is invalid."""
    models = doc.data.get("models") if isinstance(doc.data, dict) else None
    return list(models) if isinstance(models, dict) else []


def load_state(state: Path) -> DesiredState:
    """Read every state file and check the rules that span files.

    Every file is read even after one fails, and every error is collected; the result is
    returned only when there is none.
    """
    _, paths = find_state_files(state)
    models: dict[str, ModelSpec] = {}
    sources: dict[str, Source] = {}
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
        for name in _declared(doc):
            line = doc.line_of(("models", name))
            first = sources.get(name)
            if first is not None:
                errors.append(
                    StateError(
                        f"model {name!r} is declared in two files: {first.file}:{first.line} "
                        f"and {doc.file}:{line}",
                        file=doc.file,
                        line=line,
                    )
                )
                continue
            sources[name] = Source(doc.file, line, doc)
            if parsed is not None:
                spec = parsed.models[name]
                if parsed.defaults.ignore:
                    ignore = parsed.defaults.ignore.merged(spec.ignore)
                    spec = spec.model_copy(update={"ignore": ignore})
                models[name] = spec
                for where, message in ignore_conflicts(spec):
                    errors.append(
                        StateError(message, file=doc.file, line=sources[name].locate(name, *where))
                    )
    if errors:
        raise StateErrors(errors)
    return DesiredState(models=models, sources=sources, files=tuple(display_path(p) for p in paths))
