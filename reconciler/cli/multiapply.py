"""``apply`` over several registries (SPEC v4 §19), from the state or a saved plan.

Apply refuses everything when any plan has errors (or, for a saved plan, when any
registry it read has another URI or changed since), takes every writing registry's lock
in name order before the first write, and ends every run it started.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import click

from reconciler import api, logged_apply
from reconciler.cli.console import Options, fail, out, warn
from reconciler.cli.registries import connect_all, make_plans, title
from reconciler.core.applylog.record import KILLED
from reconciler.core.holding import held_line, hold, still_blocked, without
from reconciler.core.plan import Plan
from reconciler.core.ports import ApplyLog, Registry
from reconciler.errors import PlanError, ReconcilerError
from reconciler.render.escape import terminal
from reconciler.render.planset import PlanSet
from reconciler.render.text import plan_errors, render_text, summary_line
from reconciler.state.audit import current_audit
from reconciler.state.scope import StateSet

Work = tuple[str | None, Plan, StateSet | None]
"""A registry's name, its plan and (from the state) its part, for verification."""


def apply_all(
    opts: Options,
    desired: StateSet,
    yes: bool,
    lock_timeout: float,
    override: str | None,
    no_apply_log: bool,
) -> None:
    """Apply every registry's plan, made now from the state."""
    registries = connect_all(desired, opts.tracking_uri, debug=opts.debug, warn=warn)
    if lock_timeout > 0 and not no_apply_log:  # wait first, then read: fresh plans
        for name in sorted(registries, key=lambda n: n or ""):
            log = logged_apply.open_log(registries[name], opts.workspace)
            logged_apply.await_free(log, lock_timeout, warn)
    read_ms = int(time.time() * 1000)
    plans = make_plans(desired, registries).plans
    work = [(n, p, desired.for_registry(n)) for n, p in plans]
    run_all(opts, registries, work, read_ms, yes, lock_timeout, override, no_apply_log, False)


def apply_saved(
    opts: Options,
    saved: PlanSet,
    yes: bool,
    lock_timeout: float,
    override: str | None,
    no_apply_log: bool,
) -> None:
    """Apply a saved plan over several registries, refused (nothing written) when a
    registry's URI differs or anything it read changed since."""
    from reconciler.mlflow.connection import redact
    from reconciler.mlflow.credentials import named
    from reconciler.mlflow.foreign import connect_names, source_digest
    from reconciler.mlflow.registry import MlflowRegistry

    for name, plan in saved.plans:
        if name is None:
            api.check_plan_offline(plan, opts.tracking_uri, opts.workspace)
    for name, uri in [(n, p.registry) for n, p in saved.plans if n] + [
        (s.name, s.registry) for s in saved.sources
    ]:
        now_at = redact(named(name).uri)
        if now_at != uri:
            raise PlanError(
                f"the plan was made for registry {name!r} at {uri}, not {now_at}; "
                "make a new plan (nothing was written)"
            )
    for name, plan in saved.plans:
        if not plan.applyable:
            raise PlanError(f"the saved plan for registry {name!r} has errors or failed gates")
    registries = connect_names(
        {n: None for n in [*(n for n, _ in saved.plans), *(s.name for s in saved.sources)]},
        lambda: api.connect(opts.tracking_uri, debug=opts.debug, warn=warn),
        lambda at, key: MlflowRegistry(at, debug=opts.debug, warn=warn, creds=key),
    )
    read_ms = int(time.time() * 1000)
    for name, plan in saved.plans:
        try:
            api.check_saved_plan(plan, registries[name])
        except PlanError as exc:
            raise PlanError(f"registry {name or '(default)'}: {exc.message}") from None
    for source in saved.sources:
        if source_digest(registries[source.name], source.models) != source.observed_digest:
            raise PlanError(
                f"the saved plan is stale: the copy sources on registry {source.name!r} "
                "changed since it was made; run plan again (nothing was written)"
            )
    work = [(n, p, None) for n, p in saved.plans]
    run_all(opts, registries, work, read_ms, yes, lock_timeout, override, no_apply_log, True)


def run_all(
    opts: Options,
    registries: Mapping[str | None, Registry],
    plans: Sequence[Work],
    read_ms: int,
    yes: bool,
    lock_timeout: float,
    override: str | None,
    no_apply_log: bool,
    saved: bool,
) -> None:
    """Show the plans, then write them: locks in name order before any write."""
    for name, plan, _ in plans:
        out(terminal(title(name)) + "\n" + render_text(plan, opts.color), nl=False)
    for _, plan, _ in plans:
        if not plan.applyable:
            raise plan_errors(plan, "nothing was written")
    now = datetime.now(timezone.utc)
    work, held, overridden = [], [], []
    for name, plan, part in plans:
        blocked = still_blocked(plan, now) if override is None else ()
        held += list(blocked)
        overridden += list(plan.blocked) if override is not None else []
        if blocked:
            plan, part = hold(plan, blocked), without(part, blocked) if part else None
        if plan.changes or plan.records:
            work.append((name, plan, part))
    if work and not yes and not click.confirm("Apply these changes?", default=False):
        fail("apply cancelled (nothing was written)")
    audit = current_audit(opts.state)
    leases: list[tuple[ApplyLog, logged_apply.Lease]] = []
    started = 0
    try:
        if not no_apply_log:
            for name, plan, _ in work:  # name order: two appliers never hold one each
                where = logged_apply.log_workspace(plan, opts.workspace)
                log = logged_apply.open_log(registries[name], where)
                reason = override if overridden else None
                kept = {b.model for b in held}
                scope = tuple(m for m in plan.models if m not in kept)
                lease = logged_apply.acquire(
                    log,
                    plan,
                    audit,
                    read_ms,
                    scope if kept or saved else None,
                    lock_timeout,
                    override=reason,
                )
                leases.append((log, lease))
        for name, plan, part in work:
            started += 1
            registry = registries[name]

            def apply(p: Plan = plan, r: Registry = registry, d: StateSet | None = part) -> object:
                return api.apply_plan(p, r, d, audit=audit)

            if leases:
                logged_apply.run_logged(*leases[started - 1], apply, len(plan.changes))
            else:
                apply()
            out(f"Apply complete on {name or '(default)'}: {summary_line(plan)}")
    except ReconcilerError:
        for log, lease in leases[started:]:  # never started: they stand back
            lease.heartbeat.close()
            with contextlib.suppress(ReconcilerError):
                log.end(lease.run.run_id, KILLED)
        raise
    for block in held:
        out(terminal(f"held         {block.model}: {held_line(block)}"))
    if held:
        fail(f"{len(held)} model(s) held by a promotion window")
