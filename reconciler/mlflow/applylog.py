"""The apply log (SPEC §12): every apply that writes is one MLflow run in an experiment.

A few requests per apply, never per change: find (or create) the experiment, create
the run with all its tags, read the recent runs once (the lock, ``core/lock.py``),
upload ``plan.json``, end the run. Readers (``history``, the controller) get the log as
``ApplyRecord`` values: ``last_applied`` and ``recent_applies`` are what a controller
asks ("which commit did the registry last converge to?").
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.core.lock import FINISHED, KILLED, RUNNING, ApplyRecord, last_finished
from reconciler.errors import RegistryError

EXPERIMENT = "reconciler-applies"
EXPERIMENT_ENV = "RECONCILER_APPLY_EXPERIMENT"
COMMIT, ACTOR, REGISTRY, WORKSPACE, MODELS = (
    "reconciler.commit",
    "reconciler.actor",
    "reconciler.registry",
    "reconciler.workspace",
    "reconciler.models",
)
TAG_LIMIT = 5000
"""MLflow 2.x caps tag values at 5,000 characters; a longer model list is left out."""
RECENT = 100
"""How many of the latest runs the lock reads (one search request)."""


def experiment_name() -> str:
    return os.environ.get(EXPERIMENT_ENV) or EXPERIMENT


def to_record(run: Any) -> ApplyRecord:
    """An MLflow run of the apply experiment as plain data."""
    tags = dict(run.data.tags)
    try:
        models = tuple(json.loads(tags[MODELS])) if MODELS in tags else None
    except (ValueError, TypeError):
        models = None
    return ApplyRecord(
        run_id=run.info.run_id,
        status=str(run.info.status),
        start_ms=int(run.info.start_time or 0),
        end_ms=int(run.info.end_time) if run.info.end_time else None,
        actor=tags.get(ACTOR, ""),
        commit=tags.get(COMMIT, ""),
        registry=tags.get(REGISTRY, ""),
        workspace=tags.get(WORKSPACE, ""),
        models=models,
    )


def local_artifacts(uri: str) -> str | None:
    """For a local sqlite registry, keep ``plan.json`` files beside the database (MLflow
    would put them in ``./mlruns`` of whatever directory apply ran in); None elsewhere:
    the server decides."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    if not database.is_absolute():
        database = Path.cwd() / database
    return (database.parent / "mlruns").as_uri()


class MlflowApplyLog:
    """The apply experiment on the registry's tracking server.

    ``call`` is the registry's error translation (one readable ``RegistryError`` line).
    """

    def __init__(self, client: Any, call: Callable[[Callable[[], Any]], Any], uri: str) -> None:
        self._client = client
        self._call = call
        self.uri = uri
        self.name = experiment_name()
        self._experiment_id: str | None = None
        self._artifact_uris: dict[str, str] = {}

    @classmethod
    def of(cls, registry: Any) -> MlflowApplyLog:
        """The log on the same server as an ``MlflowRegistry``."""
        return cls(registry._client, registry._call, registry.uri)

    def experiment_id(self, create: bool) -> str | None:
        """The experiment's id; with ``create``, made when missing (a race with another
        creator is fine: the loser reads the winner's)."""
        if self._experiment_id is None:
            found = self._call(lambda: self._client.get_experiment_by_name(self.name))
            if found is None and create:
                try:
                    where = local_artifacts(self.uri)
                    self._experiment_id = str(
                        self._call(lambda: self._client.create_experiment(self.name, where))
                    )
                except RegistryError:
                    found = self._call(lambda: self._client.get_experiment_by_name(self.name))
                    if found is None:
                        raise
            if found is not None and getattr(found, "lifecycle_stage", "") == "deleted":
                raise RegistryError(
                    f"the apply log's experiment {self.name!r} is deleted; restore it (mlflow "
                    f"experiments restore --experiment-id {found.experiment_id}) or name another "
                    f"with {EXPERIMENT_ENV}"
                )
            if found is not None:
                self._experiment_id = str(found.experiment_id)
        return self._experiment_id

    def start(
        self,
        commit: str | None,
        actor: str,
        registry: str,
        models: list[str],
        workspaces: tuple[str, ...] = (),
        tags: Mapping[str, str] | None = None,
    ) -> ApplyRecord:
        """A new ``RUNNING`` run carrying who applies what (one request, two on first use)."""
        experiment = self.experiment_id(create=True)
        assert experiment is not None
        tags = {
            **(tags or {}),
            COMMIT: commit or "",
            ACTOR: actor,
            REGISTRY: registry,
            "mlflow.user": actor,
        }
        if workspace := ",".join(workspaces) or os.environ.get("MLFLOW_WORKSPACE"):
            tags[WORKSPACE] = workspace
        listed = json.dumps(sorted(models), separators=(",", ":"))
        if len(listed) <= TAG_LIMIT:
            tags[MODELS] = listed
        name = f"apply {(commit or 'uncommitted')[:12]}"
        run = self._call(
            lambda: self._client.create_run(
                experiment, start_time=int(time.time() * 1000), tags=tags, run_name=name
            )
        )
        self._artifact_uris[run.info.run_id] = str(run.info.artifact_uri or "")
        return to_record(run)

    def recent(self, limit: int = RECENT, status: str | None = None) -> list[ApplyRecord]:
        """The latest ``limit`` runs (with ``status`` only), newest first (one request)."""
        experiment = self.experiment_id(create=False)
        if experiment is None:
            return []
        where = f"attributes.status = '{status}'" if status else ""
        runs = self._call(
            lambda: self._client.search_runs(
                [experiment], where, max_results=limit, order_by=["attributes.start_time DESC"]
            )
        )
        return [to_record(r) for r in runs]

    def all(self, status: str | None = None) -> list[ApplyRecord]:
        """Every run (with ``status`` only), oldest first, paged."""
        experiment = self.experiment_id(create=False)
        if experiment is None:
            return []
        where = f"attributes.status = '{status}'" if status else ""
        out: list[ApplyRecord] = []
        token: str | None = None
        while True:
            page = self._call(
                functools.partial(
                    self._client.search_runs,
                    [experiment],
                    where,
                    max_results=1000,
                    page_token=token,
                )
            )
            out += [to_record(r) for r in page]
            token = page.token
            if not token:
                return sorted(out, key=ApplyRecord.key)

    def attach(self, run_id: str, filename: str, text: str) -> None:
        """Upload ``text`` as an artifact of the run (one request)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        def upload() -> None:
            repo = get_artifact_repository(self._artifact_uris[run_id], tracking_uri=self.uri)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, filename)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
                repo.log_artifact(path)

        self._call(upload)

    def end(self, run_id: str, status: str) -> None:
        """Mark the run ``FINISHED``, ``FAILED`` or ``KILLED`` (one request: the client's
        ``set_terminated`` reads the run first)."""
        from mlflow.entities import RunStatus

        store = self._client._tracking_client.store
        self._call(
            lambda: store.update_run_info(
                run_id, RunStatus.from_string(status), int(time.time() * 1000), None
            )
        )

    def unlock(self, run_id: str) -> ApplyRecord:
        """End a ``RUNNING`` apply run as ``KILLED`` (a dead apply's lock)."""
        found = self._call(lambda: self._client.get_run(run_id))
        run = to_record(found)
        experiment = self.experiment_id(create=False)
        if experiment is None or str(found.info.experiment_id) != experiment:
            raise RegistryError(f"run {run_id} is not an apply run of experiment {self.name!r}")
        if run.status != RUNNING:
            raise RegistryError(f"run {run_id} is {run.status}, not RUNNING: nothing to clear")
        self.end(run_id, KILLED)
        return run


def last_applied(uri: str | None) -> ApplyRecord | None:
    """The most recent verified apply on the registry at ``uri`` (None: none logged):
    its ``commit`` is the state the registry last converged to."""
    from reconciler.mlflow.registry import MlflowRegistry

    return last_finished(MlflowApplyLog.of(MlflowRegistry(uri)).recent(10, FINISHED))


def recent_applies(uri: str | None, limit: int = RECENT) -> list[ApplyRecord]:
    """The latest ``limit`` applies on the registry at ``uri``, newest first."""
    from reconciler.mlflow.registry import MlflowRegistry

    return MlflowApplyLog.of(MlflowRegistry(uri)).recent(limit)
