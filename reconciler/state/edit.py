"""Surgical edits of a state file: change alias values without reformatting anything.

A promotion must be a reviewable one- or two-line diff, so the file is never
re-dumped. PyYAML's composer gives every node its character span; an edit replaces
exactly a scalar's span, or inserts one new entry beside its siblings (same
indentation in block style, ``, key: value`` in flow style). Comments, key order,
quoting, styles and blank lines are kept. Callers re-validate the edited text
before it is written (``promote.write_checked``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconciler.errors import StateError
from reconciler.state.load import Source, display_path, load_file, load_state
from reconciler.state.models import AliasValue, CopyFrom, ModelSpec

_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w\-]*$")


@dataclass(frozen=True)
class Splice:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


def _key(name: str) -> str:
    """A mapping key as YAML text: plain when that is unambiguous, else double-quoted."""
    if _PLAIN_KEY.match(name) and yaml.safe_load(f"{name}: 0") == {name: 0}:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key, value) nodes of ``key`` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and str(key_node.value) == key:
            return key_node, value_node
    return None


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _line_end(text: str, index: int) -> int:
    """Index of the line break ending the line that contains ``index`` (or len(text))."""
    if index > 0 and text[index - 1] == "\n":  # block scalars end after their line break
        index -= 1
    end = text.find("\n", index)
    if end == -1:
        return len(text)
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def _last_end(node: yaml.Node) -> int:
    """Where the last written character of a node is (block collections end one line late)."""
    if isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _last_end(last[1] if isinstance(node, yaml.MappingNode) else last)
    return int(node.end_mark.index)


def _insert_entries(
    text: str, mapping: yaml.MappingNode, entries: list[tuple[str, str]], parent_key: yaml.Node
) -> Splice:
    """Add ``key: value`` entries (values already YAML text) at the end of ``mapping``."""
    if mapping.flow_style:
        body = ", ".join(f"{k}: {v}" for k, v in entries)
        if mapping.value:
            return Splice(
                mapping.value[-1][1].end_mark.index,
                mapping.value[-1][1].end_mark.index,
                f", {body}",
            )
        # ``{}``: insert right after the opening brace.
        brace = mapping.start_mark.index + 1
        return Splice(brace, brace, body)
    if mapping.value:
        column = mapping.value[0][0].start_mark.column
        anchor = _line_end(text, _last_end(mapping))
    else:  # pragma: no cover - an empty block mapping cannot be written in YAML
        column = parent_key.start_mark.column + 2
        anchor = _line_end(text, parent_key.end_mark.index)
    nl = _newline(text)
    lines = "".join(f"{nl}{' ' * column}{k}: {v}" for k, v in entries)
    return Splice(anchor, anchor, lines)


def yaml_value(value: AliasValue) -> str:
    """An alias value as YAML text: ``7`` or ``{from: churn-staging, version: 7}``."""
    if isinstance(value, CopyFrom):
        return f"{{from: {_key(value.from_)}, version: {value.version}}}"
    return str(value)


def alias_splices(
    text: str, model: str, aliases: Mapping[str, AliasValue], section: str = "models"
) -> list[Splice]:
    """Splices that set each alias of ``model`` (under ``section``: ``models`` or
    ``prompts``) to the given version (others untouched)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    models = _get(root, section) if root is not None else None
    entry = _get(models[1], model) if models else None
    if entry is None:
        raise StateError(f"model {model!r} is not declared in this file")
    model_key, model_node = entry
    if not isinstance(model_node, yaml.MappingNode):
        raise StateError(f"model {model!r} is not a mapping", line=model_key.start_mark.line + 1)
    found = _get(model_node, "aliases")
    if found is None:
        if model_node.flow_style or not model_node.value:
            body = ", ".join(f"{_key(a)}: {yaml_value(v)}" for a, v in aliases.items())
            return [_insert_entries(text, model_node, [("aliases", f"{{{body}}}")], model_key)]
        column = model_node.value[0][0].start_mark.column
        nl = _newline(text)
        inner = "".join(
            f"{nl}{' ' * (column + 2)}{_key(a)}: {yaml_value(v)}" for a, v in aliases.items()
        )
        anchor = _line_end(text, _last_end(model_node))
        return [Splice(anchor, anchor, f"{nl}{' ' * column}aliases:{inner}")]
    aliases_key, aliases_node = found
    if not isinstance(aliases_node, yaml.MappingNode):
        raise StateError(
            f"'aliases' of {model!r} is not a mapping", line=aliases_key.start_mark.line + 1
        )
    splices: list[Splice] = []
    missing: list[tuple[str, str]] = []
    for alias, version in aliases.items():
        pair = _get(aliases_node, alias)
        if pair is None:
            missing.append((_key(alias), yaml_value(version)))
        else:
            value = pair[1]
            end = _last_end(value)
            splices.append(Splice(value.start_mark.index, end, yaml_value(version)))
    if missing:
        splices.append(_insert_entries(text, aliases_node, missing, aliases_key))
    return splices


def apply_splices(text: str, splices: list[Splice]) -> str:
    """Apply non-overlapping splices (any order)."""
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        text = text[: splice.start] + splice.new + text[splice.end :]
    return text


def set_aliases(
    text: str, model: str, aliases: Mapping[str, AliasValue], section: str = "models"
) -> str:
    """The file text with ``model``'s aliases set as given; everything else byte-identical."""
    return apply_splices(text, alias_splices(text, model, aliases, section))


def rewrite_aliases(
    path: Path, model: str, aliases: Mapping[str, AliasValue], section: str = "models"
) -> str:
    """Edit ``model``'s aliases in the file at ``path`` in place; return the new text.

    The new text goes to a temporary file beside the original, is loaded with the normal
    loader and compared with the intended result, and only then replaces the original:
    an invalid or unexpected edit never reaches the file.
    """
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    display = display_path(path)
    before, _ = load_file(path)
    text = raw.decode("utf-8-sig")
    new_text = set_aliases(text, model, aliases, section)
    temp = path.with_name(f".{path.name}.reconciler-edit")
    try:
        temp.write_bytes((b"\xef\xbb\xbf" if bom else b"") + new_text.encode("utf-8"))
        shutil.copymode(path, temp)
        try:
            after, _ = load_file(temp)
        except StateError as exc:
            raise StateError(
                f"the edit would make the file invalid ({exc.message}); nothing was written",
                file=display,
                line=exc.line,
            ) from None
        old, new = getattr(before, section), getattr(after, section)
        other = "prompts" if section == "models" else "models"
        want = {**old[model].aliases, **aliases}
        others_same = {n: m for n, m in new.items() if n != model} == {
            n: m for n, m in old.items() if n != model
        } and getattr(before, other) == getattr(after, other)
        if new.get(model) != old[model].model_copy(update={"aliases": want}) or not others_same:
            raise StateError(
                "could not edit the file without changing other values; "
                "edit it by hand (nothing was written)",
                file=display,
            )
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return new_text


def locate(
    state: Path, model: str, workspace: str | None = None
) -> tuple[Path, ModelSpec, Source, str | None]:
    """The file declaring ``model``, its spec, where in it the model is declared, and its
    workspace. A name declared in several workspaces needs ``--workspace`` to pick one."""
    found = load_state(state, workspace).declarations(model)
    if len(found) > 1:
        found = [(p, s) for p, s in found if p.workspace == workspace]
        if len(found) != 1:
            raise StateError(
                f"model {model!r} is declared in several workspaces; pass --workspace NAME "
                "to say which one to edit"
            )
    if not found:
        where = display_path(state)
        if state.is_dir() or not state.exists():
            how = f"`reconciler import --model {model} --out {where.rstrip('/')}/{model}.yaml`"
            raise StateError(
                f"model {model!r} is not declared in the state files under {where}: pass "
                f"--state if it is declared elsewhere, or declare it with {how}"
            )
        raise StateError(
            f"model {model!r} is not declared in {where}: pass --state if it is declared "
            f"elsewhere, or declare it with `reconciler import --model {model}` (it prints "
            f"the YAML to add to {where})"
        )
    part, src = found[0]
    return Path(src.file), part.models[model], src, part.workspace
