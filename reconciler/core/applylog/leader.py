"""Which controller replica leads (SPEC §21), decided on plain data, like Kubernetes'
``leaderelection``: one lease record per state repository in the apply log, naming its
holder and when it last renewed. The holder renews every ``HEARTBEAT`` s; anyone may take
a lease not renewed for ``LEASE`` s. Only the leader heals, applies and notifies; the
others serve their pages read-only. After a write, the candidate reads the lease again:
the last writer wins, so two candidates that took it together agree on one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from reconciler.core.applylog.lease import FUTURE, LEASE

KIND = "reconciler.kind"
LEADER = "leader"
"""``reconciler.kind`` of the lease record (never an apply: ignored by lock and baselines)."""
HOLDER, RENEWED = "reconciler.leader", "reconciler.renewed"


@dataclass(frozen=True)
class LeaderLease:
    """The lease record: an MLflow run of the apply experiment, tagged."""

    run_id: str
    holder: str
    renewed_ms: int


class Step(str, Enum):
    CREATE = "create"
    """No lease record yet: create one naming me."""
    RENEW = "renew"
    """I hold it: renew."""
    TAKE = "take"
    """Its holder stopped renewing (or its time is not believable): take it."""
    FOLLOW = "follow"
    """Someone else holds a live lease."""


def next_step(lease: LeaderLease | None, me: str, now_ms: int) -> Step:
    """What candidate ``me`` does with the lease it just read."""
    if lease is None:
        return Step.CREATE
    if lease.holder == me:
        return Step.RENEW
    age = now_ms - lease.renewed_ms
    if age >= LEASE * 1000 or age < -FUTURE * 1000:
        return Step.TAKE
    return Step.FOLLOW
