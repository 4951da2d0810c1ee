"""The MLflow adapter: the ``Registry`` port (``core.ports``) over MLflow, by concern.

``session`` connects and turns MLflow's failures into one line; ``reads`` reads models
and versions in batches (SPEC §8); ``writes`` carries out changes and copies straight
on the registry store; ``runs`` fetches runs and signatures for gates and evidence.
``MlflowRegistry`` composes them, so callers see one object.
"""

from __future__ import annotations

from reconciler.mlflow.reads import Reads
from reconciler.mlflow.runs import RUNS_PER_SEARCH, Runs
from reconciler.mlflow.session import DEFAULT_CONCURRENCY, quote
from reconciler.mlflow.writes import COPY_READY_TIMEOUT, Writes

__all__ = [
    "COPY_READY_TIMEOUT",
    "DEFAULT_CONCURRENCY",
    "RUNS_PER_SEARCH",
    "MlflowRegistry",
    "quote",
]


class MlflowRegistry(Reads, Writes, Runs):
    """The ``Registry`` port over MLflow's client and registry store."""

    def __init__(
        self, uri: str | None, concurrency: int = DEFAULT_CONCURRENCY, debug: bool = False
    ) -> None:
        super().__init__(uri, concurrency, debug)
        self._start_reads()
        self._start_runs()
