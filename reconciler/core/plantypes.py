"""What a plan is made of: changes, problems, notes, ownership-record writes, the plan.

Plain frozen data, no decisions: ``diff`` produces changes, ``problems`` the problems
and notes, ``plan.compute_plan`` puts them together; renderers and ``apply`` read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from reconciler.core.evidence import Evidence
from reconciler.core.gates import GateResult
from reconciler.core.windows import Blocked
from reconciler.state.models import STAGES


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
class EvidenceGap:
    """An alias move whose evidence was not read (beyond ``plan --evidence N``)."""

    model: str
    alias: str
    workspace: str | None = None


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
    evidence_omitted: tuple[EvidenceGap, ...] = ()
    """Alias moves shown without evidence (``--evidence N``): said once, null in JSON."""
    workspace: str | None = None
    """The workspace of files without one when the plan was made (--workspace /
    MLFLOW_WORKSPACE); a saved plan is refused under another (``core.scopes``)."""
    prompts: tuple[str, ...] = ()
    """The names in ``models`` that are prompts (SPEC v4 §20), for words only."""
    scopes: tuple[Scope, ...] = ()
    """Per workspace: its models and observed digest (``core.scopes.split`` gives one
    plan per workspace for apply and the stale check); empty: one unnamed scope."""
    blocked: tuple[Blocked, ...] = ()
    """Models whose changes a promotion window holds back now (SPEC v4 §18): not an
    error; ``apply`` leaves them out unless told to override."""

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
