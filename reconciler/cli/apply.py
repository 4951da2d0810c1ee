"""``reconciler apply``: make the registry match (a fresh plan or a saved one), then verify."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from reconciler import api, logged_apply
from reconciler.cli import multiapply, registries
from reconciler.cli.console import Options, common_options, fail, out, warn
from reconciler.core.holding import held_line, hold, still_blocked, without
from reconciler.core.scopes import label
from reconciler.core.windows import Blocked
from reconciler.render.escape import terminal
from reconciler.render.github import Report, github_option
from reconciler.render.planset import PlanSet, read_any
from reconciler.render.text import plan_errors, render_text, summary_line
from reconciler.state.audit import current_audit

PROGRESS_MIN = 6
"""Show a progress bar (on a TTY) from this many changes up."""


UNITS = {"s": 1, "m": 60, "h": 3600}


def say_warning(line: str) -> None:
    out(f"warning: {line}", err=True)


@contextlib.contextmanager
def interruptible(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop``: the write in flight completes, no new one starts, and
    the run ends FAILED (SPEC §17); a second signal is as patient as the first."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            out(
                f"warning: {signal.Signals(signum).name}: finishing the write in flight, "
                "then stopping",
                err=True,
            )
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """``90s``, ``15m``, ``1h`` or plain seconds, as seconds."""
    text = str(value).strip().lower()
    unit = UNITS.get(text[-1:])
    try:
        seconds = float(text[:-1] if unit else text) * (unit or 1)
    except ValueError:
        seconds = -1
    if seconds < 0 or (seconds == 0 and text.rstrip("smh") not in ("0", "0.0")):
        raise click.BadParameter(f"{value!r} is not a duration such as 0s, 90s, 15m or 1h")
    return seconds


@click.command("apply")
@common_options(reads=True)
@click.argument("planfile", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--model", "models", multiple=True, metavar="NAME", help="Only this model (repeatable)."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (required without a TTY)."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Parallel writes against an HTTP registry.",
)
@click.option(
    "--lock-timeout",
    callback=duration,
    default="0s",
    show_default=True,
    metavar="DURATION",
    help="How long to keep retrying while another apply holds the registry (90s, 15m).",
)
@click.option(
    "--no-apply-log",
    is_flag=True,
    help="Do not record this apply as a run in the apply log; this also skips the lock.",
)
@click.option(
    "--override-window",
    "override",
    metavar="REASON",
    help="Apply models a promotion window holds; REASON is recorded on the apply run.",
)
@github_option
def command(
    opts: Options,
    planfile: str | None,
    models: tuple[str, ...],
    yes: bool,
    concurrency: int,
    lock_timeout: float,
    no_apply_log: bool,
    override: str | None,
    report: Report,
) -> None:
    """Apply a fresh plan (or a saved PLANFILE), then read back and verify."""
    interactive = sys.stdin.isatty()
    if not yes and not interactive:
        fail("not on a terminal: pass --yes to apply (nothing was written)")
    if planfile and models:
        fail("--model cannot be combined with a saved PLANFILE")
    if override is not None and (no_apply_log or not override.strip()):
        fail(
            "--override-window needs a REASON and the apply log, where it is recorded "
            "(nothing was written)"
        )
    if planfile:
        plan = read_any(Path(planfile))
        if isinstance(plan, PlanSet):
            multiapply.apply_saved(opts, plan, yes, lock_timeout, override, no_apply_log)
            return
        api.check_plan_offline(
            plan, opts.tracking_uri, opts.workspace
        )  # before anything is created
        registry = api.connect(opts.tracking_uri, concurrency, opts.debug, opts.read_models, warn)
        read_ms = int(time.time() * 1000)
        api.check_saved_plan(plan, registry)
        desired = None
    else:
        desired = api.validate(opts.state, models, opts.workspace)
        if registries.several(desired):
            multiapply.apply_all(opts, desired, yes, lock_timeout, override, no_apply_log)
            return
        registry = api.connect(opts.tracking_uri, concurrency, opts.debug, opts.read_models, warn)
        if lock_timeout > 0 and not no_apply_log:  # wait first, then read: a fresh plan
            named = {p.workspace for p in desired.parts if p.workspace is not None}
            where = opts.workspace or (named.pop() if len(named) == 1 else None)
            logged_apply.await_free(
                logged_apply.open_log(registry, where), lock_timeout, say_warning
            )
        read_ms = int(time.time() * 1000)
        plan = api.make_plan(desired, registry)
    out(render_text(plan, color=opts.color), nl=False, color=opts.color)
    report.plan(plan)
    if not plan.applyable:
        raise plan_errors(plan, "nothing was written")
    held = still_blocked(plan, datetime.now(timezone.utc)) if override is None else ()
    overridden = plan.blocked if override is not None else ()
    if held:
        plan = hold(plan, held)
        desired = without(desired, held) if desired is not None else None
    converged = not plan.changes and not plan.records  # records alone: keys released
    if converged and held:
        _held(held)  # nothing else to do; the held models are not verified
    if not converged and not yes and not click.confirm("Apply these changes?", default=False):
        fail("apply cancelled (nothing was written)")
    audit = current_audit(opts.state)
    if audit.dirty:
        out(
            f"warning: {opts.state} has uncommitted changes; the audit tags will name commit "
            f"{audit.commit}",
            err=True,
        )

    stop = threading.Event()

    def apply() -> api.Outcome | None:
        if converged:
            return None
        if len(plan.changes) >= PROGRESS_MIN and sys.stderr.isatty():
            with click.progressbar(
                length=len(plan.changes), label="Applying", file=sys.stderr
            ) as bar:
                return api.apply_plan(plan, registry, desired, bar.update, audit, stop)
        return api.apply_plan(plan, registry, desired, audit=audit, stop=stop)

    logged = ""
    if no_apply_log:
        outcome = apply()
    else:
        where = logged_apply.log_workspace(plan, opts.workspace)
        log = logged_apply.open_log(registry, where)
        scope = (tuple(sorted(models)) if models else None) if not planfile else plan.models
        if held:  # what a window held was not verified: the run covers the rest only
            kept = {b.model for b in held}
            scope = tuple(m for m in (scope or plan.models) if m not in kept)
        reason = override if overridden else None
        with interruptible(stop):
            lease = logged_apply.acquire(
                log,
                plan,
                audit,
                read_ms,
                scope,
                lock_timeout,
                stop=stop,
                say=say_warning,
                override=reason,
            )
            outcome = logged_apply.run_logged(log, lease, apply, len(plan.changes))
        logged = f" Logged as run {lease.run.run_id} in experiment {log.name!r}."
    if outcome is None:
        if logged:
            out(f"Converged: the registry already matches; recorded as verified.{logged}")
        return
    what = (
        f"{len(outcome.report.applied)} change(s) applied and verified. ({summary_line(plan)})"
        if plan.changes
        else "ownership records updated (ignored keys released) and verified."
    )
    done = f"Apply complete: {what}{logged}"
    report.applied(done)
    out(done)
    for block in overridden:
        out(terminal(f"overridden   {_name(block)}: {held_line(block)}"))
    if held:
        _held(held)


def _held(held: tuple[Blocked, ...]) -> NoReturn:
    """List each model a window held, then exit 1 (SPEC v4 §18)."""
    for block in held:
        out(terminal(f"held         {_name(block)}: {held_line(block)}"))
    fail(
        f"{len(held)} model(s) held by a promotion window: apply again once it closes, or "
        "pass --override-window REASON"
    )


def _name(block: Blocked) -> str:
    return label(block.model, block.workspace, block.workspace is not None)
