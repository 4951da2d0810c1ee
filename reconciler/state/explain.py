"""Pydantic's validation errors, rewritten as messages that say what to write.

pydantic speaks in types ("Input should be a valid string", "instance of ModelSpec");
a state author needs the key that is wrong, the line, and the fix: the nearest valid
key for a typo, ``write "3"`` for a tag value YAML read as a number. The valid keys at
each place come from the state models themselves, so a new field is suggested as soon
as it exists. Pure: a pydantic error and the parsed document in, ``StateError`` out.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Sequence
from inspect import isclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from reconciler.errors import StateError
from reconciler.state.models import INTERNAL, GateRule, ModelSpec, StateFile, VersionSpec
from reconciler.state.yamlsafe import Document

UNION_TAGS = frozenset({"int", "float", "str", "bool"})
"""Last ``loc`` parts pydantic adds for each member of a union (``min: int | float``)."""
GATE_EXAMPLE = "{metric: val_auc, min: 0.8}"


def _unwrap(tp: Any) -> Any:
    """The type without Annotated and Optional (a union of one model: that model)."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        models = [m for m in members if isclass(m) and issubclass(m, BaseModel)]
        if len(models) == 1:
            return models[0]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def type_at(loc: Sequence[object]) -> Any:
    """The declared type of the value at ``loc`` in a state file (None if unknown)."""
    tp: Any = StateFile
    for part in loc:
        tp = _unwrap(tp)
        if isclass(tp) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
        elif get_origin(tp) in (dict, list):
            tp = get_args(tp)[-1]
        else:
            return None
    return _unwrap(tp)


def _names(model: type[BaseModel]) -> list[str]:
    """The keys a user writes: a field's alias where it has one (``from``, not ``from_``)."""
    fields = model.model_fields.items()
    return [info.alias or name for name, info in fields if name not in INTERNAL]


def valid_keys(loc: Sequence[object]) -> list[str]:
    """The keys a mapping at ``loc`` accepts (model fields, or a Literal's values)."""
    tp = type_at(loc)
    if isclass(tp) and issubclass(tp, BaseModel):
        return _names(tp)
    if get_origin(tp) in (Union, types.UnionType):  # e.g. the gate rule shapes
        members = [_unwrap(m) for m in get_args(tp)]
        fields = [f for m in members if isclass(m) and issubclass(m, BaseModel) for f in _names(m)]
        return list(dict.fromkeys(fields))
    if get_origin(tp) is dict:
        key = _unwrap(get_args(tp)[0])
        if get_origin(key) is Literal:
            return [str(k) for k in get_args(key)]
    return []


def suggest(key: str, choices: Sequence[str]) -> str | None:
    """The valid key nearest to ``key`` (case differences first), or None."""
    for choice in choices:
        if choice.lower() == key.lower():
            return choice
    prefixed = [c for c in choices if c.lower().startswith(key.lower())] if len(key) >= 3 else []
    if len(prefixed) == 1:
        return prefixed[0]
    found = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown(key: str, loc: Sequence[object], what: str = "key") -> str:
    choices = valid_keys(loc)
    near = suggest(key, choices)
    if near is not None:
        return f"unknown {what} {key!r}: did you mean {near!r}?"
    if choices:
        return f"unknown {what} {key!r} (valid here: {', '.join(choices)})"
    return f"unknown {what} {key!r}"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "text"


def _written(doc: Document, loc: Sequence[object], value: Any) -> str:
    """The scalar as the author wrote it (``yes``, not ``True``)."""
    raw = doc.raw.get(tuple(str(p) for p in loc))
    return raw if raw is not None else str(value)


def _shown(value: Any, written: str) -> str:
    """``the text 'yes'`` for a string, else the value as written (``2``, ``yes``)."""
    return f"the text {value!r}" if isinstance(value, str) else written


def _is_version(loc: Sequence[object]) -> bool:
    return len(loc) >= 2 and loc[-2] in ("aliases", "stages")


def _empty_body(loc: Sequence[object], value: Any) -> str:
    """A model, version or gate rule written with nothing (or a non-mapping) as its body."""
    tp = type_at(loc)
    if tp is ModelSpec:
        head = (
            f"model {str(loc[-1])!r} has an empty body"
            if value is None
            else f"model {str(loc[-1])!r} must be a mapping, not {_kind(value)}"
        )
        return (
            f"{head}: declare what to manage (e.g. aliases: {{champion: 1}}), "
            f"or write '{loc[-1]!s}: {{}}' to manage nothing yet"
        )
    if tp is VersionSpec:
        return f"version {loc[-1]!s} needs tags or a description (or remove it)"
    if tp is GateRule:
        return f"a gate rule is a mapping like {GATE_EXAMPLE}, not {_kind(value)}"
    return f"expected a mapping, not {_kind(value)}"


def _key_message(err: ErrorDetails, loc: tuple[object, ...]) -> str:
    """A mapping key that is wrong (loc ends with the key)."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return _unknown(str(loc[-1]), loc[:-1])
    if kind == "literal_error":
        return _unknown(str(loc[-1]), loc[:-1], "stage" if loc[-2:-1] == ("stages",) else "key")
    if kind == "int_parsing":
        return f"version keys are version numbers: {loc[-1]!s} is not one"
    return str(err["msg"]).removeprefix("Value error, ")


ALIAS_VALUE_TAGS = frozenset({"version", "copy"})
"""The discriminator tags of an alias value (a version number or a copy mapping)."""


def _without_alias_tag(loc: tuple[object, ...]) -> tuple[object, ...]:
    """``aliases.champion.copy.from`` -> ``aliases.champion.from``: the YAML path."""
    for i in range(2, len(loc)):
        if loc[i - 2] == "aliases" and loc[i] in ALIAS_VALUE_TAGS:
            return loc[:i] + loc[i + 1 :]
    return loc


def message(err: ErrorDetails, doc: Document) -> tuple[tuple[object, ...], bool, str]:
    """Where the error is (key path without pydantic's markers), whether that key itself
    is wrong (rather than its value), and what to do."""
    kind = err["type"]
    loc: tuple[object, ...] = _without_alias_tag(tuple(err["loc"]))
    if loc and loc[-1] == "[key]":
        return loc[:-1], True, _key_message(err, loc[:-1])
    if kind == "extra_forbidden":
        return loc, True, _key_message(err, loc)
    if kind == "missing":
        return loc, True, f"missing key {loc[-1]!s}"
    if loc and loc[-1] in UNION_TAGS and kind in ("int_type", "float_type"):
        loc = loc[:-1]
    return loc, False, _value_message(err, loc, doc)


def _number(text: str) -> str | None:
    try:
        float(text)
    except ValueError:
        return None
    return text.strip()


def _value_message(err: ErrorDetails, loc: tuple[object, ...], doc: Document) -> str:
    """A value of the wrong type or range at ``loc``."""
    kind, value = err["type"], err.get("input")
    last = str(loc[-1]) if loc else ""
    written = _written(doc, loc, value)
    if kind == "string_type":
        what = "tag values" if len(loc) >= 2 and loc[-2] == "tags" else f"{last!r} values"
        if value is None:
            return f'{what} are strings: write "" for an empty value, or remove the key'
        if isinstance(value, (dict, list)):
            return f"{what} are strings, not {_kind(value)}"
        return f'{what} are strings: write "{written}"'
    if kind in ("int_type", "float_type") and _is_version(loc):
        if isinstance(value, str) and value.strip().isdigit():
            return f"a version number, not a string: write {value.strip()}"
        if isinstance(value, float) and value.is_integer():
            return f"a version number is a whole number: write {int(value)}"
        return f"expected a version number (1, 2, ...), not {_shown(value, written)}"
    if kind in ("int_type", "float_type") and isinstance(value, str) and _number(value):
        return f"must be a number, not a string: write {_number(value)} (no quotes)"
    if kind in ("int_type", "float_type"):
        return f"must be a number, not {_shown(value, written)}"
    if kind == "greater_than" and _is_version(loc):
        return f"version numbers start at 1, not {written}"
    if kind == "less_than_equal" and _is_version(loc):
        return f"version number {written} is too large (at most {err['ctx']['le']})"
    if kind == "bool_type":
        return f"must be true or false (no quotes), not {_shown(value, written)}"
    if kind == "model_type":
        return _empty_body(loc, value)
    if kind == "dict_type":
        if loc == ("models",) and value is None:
            return "'models' is empty: list models under it, or write 'models: {}'"
        return f"must be a mapping (key: value), not {_kind(value)}"
    if kind == "list_type":
        return f"gates for {last!r} are a list of rules, e.g. - {GATE_EXAMPLE}"
    if kind == "too_short":
        return f"gates for {last!r} list no rule: add one (- {GATE_EXAMPLE}) or remove it"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected") or str(err["msg"]).removeprefix(
            "Input should be "
        )
        return f"must be {expected}, not {_shown(value, written)}"
    if kind == "string_too_short":
        return "must not be empty"
    return str(err["msg"]).removeprefix("Value error, ")


def _path(loc: Sequence[object]) -> str:
    """``churn.tags.priority`` (``models.`` left out: every model lives there)."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["models"] and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def schema_errors(errors: Sequence[ErrorDetails], doc: Document) -> Iterator[StateError]:
    """One located ``StateError`` per distinct problem (a union's members count once)."""
    seen: set[tuple[tuple[object, ...], str]] = set()
    for err in errors:
        loc, is_key, text = message(err, doc)
        if (loc, text) in seen:
            continue
        seen.add((loc, text))
        where = _path(loc[:-1] if is_key else loc)
        line = doc.line_of(loc)
        yield StateError(f"{where}: {text}" if where else text, file=doc.file, line=line)
