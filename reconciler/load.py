"""Load the desired state from YAML files: discovery, parsing, schema, cross-file rules.

Everything here is offline; ``validate`` is exactly this module. Errors name the
file and line a reviewer must fix, never a Python traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import StateError
from reconciler.state import ModelSpec, StateFile
from reconciler.yamlsafe import Document, parse, read_text


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


def find_state_files(state: Path) -> tuple[Path, list[Path]]:
    """The state root and the YAML files under it, sorted by path."""
    if not state.exists() and not state.is_symlink():
        raise StateError(f"state path {display_path(state)} does not exist")
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
    """Parse and schema-check one state file."""
    display = display_path(path)
    doc = parse(read_text(path, display), display)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise StateError("a state file must be a mapping with a 'models' key", file=display, line=1)
    try:
        return StateFile.model_validate(data), doc
    except ValidationError as exc:
        raise _schema_error(exc, doc) from None


def _schema_error(exc: ValidationError, doc: Document) -> StateError:
    errors = exc.errors(include_url=False)
    located = sorted(
        ((doc.line_of(tuple(err["loc"])) or 0, i, err) for i, err in enumerate(errors)),
        key=lambda t: (t[0], t[1]),
    )
    line, _, err = located[0]
    loc = [str(p) for p in err["loc"] if p != "[key]"]
    if err["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
        loc = loc[:-1]
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "[key]":
            message = f"unknown key {loc[-1]!r}: {message}"
            loc = loc[:-1]
    where = ".".join(loc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    text = f"{where}: {message}{more}" if where else f"{message}{more}"
    return StateError(text, file=doc.file, line=line or None)


def load_state(state: Path) -> DesiredState:
    """Read every state file and check the rules that span files."""
    _, paths = find_state_files(state)
    models: dict[str, ModelSpec] = {}
    sources: dict[str, Source] = {}
    for path in paths:
        parsed, doc = load_file(path)
        for name, spec in parsed.models.items():
            line = doc.line_of(("models", name))
            if name in sources:
                first = sources[name]
                raise StateError(
                    f"model {name!r} is declared in two files: {first.file}:{first.line} "
                    f"and {doc.file}:{line}",
                    file=doc.file,
                    line=line,
                )
            models[name] = spec
            sources[name] = Source(doc.file, line, doc)
    return DesiredState(models=models, sources=sources, files=tuple(display_path(p) for p in paths))
