"""MLflow workspaces (MLflow >= 3.10, SPEC §14/§16): every call made in one workspace.

MLflow's client sends ``X-MLflow-Workspace`` from a context variable, falling back to
``MLFLOW_WORKSPACE``. ``mlflow.set_workspace`` writes that environment variable too, which
threads share, so two workspaces read at once would race; setting only the context
variable around each call (what MLflow's server does per request) keeps each thread's
calls in its own workspace.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def in_workspace(workspace: str | None) -> Iterator[None]:
    """MLflow calls inside go to ``workspace`` (None: leave MLflow's own choice)."""
    if workspace is None:
        yield
        return
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    with ServerWorkspaceContext(workspace):
        yield


def unavailable(
    client: Any, store: Any, names: list[str], call_in: Callable[[str], Any]
) -> dict[str, str]:
    """Which of ``names`` this user cannot work in, and why.

    ``list_workspaces`` (one request) lists the workspaces open to the caller: all of
    them for an admin, under basic-auth only those a role grants (``get_workspace`` is
    admin-only there). One not listed is looked at once more: a search inside it says
    RESOURCE_DOES_NOT_EXIST when there is no such workspace; otherwise it exists but is
    closed to this user (basic-auth hides its models from searches rather than refusing).
    """
    from mlflow.exceptions import MlflowException

    listed = {w.name for w in client.list_workspaces()}
    out: dict[str, str] = {}
    for name in names:
        if name in listed:
            continue
        try:
            call_in(name)(lambda: store.search_registered_models(max_results=1))
            out[name] = f"is not open to {requester()} (no role in it)"
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, MlflowException) else exc
            if getattr(cause, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
                raise
            out[name] = "does not exist"
    return out


def requester() -> str:
    """Whose credentials MLflow sends, for refusals (never the secret itself)."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user:
        return repr(user)
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return "the MLFLOW_TRACKING_TOKEN user"
    return "an anonymous user (MLFLOW_TRACKING_USERNAME is not set)"


def no_workspaces(display_uri: str, workspace: str | None) -> str:
    """The one line for a workspace named against a server without workspaces."""
    which = f"workspace {workspace!r}" if workspace else "a workspace"
    return (
        f"the registry at {display_uri} does not have workspaces enabled, but {which} was "
        "asked for (a `workspace:` key, --workspace or MLFLOW_WORKSPACE): remove it, or run "
        "the server with `mlflow server --enable-workspaces` (MLflow >= 3.10)"
    )
