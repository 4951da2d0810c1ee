"""Runs (metrics, params, tags) and model signatures, for gates and evidence.

Runs come from ``search_runs`` in batches; evidence reads one MLmodel file per version
involved (in parallel, cached per registry object), located through the run's artifact
URI or, for MLflow 3 logged models, one batched ``search_logged_models``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from reconciler.core.observed import ObservedRun, ObservedSignature
from reconciler.core.signature import parse_mlmodel
from reconciler.errors import RegistryError
from reconciler.mlflow.connection import redact_text
from reconciler.mlflow.credentials import using
from reconciler.mlflow.scope import in_workspace
from reconciler.mlflow.session import Session, chunks, quote

RUNS_PER_SEARCH = 500
LOGGED_MODEL = re.compile(r"^models:/(m-[0-9a-f]+)/?$")
"""An MLflow 3 logged model as a version's source (``models:/m-<id>``)."""


class Runs(Session):
    """Runs by id and signatures by version source, each fetched once."""

    def _start_runs(self) -> None:
        self._experiments: list[str] | None = None
        self._artifact_uris: dict[str, str] = {}
        self._signatures: dict[str, ObservedSignature] = {}

    def run_metrics(self, run_ids: Iterable[str]) -> Mapping[str, Mapping[str, float]]:
        return {run_id: run.metrics for run_id, run in self.runs(run_ids).items()}

    def _experiment_ids(self) -> list[str]:
        if self._experiments is None:
            from mlflow.entities import ViewType

            self._experiments = [
                e.experiment_id
                for e in self._paged(
                    self._client.search_experiments, view_type=ViewType.ALL, max_results=1000
                )
            ]
        return self._experiments

    def runs(self, run_ids: Iterable[str]) -> Mapping[str, ObservedRun]:
        ids = sorted(set(run_ids))
        if not ids:
            return {}
        from mlflow.entities import ViewType

        experiments = self._experiment_ids()
        out: dict[str, ObservedRun] = {}
        for chunk in chunks(ids, RUNS_PER_SEARCH):
            where = f"attributes.run_id IN ({', '.join(quote(r) for r in chunk)})"
            for exp_chunk in chunks(experiments, 1000):
                for run in self._paged(
                    self._client.search_runs,
                    experiment_ids=exp_chunk,
                    filter_string=where,
                    run_view_type=ViewType.ALL,
                    max_results=1000,
                ):
                    info = run.info
                    self._artifact_uris[info.run_id] = str(info.artifact_uri or "")
                    out[info.run_id] = ObservedRun(
                        run_id=info.run_id,
                        experiment_id=str(info.experiment_id or ""),
                        name=str(info.run_name or ""),
                        metrics=dict(run.data.metrics),
                        params=dict(run.data.params),
                        tags=dict(run.data.tags),
                    )
        return out

    def signatures(self, sources: Iterable[str]) -> Mapping[str, ObservedSignature]:
        wanted = sorted(set(sources))
        todo = [s for s in wanted if s not in self._signatures]
        places = self._locate(todo)
        with ThreadPoolExecutor(max(1, min(self.concurrency, len(todo) or 1))) as pool:
            read = pool.map(self._read_mlmodel, [places[s] for s in todo])
            self._signatures.update(zip(todo, read, strict=True))
        return {s: self._signatures[s] for s in wanted}

    def _locate(self, sources: list[str]) -> dict[str, str | ObservedSignature]:
        """Where each source's files are: an artifact URI, or why it cannot be known.

        MLflow 3 logged models (``models:/m-<id>``) are located with one batched search.
        """
        out: dict[str, str | ObservedSignature] = {}
        logged = {s: m.group(1) for s in sources if (m := LOGGED_MODEL.match(s))}
        found: dict[str, str] = {}
        if logged:
            try:
                found = self._logged_model_locations(sorted(set(logged.values())))
            except RegistryError as exc:
                out.update({s: ObservedSignature(error=exc.message) for s in logged})
        for source in sources:
            if source in out:
                continue
            if source in logged:
                where = found.get(logged[source])
                out[source] = where or ObservedSignature(error="its logged model was not found")
            elif source.startswith("runs:/") and source[6:].split("/")[0] in self._artifact_uris:
                run_id, _, path = source[6:].partition("/")
                out[source] = f"{self._artifact_uris[run_id].rstrip('/')}/{path}".rstrip("/")
            else:
                out[source] = source
        return out

    def _logged_model_locations(self, model_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        experiments = self._experiment_ids()
        for chunk in chunks(model_ids, RUNS_PER_SEARCH):  # POST: no URL length limit
            where = f"model_id IN ({', '.join(quote(m) for m in chunk)})"
            for exp_chunk in chunks(experiments, 1000):
                for model in self._paged(
                    self._client.search_logged_models,
                    experiment_ids=exp_chunk,
                    filter_string=where,
                    max_results=1000,
                ):
                    found[model.model_id] = str(model.artifact_location)
        return found

    def _read_mlmodel(self, place: str | ObservedSignature) -> ObservedSignature:
        """The signature in ``place``/MLmodel: one download, and never an exception."""
        if isinstance(place, ObservedSignature):
            return place
        with using(self.creds), in_workspace(self.workspace):  # pool threads: this server's key
            return self._download_mlmodel(place)

    def _download_mlmodel(self, place: str) -> ObservedSignature:
        try:
            from mlflow.artifacts import download_artifacts
            from mlflow.store.artifact.artifact_repository_registry import (
                get_artifact_repository,
            )

            with tempfile.TemporaryDirectory() as tmp:
                local = os.path.join(tmp, "MLmodel")
                if place.startswith("models:/"):  # a copy's source: let MLflow resolve it
                    local = download_artifacts(
                        artifact_uri=f"{place}/MLmodel",
                        dst_path=tmp,
                        tracking_uri=self.uri,
                        registry_uri=self.uri,
                    )
                else:  # one request (download_artifacts would list the folder first)
                    repo = get_artifact_repository(place, tracking_uri=self.uri)
                    if getattr(repo, "_server_capabilities", ...) is None:
                        # No /server-info probe (multipart download) for a 1 kB file.
                        repo._server_capabilities = {}  # type: ignore[attr-defined]
                    repo._download_file("MLmodel", local)
                with open(local, encoding="utf-8") as fh:
                    return parse_mlmodel(fh.read())
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "404" in text or isinstance(exc, FileNotFoundError) or "does not exist" in text:
                return ObservedSignature(error="no MLmodel file at the version's source")
            return ObservedSignature(error=f"MLmodel not readable: {redact_text(text)[:200]}")
