"""``plan`` and ``apply`` over several registries (SPEC v4 §19): one plan per server.

A state whose files name servers (``registry: NAME``) or copy from one is planned one
registry at a time, in name order (the unnamed ``--tracking-uri`` one first), each read
once. Apply refuses everything when any plan has errors, takes every writing registry's
lock in name order before the first write, and ends every run it started.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import click

from reconciler import api, logged_apply
from reconciler.cli.console import Options, fail, out, warn
from reconciler.core.applylog.record import KILLED
from reconciler.core.holding import held_line, hold, still_blocked, without
from reconciler.core.plan import Plan
from reconciler.core.ports import ApplyLog, Registry
from reconciler.errors import ReconcilerError
from reconciler.render.escape import terminal
from reconciler.render.markdown import render_markdown
from reconciler.render.planfile import to_dict
from reconciler.render.text import plan_errors, render_text, summary_line
from reconciler.state.audit import current_audit
from reconciler.state.models import CopyFrom
from reconciler.state.scope import StateSet


def several(desired: StateSet) -> bool:
    """Whether the state names a registry (in a file or a copy value)."""
    return desired.registries != (None,) or any(
        isinstance(v, CopyFrom) and v.registry
        for p in desired.parts
        for spec in p.models.values()
        for v in spec.aliases.values()
    )


def connect_all(
    desired: StateSet,
    uri: str | None,
    concurrency: int = 8,
    debug: bool = False,
    read_models: str = "auto",
    warn: Callable[[str], None] | None = None,
    read_only: bool = False,
) -> dict[str | None, Registry]:
    """Every registry the state names (SPEC v4 §19), by name; None: ``uri``'s."""
    from reconciler.mlflow.foreign import connect_all as connect_named
    from reconciler.mlflow.registry import MlflowRegistry

    return connect_named(
        desired,
        lambda: api.connect(uri, concurrency, debug, read_models, warn, read_only),
        lambda at, key: MlflowRegistry(at, concurrency, debug, read_models, warn, creds=key),
    )


def make_plans(
    desired: StateSet, registries: Mapping[str | None, Registry], with_evidence: bool = False
) -> list[tuple[str | None, Plan]]:
    """One plan per registry the state names, in name order; the sources copied from
    another server are read there once and planned against."""
    from reconciler.mlflow.foreign import read_sources

    foreign, read = read_sources(desired, registries)
    now = datetime.now(timezone.utc)
    return [
        (
            name,
            api.make_plan(
                desired.for_registry(name),
                registries[name],
                with_evidence,
                now,
                foreign,
                read=read.get(name),
            ),
        )
        for name in desired.registries
    ]


def _title(name: str | None) -> str:
    return f"== registry {name or '(default)'} =="


def plan_all(opts: Options, desired: StateSet, fmt: str) -> list[tuple[str | None, Plan]]:
    """Print every registry's plan; raise the first one's errors after all are shown."""
    registries = connect_all(
        desired, opts.tracking_uri, debug=opts.debug, warn=warn, read_only=True
    )
    plans = make_plans(desired, registries, with_evidence=True)
    if fmt == "json":
        body = [{"registry_name": n, **to_dict(p)} for n, p in plans]
        out(json.dumps({"format_version": 1, "registries": body}, indent=2))
    for name, plan in plans if fmt != "json" else []:
        text = render_markdown(plan) if fmt == "markdown" else render_text(plan, opts.color)
        out(terminal(_title(name)) + "\n" + text, nl=False, color=opts.color)
    for _, plan in plans:
        if not plan.applyable:
            raise plan_errors(plan)
    return plans


def apply_all(
    opts: Options,
    desired: StateSet,
    yes: bool,
    lock_timeout: float,
    override: str | None,
    no_apply_log: bool,
) -> None:
    """Apply every registry's plan; locks taken in name order before any write."""
    registries = connect_all(desired, opts.tracking_uri, debug=opts.debug, warn=warn)
    read_ms = int(time.time() * 1000)
    plans = make_plans(desired, registries)
    for name, plan in plans:
        out(terminal(_title(name)) + "\n" + render_text(plan, opts.color), nl=False)
    for _, plan in plans:
        if not plan.applyable:
            raise plan_errors(plan, "nothing was written")
    now = datetime.now(timezone.utc)
    work, held, overridden = [], [], []
    for name, plan in plans:
        blocked = still_blocked(plan, now) if override is None else ()
        held += list(blocked)
        overridden += list(plan.blocked) if override is not None else []
        part = desired.for_registry(name)
        plan, part = (hold(plan, blocked), without(part, blocked)) if blocked else (plan, part)
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
                scope = tuple(m for m in plan.models if m not in kept) if kept else None
                lease = logged_apply.acquire(
                    log, plan, audit, read_ms, scope, lock_timeout, override=reason
                )
                leases.append((log, lease))
        for name, plan, part in work:
            started += 1
            registry = registries[name]

            def apply(p: Plan = plan, r: Registry = registry, d: StateSet = part) -> object:
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
