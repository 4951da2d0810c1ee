"""``reconciler rollback``: swap the alias and the archive alias in the state file.

The primary rollback is ``git revert`` of the promotion commit; this command is for
when that commit is not a clean revert. Offline, same minimal edit as ``promote``.
"""

from __future__ import annotations

import click

from reconciler.cli.console import Options, common_options, out
from reconciler.cli.promote import check_alias_names
from reconciler.errors import StateError
from reconciler.state.edit import locate, rewrite_aliases
from reconciler.state.models import value_label


@click.command("rollback")
@common_options(registry=False)
@click.argument("model")
@click.option("--alias", default="champion", show_default=True, help="The alias to roll back.")
@click.option(
    "--archive-alias",
    default="archived",
    show_default=True,
    help="The alias holding the version to go back to.",
)
def command(opts: Options, model: str, alias: str, archive_alias: str) -> None:
    """Edit the state file: swap ALIAS and ARCHIVE_ALIAS of MODEL."""
    check_alias_names(alias, archive_alias)
    path, spec, src, _ = locate(opts.state, model, opts.workspace)
    previous = spec.aliases.get(archive_alias)
    current = spec.aliases.get(alias)
    if previous is None:
        raise StateError(
            f"{model!r} has no {archive_alias!r} alias to roll back to",
            file=src.file,
            line=src.locate(model, "aliases"),
        )
    if current is None:
        raise StateError(
            f"{model!r} has no {alias!r} alias to roll back",
            file=src.file,
            line=src.locate(model, "aliases"),
        )
    if current == previous:
        out(
            f"{src.file}:{src.line}: {model}: {alias!r} and {archive_alias!r} both hold "
            f"version {value_label(current)}; nothing to change"
        )
        return
    rewrite_aliases(path, model, {alias: previous, archive_alias: current}, src.section)
    now, before = value_label(current), value_label(previous)
    out(f"{path}: {model}: {alias}: {now} -> {before}, {archive_alias}: {before} -> {now}")
    out(
        "Next: review `git diff`, commit, and apply after review "
        "(prefer `git revert` of the promotion commit when it reverts cleanly)."
    )
