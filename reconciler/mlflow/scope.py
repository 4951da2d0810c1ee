"""MLflow workspaces (MLflow >= 3.10, SPEC §14/§16): every call made in one workspace.

MLflow's client sends ``X-MLflow-Workspace`` from a context variable, falling back to
``MLFLOW_WORKSPACE``. ``mlflow.set_workspace`` writes that environment variable too, which
threads share, so two workspaces read at once would race; setting only the context
variable around each call (what MLflow's server does per request) keeps each thread's
calls in its own workspace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


def has_workspace(client: Any, name: str) -> bool:
    """Whether a server with workspaces has ``name`` (``get_workspace``: one request)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_workspace(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def no_workspaces(display_uri: str, workspace: str | None) -> str:
    """The one line for a workspace named against a server without workspaces."""
    which = f"workspace {workspace!r}" if workspace else "a workspace"
    return (
        f"the registry at {display_uri} does not have workspaces enabled, but {which} was "
        "asked for (a `workspace:` key, --workspace or MLFLOW_WORKSPACE): remove it, or run "
        "the server with `mlflow server --enable-workspaces` (MLflow >= 3.10)"
    )
