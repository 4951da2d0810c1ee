"""The newest entry of the apply log (SPEC §12), read for the controller.

The apply log is one MLflow run per apply in the experiment ``reconciler-applies``
(``RECONCILER_APPLY_EXPERIMENT``), tagged ``reconciler.commit`` and ``reconciler.actor``.
This module only reads it: two requests (the experiment, then the newest runs).
"""

from __future__ import annotations

import os
import time
from typing import Any

from reconciler.errors import RegistryError

EXPERIMENT = "reconciler-applies"
RECENT = 20
"""Newest runs read: enough to see a RUNNING apply beside the last FINISHED one."""
LOCK_MS = 15 * 60 * 1000
"""A RUNNING apply older than this is a stale lock (SPEC §12), not an apply in progress."""


def experiment_name() -> str:
    return os.environ.get("RECONCILER_APPLY_EXPERIMENT") or EXPERIMENT


def read_last_apply(uri: str) -> dict[str, Any] | None:
    """``{"commit", "actor", "at", "run_id", "running"}`` of the newest finished apply
    (``running``: a RUNNING apply started after it holds the registry), or None when the
    log has no finished apply."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        experiment = client.get_experiment_by_name(experiment_name())
        if experiment is None:
            return None
        runs = client.search_runs(
            [experiment.experiment_id],
            order_by=["attributes.start_time DESC"],
            max_results=RECENT,
        )
    except MlflowException as exc:
        raise RegistryError(f"cannot read the apply log: {exc.message}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise RegistryError(f"cannot read the apply log: {type(exc).__name__}") from exc
        raise
    running = False
    for run in runs:
        if run.info.status == "RUNNING":
            running = running or time.time() * 1000 - run.info.start_time < LOCK_MS
            continue
        if run.info.status != "FINISHED":
            continue  # FAILED / KILLED applies changed nothing for good
        commit = run.data.tags.get("reconciler.commit")
        if not commit:
            continue
        return {
            "commit": commit,
            "actor": run.data.tags.get("reconciler.actor", ""),
            "at": run.info.start_time,
            "run_id": run.info.run_id,
            "running": running,
        }
    return None
