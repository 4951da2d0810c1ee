"""``reconciler history``: who moved an alias to which version, from git.

git is the record; when a registry is configured (``--tracking-uri`` or MLflow's env
vars), each move is joined with the ``reconciler.applied`` audit tag that its apply
left on the version, so the table also says when and by whom it reached the registry.
"""

from __future__ import annotations

import json
from typing import Any

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out
from reconciler.errors import ReconcilerError
from reconciler.mlflow.connection import resolve_uri
from reconciler.render.escape import terminal
from reconciler.state.audit import APPLIED, parse_applied
from reconciler.state.history import Move, Scope, alias_history, holder_at, parse_when
from reconciler.state.load import display_path, load_state, require_state

Applied = dict[int, dict[str, Any]]


def _applied_records(opts: Options, model: str, workspace: str | None = None) -> Applied:
    """version -> its audit record; empty without a configured registry or when unreachable."""
    if resolve_uri(opts.tracking_uri) is None:
        return {}
    try:
        registry = api.connect(opts.tracking_uri, read_only=True)
        observed = api.in_workspace(registry, workspace).read([model])
    except ReconcilerError as exc:  # unreachable, or the workspace is closed to us
        out(f"warning: audit records not joined: {exc.message}", err=True)
        return {}
    found = observed.models.get(model)
    versions = found.versions.values() if found else ()
    return {
        v.version: record
        for v in versions
        if (record := parse_applied(v.tags.get(APPLIED))) is not None
    }


def _applied_for(move: Move, alias: str, applied: Applied) -> dict[str, Any] | None:
    """The audit record of the apply that carried out ``move``, when the version has it."""
    record = applied.get(move.version) if isinstance(move.version, int) else None
    if record is None or alias not in record.get("aliases", []):
        return None
    commit = str(record.get("commit") or "")
    return record if commit.removesuffix("-dirty") == move.commit else None


def _row(move: Move, alias: str = "", applied: Applied | None = None) -> dict[str, object]:
    return {
        "commit": move.commit,
        "date": move.date.isoformat(),
        "author": move.author,
        "email": move.email,
        "version": move.version,
        "previous": move.previous,
        "subject": move.subject,
        "applied": _applied_for(move, alias, applied or {}),
    }


def _scope(opts: Options, model: str) -> Scope | None:
    """The workspace whose ``model`` is meant, when the state names workspaces: the one
    that declares it now (``--workspace`` picks when several do)."""
    try:
        desired = load_state(opts.state, opts.workspace)
    except ReconcilerError:
        return None
    if all(p.workspace in (None, opts.workspace) for p in desired.parts):
        return None if opts.workspace is None else (opts.workspace, opts.workspace)
    found = [p.workspace for p, _ in desired.declarations(model)]
    if len(found) > 1:
        if opts.workspace not in found:
            raise ReconcilerError(
                f"model {model!r} is declared in several workspaces ({', '.join(map(str, found))});"
                " pass --workspace NAME"
            )
        found = [opts.workspace]
    return (found[0] if found else opts.workspace, opts.workspace)


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
    scope = _scope(opts, model)
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
                        "since": _row(move) if move else None,
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
    applied = _applied_records(opts, model, scope[0] if scope else opts.workspace)
    if fmt == "json":
        out(json.dumps([_row(m, alias, applied) for m in moves], indent=2))
        return
    for m in moves:
        change = f"{alias} -> {m.version}" if m.version is not None else f"{alias} removed"
        was = f" (was {m.previous})" if m.previous is not None else ""
        record = _applied_for(m, alias, applied)
        done = ""
        if record:  # registry text: escaped
            at, by = (terminal(str(record.get(k)), 100) for k in ("at", "by"))
            done = f"  [applied {at} by {by}]"
        out(
            f"{m.date.isoformat()}  {m.commit[:8]}  {terminal(m.author):<16}  {change}{was}  "
            f"{terminal(m.subject)}{done}"
        )
