"""The ``reconciler`` command line: parse options, call ``api``, print, exit.

This is the only place that prints or exits. Every ``ReconcilerError`` becomes one
red line on stderr and exit 1; anything unexpected becomes a short message with a
``--debug`` hint instead of a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlsplit

import click

from reconciler import __version__
from reconciler.connection import redact_text, resolve_uri
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


def debug_traceback(uri: str | None) -> str:
    """The current traceback for ``--debug``, with the URI's credentials masked.

    urllib3 messages carry the request path with the URI's query (``url: /?token=...``),
    which ``redact_text`` cannot recognise as a URI; mask those exact values too.
    """
    text = traceback.format_exc().rstrip()
    parts = urlsplit(resolve_uri(uri) or "")
    secrets = [parts.query, parts.password or "", *(v for _, v in parse_qsl(parts.query))]
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


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
                    out(debug_traceback(opts.tracking_uri), err=True)
                fail(str(exc))
            except (click.exceptions.Exit, click.exceptions.ClickException, click.Abort):
                raise
            except KeyboardInterrupt:
                fail("interrupted", 130)
            except Exception as exc:
                if opts.debug:
                    out(debug_traceback(opts.tracking_uri), err=True)
                    fail(f"unexpected {type(exc).__name__}")
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
        demo,
        history,
        import_state,
        plan,
        predict,
        promote,
        rollback,
        schema,
        status,
        validate,
    )

    for module in (
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
    ):
        main.add_command(module.command)


_register()
