"""What the controller knows after each round, as one immutable snapshot (and its JSON).

The worker thread builds a new snapshot and swaps it in; the HTTP handlers only read the
current one, so a page never shows half a round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.render.planfile import change_to_dict
from reconciler.serve.decide import ModelStatus, Sync

RECENT = 50
"""Events kept for the status page."""


@dataclass(frozen=True)
class LastApply:
    """The last apply the apply log records (SPEC §12)."""

    commit: str | None
    actor: str = ""
    at: str = ""
    """UTC ISO-8601 start time of the apply."""
    run_id: str = ""
    running: bool = False
    """True while an apply holds the registry: the controller heals nothing meanwhile."""


@dataclass(frozen=True)
class Event:
    """Something that happened, for the page and the notifications."""

    at: float
    model: str
    event: str
    text: str


@dataclass(frozen=True)
class Snapshot:
    """Everything the status endpoints show."""

    registry: str
    models: tuple[ModelStatus, ...] = ()
    workspace: str | None = None
    """The workspace these models are in (None: the server's default)."""
    head: str | None = None
    """The commit checked out (None outside git)."""
    applied_commit: str | None = None
    """The commit drift is measured against: the apply log's, else HEAD."""
    last_apply: LastApply | None = None
    healthy: bool = False
    """True while the last resync succeeded."""
    last_success: float | None = None
    last_attempt: float | None = None
    errors: tuple[str, ...] = ()
    """What went wrong in the last round (registry, git, state), one line each."""
    leader: bool = True
    """This replica leads (heals, applies, notifies); False: a read-only standby."""
    events: tuple[Event, ...] = field(default_factory=tuple)
    """Most recent first."""
    parts: tuple[Snapshot, ...] = ()
    """One per workspace when a process serves several (``models`` are theirs, in order)."""

    def workspaces(self) -> tuple[str | None, ...]:
        """The workspace of each model, in the order of ``models``."""
        if not self.parts:
            return tuple(self.workspace for _ in self.models)
        return tuple(p.workspace for p in self.parts for _ in p.models)


STALE_ROUNDS = 3
"""/healthz fails when no full round succeeded within this many intervals."""


def alive(snapshot: Snapshot, now: float, interval: float) -> bool:
    """``/healthz``: the last full round succeeded, and one did within three intervals
    (a loop that stopped running, for whatever reason, is not healthy)."""
    fresh = snapshot.last_success is not None and now - snapshot.last_success <= (
        STALE_ROUNDS * interval
    )
    return snapshot.healthy and fresh


def iso(at: float | None) -> str | None:
    """Epoch seconds as UTC ISO-8601 (None stays None)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, timezone.utc).replace(microsecond=0).isoformat()


def counts(snapshot: Snapshot) -> dict[str, int]:
    """How many models are in each condition."""
    found = {s.value: 0 for s in Sync}
    for model in snapshot.models:
        found[model.state.value] += 1
    return found


def to_json(snapshot: Snapshot) -> dict[str, Any]:
    """``/api/status``: per model and alias the declared, live and last applied value."""
    last = snapshot.last_apply
    return {
        "registry": snapshot.registry,
        "healthy": snapshot.healthy,
        "leader": snapshot.leader,
        "head": snapshot.head,
        "applied_commit": snapshot.applied_commit,
        "last_apply": None
        if last is None
        else {
            "commit": last.commit,
            "actor": last.actor,
            "at": last.at,
            "run_id": last.run_id,
            "running": last.running,
        },
        "last_success": iso(snapshot.last_success),
        "last_attempt": iso(snapshot.last_attempt),
        "errors": list(snapshot.errors),
        "counts": counts(snapshot),
        "workspaces": [
            {
                "workspace": p.workspace,
                "healthy": p.healthy,
                "applied_commit": p.applied_commit,
                "last_success": iso(p.last_success),
                "errors": list(p.errors),
            }
            for p in (snapshot.parts or (snapshot,))
        ],
        "models": [
            {
                "name": m.name,
                "workspace": ws,
                "state": m.state.value,
                "self_heal": m.self_heal,
                "problem": m.problem or None,
                "aliases": [
                    {
                        "alias": r.alias,
                        "declared": r.declared,
                        "live": r.live,
                        "applied": r.applied,
                        "state": r.state.value,
                    }
                    for r in m.aliases
                ],
                "drift": [change_to_dict(c) for c in m.drift],
            }
            for m, ws in zip(snapshot.models, snapshot.workspaces(), strict=True)
        ],
        "events": [
            {"at": iso(e.at), "model": e.model, "event": e.event, "text": e.text}
            for e in snapshot.events
        ],
    }
