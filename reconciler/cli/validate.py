"""``reconciler validate``: offline schema and semantic checks (no registry call)."""

from __future__ import annotations

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out


@click.command("validate")
@common_options(registry=False)
def command(opts: Options) -> None:
    """Check the state files offline; exit 0 when valid, 1 when not."""
    desired = api.validate(opts.state, workspace=opts.workspace)
    count = sum(len(p.models) for p in desired.parts)
    named = [p.workspace for p in desired.parts if p.workspace]
    spans = f" in {len(named)} workspace(s)" if len(desired.parts) > 1 or named else ""
    out(f"{len(desired.files)} file(s), {count} model(s){spans}: valid")
