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

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out
from reconciler.core.status import key_metrics, run_ids
from reconciler.errors import StateError
from reconciler.render import status as view
from reconciler.state.load import load_state


@click.command("status")
@common_options()
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
    desired = None
    if model is None or opts.state.exists():
        try:
            desired = load_state(opts.state)
        except StateError:
            if model is None:
                raise
    names = [model] if model else sorted(desired.models) if desired else []
    specs = desired.models if desired else {}
    keys = {name: key_metrics(specs.get(name), metric_names) for name in names}
    registry = api.connect(opts.tracking_uri)
    observed = registry.read(names)
    if model and model not in observed.models:
        raise StateError(f"model {model!r} does not exist in the registry")
    data = view.rows(observed, registry.run_metrics(run_ids(observed)), keys, desired)
    if fmt == "json":
        out(json.dumps(data, indent=2))
    else:
        out(view.text(data, keys), nl=False)
