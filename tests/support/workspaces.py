"""Real ``mlflow server --enable-workspaces`` (MLflow >= 3.10) for the workspace tests:
the server, its workspaces, and models seeded into one workspace."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.mlflow_server import MlflowServer
from tests.support.seed import seed_model

ENABLE = {"MLFLOW_ENABLE_WORKSPACES": "true"}
"""What ``--enable-workspaces`` sets; the server command line stays the shared one."""


def workspaces_server(
    backend_uri: str, workdir: Path, env: Mapping[str, str] | None = None
) -> MlflowServer:
    """A not yet started server with workspaces enabled (SQL backends only)."""
    return MlflowServer(backend_uri, workdir, env={**ENABLE, **dict(env or {})})


@contextmanager
def in_workspace(name: str) -> Iterator[None]:
    """MLflow client calls inside go to workspace ``name`` (the reconciler's own scope)."""
    from reconciler.mlflow.scope import in_workspace as scoped

    with scoped(name):
        yield


def create_workspaces(url: str, *names: str) -> None:
    """Create each workspace (the admin REST API: POST /api/3.0/mlflow/workspaces)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    existing = {w.name for w in client.list_workspaces()}
    for name in names:
        if name not in existing:
            client.create_workspace(name)


def seed_in(
    url: str,
    workspace: str,
    name: str,
    metrics: Sequence[Mapping[str, float]] = ({}, {}),
    aliases: Mapping[str, int] | None = None,
) -> list[str]:
    """``seed_model`` inside ``workspace``."""
    with in_workspace(workspace):
        return seed_model(url, name, metrics, aliases)


def aliases_in(url: str, workspace: str | None, name: str) -> dict[str, int]:
    """The model's live aliases in ``workspace`` (None: the server's default)."""
    from mlflow.tracking import MlflowClient

    client: Any = MlflowClient(tracking_uri=url, registry_uri=url)
    if workspace is None:
        model = client.get_registered_model(name)
    else:
        with in_workspace(workspace):
            model = client.get_registered_model(name)
    return {a: int(v) for a, v in model.aliases.items()}
