"""Who may write now: the apply log used as a lock, the lock as a lease (SPEC §12, §17).

MLflow offers no lock, so every apply (and every heal) first creates its own ``RUNNING``
run, renews a heartbeat on it every ``HEARTBEAT`` seconds, then reads the recent runs
and decides here:

- a live ``RUNNING`` run (heartbeat, or start, younger than ``LEASE``) that started
  before this one (ties: the smaller run id) holds the registry: wait or stop;
- a live ``RUNNING`` run that started *after* this one has not decided yet: wait until
  it stands back (``KILLED``) or, after a bound, stop (it went ahead);
- a run that ended (``FINISHED`` / ``FAILED``) after this apply read the registry (or,
  for a heal, any that ended since it read the log) may have changed what the plan was
  made from: the plan is stale, stop;
- a ``RUNNING`` run whose lease ran out is a dead apply: it holds nothing, and the
  apply that finds it ends it ``KILLED``;
- a run dated more than ``FUTURE`` ahead of the reader's clock is reported and ignored:
  it can neither hold nor stale anything.

Like Kubernetes' leader election, the rule needs the writers' clocks to agree to within
a few seconds (``reconciler check`` compares them with the server's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from reconciler.core.applylog.record import FAILED, FINISHED, RUNNING, ApplyRecord

HEARTBEAT = 10.0
"""Seconds between the heartbeats of a running apply."""
LEASE = 60.0
"""Seconds after its newest heartbeat that a running apply still holds the registry."""
FUTURE = 120.0
"""Seconds ahead of the reader's clock past which a run's times are not believed."""


class Outcome(str, Enum):
    """What an apply that holds a run of its own does next."""

    PROCEED = "proceed"
    HELD = "held"
    """An earlier live ``RUNNING`` apply holds the registry."""
    WAIT = "wait"
    """A later ``RUNNING`` apply has not decided yet."""
    STALE_PLAN = "stale_plan"
    """Another apply ended after this one read the registry (or the log)."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    other: ApplyRecord | None = None
    """The run that holds the registry, is awaited, or made the plan stale."""
    dead: tuple[ApplyRecord, ...] = ()
    """``RUNNING`` runs whose lease ran out (dead applies), oldest first: end them."""
    future: tuple[ApplyRecord, ...] = ()
    """Runs dated in the future of this clock: reported, ignored."""
    duplicates: tuple[ApplyRecord, ...] = ()
    """Other runs carrying this apply's id (a create retried after a lost answer)."""


def in_future(run: ApplyRecord, now_ms: int) -> bool:
    """Any of the run's times lies more than ``FUTURE`` ahead of ``now_ms``."""
    limit = now_ms + int(FUTURE * 1000)
    return max(run.start_ms, run.heartbeat_ms or 0, run.end_ms or 0) > limit


def alive(run: ApplyRecord, now_ms: int) -> bool:
    """A ``RUNNING`` run whose lease has not run out (and whose times are believable)."""
    return (
        run.status == RUNNING
        and not in_future(run, now_ms)
        and now_ms - run.last_beat_ms < int(LEASE * 1000)
    )


def decide(
    me: ApplyRecord,
    runs: Iterable[ApplyRecord],
    read_ms: int,
    now_ms: int,
    seen: frozenset[str] | None = None,
) -> Verdict:
    """What ``me`` may do, given the log's recent ``runs`` (``me`` may be among them).

    ``read_ms`` is when this apply began reading the registry for its plan; ``seen``
    (heals) holds the runs that had ended when the controller read the log, so any other
    ended run is news even if its applier's clock is behind.
    """
    runs = list(runs)
    mine = {me.run_id}
    duplicates = tuple(
        r for r in runs if me.apply_id and r.apply_id == me.apply_id and r.run_id not in mine
    )
    mine |= {r.run_id for r in duplicates}
    future = tuple(r for r in runs if r.run_id not in mine and in_future(r, now_ms))
    others = [r for r in runs if r.run_id not in mine and r not in future]
    running = [r for r in others if r.status == RUNNING]
    live = [r for r in running if alive(r, now_ms)]
    dead = tuple(sorted((r for r in running if r not in live), key=ApplyRecord.key))
    kw = {"dead": dead, "future": future, "duplicates": duplicates}
    before = [r for r in live if r.key() < me.key()]
    if before:
        return Verdict(Outcome.HELD, min(before, key=ApplyRecord.key), **kw)
    ended = [r for r in others if r.status in (FINISHED, FAILED) and _ended_since(r, read_ms, seen)]
    if ended:
        newest = max(ended, key=lambda r: r.end_ms or 0)
        return Verdict(Outcome.STALE_PLAN, newest, **kw)
    after = [r for r in live if r.key() > me.key()]
    if after:
        return Verdict(Outcome.WAIT, min(after, key=ApplyRecord.key), **kw)
    return Verdict(Outcome.PROCEED, None, **kw)


def _ended_since(run: ApplyRecord, read_ms: int, seen: frozenset[str] | None) -> bool:
    if seen is not None and run.run_id not in seen:
        return True
    return run.end_ms is not None and run.end_ms >= read_ms


def unlockable(run: ApplyRecord, now_ms: int) -> str | None:
    """Why ``reconciler unlock`` should not end ``run`` without ``--force`` (None: it may)."""
    if run.status != RUNNING:
        return f"run {run.run_id} is {run.status}, not RUNNING: nothing to clear"
    if alive(run, now_ms):
        seconds = max(0, (now_ms - run.last_beat_ms) // 1000)
        return (
            f"run {run.run_id} by {run.actor or 'unknown'} is alive (its last heartbeat was "
            f"{seconds} s ago): ending it lets two applies write at once; it releases the lock "
            f"itself, or {int(LEASE)} s after it dies (--force ends it anyway)"
        )
    return None
