"""``reconciler plan``: read the registry, diff, evaluate gates; never writes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from reconciler import api
from reconciler.cli import registries
from reconciler.cli.console import Options, common_options, out, warn
from reconciler.core.plan import Plan
from reconciler.errors import ReconcilerError
from reconciler.render.github import Report, github_option
from reconciler.render.markdown import render_markdown
from reconciler.render.planfile import to_json
from reconciler.render.planset import PlanSet, to_json_set
from reconciler.render.text import plan_errors, render_text
from reconciler.state.load import display_path

FORMATS = ("text", "markdown", "json")


def check_out_path(path: Path) -> Path:
    """Refuse an ``--out`` path the plan could not be saved to, before any registry call."""
    parent = path.parent
    if path.is_dir():
        raise ReconcilerError(f"--out {path} is a directory; name a file, e.g. {path}/plan.json")
    if not parent.is_dir():
        missing = "does not exist" if not parent.exists() else "is not a directory"
        raise ReconcilerError(f"--out {path}: the directory {parent} {missing}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ReconcilerError(f"--out {path}: not writable")
    return path


def evidence_limit(value: str) -> int | None:
    """``--evidence``: a count of alias moves, or ``all`` (None)."""
    if value.strip().lower() == "all":
        return None
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise click.BadParameter(f"{value!r}: write a number of changes (e.g. 50) or `all`")
    return int(value)


def save_plan(plan: Plan | PlanSet, path: Path) -> None:
    """Write the JSON plan whole or not at all (a temporary file, then a rename)."""
    temp = path.with_name(f".{path.name}.reconciler-plan")
    text = to_json(plan) if isinstance(plan, Plan) else to_json_set(plan)
    try:
        temp.write_text(text, encoding="utf-8")
        temp.replace(path)
    except OSError as exc:
        raise ReconcilerError(f"cannot save the plan to {path}: {exc.strerror}") from None
    finally:
        temp.unlink(missing_ok=True)


def empty_state(state: Path, names: list[str]) -> str:
    """The warning for a state that declares nothing while the registry has models."""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    where = display_path(state)
    out = f"{where} --force" if state.is_file() else f"{where.rstrip('/')}/models.yaml"
    return (
        f"no models are declared {'in' if state.is_file() else 'under'} {where}, but the "
        f"registry has {len(names)} ({shown}); "
        f"`reconciler import --out {out}` declares them as they are"
    )


@click.command("plan")
@common_options(reads=True)
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
@click.option(
    "--evidence",
    "evidence",
    default="50",
    show_default=True,
    metavar="N|all",
    callback=lambda _ctx, _param, value: evidence_limit(value),
    help="Read and show evidence for at most N alias moves (`all`: every one); "
    "gates always read what they need.",
)
@github_option
def command(
    opts: Options,
    models: tuple[str, ...],
    fmt: str,
    out_file: str | None,
    detailed_exitcode: bool,
    evidence: int | None,
    report: Report,
) -> None:
    """Show what apply would change. Exit 1 on errors or failed gates."""
    target = check_out_path(Path(out_file)) if out_file else None
    desired = api.validate(opts.state, models, opts.workspace)
    if registries.several(desired):
        plans = registries.plan_all(opts, desired, fmt)
        if target is not None:
            save_plan(plans, target)
            out(
                f"Saved the plan to {out_file}: `reconciler apply {out_file}` applies it.", err=True
            )
        if detailed_exitcode and any(p.changes for _, p in plans.plans):
            sys.exit(2)
        return
    registry = api.connect(
        opts.tracking_uri,
        debug=opts.debug,
        read_models=opts.read_models,
        warn=warn,
        read_only=True,
    )
    plan = api.make_plan(desired, registry, with_evidence=True, evidence_limit=evidence)
    report.plan(plan)
    if fmt == "json":
        out(to_json(plan), nl=False)
    elif fmt == "markdown":
        out(render_markdown(plan), nl=False)
    else:
        out(render_text(plan, color=opts.color), nl=False, color=opts.color)
    if not plan.applyable:
        raise plan_errors(plan, f"no plan saved to {out_file}" if out_file else "")
    if target is not None:
        save_plan(plan, target)
        out(f"Saved the plan to {out_file}: `reconciler apply {out_file}` applies it.", err=True)
    if desired.empty and (names := registry.in_workspace(opts.workspace).model_names()):
        out(f"warning: {empty_state(opts.state, names)}", err=True)
    if detailed_exitcode and plan.changes:
        sys.exit(2)
