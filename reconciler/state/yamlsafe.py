"""Safe YAML reading that remembers where every key was written.

PyYAML's ``safe_load`` keeps the last of two duplicate keys, expands anchors and
forgets line numbers. State files are reviewed data, so this module rejects
anchors, aliases, explicit tags, deep nesting and oversized files, and records the
line of every key path so that schema errors point at the line a reviewer must fix.
Mapping keys are kept as the text the author wrote. A duplicate key is not a safety
matter: it is recorded (the first value is kept) and parsing goes on, so the schema
errors of the same file are reported in the same run.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import StateError

MAX_BYTES = 1 << 20
"""Larger state files are refused before they are read."""

MAX_DEPTH = 32
"""Deeper nesting than any valid state file needs is refused (no stack exhaustion)."""

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: plain data plus the 1-based line of every key path."""

    file: str
    """The path as shown to the user."""
    data: Any
    """Plain dicts, lists and scalars; mapping keys are strings."""
    lines: Mapping[KeyPath, int]
    """Key path (each element as a string) -> line where that key is written."""
    raw: Mapping[KeyPath, str] = field(default_factory=dict)
    """Key path -> source text of each plain scalar that YAML did not read as a string
    (``3``, ``yes``, ``2024-01-01``), so a message can say exactly what to quote."""
    errors: tuple[StateError, ...] = ()
    """Duplicate keys found while parsing (the first value of each is kept)."""

    def line_of(self, path: tuple[object, ...]) -> int | None:
        """Line of the longest known prefix of ``path`` (None if nothing matches)."""
        parts = tuple(str(p) for p in path)
        for end in range(len(parts), -1, -1):
            line = self.lines.get(parts[:end])
            if line is not None:
                return line
        return None


class _Strict(yaml.composer.Composer):
    """PyYAML's composer, refusing anchors, aliases, explicit tags and deep nesting."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]  # from the parser mixed in
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise StateError("YAML aliases (*name) are not allowed in state files", line=line)
        if getattr(event, "anchor", None):
            raise StateError("YAML anchors (&name) are not allowed in state files", line=line)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            raise StateError(f"YAML tags are not allowed in state files: {tag}", line=line)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise StateError(f"nesting deeper than {MAX_DEPTH} levels", line=line)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _StrictLoader(_Strict, yaml.SafeLoader):
    """Pure-Python scanner and parser (when PyYAML was built without libyaml)."""


try:
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _Loader: type[Any] = _StrictLoader
else:

    class _StrictCLoader(
        _Strict, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """libyaml's scanner and parser under the strict Python composer (validate of a
        1000-model file: 0.19 s instead of 0.6 s with the pure-Python loader)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _Loader = _StrictCLoader


def read_text(path: Path, display: str) -> str:
    """Read a state file as UTF-8 text, refusing oversized or non-UTF-8 files and anything
    that is not a regular file (a FIFO named ``*.yaml`` would block the read forever: it is
    opened without blocking and checked before a byte is read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise StateError("not a regular file (a FIFO, device or socket)", file=display)
            if info.st_size > MAX_BYTES:
                message = f"file is {info.st_size} bytes; state files are limited to 1 MiB"
                raise StateError(message, file=display)
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise StateError(f"cannot read the file: {exc.strerror}", file=display) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise StateError("file is not valid UTF-8", file=display, line=line) from None


def _has_tab(text: str, line: int | None) -> bool:
    """Whether the line a YAML error points at holds a tab (its usual cause)."""
    lines = text.splitlines()
    return line is not None and 0 < line <= len(lines) and "\t" in lines[line - 1]


PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]{0,18})")
"""The integers a state file may hold: plain decimal, at most 19 digits. YAML 1.1 also
reads ``017`` (octal 15), ``0x7``, ``1_0`` (10) and ``1:0:0`` (3600) as integers."""


def _check_int(node: yaml.ScalarNode) -> None:
    """Refuse an integer written in any form but plain decimal, before PyYAML converts it
    (a 5000-digit number would otherwise end in Python's digit limit)."""
    text = str(node.value)
    if PLAIN_INT.fullmatch(text):
        return
    line = node.start_mark.line + 1
    if re.fullmatch(r"[-+]?[0-9]+", text):
        digits = text.lstrip("+-")
        if digits.startswith("0"):
            message = (
                f"{text} has a leading zero (YAML 1.1 reads it as octal): write {int(digits[:19])}"
            )
        else:
            message = f"a {len(digits)}-digit number is too large (at most 19 digits)"
    else:
        message = (
            f"{shown(text)} is not a plain decimal integer (YAML 1.1 reads 0x, _ and : "
            "forms as numbers): write the digits only"
        )
    raise StateError(message, line=line)


def shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse(text: str, display: str) -> Document:
    """Parse one YAML document into plain data and a key-path -> line index."""
    loader: Any = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        seen = _Seen()
        data = _to_python(loader, node, (), seen) if node is not None else None
    except StateError as exc:
        raise StateError(exc.message, file=display, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if _has_tab(text, line):
            problem = f"a tab character ({problem}): YAML indents with spaces, never tabs"
        raise StateError(f"invalid YAML: {problem}", file=display, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise StateError(
            f"invalid YAML: unacceptable character #x{exc.character:04x}", file=display, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise StateError(f"invalid YAML: {exc}", file=display) from None
    except RecursionError:
        raise StateError("invalid YAML: nesting too deep", file=display) from None
    finally:
        if loader is not None:
            loader.dispose()
    duplicates = tuple(
        StateError(message, file=display, line=line) for line, message in seen.duplicates
    )
    return Document(display, data, seen.lines, seen.raw, duplicates)


@dataclass
class _Seen:
    """What the walk over the node tree records besides the data."""

    lines: dict[KeyPath, int] = field(default_factory=dict)
    raw: dict[KeyPath, str] = field(default_factory=dict)
    duplicates: list[tuple[int, str]] = field(default_factory=list)


def _to_python(loader: Any, node: yaml.Node, path: KeyPath, seen: _Seen) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise StateError("mapping keys must be plain scalars", line=line)
            key = str(key_node.value)
            sub: KeyPath = (*path, key)
            if key in out:
                first = seen.lines[sub]
                seen.duplicates.append(
                    (line, f"duplicate key {key!r} (first defined on line {first})")
                )
                continue
            seen.lines[sub] = line
            out[key] = _to_python(loader, value_node, sub, seen)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            at: KeyPath = (*path, str(index))
            seen.lines[at] = item.start_mark.line + 1
            items.append(_to_python(loader, item, at, seen))
        return items
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
        _check_int(node)
    value = loader.construct_object(node, deep=True)
    if not isinstance(value, str) and isinstance(node, yaml.ScalarNode):
        seen.raw[path] = str(node.value)
    return value
