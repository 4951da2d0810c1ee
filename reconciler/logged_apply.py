"""The steps of a logged apply (SPEC §12): take the lock, write, end the run.

An apply that means to write first creates its own ``RUNNING`` run, then asks
``core.lock.decide`` whether it may go ahead; only then does it touch the registry. The
run ends ``FINISHED`` once verified, ``FAILED`` on any error, ``KILLED`` when it stood
back for another apply. If the log cannot be written, nothing is written at all.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.core.lock import FAILED, FINISHED, KILLED, ApplyRecord, Outcome, decide
from reconciler.core.plan import Plan
from reconciler.core.ports import ApplyLog, Registry
from reconciler.core.scopes import workspaces
from reconciler.core.soak import ALIASES_TAG, aliases_tag
from reconciler.errors import ApplyError, ReconcilerError, RegistryError
from reconciler.render.planfile import to_json
from reconciler.state.audit import AuditInfo

LOCK_TIMEOUT = 15 * 60.0
"""Seconds after which a ``RUNNING`` apply run no longer holds the registry."""
WAIT_SECONDS = 10.0
"""How long an apply waits for a later simultaneous apply to stand back."""
POLL_SECONDS = 0.2
OVERRIDE_TAG = "reconciler.override"
"""On an apply run: the reason given to ``--override-window`` (SPEC v4 §18)."""
NO_LOG_HINT = "pass --no-apply-log to apply without the log (and without the lock)"
T = TypeVar("T")


@dataclass(frozen=True)
class Lease:
    """This apply's run, which holds the registry until it ends."""

    run: ApplyRecord
    stale: tuple[ApplyRecord, ...]
    """Dead applies' runs still ``RUNNING`` past the timeout (reported, not obeyed)."""


def open_log(registry: Registry, workspace: str | None = None) -> ApplyLog:
    """The apply log on the registry's own tracking server, in the apply's default
    workspace (``--workspace`` / MLFLOW_WORKSPACE): that team's lock and history."""
    from reconciler.mlflow.applylog import MlflowApplyLog

    return MlflowApplyLog.of(registry.in_workspace(workspace) if workspace else registry)


def log_workspace(plan: Plan, default: str | None) -> str | None:
    """Where an apply's log run and lock live: ``--workspace`` / MLFLOW_WORKSPACE, else
    the one workspace the plan touches (a team's apply is logged where that team may
    write, and ``history`` finds it beside the model), else the server's default."""
    if default is not None:
        return default
    named = {w for w in workspaces(plan) if w is not None}
    return named.pop() if len(named) == 1 else None


def unlock_command(run_id: str) -> str:
    return f"reconciler unlock {run_id}"


def stale_warning(run: ApplyRecord, timeout: float) -> str:
    """One line for a dead apply's lock, with the command that clears it."""
    return (
        f"stale lock: apply run {run.run_id} by {run.actor or 'unknown'}, started "
        f"{run.started}, is still RUNNING after --lock-timeout {format_seconds(timeout)} and no "
        f"longer holds the registry; clear it with: {unlock_command(run.run_id)}"
    )


def format_seconds(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _refusal(outcome: Outcome, other: ApplyRecord | None, timeout: float) -> str:
    who = f"run {other.run_id} by {other.actor or 'unknown'}" if other else "another run"
    if outcome is Outcome.HELD and other is not None:
        return (
            f"another apply holds the registry: {who}, started {other.started}, is RUNNING; "
            f"nothing was written (if that apply is dead: {unlock_command(other.run_id)}, or "
            f"wait until it is older than --lock-timeout {format_seconds(timeout)})"
        )
    if outcome is Outcome.STALE_PLAN and other is not None:
        return (
            f"another apply ({who}) ended at {other.ended}, after this plan read the "
            "registry; nothing was written; run apply again"
        )
    return f"another apply ({who}) started at the same time and went ahead; nothing was written"


def _logged(call: Callable[[], T], what: str) -> T:
    """A log call that must succeed before any registry write."""
    try:
        return call()
    except RegistryError as exc:
        raise ApplyError(
            f"the apply log cannot be {what}: {exc.message}; nothing was written; {NO_LOG_HINT}"
        ) from exc


def acquire(
    log: ApplyLog,
    plan: Plan,
    audit: AuditInfo,
    read_ms: int,
    timeout: float = LOCK_TIMEOUT,
    wait: float = WAIT_SECONDS,
    override: str | None = None,
) -> Lease:
    """Start this apply's run and take the lock, or stop (exit 1) before any write.

    ``read_ms`` is when the plan began reading the registry. The run records the aliases
    the plan sets (soak gates count from it) and ``override``: why a promotion window
    was overridden (``apply --override-window``).
    """
    models = sorted({c.model for c in plan.changes} | {r.model for r in plan.records})
    named = tuple(w for w in workspaces(plan) if w is not None)
    tags = {ALIASES_TAG: sets} if (sets := aliases_tag(plan.changes)) else {}
    if override is not None:
        tags[OVERRIDE_TAG] = override
    me = _logged(
        lambda: log.start(audit.commit, audit.actor, plan.registry, models, named, tags),
        "written",
    )
    try:
        stale = _take(log, me, plan, read_ms, timeout, wait)
    except BaseException:
        # standing back, or the log failing half-way: this run must not hold the lock
        with contextlib.suppress(ReconcilerError):
            log.end(me.run_id, KILLED)
        raise
    return Lease(me, stale)


def _take(
    log: ApplyLog, me: ApplyRecord, plan: Plan, read_ms: int, timeout: float, wait: float
) -> tuple[ApplyRecord, ...]:
    """Decide, waiting for a later simultaneous apply to stand back; the stale locks seen."""
    deadline = time.monotonic() + wait
    while True:
        runs = _logged(log.recent, "read")
        verdict = decide(me, runs, read_ms, int(time.time() * 1000), int(timeout * 1000))
        if verdict.outcome is Outcome.PROCEED:
            break
        if verdict.outcome is Outcome.WAIT and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            continue
        raise ApplyError(_refusal(verdict.outcome, verdict.other, timeout))
    _logged(lambda: log.attach(me.run_id, "plan.json", to_json(plan)), "written")
    return verdict.stale_locks


def run_logged(log: ApplyLog, lease: Lease, apply: Callable[[], T]) -> T:
    """Run ``apply`` under the lease; end the run FINISHED or FAILED."""
    try:
        result = apply()
    except BaseException:
        # the apply's own error is the one to say; a run left RUNNING expires
        with contextlib.suppress(ReconcilerError):
            log.end(lease.run.run_id, FAILED)
        raise
    try:
        log.end(lease.run.run_id, FINISHED)
    except RegistryError as exc:
        raise ApplyError(
            f"all changes applied and verified, but the apply log run {lease.run.run_id} could "
            f"not be ended ({exc.message}); it holds the lock until it is older than "
            f"--lock-timeout, or: {unlock_command(lease.run.run_id)}"
        ) from exc
    return result
