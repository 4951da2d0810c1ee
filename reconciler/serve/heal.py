"""A heal is an apply (SPEC §13, §17): one model's baseline state, through the same path.

A fresh plan (gates evaluated), nothing written unless it is valid, then the apply
log's lease exactly as ``reconciler apply`` takes it (its run signed, scoped to the one
model, naming the restored commit and the actor ``reconciler-serve``), then
verification. The heal is refused as stale, writing nothing, when any apply ended after
the controller read the log (``seen``): a heal never undoes a verified apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from reconciler import api, logged_apply
from reconciler.core.holding import held_line
from reconciler.core.plan import Change
from reconciler.core.ports import Registry
from reconciler.errors import ReconcilerError
from reconciler.render.text import describe_gate
from reconciler.state.audit import AuditInfo
from reconciler.state.load import DesiredState
from reconciler.state.scope import StateSet

ACTOR = "reconciler-serve"


@dataclass(frozen=True)
class Healed:
    """What one heal did."""

    result: str
    """``healed``, ``synced``, ``heal_failed``, or ``deferred`` (another apply holds or
    just changed the registry: the next round looks again)."""
    detail: str = ""
    changes: tuple[Change, ...] = ()
    run_id: str = ""
    """The heal's apply-log run, when it made one."""


def restore(
    registry: Registry,
    target: DesiredState,
    model: str,
    commit: str | None,
    repo: str,
    seen: frozenset[str],
    windows: bool = False,
) -> Healed:
    """Apply ``target``'s declaration of ``model`` (the state at ``commit``). A heal
    restores the last applied state and is never blocked; with ``windows``
    (``--auto-sync`` applying a new commit), a model a promotion window blocks is
    ``held`` until the window lets it (SPEC v4 §18)."""
    one = target.only((model,))
    desired = StateSet.of([one], one.files, one.workspace)
    run_id = ""
    try:
        read_ms = int(time.time() * 1000)
        plan = api.make_plan(desired, registry)
        if plan.problems:
            return Healed("heal_failed", plan.problems[0].message, plan.changes)
        if plan.failed_gates:
            return Healed("heal_failed", describe_gate(plan.failed_gates[0]), plan.changes)
        if not plan.changes:
            return Healed("synced")
        if windows and plan.blocked:
            return Healed("held", held_line(plan.blocked[0]), plan.changes)
        audit = AuditInfo(
            applied_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            actor=ACTOR,
            commit=commit,
            repo=repo,
        )
        log = logged_apply.open_log(registry)
        lease = logged_apply.acquire(log, plan, audit, read_ms, (model,), seen=seen)
        run_id = lease.run.run_id
        logged_apply.run_logged(
            log,
            lease,
            lambda: api.apply_plan(plan, registry, desired, audit=audit, stop=lease.stop),
            len(plan.changes),
        )
    except logged_apply.LockRefused as exc:
        return Healed("deferred", str(exc), (), run_id)
    except ReconcilerError as exc:
        return Healed("heal_failed", str(exc), (), run_id)
    return Healed("healed", (commit or "")[:12], plan.changes, run_id)
