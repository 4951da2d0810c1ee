"""What the apply log says finished applies set, for soak gates (SPEC v4 §18).

Two requests per plan that has a moving alias with a soak gate: the apply experiment's
id, then one search of its latest ``FINISHED`` runs (their ``reconciler.aliases`` tags).
A run dated in the future of this clock never counts; with ``RECONCILER_LOG_KEY`` set,
only runs signed and sealed with it count (SPEC §17): a forged run cannot make a version
look soaked. Any repository's runs count: a staging model may be another team's.
"""

from __future__ import annotations

import os
import time
from typing import Any

from reconciler.core.applylog.lease import in_future
from reconciler.core.applylog.record import FINISHED
from reconciler.core.applylog.signing import KEY_ENV, sealed
from reconciler.core.observed import AliasSet
from reconciler.core.soak import ALIASES_TAG, parse_sets
from reconciler.mlflow.applylog import MlflowApplyLog, to_record

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
    key = os.environ.get(KEY_ENV) or None
    now = int(time.time() * 1000)

    def believed(run: Any) -> bool:
        record = to_record(run)
        return not in_future(record, now) and (key is None or sealed(record, key))

    return tuple(
        found
        for run in runs
        for found in parse_sets(
            run.info.run_id,
            run.data.tags.get(ALIASES_TAG),
            int(run.info.end_time or run.info.start_time or 0),
            believed(run),
        )
    )
