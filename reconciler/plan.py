"""The plan: a pure diff of desired against observed state (no I/O, no mlflow import).

A plan is an immutable, deterministically ordered list of changes plus the gate
results and the problems that make it unappliable. ``apply`` carries out exactly
these changes and never re-diffs on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from reconciler.gates import GateResult, evaluate_gates
from reconciler.load import DesiredState, Source
from reconciler.observed import ObservedModel, ObservedState
from reconciler.state import ModelSpec


class Kind(str, Enum):
    """What a change touches (SPEC §5)."""

    ALIAS = "alias"
    STAGE = "stage"
    TAG = "tag"
    VERSION_TAG = "version_tag"
    DESCRIPTION = "description"
    VERSION_DESCRIPTION = "version_description"


BLANK_IS_ABSENT = frozenset({Kind.DESCRIPTION, Kind.VERSION_DESCRIPTION})
"""Kinds where "" means no value (MLflow stores no description as ""); a tag's "" is a value."""


class Action(str, Enum):
    """What a change does (SPEC §5)."""

    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"


@dataclass(frozen=True)
class Change:
    """One registry write: ``key`` of ``kind`` on ``model`` (and ``version``): before -> after."""

    model: str
    kind: Kind
    key: str
    action: Action
    before: Any
    after: Any
    version: int | None = None
    """The model version, for stage and version_* changes."""

    @property
    def is_removal(self) -> bool:
        """Removals run after every set, so a desired value is never absent (SPEC §6.2)."""
        return self.action is Action.REMOVE or (
            self.kind is Kind.STAGE and self.after == "Archived"
        )

    def touched_versions(self) -> tuple[int, ...]:
        """Versions whose alias or stage this change moves (they get audit tags)."""
        if self.kind is Kind.ALIAS:
            return tuple(v for v in (self.before, self.after) if isinstance(v, int))
        if self.kind is Kind.STAGE and self.version is not None:
            return (self.version,)
        return ()


@dataclass(frozen=True)
class Problem:
    """Something that makes the plan unappliable, located in the state where possible."""

    model: str
    message: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Plan:
    """The diff between desired and observed state, with gate results and problems."""

    registry: str
    state_digest: str
    observed_digest: str
    models: tuple[str, ...]
    changes: tuple[Change, ...]
    gates: tuple[GateResult, ...] = ()
    problems: tuple[Problem, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    """model -> "file:line" where it is declared (for rendering only)."""

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if not g.passed)

    @property
    def applyable(self) -> bool:
        """True when every referenced model/version exists and is READY and every gate passes."""
        return not self.problems and not self.failed_gates

    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts


def _diff_value(
    model: str, kind: Kind, key: str, before: Any, after: Any, version: int | None = None
) -> Iterator[Change]:
    if before == after:
        return
    empty = (None, "") if kind in BLANK_IS_ABSENT else (None,)
    if before in empty:
        action = Action.ADD
    elif after in empty:
        action = Action.REMOVE
    else:
        action = Action.UPDATE
    yield Change(model, kind, key, action, before, after, version)


def _version_problems(
    name: str, spec: ModelSpec, obs: ObservedModel, src: Source
) -> Iterator[Problem]:
    referenced: dict[int, tuple[object, ...]] = {}
    for alias, number in spec.aliases.items():
        referenced.setdefault(number, ("aliases", alias))
    for stage, number in spec.stages.items():
        referenced.setdefault(number, ("stages", stage))
    for number in spec.versions:
        referenced.setdefault(number, ("versions", number))
    for number, path in sorted(referenced.items()):
        version = obs.versions.get(number)
        line = src.locate(name, *path)
        if version is None:
            yield Problem(name, f"model {name!r} has no version {number}", src.file, line)
        elif version.status != "READY":
            yield Problem(
                name, f"version {number} of {name!r} is {version.status}, not READY", src.file, line
            )


def plan_model(name: str, spec: ModelSpec, obs: ObservedModel) -> Iterator[Change]:
    """Changes for one model, in a fixed order: aliases, stages, description, tags, versions."""
    for alias in sorted(spec.aliases):
        yield from _diff_value(name, Kind.ALIAS, alias, obs.aliases.get(alias), spec.aliases[alias])
    if spec.prune:
        for alias in sorted(set(obs.aliases) - set(spec.aliases)):
            yield Change(name, Kind.ALIAS, alias, Action.REMOVE, obs.aliases[alias], None)
    declared = {number: stage for stage, number in spec.stages.items()}
    for number in sorted(obs.versions.keys() | declared.keys()):
        version = obs.versions.get(number)
        if version is None:
            continue
        want: str | None = declared.get(number)
        if want is None and version.stage in spec.stages:
            want = "Archived"
        if want is not None and want != version.stage:
            yield Change(name, Kind.STAGE, str(number), Action.UPDATE, version.stage, want, number)
    if spec.description is not None:
        yield from _diff_value(
            name, Kind.DESCRIPTION, "description", obs.description, spec.description
        )
    for key in sorted(spec.tags):
        yield from _diff_value(name, Kind.TAG, key, obs.tags.get(key), spec.tags[key])
    for number in sorted(spec.versions):
        version = obs.versions.get(number)
        if version is None:
            continue
        vspec = spec.versions[number]
        if vspec.description is not None:
            yield from _diff_value(
                name,
                Kind.VERSION_DESCRIPTION,
                "description",
                version.description,
                vspec.description,
                number,
            )
        for key in sorted(vspec.tags):
            yield from _diff_value(
                name, Kind.VERSION_TAG, key, version.tags.get(key), vspec.tags[key], number
            )


def compute_plan(desired: DesiredState, observed: ObservedState, registry: str = "") -> Plan:
    """Diff every desired model against the registry; a pure function of its inputs."""
    changes: list[Change] = []
    problems: list[Problem] = []
    gates: list[GateResult] = []
    for name in sorted(desired.models):
        spec, src = desired.models[name], desired.sources[name]
        obs = observed.models.get(name)
        if obs is None:
            problems.append(
                Problem(name, f"model {name!r} does not exist in the registry", src.file, src.line)
            )
            continue
        problems.extend(_version_problems(name, spec, obs, src))
        model_changes = list(plan_model(name, spec, obs))
        changes.extend(model_changes)
        gates.extend(evaluate_gates(name, spec, obs, observed.metrics, model_changes))
    return Plan(
        registry=registry,
        state_digest=desired.digest(),
        observed_digest=observed.digest(),
        models=tuple(sorted(desired.models)),
        changes=tuple(changes),
        gates=tuple(gates),
        problems=tuple(problems),
        sources={n: f"{s.file}:{s.line}" for n, s in desired.sources.items()},
    )


def current_value(observed: ObservedState, change: Change) -> Any:
    """The registry's value at the place ``change`` writes (None when absent)."""
    model = observed.models.get(change.model)
    if model is None:
        return None
    if change.kind is Kind.ALIAS:
        return model.aliases.get(change.key)
    if change.kind is Kind.TAG:
        return model.tags.get(change.key)
    if change.kind is Kind.DESCRIPTION:
        return model.description or None
    version = model.versions.get(change.version or 0)
    if version is None:
        return None
    if change.kind is Kind.STAGE:
        return version.stage
    if change.kind is Kind.VERSION_TAG:
        return version.tags.get(change.key)
    return version.description or None


def differences(changes: tuple[Change, ...], observed: ObservedState) -> list[str]:
    """Changes whose intended value the registry does not hold (post-apply verification)."""
    out = []
    for change in changes:
        blank = change.kind in BLANK_IS_ABSENT and change.after == ""
        want = None if blank else change.after
        have = current_value(observed, change)
        if have != want:
            where = f"{change.model}: {change.kind.value} {change.key}"
            if change.version is not None and change.kind is not Kind.STAGE:
                where += f" of version {change.version}"
            out.append(f"{where} is {have!r}, expected {want!r}")
    return out
