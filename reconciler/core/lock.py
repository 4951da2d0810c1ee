"""Who may write now: the apply log used as a lock (SPEC §12), decided on plain data.

MLflow offers no lock, so every apply that means to write first creates its own
``RUNNING`` run in the apply log, then reads the recent runs and decides here:

- a ``RUNNING`` run younger than the lock timeout that started before this one (ties:
  the smaller run id) holds the registry: this apply stops before any write;
- a ``RUNNING`` run that started *after* this one has not decided yet, or did not see
  this run and went ahead: wait until it ends (``KILLED``: it stood back) or, after a
  bound, stop (it went ahead);
- a run that ended (``FINISHED`` / ``FAILED``) after this apply read the registry may
  have changed what the plan was made from: the plan is stale, stop;
- ``RUNNING`` runs older than the timeout are dead applies: they hold nothing and are
  reported with the command that clears them.

The order key is the run's start time as its client stamped it, so the rule needs the
appliers' clocks to agree to within the time it takes to create a run and search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"


@dataclass(frozen=True)
class ApplyRecord:
    """One apply in the log: an MLflow run of the apply experiment."""

    run_id: str
    status: str
    """``RUNNING`` while it writes, ``FINISHED`` once verified, ``FAILED``, or ``KILLED``
    (it stood back for another apply, or ``reconciler unlock`` ended it)."""
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

    @property
    def started(self) -> str:
        """The start time as UTC ISO-8601, to the second."""
        return _iso(self.start_ms)

    @property
    def ended(self) -> str | None:
        return _iso(self.end_ms) if self.end_ms is not None else None

    def key(self) -> tuple[int, str]:
        """The order among simultaneous applies: start time, then run id."""
        return (self.start_ms, self.run_id)

    def touched(self, model: str) -> bool:
        """Whether this apply may have changed ``model``."""
        return self.models is None or model in self.models


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).replace(microsecond=0).isoformat()


class Outcome(str, Enum):
    """What an apply that holds a run of its own does next."""

    PROCEED = "proceed"
    HELD = "held"
    """An earlier fresh ``RUNNING`` apply holds the registry."""
    WAIT = "wait"
    """A later ``RUNNING`` apply has not decided yet."""
    STALE_PLAN = "stale_plan"
    """Another apply ended after this one read the registry."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    other: ApplyRecord | None = None
    """The run that holds the registry, is awaited, or made the plan stale."""
    stale_locks: tuple[ApplyRecord, ...] = ()
    """``RUNNING`` runs older than the timeout (dead applies), oldest first."""


def decide(
    me: ApplyRecord,
    runs: Iterable[ApplyRecord],
    read_ms: int,
    now_ms: int,
    timeout_ms: int,
) -> Verdict:
    """What ``me`` may do, given the log's recent ``runs`` (``me`` may be among them).

    ``read_ms`` is when this apply began reading the registry for its plan.
    """
    others = [r for r in runs if r.run_id != me.run_id]
    running = [r for r in others if r.status == RUNNING]
    fresh = [r for r in running if now_ms - r.start_ms < timeout_ms]
    stale = tuple(sorted((r for r in running if r not in fresh), key=ApplyRecord.key))
    before = [r for r in fresh if r.key() < me.key()]
    if before:
        return Verdict(Outcome.HELD, min(before, key=ApplyRecord.key), stale)
    ended = [
        r
        for r in others
        if r.status in (FINISHED, FAILED) and r.end_ms is not None and r.end_ms >= read_ms
    ]
    if ended:
        return Verdict(Outcome.STALE_PLAN, max(ended, key=lambda r: r.end_ms or 0), stale)
    after = [r for r in fresh if r.key() > me.key()]
    if after:
        return Verdict(Outcome.WAIT, min(after, key=ApplyRecord.key), stale)
    return Verdict(Outcome.PROCEED, None, stale)


def last_finished(runs: Iterable[ApplyRecord]) -> ApplyRecord | None:
    """The most recent verified apply (the controller's "last applied commit")."""
    done = [r for r in runs if r.status == FINISHED]
    return max(done, key=lambda r: (r.end_ms or r.start_ms, r.run_id)) if done else None
