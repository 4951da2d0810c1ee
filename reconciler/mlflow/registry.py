"""The MLflow adapter: the ``Registry`` port (``core.ports``) over MLflow, by concern.

``session`` connects and turns MLflow's failures into one line; ``reads`` reads models
and versions in batches (SPEC §8); ``writes`` carries out changes and copies straight
on the registry store; ``runs`` fetches runs and signatures for gates and evidence.
``MlflowRegistry`` composes them, so callers see one object.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from reconciler.errors import RegistryError
from reconciler.mlflow.credentials import Key
from reconciler.mlflow.modelread import Warn
from reconciler.mlflow.reads import Reads
from reconciler.mlflow.runs import RUNS_PER_SEARCH, Runs
from reconciler.mlflow.scope import no_workspaces, unavailable
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
        self,
        uri: str | None,
        concurrency: int = DEFAULT_CONCURRENCY,
        debug: bool = False,
        read_models: str = "auto",
        warn: Warn | None = None,
        workspace: str | None = None,
        creds: Key | None = None,
    ) -> None:
        super().__init__(uri, concurrency, debug, workspace, creds)
        self._start_reads(read_models, warn)
        self._start_runs()

    def in_workspace(self, workspace: str | None) -> MlflowRegistry:
        """The same connection, every call made in ``workspace`` (``scope.py``); reads
        and run caches start afresh (experiments belong to a workspace)."""
        if workspace == self.workspace:
            return self
        other = copy.copy(self)
        other.workspace = workspace
        other._start_reads()
        other._start_runs()
        return other

    def missing_workspaces(self, names: Iterable[str]) -> dict[str, str]:
        """Each of ``names`` this user cannot work in, with why (``scope.unavailable``).
        A server (or local store) without workspaces is one RegistryError saying so."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        if not self._call(lambda: bool(getattr(self._store, "supports_workspaces", False))):
            raise RegistryError(no_workspaces(self.display_uri, wanted[0]))
        return self._call(
            lambda: unavailable(
                self._client, self._store, wanted, lambda n: self.in_workspace(n)._call
            )
        )
