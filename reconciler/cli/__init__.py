"""The ``reconciler`` command group: it only assembles the commands.

Shared options, printing and the error handler live in ``console`` (commands import
that, never this module). Usage errors exit 1, not click's 2: exit 2 means only
"changes pending" under ``plan --detailed-exitcode`` (SPEC §4).
"""

from __future__ import annotations

from typing import Any

import click

from reconciler import __version__
from reconciler.cli import (
    apply,
    check,
    demo,
    history,
    import_state,
    plan,
    predict,
    promote,
    rollback,
    schema,
    serve,
    status,
    unlock,
    validate,
)

USAGE_EXIT = 1
"""Exit code of a usage error (unknown option, bad choice, missing argument)."""


def _exit_1(exc: click.UsageError) -> click.UsageError:
    # exit_code is a class attribute in click; this error instance alone gets 1.
    object.__setattr__(exc, "exit_code", USAGE_EXIT)
    return exc


class Group(click.Group):
    """A click group whose usage errors, its own and its commands', exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _exit_1(exc) from exc.__cause__

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _exit_1(exc) from exc.__cause__


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="reconciler")
def main() -> None:
    """Declarative, GitOps-style reconciler for the MLflow Model Registry.

    Git holds which model version holds each alias (state/*.yaml); `plan` shows the
    difference to the live registry and `apply` makes the registry match.
    """


for _module in (
    validate,
    plan,
    apply,
    schema,
    promote,
    rollback,
    import_state,
    status,
    history,
    demo,
    predict,
    serve,
    check,
    unlock,
):
    main.add_command(_module.command)
