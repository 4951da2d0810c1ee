"""``reconciler check``: is this registry, these credentials and this state ready for
apply and serve? (SPEC §21, like ``flux check``.) One line per check; exit 0 when none
failed. Read-only: nothing is written to the registry or the apply log.
"""

from __future__ import annotations

import sys

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out
from reconciler.core.checks import failed, unknown
from reconciler.mlflow import doctor
from reconciler.mlflow.connection import default_local_uri, resolve_uri
from reconciler.render.checks import line, summary


@click.command("check")
@common_options()
@click.option(
    "--webhook",
    "webhook_url",
    metavar="URL",
    help="The /webhook URL serve registers: check the registry's webhook posts there.",
)
def command(opts: Options, webhook_url: str | None) -> None:
    """Check the server, credentials, declared models, workspaces, webhook, apply log
    and clock."""
    desired = api.validate(opts.state, (), opts.workspace)
    uri = resolve_uri(opts.tracking_uri) or default_local_uri()
    found = doctor.server(uri)
    if not failed(found):
        registry = api.connect(opts.tracking_uri, read_only=True)
        found += doctor.registry_checks(registry, desired)
        found.append(doctor.webhook(uri, webhook_url))
    else:
        found.append(unknown("registry", "not checked: the server checks failed"))
    for check in found:
        out(line(check))
    out(summary(found))
    sys.exit(1 if failed(found) else 0)
