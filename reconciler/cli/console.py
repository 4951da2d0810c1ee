"""What every command shares: the common options, printing, and the one error handler.

Commands import this module, never ``cli`` (which imports the commands): a module
everyone imports imports nothing above it. Only this module and ``cli`` print or exit.
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

from reconciler.errors import ApplyError, ReconcilerError
from reconciler.mlflow.connection import redact_text, resolve_uri
from reconciler.mlflow.modelread import MODES, PAGE_TIMEOUT
from reconciler.render.escape import command_safe, terminal

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Options:
    """The common options every command receives."""

    state: Path
    tracking_uri: str | None
    debug: bool
    color: bool
    state_given: bool = False
    """True when ``--state`` (or RECONCILER_STATE) was given, not the default."""
    read_models: str = "auto"
    """How registered models are read: ``--read-models`` (or RECONCILER_READ_MODELS)."""
    workspace: str | None = None
    """``--workspace`` / MLFLOW_WORKSPACE: the workspace of state files without one."""


ERROR_LINE_LIMIT = 1_000
"""Characters an ``error:`` line keeps (a 100,000-character tag value is not a message)."""


def out(text: str = "", nl: bool = True, err: bool = False, color: bool | None = None) -> None:
    """Print, with credentials masked and no line a CI runner would run as a workflow
    command (values were escaped where they were put in; this is the last guard)."""
    click.echo(command_safe(redact_text(text)), nl=nl, err=err, color=color)


def warn(message: str) -> None:
    """Say one warning on stderr."""
    out(f"warning: {message}", err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Say one error on stderr and exit."""
    out(f"error: {terminal(message, ERROR_LINE_LIMIT)}", err=True)
    sys.exit(code)


def report(exc: ReconcilerError) -> NoReturn:
    """Say each error ``exc`` stands for once, then its footer (a count), and exit 1."""
    if isinstance(exc, ApplyError):
        for line in exc.details:
            out(terminal(line))
    for line in exc.error_lines():  # one line each: file names and registry text escaped
        out(f"error: {terminal(line, ERROR_LINE_LIMIT)}", err=True)
    if footer := exc.footer():
        out(footer, err=True)
    sys.exit(1)


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


def _options(kwargs: dict[str, Any]) -> Options:
    no_color = kwargs.pop("no_color") or bool(os.environ.get("NO_COLOR"))
    source = click.get_current_context().get_parameter_source("state")
    workspace = (kwargs.pop("workspace", None) or "").strip() or None
    return Options(
        workspace=workspace,
        state=Path(kwargs.pop("state")),
        tracking_uri=kwargs.pop("tracking_uri", None),
        debug=kwargs.pop("debug"),
        color=not no_color and sys.stdout.isatty(),
        state_given=source is not None and source is not click.core.ParameterSource.DEFAULT,
        read_models=kwargs.pop("read_models", "auto"),
    )


def _check_workspace_option(name: str | None) -> None:
    from reconciler.state.models import check_workspace

    if name is not None:
        try:
            check_workspace(name)
        except ValueError as exc:
            raise ReconcilerError(f"--workspace / MLFLOW_WORKSPACE: {exc}") from None


def common_options(registry: bool = True, reads: bool = False) -> Callable[[F], F]:
    """Add --state, --debug, --no-color (and --tracking-uri; with ``reads``,
    --read-models) and the error handler."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            opts = _options(kwargs)
            try:
                _check_workspace_option(opts.workspace)
                return fn(opts, **kwargs)
            except ReconcilerError as exc:
                if opts.debug and not isinstance(exc, ApplyError):
                    out(debug_traceback(opts.tracking_uri), err=True)
                report(exc)
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
            click.option(
                "--workspace",
                envvar="MLFLOW_WORKSPACE",
                default=None,
                metavar="NAME",
                help="MLflow workspace of state files without a `workspace:` key "
                "(env MLFLOW_WORKSPACE; default: the server's default workspace).",
            ),
            click.option("--debug", is_flag=True, help="Show tracebacks and MLflow's log."),
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
        if reads:
            params.append(
                click.option(
                    "--read-models",
                    envvar="RECONCILER_READ_MODELS",
                    type=click.Choice(MODES),
                    default="auto",
                    show_default=True,
                    help="How registered models are read: by search, switching to one "
                    f"request per model only if a search page fails or passes {PAGE_TIMEOUT:.0f} s "
                    "(auto); "
                    "search only; one request per model (env RECONCILER_READ_MODELS).",
                )
            )
        for param in reversed(params):
            wrapper = param(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
