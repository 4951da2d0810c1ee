"""The small interface the core needs from a registry; only ``mlflow/registry.py`` implements it
against MLflow, so planning and apply logic can be exercised on plain data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from reconciler.core.applylog.record import ApplyRecord
from reconciler.core.observed import ObservedRun, ObservedSignature, ObservedState
from reconciler.core.plantypes import Change


class Registry(Protocol):
    """Batched reads and one-request writes against a model registry."""

    display_uri: str
    """The registry URI with credentials redacted, safe to print."""
    concurrency: int
    """How many writes may run at once."""
    workspace: str | None
    """The MLflow workspace every call goes to (None: the server's default, or none)."""

    def in_workspace(self, workspace: str | None) -> Registry:
        """The same registry, every call made in ``workspace``."""
        ...

    def missing_workspaces(self, names: Iterable[str]) -> dict[str, str]:
        """Each of ``names`` that does not exist or is closed to this user, with why
        ("does not exist"); a registry without workspaces raises RegistryError."""
        ...

    def read(self, names: Iterable[str], prompts: Iterable[str] = ()) -> ObservedState:
        """Aliases, tags and versions of the models ``names`` and of the prompts
        ``prompts`` (SPEC v4 §20: two kinds the server keeps apart); absent ones are left
        out."""
        ...

    def model_names(self) -> list[str]:
        """Every registered model's name (for ``import`` of a whole registry)."""
        ...

    def prompt_names(self) -> list[str]:
        """Every prompt's name (``import`` of a whole registry, SPEC v4 §20)."""
        ...

    def no_prompt_registry(self) -> str | None:
        """Why this registry cannot hold prompts (an MLflow 2.x server), or None."""
        ...

    def run_metrics(self, run_ids: Iterable[str]) -> Mapping[str, Mapping[str, float]]:
        """Latest metrics of each run, read in batches."""
        ...

    def runs(self, run_ids: Iterable[str]) -> Mapping[str, ObservedRun]:
        """Each run's metrics, params, tags and experiment, read in batches."""
        ...

    def signatures(self, sources: Iterable[str]) -> Mapping[str, ObservedSignature]:
        """The model signature at each version source (one MLmodel read each, cached)."""
        ...

    def write(self, change: Change) -> None:
        """Carry out one change with one request."""
        ...

    def copy_version(self, model: str, source_model: str, source_version: int) -> int:
        """Copy a version of ``source_model`` into ``model`` (created if missing), wait until
        the copy is READY, and return its version number."""
        ...

    def set_version_tag(self, model: str, version: int, key: str, value: str) -> None:
        """Set one tag on a model version (audit trail)."""
        ...

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        """Set one tag on a registered model (ownership record)."""
        ...


class ApplyLog(Protocol):
    """Where applies record themselves, one run each (SPEC §12, §17); also the lock.

    Every call retries transient failures (bounded); a create whose answer was lost is
    found again by the record's ``apply_id``."""

    name: str
    """The experiment's name."""

    def start(self, draft: ApplyRecord, tags: Mapping[str, str] | None = None) -> ApplyRecord:
        """A new ``RUNNING`` run carrying ``draft``'s fields as tags (its run id is made),
        and ``tags``: more to record (the aliases it sets, a window override)."""
        ...

    def recent(self, limit: int = 100, status: str | None = None) -> list[ApplyRecord]:
        """The latest runs, newest first."""
        ...

    def finished_of(self, repo: str, limit: int = 200) -> list[ApplyRecord]:
        """The latest ``FINISHED`` runs claiming repository ``repo``, newest first."""
        ...

    def all(self, status: str | None = None) -> list[ApplyRecord]:
        """Every run, oldest first."""
        ...

    def attach(self, run_id: str, filename: str, text: str) -> None:
        """Store ``text`` as a file of the run (``plan.json``)."""
        ...

    def beat(self, run_id: str) -> None:
        """Renew the run's heartbeat (one request, not retried: the next beat is)."""
        ...

    def end(
        self,
        run_id: str,
        status: str,
        end_ms: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Set ``tags``, then end the run with ``FINISHED``, ``FAILED`` or ``KILLED``."""
        ...

    def get(self, run_id: str) -> ApplyRecord:
        """One run of the log (an error when it is not one)."""
        ...
