"""``reconciler schema``: the JSON Schema of the state format, for editors."""

from __future__ import annotations

import json

import click

from reconciler.cli.console import out
from reconciler.state.models import state_schema


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of state files (point your editor's YAML plugin at it)."""
    out(json.dumps(state_schema(), indent=2))
