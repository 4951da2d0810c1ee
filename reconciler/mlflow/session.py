"""One connection to MLflow, and the one place its failures become one readable line.

The registry's reads, writes and run lookups (``reads``, ``writes``, ``runs``) all go
through ``Session._call``: a refused credential, an unreachable server or a store error
is a ``RegistryError`` naming the redacted URI, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from reconciler.errors import PERMISSION_DENIED, UNREACHABLE, RegistryError, registry_error
from reconciler.mlflow.connection import (
    apply_http_defaults,
    default_local_uri,
    is_http,
    redact,
    redact_text,
    refused,
)
from reconciler.mlflow.credentials import Key, current, using
from reconciler.mlflow.scope import in_workspace, no_workspaces, requester

DEFAULT_CONCURRENCY = 8
T = TypeVar("T")


def quote(value: str) -> str:
    """A string literal for an MLflow filter: single-quoted, backslash-escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Session:
    """MLflow's client and registry store for one URI, with error translation."""

    def __init__(
        self,
        uri: str | None,
        concurrency: int = DEFAULT_CONCURRENCY,
        debug: bool = False,
        workspace: str | None = None,
        creds: Key | None = None,
    ) -> None:
        apply_http_defaults()
        self.creds: Key = creds if creds is not None else current()
        """The MLflow credentials every call is made with (``credentials.using``): a named
        registry's own, else the process's as they were when the session began."""
        self.workspace = workspace
        """The MLflow workspace every call is made in (None: MLflow's own choice)."""
        self.uri = uri or default_local_uri()
        self.display_uri = redact(self.uri)
        self.debug = debug
        # Local sqlite stores serialise writes anyway; threads only add lock errors.
        self.concurrency = max(1, concurrency) if is_http(self.uri) else 1
        if reason := refused(self.uri):  # seconds, not a round of retries
            raise RegistryError(f"cannot reach the registry at {self.display_uri} ({reason})")
        self._client, self._store = self._call(self._connect)

    def _connect(self) -> tuple[Any, Any]:
        warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
        from mlflow.tracking import MlflowClient

        # MLflow logs at INFO to stderr ("Creating initial MLflow database tables..."):
        # the user's terminal gets it only with --debug.
        level = logging.INFO if self.debug else logging.WARNING
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(level)

        client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        try:
            store = client._get_registry_client().store
        except ModuleNotFoundError as exc:
            raise RegistryError(
                f"the registry {self.display_uri} needs the full mlflow package ({exc.name} is "
                "missing): pip install 'registry-reconciler[local]'"
            ) from None
        return client, store

    def _call(self, fn: Callable[[], T], model: str | None = None) -> T:
        """Run one MLflow call (about ``model``) in this session's workspace, turning its
        failures into one line."""
        from mlflow.exceptions import MlflowException

        try:
            with using(self.creds), in_workspace(self.workspace):
                return fn()
        except RegistryError:
            raise
        except MlflowException as exc:
            status = exc.get_http_status_code()
            if exc.error_code == "FEATURE_DISABLED":
                raise RegistryError(no_workspaces(self.display_uri, self.workspace)) from exc
            if status in (401, 403):
                raise RegistryError(self._denied(status, model)) from exc
            raise registry_error(self._explain(exc.message)) from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("requests", "urllib3", "sqlalchemy", "mlflow")):
                raise registry_error(self._explain(f"{type(exc).__name__}: {exc}")) from exc
            raise

    def _explain(self, message: str) -> str:
        first = redact_text(str(message).strip().splitlines()[0] if message else "unknown error")
        if len(first) > 300:
            first = first[:297] + "..."
        for marker, reason in (
            ("Connection refused", "connection refused"),
            ("timed out", "timed out"),
            ("Read timed out", "timed out"),
            ("Max retries exceeded", "no answer after retries"),
            ("NameResolutionError", "unknown host"),
            ("ConnectionError", "connection failed"),
        ):
            if marker in message:
                return f"{UNREACHABLE} at {self.display_uri} ({reason})"
        if "403" in message or "PERMISSION_DENIED" in message:
            return f"permission denied by the registry at {self.display_uri}: {first}"
        if "401" in message or "Unauthorized" in message or "UNAUTHENTICATED" in message:
            return f"the registry at {self.display_uri} refused the credentials: {first}"
        return f"registry {self.display_uri}: {first}"

    def _denied(self, status: int, model: str | None) -> str:
        """401/403 as who was refused what: running again cannot help (SPEC §6.5)."""
        who = requester()
        on = f"model {model!r}" if model else f"the registry at {self.display_uri}"
        if status == 401:
            return (
                f"{PERMISSION_DENIED}: the registry at {self.display_uri} did not accept the "
                f"credentials of {who} (HTTP 401); check MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        return (
            f"{PERMISSION_DENIED} for {who} on {on} (HTTP 403); "
            "ask an admin of the registry for EDIT permission"
        )

    def _paged(self, search: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        """All pages of an MLflow search call."""
        token: str | None = None
        while True:
            page = self._call(functools.partial(search, **kwargs, page_token=token))
            yield from page
            token = page.token
            if not token:
                return
