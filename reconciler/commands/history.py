"""``reconciler history``: who moved an alias to which version, from git (no registry)."""

from __future__ import annotations

import json

import click

from reconciler.cli import Options, common_options, out
from reconciler.errors import ReconcilerError
from reconciler.history import Move, alias_history, holder_at, parse_when


def _row(move: Move) -> dict[str, object]:
    return {
        "commit": move.commit,
        "date": move.date.isoformat(),
        "author": move.author,
        "email": move.email,
        "version": move.version,
        "previous": move.previous,
        "subject": move.subject,
    }


@click.command("history")
@common_options(registry=False)
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
    moves = alias_history(opts.state, model, alias)
    if not moves:
        raise ReconcilerError(f"no commit under {opts.state} ever set {alias!r} of {model!r}")
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
                f"{move.date.isoformat()}, commit {move.commit[:8]} by {move.author})"
            )
        return
    if fmt == "json":
        out(json.dumps([_row(m) for m in moves], indent=2))
        return
    for m in moves:
        change = f"{alias} -> {m.version}" if m.version is not None else f"{alias} removed"
        was = f" (was {m.previous})" if m.previous is not None else ""
        out(f"{m.date.isoformat()}  {m.commit[:8]}  {m.author:<16}  {change}{was}  {m.subject}")
