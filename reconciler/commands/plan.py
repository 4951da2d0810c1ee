"""``reconciler plan``: read the registry, diff, evaluate gates; never writes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler import api
from reconciler.cli import Options, common_options, fail, out
from reconciler.github import Report, github_option
from reconciler.planfile import to_json
from reconciler.render import render_markdown, render_text

FORMATS = ("text", "markdown", "json")


@click.command("plan")
@common_options()
@click.option(
    "--model", "models", multiple=True, metavar="NAME", help="Only this model (repeatable)."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also save the JSON plan here (for `apply PLANFILE`).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when changes are pending.",
)
@github_option
def command(
    opts: Options,
    models: tuple[str, ...],
    fmt: str,
    out_file: str | None,
    detailed_exitcode: bool,
    report: Report,
) -> None:
    """Show what apply would change. Exit 1 on errors or failed gates."""
    desired = api.validate(opts.state, models)
    plan = api.make_plan(desired, api.connect(opts.tracking_uri), with_evidence=True)
    report.plan(plan)
    if out_file:
        Path(out_file).write_text(to_json(plan), encoding="utf-8")
    if fmt == "json":
        out(to_json(plan), nl=False)
    elif fmt == "markdown":
        out(render_markdown(plan), nl=False)
    else:
        out(render_text(plan, color=opts.color), nl=False, color=opts.color)
    if not plan.applyable:
        first = plan.problems[0].message if plan.problems else plan.failed_gates[0].reason
        where = plan.problems[0] if plan.problems else None
        loc = f"{where.file}:{where.line}: " if where and where.file else ""
        fail(f"{loc}{first}")
    if detailed_exitcode and plan.changes:
        sys.exit(2)
