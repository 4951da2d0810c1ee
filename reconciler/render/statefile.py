"""The registry as state YAML (``reconciler import``): what it holds, declared. Pure.

The output is exactly what the registry holds, so ``plan`` right after shows no
changes: aliases, description, tags and per-version metadata (without the
``reconciler.`` audit tags and MLflow's own ``mlflow.`` tags), stages only where a
single version is in Staging or Production. An alias on a copy is declared as the copy
(``{from, version}``) when it is the version a plan would find for that copy. Prompts
(SPEC v4 §20) go under ``prompts:``, with their aliases and tags only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import yaml

from reconciler.core.observed import MANAGED_TAG, ObservedModel, ObservedState
from reconciler.core.ownership import parse as parse_record
from reconciler.core.resolve import find_copy
from reconciler.state.models import STAGES, CopyFrom, IgnoreSpec

RELEASE_ALIASES = ("champion", "archived")
"""Aliases a person promotes through the state; others are often a pipeline's."""

SKIPPED_TAG_PREFIXES = ("reconciler.", "mlflow.")


def _tags(tags: dict[str, str] | Any, ignored: Any = None) -> dict[str, str]:
    return {
        k: v
        for k, v in sorted(tags.items())
        if not k.startswith(SKIPPED_TAG_PREFIXES) and not (ignored and ignored(k))
    }


def _alias_value(model: ObservedModel, number: int) -> Any:
    """``{from, version}`` when the version is the copy a plan would find, else the number."""
    version = model.versions.get(number)
    origin = version.copied_from if version else None
    if origin is None:
        return number
    ref = CopyFrom.model_validate({"from": origin[0], "version": origin[1]})
    return {"from": origin[0], "version": origin[1]} if find_copy(model, ref) is version else number


def prompt_state(prompt: ObservedModel, exclude: IgnoreSpec | None = None) -> dict[str, Any]:
    """The ``prompts:`` entry that declares ``prompt`` as the registry holds it (SPEC v4
    §20): aliases and tags; its versions' templates are the registry's, not the state's."""
    skip = exclude or IgnoreSpec()
    spec: dict[str, Any] = {
        "aliases": {a: n for a, n in sorted(prompt.aliases.items()) if not skip.alias(a)}
    }
    if tags := _tags(prompt.tags, skip.tag):
        spec["tags"] = tags
    return spec


def model_state(
    model: ObservedModel,
    warnings: list[str],
    exclude: IgnoreSpec | None = None,
    stage_aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The state-file mapping that declares ``model`` as the registry holds it, without
    the keys ``exclude`` matches; ``stage_aliases`` (stage -> alias) declares each such
    stage's holder as that alias instead of as a stage (from stages to aliases)."""
    skip = exclude or IgnoreSpec()
    aliases = {
        a: _alias_value(model, n) for a, n in sorted(model.aliases.items()) if not skip.alias(a)
    }
    moved = stage_aliases or {}
    for stage, alias in moved.items():
        holders = sorted(v.version for v in model.versions.values() if v.stage == stage)
        if len(holders) != 1 or skip.alias(alias):
            continue
        if alias in model.aliases and model.aliases[alias] != holders[0]:
            warnings.append(
                f"{model.name}: alias {alias!r} already holds v{model.aliases[alias]} while "
                f"{stage} is v{holders[0]}; kept {alias}: {model.aliases[alias]}"
            )
            continue
        aliases[alias] = holders[0]
    spec: dict[str, Any] = {"aliases": dict(sorted(aliases.items()))}
    if model.description:
        spec["description"] = model.description
    if tags := _tags(model.tags, skip.tag):
        spec["tags"] = tags
    versions: dict[int, Any] = {}
    for number, version in sorted(model.versions.items()):
        entry: dict[str, Any] = {}
        if vtags := _tags(version.tags, skip.version_tag):
            entry["tags"] = vtags
        if version.description:
            entry["description"] = version.description
        if entry:
            versions[number] = entry
    if versions:
        spec["versions"] = versions
    stages: dict[str, int] = {}
    for stage in STAGES:
        holders = sorted(v.version for v in model.versions.values() if v.stage == stage)
        if len(holders) == 1 and stage in moved:
            continue  # declared as its alias; the stage is left as it is (not declared)
        if len(holders) == 1:
            stages[stage] = holders[0]
        elif holders:
            warnings.append(
                f"{model.name}: versions {holders} are all in {stage}; {stage} is left unmanaged"
            )
    if stages:
        spec["stages"] = stages
    return spec


class _Dumper(yaml.SafeDumper):
    """Registry text with line breaks or control characters is written double-quoted on
    one line (``"a\\nb"``), never as YAML's multi-line forms: no value can start a line
    of the output (a line ``::error::...`` on stdout is a workflow command in CI)."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in data):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return super().represent_str(data)


_Dumper.add_representer(str, _Dumper.represent_str)


def pipeline_aliases(observed: ObservedState, exclude: IgnoreSpec) -> list[tuple[str, str]]:
    """(model, alias) written by import that look set by a pipeline rather than applied:
    not a release alias (champion, archived), or not in the model's ownership record
    although the model was applied before."""
    found = []
    for name, model in sorted(observed.models.items()):
        record = model.tags.get(MANAGED_TAG)
        owned = parse_record(record).aliases
        for alias in sorted(model.aliases):
            if exclude.alias(alias) or alias in owned:
                continue
            if alias not in RELEASE_ALIASES or record:
                found.append((name, alias))
    return found


def render(
    observed: ObservedState,
    registry: str,
    exclude: IgnoreSpec | None = None,
    workspace: str | None = None,
    stage_aliases: Mapping[str, str] | None = None,
) -> tuple[str, list[str]]:
    """State YAML for every observed model (in ``workspace``, written into the file), and
    warnings about what it cannot express.
    Keys ``exclude`` matches are left out, and its patterns become the file's
    ``defaults: {ignore: ...}``, so they stay out of every later plan too."""
    warnings: list[str] = []
    found = sorted(observed.models.items())
    models = {
        name: model_state(m, warnings, exclude, stage_aliases) for name, m in found if not m.prompt
    }
    prompts = {name: prompt_state(m, exclude) for name, m in found if m.prompt}
    document: dict[str, Any] = {"version": 1}
    if workspace is not None:
        document["workspace"] = workspace
    if exclude:
        ignore = exclude.model_dump(exclude_defaults=True)
        document["defaults"] = {"ignore": ignore}
    if models or not prompts:
        document["models"] = models
    if prompts:
        document["prompts"] = prompts
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 30,  # never folded: a folded line could start with registry text
    )
    head = (
        f"# Imported from {registry} by `reconciler import`.\n"
        "# From now on, change aliases here (`reconciler promote`) and `reconciler apply`.\n"
    )
    return head + body, warnings
