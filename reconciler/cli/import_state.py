"""``reconciler import``: write state YAML from the live registry (onboarding).

The YAML is ``render.statefile``'s: exactly what the registry holds, so ``plan`` right
after shows no changes. The text is re-validated before it is written, and a model
already declared in another file of the state is refused.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out
from reconciler.core.problems import did_you_mean
from reconciler.errors import StateError
from reconciler.render.statefile import pipeline_aliases, render
from reconciler.state.load import display_path, load_file, load_state, require_state
from reconciler.state.models import STAGES, IgnoreSpec, _check_alias


@click.command("import")
@common_options()
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only this model or prompt (repeatable; default: every model and prompt).",
)
@click.option(
    "--out",
    "out_path",
    default="-",
    show_default=True,
    metavar="PATH",
    help="File to write ('-': standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.option(
    "--exclude-alias",
    "exclude_aliases",
    multiple=True,
    metavar="PATTERN",
    help="Leave aliases matching this fnmatch pattern to others (repeatable); the pattern "
    "is written into the state's ignore.",
)
@click.option(
    "--exclude-tag",
    "exclude_tags",
    multiple=True,
    metavar="PATTERN",
    help="Leave model and version tags matching this pattern to others (repeatable).",
)
@click.option(
    "--stages-as-aliases",
    "stages_as_aliases",
    default=None,
    metavar="STAGE=ALIAS,...",
    help="Declare each stage's version as an alias instead (e.g. "
    "Production=champion,Staging=challenger); `apply` then sets the aliases, stages stay.",
)
def command(
    opts: Options,
    models: tuple[str, ...],
    out_path: str,
    force: bool,
    exclude_aliases: tuple[str, ...],
    exclude_tags: tuple[str, ...],
    stages_as_aliases: str | None,
) -> None:
    """Write state YAML from the live registry, so that `plan` right after shows no changes
    (with --stages-as-aliases: only the new aliases)."""
    moved = stage_aliases(stages_as_aliases) if stages_as_aliases is not None else None
    target = None if out_path == "-" else Path(out_path)
    if target is not None and target.exists() and not force:
        raise StateError(f"{display_path(target)} exists; pass --force to overwrite it")
    if opts.state_given and not _inside(target, opts.state):
        # a mistyped --state would silently skip the check that models are declared once
        require_state(opts.state)
    ws = opts.workspace
    connected = api.connect(opts.tracking_uri, debug=opts.debug, read_only=True)
    registry = api.in_workspace(connected, ws)
    # --model NAME may be either kind; without it, every model and every prompt
    names = list(models) or registry.model_names()
    observed = registry.read(names, list(models) or registry.prompt_names())
    if missing := sorted(set(models) - set(observed.models)):
        where = f" (workspace {ws})" if ws else ""
        hint = did_you_mean(missing[0], registry.model_names() + registry.prompt_names())
        raise StateError(
            f"model or prompt {missing[0]!r} does not exist in the registry{where}{hint}"
        )
    if "" in exclude_aliases + exclude_tags:
        raise StateError("--exclude-alias and --exclude-tag need a non-empty pattern")
    exclude = IgnoreSpec(
        aliases=list(exclude_aliases), tags=list(exclude_tags), version_tags=list(exclude_tags)
    )
    text, warnings = render(observed, registry.display_uri, exclude, ws, moved)
    for warning in warnings:
        out(f"warning: {warning}", err=True)
    if found := pipeline_aliases(observed, exclude):
        model, alias = found[0]
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        out(
            f"hint: alias {alias!r} of {model!r}{more} looks set by a pipeline, not applied "
            f"from the state; to leave it to the pipeline, import with --exclude-alias {alias}",
            err=True,
        )
    if target is None:
        out(text, nl=False)
        return
    _check_not_declared_elsewhere(opts.state, target, set(observed.models), ws)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.reconciler-import")
    try:
        temp.write_text(text, encoding="utf-8")
        load_file(temp)  # never write a file the loader would refuse
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
    prompts = sum(1 for m in observed.models.values() if m.prompt)
    counts = f"{len(observed.models) - prompts} model(s)" + (
        f" and {prompts} prompt(s)" if prompts else ""
    )
    out(f"wrote {counts} to {display_path(target)}", err=True)


def stage_aliases(text: str) -> dict[str, str]:
    """``Production=champion,Staging=challenger`` -> {stage: alias}, checked before any
    registry call: known stages (any case), valid alias names, each used once."""
    out: dict[str, str] = {}
    for item in text.split(","):
        stage, sep, alias = (part.strip() for part in item.partition("="))
        known = {s.lower(): s for s in STAGES}
        if not sep or stage.lower() not in known or not alias:
            raise StateError(
                f"--stages-as-aliases {text!r}: write STAGE=ALIAS pairs separated by commas, "
                f"stages {' or '.join(STAGES)} (e.g. Production=champion,Staging=challenger)"
            )
        try:
            _check_alias(alias)
        except ValueError as exc:
            raise StateError(f"--stages-as-aliases: {exc}") from None
        if known[stage.lower()] in out or alias in out.values():
            raise StateError(f"--stages-as-aliases {text!r}: each stage and alias once")
        out[known[stage.lower()]] = alias
    return out


def _inside(target: Path | None, state: Path) -> bool:
    """Whether ``target`` is ``state`` or below it (import creating the state)."""
    if target is None:
        return False
    where = target.resolve()
    return where == state.resolve() or state.resolve() in where.parents


def _check_not_declared_elsewhere(
    state: Path, target: Path, names: set[str], workspace: str | None = None
) -> None:
    """Inside the state directory, an imported model must not be declared in another file
    (of the same workspace: the same name elsewhere is another model)."""
    if not state.is_dir() or state.resolve() not in target.resolve().parents:
        return
    try:
        part = load_state(state, workspace).part(workspace)
    except StateError:
        return
    for name in sorted(names):
        src = part.sources.get(name) if part else None
        if src is not None and Path(src.file).resolve() != target.resolve():
            raise StateError(
                f"model {name!r} is already declared in {src.file}:{src.line}; "
                "import the others with --model, or remove it there first"
            )
