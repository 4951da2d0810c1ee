"""A heal is an ordinary apply of one model's last applied state (SPEC §13).

It goes through the same path as ``reconciler apply``: a fresh plan (gates evaluated),
nothing written unless the plan is valid, the apply log's lock and run (SPEC §12), then
verification. The audit trail names the
actor ``reconciler-serve`` and the commit being restored, never HEAD: a heal does not
apply what was merged but not approved.
"""

from __future__ import annotations

import time
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


def restore(
    registry: Registry,
    target: DesiredState,
    model: str,
    commit: str | None,
    windows: bool = False,
) -> tuple[str, str, tuple[Change, ...]]:
    """Apply ``target``'s declaration of ``model``: (``healed`` | ``synced`` | ``held``
    | ``heal_failed``, a detail line, the changes written or refused). A heal restores
    the last applied state and is never blocked; with ``windows`` (``--auto-sync``
    applying a new commit), a model a promotion window blocks is ``held`` until it lets
    it (SPEC v4 §18)."""
    one = target.only((model,))
    desired = StateSet.of([one], one.files, one.workspace)
    try:
        read_ms = int(time.time() * 1000)
        plan = api.make_plan(desired, registry)
        if plan.problems:
            return "heal_failed", plan.problems[0].message, plan.changes
        if plan.failed_gates:
            return "heal_failed", describe_gate(plan.failed_gates[0]), plan.changes
        if not plan.changes:
            return "synced", "", ()
        if windows and plan.blocked:
            return "held", held_line(plan.blocked[0]), plan.changes
        audit = AuditInfo(
            applied_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            actor=ACTOR,
            commit=commit,
        )
        log = logged_apply.open_log(registry)
        lease = logged_apply.acquire(log, plan, audit, read_ms)  # the lock, as apply takes it
        logged_apply.run_logged(
            log, lease, lambda: api.apply_plan(plan, registry, desired, audit=audit)
        )
    except ReconcilerError as exc:
        return "heal_failed", str(exc), ()
    return "healed", (commit or "HEAD")[:12], plan.changes
