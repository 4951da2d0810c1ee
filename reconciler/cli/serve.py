"""``reconciler serve``: the controller (SPEC §13). Parses options and runs it.

Needs the ``[serve]`` extra (Starlette, uvicorn, prometheus-client); without it the
command says how to install it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, fail

SECRET_ENV = "RECONCILER_WEBHOOK_SECRET"
_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[^:\s]+):(?P<port>\d{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); ``[::1]:8080`` for IPv6."""
    found = _LISTEN.match(value)
    if not found or not 0 < int(found["port"]) < 65536:
        fail(f"--listen {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return found["host"].strip("[]"), int(found["port"])


@click.command("serve")
@common_options()
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Where the status page, /metrics and /webhook listen.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.2),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between full resyncs.",
)
@click.option(
    "--notify",
    multiple=True,
    metavar="URL",
    help="Notify URL on each new condition (repeatable): http(s) URLs get a JSON POST, "
    "service URLs (slack://, msteams://, mailto://, ntfy://, ... see apprise) a text line.",
)
@click.option(
    "--register-webhook",
    "register_url",
    metavar="URL",
    help="Create or update the MLflow webhook 'registry-reconciler' to POST to URL "
    f"(this controller's /webhook); needs {SECRET_ENV}.",
)
@click.option("--git-pull", is_flag=True, help="git pull --ff-only before each resync.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event on stderr: readable text or JSON lines.",
)
@click.option(
    "--auto-sync",
    is_flag=True,
    help="Also apply merged commits that were never applied (bypasses any "
    "approval your CI puts before apply).",
)
def command(
    opts: Options,
    listen: str,
    interval: float,
    notify: tuple[str, ...],
    register_url: str | None,
    git_pull: bool,
    auto_sync: bool,
    log_format: str,
) -> None:
    """Watch the registry, heal drift of self_heal models, report the rest (until SIGTERM)."""
    host, port = parse_listen(listen)
    secret = os.environ.get(SECRET_ENV) or None
    if register_url and not secret:
        fail(f"--register-webhook needs a shared secret in {SECRET_ENV}")
    if register_url and not register_url.startswith(("http://", "https://")):
        fail(f"{register_url!r} is not an http(s) URL")
    # a bad state at start is an error; later, the last good one serves
    desired = api.validate(opts.state, (), opts.workspace)
    workspaces = [p.workspace for p in desired.parts]
    if opts.workspace is not None:  # --workspace limits it to one
        if opts.workspace not in workspaces:
            fail(f"--workspace {opts.workspace}: the state declares no model in it")
        workspaces = [opts.workspace]
    try:
        from reconciler.serve.controller import Settings
        from reconciler.serve.gitsource import GitSource
        from reconciler.serve.notify import check_urls
        from reconciler.serve.run import serve
    except ModuleNotFoundError as exc:
        fail(f"reconciler serve needs {exc.name}: pip install 'registry-reconciler[serve]'")
    check_urls(notify)
    if GitSource(Path(opts.state)).root is None:
        fail(f"{opts.state} is not in a git repository: serve reads the desired state from git")
    settings = Settings(
        state=Path(opts.state),
        default=opts.workspace,
        interval=interval,
        auto_sync=auto_sync,
        git_pull=git_pull,
    )
    serve(
        settings,
        workspaces,
        opts.tracking_uri,
        host,
        port,
        notify,
        secret,
        register_url,
        log_format,
    )
