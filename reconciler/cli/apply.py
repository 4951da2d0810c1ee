"""``reconciler apply``: make the registry match (a fresh plan or a saved one), then verify."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, fail, out, warn
from reconciler.render.github import Report, github_option
from reconciler.render.planfile import read_plan
from reconciler.render.text import plan_errors, render_text, summary_line
from reconciler.state.audit import current_audit

PROGRESS_MIN = 6
"""Show a progress bar (on a TTY) from this many changes up."""


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
@github_option
def command(
    opts: Options,
    planfile: str | None,
    models: tuple[str, ...],
    yes: bool,
    concurrency: int,
    report: Report,
) -> None:
    """Apply a fresh plan (or a saved PLANFILE), then read back and verify."""
    interactive = sys.stdin.isatty()
    if not yes and not interactive:
        fail("not on a terminal: pass --yes to apply (nothing was written)")
    if planfile and models:
        fail("--model cannot be combined with a saved PLANFILE")
    if planfile:
        plan = read_plan(Path(planfile))
        api.check_plan_offline(
            plan, opts.tracking_uri, opts.workspace
        )  # before anything is created
        registry = api.connect(opts.tracking_uri, concurrency, opts.debug, opts.read_models, warn)
        api.check_saved_plan(plan, registry)
        desired = None
    else:
        desired = api.validate(opts.state, models, opts.workspace)
        registry = api.connect(opts.tracking_uri, concurrency, opts.debug, opts.read_models, warn)
        plan = api.make_plan(desired, registry)
    out(render_text(plan, color=opts.color), nl=False, color=opts.color)
    report.plan(plan)
    if not plan.applyable:
        raise plan_errors(plan, "nothing was written")
    if not plan.changes:
        return
    if not yes and not click.confirm("Apply these changes?", default=False):
        fail("apply cancelled (nothing was written)")
    audit = current_audit(opts.state)
    if audit.dirty:
        out(
            f"warning: {opts.state} has uncommitted changes; the audit tags will name commit "
            f"{audit.commit}",
            err=True,
        )
    if len(plan.changes) >= PROGRESS_MIN and sys.stderr.isatty():
        with click.progressbar(length=len(plan.changes), label="Applying", file=sys.stderr) as bar:
            outcome = api.apply_plan(plan, registry, desired, bar.update, audit)
    else:
        outcome = api.apply_plan(plan, registry, desired, audit=audit)
    done = (
        f"Apply complete: {len(outcome.report.applied)} change(s) applied and verified. "
        f"({summary_line(plan)})"
    )
    report.applied(done)
    out(done)
