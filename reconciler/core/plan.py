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

from reconciler.core import evidence as evidence_of
from reconciler.core.evidence import Evidence
from reconciler.core.gates import GateResult, evaluate_gates
from reconciler.core.observed import ObservedModel, ObservedState, managed_tags
from reconciler.core.ownership import EMPTY, MANAGED_TAG, TAG_VALUE_LIMIT, Managed, declared, encode
from reconciler.core.ownership import parse as parse_record
from reconciler.core.resolve import (
    alias_target,
    copy_sources,
    find_copy,
    moving_aliases,
    source_version,
)
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import STAGES, CopyFrom, ModelSpec, VersionSpec


class Kind(str, Enum):
    """What a change touches (SPEC §5)."""

    ALIAS = "alias"
    STAGE = "stage"
    TAG = "tag"
    VERSION_TAG = "version_tag"
    DESCRIPTION = "description"
    VERSION_DESCRIPTION = "version_description"
    COPY = "copy"
    """A new version of the model copied from another model's version (SPEC v2 §2)."""


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
    workspace: str | None = None
    """The MLflow workspace of the model (None: the server's default, or none)."""

    @property
    def is_removal(self) -> bool:
        """Removals run after every set, so a desired value is never absent (SPEC §6.2)."""
        return self.action is Action.REMOVE or (
            self.kind is Kind.STAGE and self.after == "Archived"
        )

    def gained(self) -> tuple[int, str] | None:
        """(version, alias or stage) when this change gives a version an alias or a stage.

        Those versions get the audit tag (SPEC §6.4); losing one does not.
        """
        if self.kind is Kind.ALIAS and isinstance(self.after, int):
            return self.after, self.key
        if self.kind is Kind.STAGE and self.after in STAGES and self.version is not None:
            return self.version, str(self.after)
        return None


@dataclass(frozen=True)
class Problem:
    """Something that makes the plan unappliable, located in the state where possible."""

    model: str
    message: str
    file: str | None = None
    line: int | None = None
    workspace: str | None = None
    """The MLflow workspace of the model (None: the server's default, or none)."""


@dataclass(frozen=True)
class Note:
    """Something a reviewer should see that is not a change (e.g. an unmanaged alias)."""

    model: str
    message: str
    workspace: str | None = None
    """The MLflow workspace of the model (None: the server's default, or none)."""


@dataclass(frozen=True)
class RecordWrite:
    """One write of the ownership record (``reconciler.managed``) on a model."""

    model: str
    value: str
    after_removals: bool
    """False: written before any change (claims new keys); True: after the removals."""
    dropped: tuple[int, ...] = ()
    """Versions whose keys did not fit the tag-value limit and are not recorded."""
    workspace: str | None = None
    """The MLflow workspace of the model (None: the server's default, or none)."""


@dataclass(frozen=True)
class Scope:
    """The part of a plan in one workspace."""

    workspace: str | None
    models: tuple[str, ...]
    observed_digest: str


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
    notes: tuple[Note, ...] = ()
    records: tuple[RecordWrite, ...] = ()
    """Ownership records apply writes with the changes (never shown as changes)."""
    evidence: tuple[Evidence, ...] = ()
    """For reviewers: what each alias move changes about the model (never decides)."""
    workspace: str | None = None
    """The workspace of files without one when the plan was made (--workspace /
    MLFLOW_WORKSPACE); a saved plan is refused under another (``core.scopes``)."""
    scopes: tuple[Scope, ...] = ()
    """Per workspace: its models and observed digest (``core.scopes.split`` gives one
    plan per workspace for apply and the stale check); empty: one unnamed scope."""

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


def _copy_problems(
    name: str, spec: ModelSpec, obs: ObservedModel, observed: ObservedState, src: Source
) -> Iterator[Problem]:
    """A copy to be made needs its source; an existing copy must be READY."""
    for alias, value in sorted(spec.aliases.items()):
        if not isinstance(value, CopyFrom):
            continue
        line = src.locate(name, "aliases", alias)
        copy = find_copy(obs, value)
        if copy is not None:
            if copy.status != "READY":
                yield Problem(
                    name,
                    f"version {copy.version} of {name!r} (the copy of {value.label()}) is "
                    f"{copy.status}, not READY",
                    src.file,
                    line,
                )
            continue
        source = source_version(observed, value)
        if value.from_ not in observed.models:
            yield Problem(name, f"copy source model {value.from_!r} does not exist", src.file, line)
        elif source is None:
            yield Problem(
                name, f"copy source {value.from_!r} has no version {value.version}", src.file, line
            )
        elif source.status != "READY":
            yield Problem(
                name,
                f"copy source {value.label()} is {source.status}, not READY",
                src.file,
                line,
            )


def _version_problems(
    name: str, spec: ModelSpec, obs: ObservedModel, src: Source
) -> Iterator[Problem]:
    referenced: dict[int, tuple[object, ...]] = {}
    for alias, number in spec.aliases.items():
        if isinstance(number, int):
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


def _removal(model: str, kind: Kind, key: str, before: Any, version: int | None = None) -> Change:
    after: Any = "" if kind in BLANK_IS_ABSENT else None
    return Change(model, kind, key, Action.REMOVE, before, after, version)


def plan_model(
    name: str,
    spec: ModelSpec,
    obs: ObservedModel,
    owned: Managed = EMPTY,
    observed: ObservedState | None = None,
) -> Iterator[Change]:
    """Changes for one model, in a fixed order: copies, aliases, stages, description, tags,
    versions.

    Three-way rule: a declared key is set to the declared value; a key in ``owned`` (the
    ownership record) that is no longer declared is removed; any other key is left alone
    (aliases: unless ``prune``). A copy that does not exist yet is made once, before the
    alias that points at it.
    """
    context = observed or ObservedState({name: obs})
    targets = {a: alias_target(v, obs, context) for a, v in spec.aliases.items()}
    refs = sorted(
        {t.copy_of for t in targets.values() if t.copy_of and t.number is None},
        key=lambda r: (r.from_, r.version),
    )
    for ref in refs:
        key = f"{ref.from_}/{ref.version}"
        yield Change(name, Kind.COPY, key, Action.ADD, None, ref.source)
    for alias in sorted(spec.aliases):
        target = targets[alias]
        after: Any = target.number
        if after is None and target.copy_of is not None:
            after = {"from": target.copy_of.from_, "version": target.copy_of.version}
        yield from _diff_value(name, Kind.ALIAS, alias, obs.aliases.get(alias), after)
    dropped = set(obs.aliases) - set(spec.aliases)
    for alias in sorted(dropped if spec.prune else dropped & owned.aliases):
        yield _removal(name, Kind.ALIAS, alias, obs.aliases[alias])
    declared_stage = {number: stage for stage, number in spec.stages.items()}
    for number in sorted(obs.versions):
        stage = obs.versions[number].stage
        want: str | None = declared_stage.get(number)
        if want is None and stage in spec.stages:
            want = "Archived"
        if want is not None and want != stage:
            yield Change(name, Kind.STAGE, str(number), Action.UPDATE, stage, want, number)
        elif want is None and stage in owned.stages:
            yield Change(name, Kind.STAGE, str(number), Action.REMOVE, stage, "None", number)
    if spec.description is not None:
        yield from _diff_value(
            name, Kind.DESCRIPTION, "description", obs.description, spec.description
        )
    elif owned.description and obs.description:
        yield _removal(name, Kind.DESCRIPTION, "description", obs.description)
    for key in sorted(spec.tags):
        yield from _diff_value(name, Kind.TAG, key, obs.tags.get(key), spec.tags[key])
    for key in sorted((owned.tags - set(spec.tags)) & set(obs.tags)):
        yield _removal(name, Kind.TAG, key, obs.tags[key])
    owned_versions = owned.version_tags.keys() | owned.version_descriptions
    for number in sorted(spec.versions.keys() | owned_versions):
        version = obs.versions.get(number)
        if version is None:
            continue
        vspec = spec.versions.get(number, VersionSpec())
        if vspec.description is not None:
            yield from _diff_value(
                name,
                Kind.VERSION_DESCRIPTION,
                "description",
                version.description,
                vspec.description,
                number,
            )
        elif number in owned.version_descriptions and version.description:
            yield _removal(
                name, Kind.VERSION_DESCRIPTION, "description", version.description, number
            )
        for key in sorted(vspec.tags):
            yield from _diff_value(
                name, Kind.VERSION_TAG, key, version.tags.get(key), vspec.tags[key], number
            )
        gone = owned.version_tags.get(number, frozenset()) - set(vspec.tags)
        for key in sorted(gone & set(version.tags)):
            yield _removal(name, Kind.VERSION_TAG, key, version.tags[key], number)


def unmanaged_notes(
    name: str, spec: ModelSpec, obs: ObservedModel, owned: Managed
) -> Iterator[Note]:
    """Live keys the state neither declares nor has recorded: left alone, but shown."""
    if not spec.prune:
        for alias in sorted(set(obs.aliases) - set(spec.aliases) - owned.aliases):
            yield Note(
                name,
                f"alias {alias} (version {obs.aliases[alias]}) is not managed by the state; "
                "left alone",
            )
    for key in sorted(set(managed_tags(obs.tags)) - set(spec.tags) - owned.tags):
        if not key.startswith("mlflow."):
            yield Note(name, f"tag {key} is not managed by the state; left alone")
    staged = sorted(
        (v.version, v.stage)
        for v in obs.versions.values()
        if v.stage in STAGES and v.stage not in spec.stages and v.stage not in owned.stages
    )
    for number, stage in staged:
        yield Note(name, f"version {number} is in {stage}, which the state does not manage")


def record_writes(name: str, spec: ModelSpec, owned: Managed) -> Iterator[RecordWrite]:
    """The ownership record writes for a model that apply writes to.

    Keys are claimed before they are set (``first``: old record + declared keys) and
    released only after their removal succeeded (``final``: declared keys), so an apply
    cut off half-way never forgets a key it may still have to remove.
    """
    want = declared(spec)
    first = owned.union(want)
    if first != owned:
        text, dropped = encode(first)
        yield RecordWrite(name, text, after_removals=False, dropped=dropped)
    if want != first:
        text, dropped = encode(want)
        yield RecordWrite(name, text, after_removals=True, dropped=dropped)


def compute_plan(
    desired: DesiredState, observed: ObservedState, registry: str = "", evidence: bool = False
) -> Plan:
    """Diff every desired model against the registry; a pure function of its inputs.

    With ``evidence``, each alias move carries the comparison a reviewer needs.
    """
    found: list[Evidence] = []
    changes: list[Change] = []
    problems: list[Problem] = []
    gates: list[GateResult] = []
    notes: list[Note] = []
    records: list[RecordWrite] = []
    for name in sorted(desired.models):
        spec, src = desired.models[name], desired.sources[name]
        obs = observed.models.get(name)
        if obs is None and not copy_sources(spec):
            problems.append(
                Problem(name, f"model {name!r} does not exist in the registry", src.file, src.line)
            )
            continue
        obs = obs or ObservedModel(name)  # a copy creates it
        problems.extend(_copy_problems(name, spec, obs, observed, src))
        problems.extend(_version_problems(name, spec, obs, src))
        owned = parse_record(obs.tags.get(MANAGED_TAG))
        model_changes = list(plan_model(name, spec, obs, owned, observed))
        changes.extend(model_changes)
        moving = moving_aliases(spec, obs, observed)
        gates.extend(evaluate_gates(name, spec, obs, observed.metrics, moving, observed.signatures))
        if evidence:
            found.extend(evidence_of.for_model(name, spec, obs, observed, moving, registry))
        notes.extend(unmanaged_notes(name, spec, obs, owned))
        if model_changes:
            model_records = list(record_writes(name, spec, owned))
            records.extend(model_records)
            dropped = sorted({d for r in model_records for d in r.dropped})
            if dropped:
                notes.append(
                    Note(
                        name,
                        f"the ownership record would exceed {TAG_VALUE_LIMIT} characters: keys "
                        f"of versions {', '.join(map(str, dropped))} are not recorded, so a "
                        "later revert will not remove them",
                    )
                )
    return Plan(
        registry=registry,
        state_digest=desired.digest(),
        observed_digest=observed.digest(desired.models),
        models=tuple(sorted(desired.models)),
        changes=tuple(changes),
        gates=tuple(gates),
        problems=tuple(problems),
        sources={n: f"{s.file}:{s.line}" for n, s in desired.sources.items()},
        notes=tuple(notes),
        records=tuple(records),
        evidence=tuple(found),
    )


def current_value(observed: ObservedState, change: Change) -> Any:
    """The registry's value at the place ``change`` writes (None when absent)."""
    model = observed.models.get(change.model)
    if model is None:
        return None
    if change.kind is Kind.ALIAS:
        return model.aliases.get(change.key)
    if change.kind is Kind.COPY:
        copies = [v for v in model.versions.values() if v.source == change.after]
        return change.after if copies else None
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


def record_differences(records: tuple[RecordWrite, ...], observed: ObservedState) -> list[str]:
    """Ownership records the registry does not hold as written (post-apply verification)."""
    last = {r.model: r.value for r in records}
    out = []
    for model, value in sorted(last.items()):
        obs = observed.models.get(model)
        have = obs.tags.get(MANAGED_TAG) if obs else None
        if have != value:
            out.append(f"{model}: ownership record {MANAGED_TAG} is {have!r}, expected {value!r}")
    return out
