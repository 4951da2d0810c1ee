"""The apply log's MLflow adapter (SPEC §12, §17): one run per apply in an experiment.

A few requests per apply, never per change: find (or create) the experiment, create
the run with all its tags, read the recent runs (the lock, ``core/applylog/lease.py``),
upload ``plan.json``, renew the heartbeat every 10 s, end the run. Every call is retried
on transient failures (a 5xx, a reset, a timeout, a locked sqlite) for at most
``RETRY_SECONDS``; a run whose create answer was lost is found again by its
``reconciler.apply_id`` rather than created twice. Readers get ``ApplyRecord`` values.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from reconciler.core.applylog.leader import HOLDER, KIND, LEADER, RENEWED, LeaderLease
from reconciler.core.applylog.record import (
    APPLY_ID,
    FINISHED,
    KILLED,
    REPO,
    ApplyRecord,
    from_tags,
    to_tags,
)
from reconciler.errors import RegistryError, UnreachableError, is_refusal
from reconciler.mlflow.session import quote

EXPERIMENT = "reconciler-applies"
EXPERIMENT_ENV = "RECONCILER_APPLY_EXPERIMENT"
RECENT = 100
"""How many of the latest runs the lock reads (one search request)."""
RETRY_SECONDS = 30.0
"""How long a log call keeps retrying a transient failure, in all."""
TRANSIENT = (
    "database is locked",
    " 500",
    " 502",
    " 503",
    " 504",
    "INTERNAL_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "RemoteDisconnected",
    "Connection aborted",
)
"""Markers of a failure worth retrying (besides ``UnreachableError``)."""
T = TypeVar("T")


def experiment_name() -> str:
    return os.environ.get(EXPERIMENT_ENV) or EXPERIMENT


def _applies(runs: Any) -> list[ApplyRecord]:
    """Apply runs only: the replicas' lease record is no apply."""
    return [to_record(r) for r in runs if r.data.tags.get(KIND) != LEADER]


def to_record(run: Any) -> ApplyRecord:
    """An MLflow run of the apply experiment as plain data."""
    return from_tags(
        run.info.run_id,
        str(run.info.status),
        int(run.info.start_time or 0),
        int(run.info.end_time) if run.info.end_time else None,
        dict(run.data.tags),
    )


def transient(exc: RegistryError) -> bool:
    """A failure that the same call may not meet again (never a 401/403)."""
    if is_refusal(exc.message):
        return False
    return isinstance(exc, UnreachableError) or any(m in exc.message for m in TRANSIENT)


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

    def __init__(
        self,
        client: Any,
        call: Callable[[Callable[[], Any]], Any],
        uri: str,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._client = client
        self._plain_call = call
        self.uri = uri
        self.name = experiment_name()
        self.retry_seconds = retry_seconds
        self._experiment_id: str | None = None
        self._artifact_uris: dict[str, str] = {}
        self.retries = 0
        """Transient failures retried so far (for tests and logs)."""

    @classmethod
    def of(cls, registry: Any, retry_seconds: float = RETRY_SECONDS) -> MlflowApplyLog:
        """The log on the same server as an ``MlflowRegistry``."""
        return cls(registry._client, registry._call, registry.uri, retry_seconds)

    def _call(self, fn: Callable[[], T], find: Callable[[], T | None] | None = None) -> T:
        """``fn`` through the registry's translation, retried while failures are transient;
        before a retry, ``find`` may say the call took effect after all."""
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.5
        while True:
            try:
                return self._plain_call(fn)  # type: ignore[no-any-return]
            except RegistryError as exc:
                if not transient(exc) or time.monotonic() + pause > deadline:
                    raise
            self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 4.0)
            if find is not None:
                try:
                    found: T | None = self._plain_call(find)
                except RegistryError:
                    found = None
                if found is not None:
                    return found

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

    def _search(self, where: str, limit: int) -> list[ApplyRecord]:
        experiment = self.experiment_id(create=False)
        if experiment is None:
            return []
        runs = self._call(
            lambda: self._client.search_runs(
                [experiment], where, max_results=limit, order_by=["attributes.start_time DESC"]
            )
        )
        return _applies(runs)

    def start(self, draft: ApplyRecord, tags: Mapping[str, str] | None = None) -> ApplyRecord:
        """A new ``RUNNING`` run carrying ``draft`` and ``tags`` (one request, two on first
        use); a lost answer is found again by the draft's apply id, never created twice."""
        experiment = self.experiment_id(create=True)
        assert experiment is not None
        name = f"apply {(draft.commit or 'uncommitted')[:12]}"

        def create() -> Any:
            return self._client.create_run(
                experiment,
                start_time=draft.start_ms,
                tags={**(tags or {}), **to_tags(draft)},
                run_name=name,
            )

        def find() -> Any:
            found = self._client.search_runs(
                [experiment], f"tags.`{APPLY_ID}` = {quote(draft.apply_id)}", max_results=5
            )
            return min(found, key=lambda r: r.info.run_id) if found else None

        run = self._call(create, find)
        self._artifact_uris[run.info.run_id] = str(run.info.artifact_uri or "")
        return to_record(run)

    def recent(self, limit: int = RECENT, status: str | None = None) -> list[ApplyRecord]:
        """The latest ``limit`` runs (with ``status`` only), newest first (one request)."""
        return self._search(f"attributes.status = '{status}'" if status else "", limit)

    def finished_of(self, repo: str, limit: int = 200) -> list[ApplyRecord]:
        """The latest ``FINISHED`` runs claiming ``repo``, newest first (one request)."""
        where = f"attributes.status = '{FINISHED}' and tags.`{REPO}` = {quote(repo)}"
        return self._search(where, limit)

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
            out += _applies(page)
            token = page.token
            if not token:
                return sorted(out, key=ApplyRecord.key)

    def get(self, run_id: str) -> ApplyRecord:
        """One run, which must belong to the apply experiment."""
        found = self._call(lambda: self._client.get_run(run_id))
        experiment = self.experiment_id(create=False)
        if experiment is None or str(found.info.experiment_id) != experiment:
            raise RegistryError(f"run {run_id} is not an apply run of experiment {self.name!r}")
        return to_record(found)

    def attach(self, run_id: str, filename: str, text: str) -> None:
        """Upload ``text`` as an artifact of the run (one request)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        def upload() -> None:
            uri = self._artifact_uris.get(run_id) or self._client.get_run(run_id).info.artifact_uri
            repo = get_artifact_repository(uri, tracking_uri=self.uri)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, filename)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
                repo.log_artifact(path)

        self._call(upload)

    def beat(self, run_id: str) -> None:
        """Renew the heartbeat: one tag write, tried once (the next beat is the retry)."""
        from mlflow.entities import RunTag

        from reconciler.core.applylog.record import HEARTBEAT

        store = self._client._tracking_client.store
        now = str(int(time.time() * 1000))
        self._plain_call(lambda: store.set_tag(run_id, RunTag(HEARTBEAT, now)))

    def end(
        self,
        run_id: str,
        status: str,
        end_ms: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Set ``tags`` (one request), then mark the run ``FINISHED``, ``FAILED`` or
        ``KILLED`` at ``end_ms`` (one request: the client's ``set_terminated`` reads the
        run first). Both are idempotent, so a retry after a lost answer is harmless."""
        from mlflow.entities import RunStatus, RunTag

        store = self._client._tracking_client.store
        when = end_ms if end_ms is not None else int(time.time() * 1000)
        if tags:
            batch = [RunTag(k, v) for k, v in tags.items()]
            self._call(lambda: store.log_batch(run_id, metrics=[], params=[], tags=batch))
        self._call(lambda: store.update_run_info(run_id, RunStatus.from_string(status), when, None))

    def leader_lease(self, repo: str) -> LeaderLease | None:
        """The replicas' lease record of ``repo`` (the oldest, if two were created at once)."""
        experiment = self.experiment_id(create=False)
        if experiment is None:
            return None
        where = f"tags.`{KIND}` = '{LEADER}' and tags.`{REPO}` = {quote(repo)}"
        runs = self._call(
            lambda: self._client.search_runs(
                [experiment], where, max_results=10, order_by=["attributes.start_time ASC"]
            )
        )
        if not runs:
            return None
        tags = runs[0].data.tags
        try:
            renewed = int(tags.get(RENEWED, "0"))
        except ValueError:
            renewed = 0
        return LeaderLease(runs[0].info.run_id, tags.get(HOLDER, ""), renewed)

    def create_leader_lease(self, repo: str, holder: str) -> None:
        """A new lease record naming ``holder`` (ended ``KILLED`` at once: no lock, no
        baseline, for this version and older ones alike)."""
        experiment = self.experiment_id(create=True)
        assert experiment is not None
        now = str(int(time.time() * 1000))
        tags = {KIND: LEADER, REPO: repo, HOLDER: holder, RENEWED: now}
        run = self._call(
            lambda: self._client.create_run(experiment, tags=tags, run_name=f"leader {repo}")
        )
        self.end(run.info.run_id, KILLED)

    def renew_leader_lease(self, run_id: str, holder: str) -> None:
        """Name ``holder`` as the leader, renewed now (one request)."""
        from mlflow.entities import RunTag

        store = self._client._tracking_client.store
        now = str(int(time.time() * 1000))
        batch = [RunTag(HOLDER, holder), RunTag(RENEWED, now)]
        self._plain_call(lambda: store.log_batch(run_id, metrics=[], params=[], tags=batch))
