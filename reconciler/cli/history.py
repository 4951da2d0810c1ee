"""``reconciler history``: who moved an alias to which version, from git.

git is the record; when a registry is configured (``--tracking-uri`` or MLflow's env
vars), each move is joined with the apply log (every verified apply, SPEC §12) and, for
applies from before the log, the ``reconciler.applied`` audit tag on the version: when,
by whom and in which run it reached the registry, or that it never did.
"""

from __future__ import annotations

import json
import time

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out
from reconciler.core.applylog.history import (
    MoveApplied,
    Records,
    joined_moves,
)
from reconciler.core.applylog.record import FINISHED
from reconciler.errors import ReconcilerError, RegistryError
from reconciler.logged_apply import log_key, open_log
from reconciler.mlflow.connection import resolve_uri
from reconciler.render.escape import terminal
from reconciler.render.history import history_note, history_row
from reconciler.state.audit import APPLIED, parse_applied, repo_identity
from reconciler.state.history import (
    alias_history,
    first_parent_commits,
    history_scope,
    holder_at,
    parse_when,
)
from reconciler.state.load import display_path, require_state


def _records(opts: Options, model: str, workspace: str | None = None) -> Records:
    """The audit tags and the log's verified applies; empty without a configured registry
    or when unreachable (with a warning)."""
    if resolve_uri(opts.tracking_uri) is None:
        return Records({}, [], False)
    try:
        registry = api.connect(opts.tracking_uri, read_only=True)
        registry = api.in_workspace(registry, workspace)
        observed = registry.read([model], [model])  # a model or a prompt (SPEC v4 §20)
    except ReconcilerError as exc:  # unreachable, or the workspace is closed to us
        out(f"warning: audit records not joined: {exc.message}", err=True)
        return Records({}, [], False)
    try:
        runs = open_log(registry).all(FINISHED)
    except RegistryError as exc:
        out(f"warning: the apply log was not read: {exc.message}", err=True)
        runs = []
    found = observed.models.get(model)
    versions = found.versions.values() if found else ()
    audit = {
        v.version: record
        for v in versions
        if (record := parse_applied(v.tags.get(APPLIED))) is not None
    }
    if log_key() is not None:  # with a key only signed runs count; a version tag is forgeable
        audit = {}
    return Records(audit, runs, True)


@click.command("history")
@common_options()
@click.argument("model")
@click.option("--alias", default="champion", show_default=True)
@click.option(
    "--at",
    "at",
    metavar="DATE",
    help="Which version held the alias then (a date means the end of that day, UTC).",
)
@click.option(
    "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True
)
def command(opts: Options, model: str, alias: str, at: str | None, fmt: str) -> None:
    """Show the commits that moved ALIAS of MODEL, from `git log` of the state files."""
    require_state(opts.state)
    scope = history_scope(opts.state, opts.workspace, model)
    moves = alias_history(opts.state, model, alias, scope)
    if not moves:
        raise ReconcilerError(
            f"no commit under {display_path(opts.state)} ever set {alias!r} of {model!r} "
            "(is the state committed in git, and is --state the right path?)"
        )
    if at is not None:
        move = holder_at(moves, parse_when(at))
        if fmt == "json":
            out(
                json.dumps(
                    {
                        "model": model,
                        "alias": alias,
                        "at": at,
                        "version": move.version if move else None,
                        "since": history_row(MoveApplied(move, None, False)) if move else None,
                    },
                    indent=2,
                )
            )
        elif move is None or move.version is None:
            out(f"{model}: no version held {alias!r} at {at}")
        else:
            out(
                f"{model}: version {move.version} held {alias!r} at {at} (since "
                f"{move.date.isoformat()}, commit {move.commit[:8]} by {terminal(move.author)})"
            )
        return
    records = _records(opts, model, scope[0] if scope else opts.workspace)
    order = first_parent_commits(opts.state) if records.runs else []
    folder = opts.state if opts.state.is_dir() else opts.state.parent
    now = int(time.time() * 1000)
    items = joined_moves(moves, order, records.runs, model, repo_identity(folder), log_key(), now)
    if fmt == "json":
        out(json.dumps([history_row(i, alias, records) for i in items], indent=2))
        return
    for item in items:
        m = item.move
        change = f"{alias} -> {m.version}" if m.version is not None else f"{alias} removed"
        was = f" (was {m.previous})" if m.previous is not None else ""
        out(
            f"{m.date.isoformat()}  {m.commit[:8]}  {terminal(m.author):<16}  {change}{was}  "
            f"{terminal(m.subject)}{history_note(item, alias, records)}"
        )
