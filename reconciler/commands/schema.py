"""``reconciler schema``: the JSON Schema of the state format, for editors."""

from __future__ import annotations

import json

import click

from reconciler.console import out


def state_schema() -> dict[str, object]:
    from reconciler.state import StateFile

    schema = StateFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "registry-reconciler state file"
    return schema


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of state files (point your editor's YAML plugin at it)."""
    out(json.dumps(state_schema(), indent=2))
