"""The ``reconciler`` command line: parse options, call ``api``, print, exit.

This is the only place that prints or exits. Every ``ReconcilerError`` becomes one
red line on stderr and exit 1; anything unexpected becomes a short message with a
``--debug`` hint instead of a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from reconciler import __version__
from reconciler.connection import redact_text
from reconciler.errors import ApplyError, ReconcilerError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Options:
    """The common options every command receives."""

    state: Path
    tracking_uri: str | None
    debug: bool
    color: bool


def out(text: str = "", nl: bool = True, err: bool = False, color: bool | None = None) -> None:
    """Print a line, with any credentials masked."""
    click.echo(redact_text(text), nl=nl, err=err, color=color)


def fail(message: str, code: int = 1) -> NoReturn:
    out(f"error: {message}", err=True)
    sys.exit(code)


def common_options(registry: bool = True) -> Callable[[F], F]:
    """Add --state, --debug, --no-color (and --tracking-uri) and the error handler."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            no_color = kwargs.pop("no_color") or bool(os.environ.get("NO_COLOR"))
            opts = Options(
                state=Path(kwargs.pop("state")),
                tracking_uri=kwargs.pop("tracking_uri", None),
                debug=kwargs.pop("debug"),
                color=not no_color and sys.stdout.isatty(),
            )
            try:
                return fn(opts, **kwargs)
            except ApplyError as exc:
                for line in exc.details:
                    out(line)
                fail(str(exc))
            except ReconcilerError as exc:
                if opts.debug:
                    raise
                fail(str(exc))
            except (click.exceptions.Exit, click.exceptions.ClickException, click.Abort):
                raise
            except KeyboardInterrupt:
                fail("interrupted", 130)
            except Exception as exc:
                if opts.debug:
                    raise
                first = str(exc).splitlines()[0] if str(exc) else ""
                fail(
                    f"unexpected {type(exc).__name__}: {first}"
                    " (run again with --debug for the traceback)"
                )

        params = [
            click.option(
                "--state",
                envvar="RECONCILER_STATE",
                default="state/",
                show_default=True,
                type=click.Path(),
                help="State file or directory (env RECONCILER_STATE).",
            ),
            click.option("--debug", is_flag=True, help="Show tracebacks."),
            click.option("--no-color", is_flag=True, help="No ANSI colours (also NO_COLOR)."),
        ]
        if registry:
            params.append(
                click.option(
                    "--tracking-uri",
                    default=None,
                    metavar="URI",
                    help="Registry URI (default: MLFLOW_REGISTRY_URI / MLFLOW_TRACKING_URI, "
                    "else MLflow's local sqlite default).",
                )
            )
        for param in reversed(params):
            wrapper = param(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
def main() -> None:
    """Declarative, GitOps-style reconciler for the MLflow Model Registry.

    Git holds which model version holds each alias (state/*.yaml); `plan` shows the
    difference to the live registry and `apply` makes the registry match.
    """


def _register() -> None:
    from reconciler.commands import (
        apply,
        history,
        import_state,
        plan,
        promote,
        rollback,
        schema,
        status,
        validate,
    )

    for module in (validate, plan, apply, schema, promote, rollback, import_state, status, history):
        main.add_command(module.command)


_register()
