"""Put registered models, versions with run metrics, and aliases into a registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def client(url: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def seed_model(
    url: str,
    name: str,
    metrics: Sequence[Mapping[str, float]] = ({}, {}),
    aliases: Mapping[str, int] | None = None,
    experiment: str = "seed",
) -> list[str]:
    """Create model ``name`` with one version per metrics dict; returns the run ids."""
    c = client(url)
    exp = c.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else c.create_experiment(experiment)
    c.create_registered_model(name)
    run_ids = []
    for values in metrics:
        run = c.create_run(exp_id)
        for key, value in values.items():
            c.log_metric(run.info.run_id, key, value)
        c.set_terminated(run.info.run_id)
        c.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        run_ids.append(run.info.run_id)
    for alias, version in (aliases or {}).items():
        c.set_registered_model_alias(name, alias, str(version))
    return run_ids
