"""What the apply log says finished applies set, for soak gates (SPEC v4 §18).

Two requests per plan that has a moving alias with a soak gate: the apply experiment's
id, then one search of its latest ``FINISHED`` runs (their ``reconciler.aliases`` tags).
Every record is marked trusted here; once apply runs are signed (issue 28) a run whose
signature does not check out is read as untrusted and never counts.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.lock import FINISHED
from reconciler.core.observed import AliasSet
from reconciler.core.soak import ALIASES_TAG, parse_sets
from reconciler.mlflow.applylog import MlflowApplyLog

SEARCHED = 1000
"""Finished applies read (newest first): an alias set by an older one is not found."""


def alias_sets(registry: Any) -> tuple[AliasSet, ...]:
    """Every alias the latest ``SEARCHED`` finished applies set, with when they ended."""
    log = MlflowApplyLog.of(registry)
    experiment = log.experiment_id(create=False)
    if experiment is None:
        return ()
    runs = log._call(
        lambda: log._client.search_runs(
            [experiment],
            f"attributes.status = '{FINISHED}'",
            max_results=SEARCHED,
            order_by=["attributes.start_time DESC"],
        )
    )
    return tuple(
        found
        for run in runs
        for found in parse_sets(
            run.info.run_id,
            run.data.tags.get(ALIASES_TAG),
            int(run.info.end_time or run.info.start_time or 0),
        )
    )
