"""``reconciler status``: what the registry holds now, one row per version, and whether
each alias matches git (``synced``), differs (``drift``) or is outside the state
(``unmanaged``).

Reads are batched: one registry read for the models, one ``run_metrics`` call for all
their runs. Key metrics are the ones named with ``--metric``, else those the state's
gates use for the model, else all of the run's metrics (``core.status``); rows, table
and trend are ``render.status``.
"""

from __future__ import annotations

import json
from typing import Any

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out, warn
from reconciler.core.problems import did_you_mean
from reconciler.core.scopes import DEFAULT
from reconciler.core.status import key_metrics, run_ids
from reconciler.errors import StateError
from reconciler.render import status as view
from reconciler.state.load import DesiredState, load_state
from reconciler.state.scope import StateSet


@click.command("status")
@common_options(reads=True)
@click.argument("model", required=False)
@click.option(
    "--metric",
    "metric_names",
    multiple=True,
    metavar="NAME",
    help="Metric to show (repeatable; default: the model's gate metrics, else all).",
)
@click.option(
    "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True
)
def command(opts: Options, model: str | None, metric_names: tuple[str, ...], fmt: str) -> None:
    """Versions of MODEL (default: every model in the state) as the registry holds them."""
    desired: StateSet | None = None
    if model is None or opts.state.exists():
        try:
            desired = load_state(opts.state, opts.workspace)
        except StateError:
            if model is None:
                raise
    parts: list[tuple[str | None, DesiredState | None]] = [
        (p.workspace, p)
        for p in (desired.parts if desired else ())
        if not model or model in p.models
    ] or [(opts.workspace, None)]
    registry = api.connect(
        opts.tracking_uri, read_models=opts.read_models, warn=warn, read_only=True
    )
    if desired is not None:
        api.check_workspaces(desired, registry)
    data: list[dict[str, Any]] = []
    keys: dict[str, list[str]] = {}
    for ws, part in parts:  # one batched read per workspace
        names = [model] if model else sorted(part.models) if part else []
        specs = part.models if part else {}
        mine = {name: key_metrics(specs.get(name), metric_names) for name in names}
        scoped = registry.in_workspace(ws)
        # a name the state does not declare may be either kind (SPEC v4 §20)
        prompts = [n for n in names if n not in specs or (part and part.prompt(n))]
        observed = scoped.read([n for n in names if not (part and part.prompt(n))], prompts)
        if model and model not in observed.models:
            where = f" (workspace {ws})" if ws else ""
            hint = did_you_mean(model, scoped.model_names() + scoped.prompt_names())
            raise StateError(
                f"model or prompt {model!r} does not exist in the registry{where}{hint}"
            )
        data += view.rows(observed, scoped.run_metrics(run_ids(observed)), mine, part, ws)
        keys.update(mine)
    if fmt == "json":
        out(json.dumps(data, indent=2))
    else:
        show = len(parts) > 1 or parts[0][0] not in (None, DEFAULT)
        out(view.text(data, keys, show), nl=False)
