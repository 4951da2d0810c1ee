"""Register real model versions with (or without) a signature, fast enough for tests.

``log_lightgbm`` logs a tiny LightGBM model with ``mlflow.lightgbm.log_model`` (the
real path pipelines use). ``register_mlmodel`` makes an MLflow 3 logged model holding
only an MLmodel file (what evidence reads), for request-count tests with many versions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.seed import client

MLMODEL = """\
artifact_path: model
flavors: {{}}
mlflow_version: 3.17.2
signature:
  inputs: '{inputs}'
  outputs: '[{{"type": "double", "required": true}}]'
  params: null
"""


def schema(columns: Mapping[str, str] | None) -> Any:
    """An MLflow signature with these input columns (name -> type) and one double output."""
    if columns is None:
        return None
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec(kind, col) for col, kind in columns.items()]),
        outputs=Schema([ColSpec("double")]),
    )


def log_lightgbm(
    url: str,
    name: str,
    columns: Mapping[str, str] | None,
    metrics: Mapping[str, float],
    params: Mapping[str, Any] | None = None,
    run_tags: Mapping[str, str] | None = None,
    version_tags: Mapping[str, str] | None = None,
    experiment: str = "evidence",
) -> tuple[str, int]:
    """Log a 2-tree LightGBM model with signature ``columns`` (None: none) and register it.

    MLflow's global URIs (and the env vars they set) are restored afterwards, as
    ``reconciler.training`` does: a leaked ``MLFLOW_REGISTRY_URI`` would point later
    tests' CLI runs at this server.
    """
    import lightgbm as lgb
    import mlflow
    import mlflow.lightgbm
    import numpy as np

    from reconciler.training import _session

    x = np.random.default_rng(0).normal(size=(30, 2))
    model = lgb.LGBMRegressor(n_estimators=2, min_child_samples=2, verbose=-1).fit(x, x[:, 0])
    with _session(url):
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            mlflow.log_params(dict(params or {}))
            mlflow.log_metrics(dict(metrics))
            mlflow.set_tags(dict(run_tags or {}))
            info = mlflow.lightgbm.log_model(
                model, name="model", signature=schema(columns), pip_requirements=["lightgbm"]
            )
        mv = mlflow.register_model(info.model_uri, name, tags=dict(version_tags or {}))
    return run.info.run_id, int(mv.version)


def register_mlmodel(
    url: str,
    name: str,
    experiment_id: str,
    columns: Mapping[str, str],
    metrics: Mapping[str, float],
) -> tuple[str, int]:
    """A version whose source is an MLflow 3 logged model holding only an MLmodel file."""
    import json

    c = client(url)
    run = c.create_run(experiment_id)
    for key, value in metrics.items():
        c.log_metric(run.info.run_id, key, value)
    c.set_terminated(run.info.run_id)
    logged = c.create_logged_model(experiment_id, source_run_id=run.info.run_id)
    inputs = json.dumps([{"type": t, "name": n, "required": True} for n, t in columns.items()])
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "MLmodel").write_text(MLMODEL.format(inputs=inputs), encoding="utf-8")
        c.log_model_artifacts(logged.model_id, tmp)
    mv = c.create_model_version(
        name, f"models:/{logged.model_id}", run.info.run_id, model_id=logged.model_id
    )
    return run.info.run_id, int(mv.version)
