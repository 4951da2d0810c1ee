"""What training pipelines call (SPEC §7): log candidates, read the champion, load it.

Promotion is not here on purpose: it is a state edit (``reconciler promote``) reviewed
in a pull request and applied by ``reconciler apply``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from reconciler.errors import RegistryError
from reconciler.mlflow.connection import apply_http_defaults, resolve_uri
from reconciler.state.audit import git_head

READY_TIMEOUT_S = 300.0
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def _session(tracking_uri: str | None) -> Iterator[Any]:
    """A client for ``tracking_uri``; MLflow's global URIs (and their env vars) are restored
    afterwards, so a pipeline's other MLflow calls are not redirected behind its back."""
    apply_http_defaults()
    import mlflow
    from mlflow.tracking import MlflowClient

    saved_env = {k: os.environ.get(k) for k in _URI_ENV}
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    uri = resolve_uri(tracking_uri) or before[0]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def log_candidate(
    model: Any,
    name: str,
    metrics: Mapping[str, float],
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
    data_version: str | None = None,
    tracking_uri: str | None = None,
    signature: Any = None,
) -> tuple[str, int]:
    """Log a LightGBM model explicitly (no autolog), register it, wait until READY.

    ``signature`` (``mlflow.models.infer_signature(X, model.predict(X))``) is what the
    ``{signature: compatible}`` gate compares; without one that gate fails.
    """
    import mlflow
    import mlflow.lightgbm

    lineage = {
        "lineage.git_commit": git_head() or "",
        "lineage.data_version": data_version or "",
    }
    with _session(tracking_uri) as client:
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params(dict(params or {}))
            mlflow.log_metrics(dict(metrics))
            mlflow.set_tags({**{k: v for k, v in lineage.items() if v}, **dict(tags or {})})
            info = mlflow.lightgbm.log_model(model, name="model", signature=signature)
        version = mlflow.register_model(info.model_uri, name, tags=dict(tags or {}))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            mv = client.get_model_version(name, version.version)
            if mv.status == "READY":
                return run.info.run_id, int(mv.version)
            if mv.status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
                raise RegistryError(f"version {mv.version} of {name!r} is {mv.status}, not READY")
            time.sleep(0.5)


def load(name: str, alias: str = "champion", tracking_uri: str | None = None) -> Any:
    """The model that holds ``alias``, as an MLflow pyfunc model (has ``predict``)."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    try:
        with _session(tracking_uri):
            return mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    except MlflowException as exc:
        raise RegistryError(f"cannot load {name}@{alias}: {exc.message.splitlines()[0]}") from None


def champion_info(
    name: str, alias: str = "champion", tracking_uri: str | None = None
) -> dict[str, Any]:
    """Version, run id, metrics, tags and creation time of the version holding ``alias``."""
    from mlflow.exceptions import MlflowException

    with _session(tracking_uri) as client:
        try:
            mv = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            raise RegistryError(f"model {name!r} has no alias {alias!r}") from None
        run = client.get_run(mv.run_id) if mv.run_id else None
    return {
        "version": int(mv.version),
        "run_id": mv.run_id,
        "metrics": dict(run.data.metrics) if run else {},
        "tags": dict(mv.tags),
        "created_at": mv.creation_timestamp,
    }


def list_versions(name: str, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    """Every version of ``name`` with its aliases, stage and status (batched reads)."""
    from reconciler.mlflow.registry import MlflowRegistry

    registry = MlflowRegistry(resolve_uri(tracking_uri))
    observed = registry.read([name]).models.get(name)
    if observed is None:
        raise RegistryError(f"model {name!r} does not exist in the registry")
    held: dict[int, list[str]] = {}
    for alias, number in observed.aliases.items():
        held.setdefault(number, []).append(alias)
    return [
        {
            "version": v.version,
            "aliases": sorted(held.get(v.version, [])),
            "stage": v.stage,
            "status": v.status,
            "run_id": v.run_id,
            "created_at": v.created_at,
        }
        for v in sorted(observed.versions.values(), key=lambda v: v.version)
    ]
