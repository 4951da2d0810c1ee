"""The registry as state YAML (``reconciler import``): what it holds, declared. Pure.

The output is exactly what the registry holds, so ``plan`` right after shows no
changes: aliases, description, tags and per-version metadata (without the
``reconciler.`` audit tags and MLflow's own ``mlflow.`` tags), stages only where a
single version is in Staging or Production. An alias on a copy is declared as the copy
(``{from, version}``) when it is the version a plan would find for that copy.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import yaml

from reconciler.core.observed import ObservedModel, ObservedState
from reconciler.core.resolve import find_copy
from reconciler.state.models import STAGES, CopyFrom

SKIPPED_TAG_PREFIXES = ("reconciler.", "mlflow.")


def _tags(tags: dict[str, str] | Any) -> dict[str, str]:
    return {k: v for k, v in sorted(tags.items()) if not k.startswith(SKIPPED_TAG_PREFIXES)}


def _alias_value(model: ObservedModel, number: int) -> Any:
    """``{from, version}`` when the version is the copy a plan would find, else the number."""
    version = model.versions.get(number)
    origin = version.copied_from if version else None
    if origin is None:
        return number
    ref = CopyFrom.model_validate({"from": origin[0], "version": origin[1]})
    return {"from": origin[0], "version": origin[1]} if find_copy(model, ref) is version else number


def model_state(model: ObservedModel, warnings: list[str]) -> dict[str, Any]:
    """The state-file mapping that declares ``model`` as the registry holds it."""
    spec: dict[str, Any] = {
        "aliases": {a: _alias_value(model, n) for a, n in sorted(model.aliases.items())}
    }
    if model.description:
        spec["description"] = model.description
    if tags := _tags(model.tags):
        spec["tags"] = tags
    versions: dict[int, Any] = {}
    for number, version in sorted(model.versions.items()):
        entry: dict[str, Any] = {}
        if vtags := _tags(version.tags):
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


def render(
    observed: ObservedState, registry: str, workspace: str | None = None
) -> tuple[str, list[str]]:
    """State YAML for every observed model (in ``workspace``, written into the file), and
    warnings about what it cannot express."""
    warnings: list[str] = []
    models = {name: model_state(m, warnings) for name, m in sorted(observed.models.items())}
    top: dict[str, Any] = {"version": 1}
    if workspace is not None:
        top["workspace"] = workspace
    body = yaml.dump(
        {**top, "models": models},
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
