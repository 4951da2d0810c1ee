"""One apply-log run as plain data (SPEC §17). Parsed from tags anyone may write: nothing
here is trusted until ``baseline`` and ``signing`` say so."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
ALL = "all"
"""``reconciler.scope`` of an apply that covered the whole state."""

PREFIX = "reconciler."
COMMIT, ACTOR, REGISTRY, WORKSPACE, MODELS = (
    "reconciler.commit",
    "reconciler.actor",
    "reconciler.registry",
    "reconciler.workspace",
    "reconciler.models",
)
REPO, SCOPE, CHANGES, APPLY_ID, HEARTBEAT, SIGNATURE, SEAL, RESULT = (
    "reconciler.repo",
    "reconciler.scope",
    "reconciler.changes",
    "reconciler.apply_id",
    "reconciler.heartbeat",
    "reconciler.signature",
    "reconciler.seal",
    "reconciler.result",
)


@dataclass(frozen=True)
class ApplyRecord:
    """One apply in the log: an MLflow run of the apply experiment."""

    run_id: str
    status: str
    """``RUNNING`` while it writes, ``FINISHED`` once verified, ``FAILED``, or ``KILLED``
    (it stood back, its lease ran out, or ``reconciler unlock`` ended it)."""
    start_ms: int
    """When the run was created (ms since the epoch, the applier's clock)."""
    end_ms: int | None
    actor: str
    """``GITHUB_ACTOR`` or the OS user."""
    commit: str
    """The state's commit (``-dirty`` when it had local changes), empty when unknown."""
    registry: str = ""
    """The registry written to, redacted."""
    workspace: str = ""
    models: tuple[str, ...] | None = None
    """The models the plan changed; None when not recorded (too many to fit a tag)."""
    repo: str = ""
    """The state repository's identity (``reconciler.repo``); empty on pre-v4 runs."""
    scope: tuple[str, ...] | None = None
    """The models the apply covered; None = the whole state (``all``)."""
    changes: int | None = None
    """How many changes the apply's plan had (0: a converged apply)."""
    apply_id: str = ""
    """The UUID the applier made before creating the run (finds a lost create again)."""
    heartbeat_ms: int | None = None
    """The newest heartbeat of a running apply (its lease, §17)."""
    signature: str = ""
    seal: str = ""
    """The HMAC that this run ended ``FINISHED`` at ``end_ms`` (set with the key only)."""

    @property
    def started(self) -> str:
        """The start time as UTC ISO-8601, to the second."""
        return iso(self.start_ms)

    @property
    def ended(self) -> str | None:
        return iso(self.end_ms) if self.end_ms is not None else None

    @property
    def last_beat_ms(self) -> int:
        """The newest sign of life: the heartbeat, else the start."""
        return max(self.start_ms, self.heartbeat_ms or 0)

    @property
    def dirty(self) -> bool:
        return self.commit.endswith("-dirty")

    def key(self) -> tuple[int, str]:
        """The order among simultaneous applies: start time, then run id."""
        return (self.start_ms, self.run_id)

    def covers(self, model: str) -> bool:
        """Whether this apply's scope included ``model`` (verified it, changes or none)."""
        return self.scope is None or model in self.scope


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).replace(microsecond=0).isoformat()


def scope_text(scope: tuple[str, ...] | None) -> str:
    """``all``, or the covered models as a compact sorted JSON list."""
    return ALL if scope is None else json.dumps(sorted(scope), separators=(",", ":"))


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None and len(text) <= 20 else None
    except ValueError:
        return None


def _names(text: str | None) -> tuple[str, ...] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def from_tags(
    run_id: str, status: str, start_ms: int, end_ms: int | None, tags: Mapping[str, str]
) -> ApplyRecord:
    """A run's record from its attributes and tags (unreadable tags read as absent)."""
    scope = tags.get(SCOPE)
    return ApplyRecord(
        run_id=run_id,
        status=status,
        start_ms=start_ms,
        end_ms=end_ms,
        actor=tags.get(ACTOR, ""),
        commit=tags.get(COMMIT, ""),
        registry=tags.get(REGISTRY, ""),
        workspace=tags.get(WORKSPACE, ""),
        models=_names(tags.get(MODELS)) if MODELS in tags else None,
        repo=tags.get(REPO, ""),
        scope=None if scope in (None, ALL) else (_names(scope) or ()),
        changes=_int(tags.get(CHANGES)),
        apply_id=tags.get(APPLY_ID, ""),
        heartbeat_ms=_int(tags.get(HEARTBEAT)),
        signature=tags.get(SIGNATURE, ""),
        seal=tags.get(SEAL, ""),
    )


TAG_LIMIT = 5000
"""MLflow 2.x caps tag values at 5,000 characters; a longer model list is left out."""


def to_tags(record: ApplyRecord) -> dict[str, str]:
    """The tags a new run carries for ``record`` (the inverse of ``from_tags``)."""
    tags = {
        COMMIT: record.commit,
        ACTOR: record.actor,
        REGISTRY: record.registry,
        REPO: record.repo,
        SCOPE: scope_text(record.scope),
        APPLY_ID: record.apply_id,
        HEARTBEAT: str(record.heartbeat_ms or record.start_ms),
        "mlflow.user": record.actor,
    }
    if record.changes is not None:
        tags[CHANGES] = str(record.changes)
    if record.workspace:
        tags[WORKSPACE] = record.workspace
    if record.signature:
        tags[SIGNATURE] = record.signature
    if record.models is not None:
        listed = json.dumps(sorted(record.models), separators=(",", ":"))
        if len(listed) <= TAG_LIMIT:
            tags[MODELS] = listed
    if len(tags[SCOPE]) > TAG_LIMIT:
        tags[SCOPE] = ALL if record.scope is None else "[]"
    return tags
