"""The only module that talks to MLflow.

Reads are batched (SPEC §8): registered models with their aliases/tags come from
``search_registered_models`` with ``name IN (...)``, versions from
``search_model_versions``, runs (metrics, params, tags) from ``search_runs``. Evidence
reads one MLmodel file per version involved (in parallel, cached for the command's
run), after one batched ``search_logged_models`` to locate MLflow 3 logged models.
Writes go straight to the registry store: ``MlflowClient`` makes a hidden
``registered-models/get`` before every alias, tag and stage write, which doubles the
request count for no benefit here.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from reconciler.connection import (
    apply_http_defaults,
    default_local_uri,
    is_http,
    redact,
    redact_text,
)
from reconciler.errors import RegistryError
from reconciler.observed import (
    ObservedModel,
    ObservedRun,
    ObservedSignature,
    ObservedState,
    ObservedVersion,
)
from reconciler.plan import Action, Change, Kind
from reconciler.signature import parse_mlmodel

NAMES_PER_FILTER = 100
"""Up to this many names are read with one ``IN (...)`` filter (GET URLs stay short)."""
RUNS_PER_SEARCH = 500
DEFAULT_CONCURRENCY = 8
LOGGED_MODEL = re.compile(r"^models:/(m-[0-9a-f]+)/?$")
"""An MLflow 3 logged model as a version's source (``models:/m-<id>``)."""
T = TypeVar("T")


def quote(value: str) -> str:
    """A string literal for an MLflow filter: single-quoted, backslash-escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MlflowRegistry:
    """The ``Registry`` port over MLflow's client and registry store."""

    def __init__(self, uri: str | None, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        apply_http_defaults()
        self.uri = uri or default_local_uri()
        self.display_uri = redact(self.uri)
        # Local sqlite stores serialise writes anyway; threads only add lock errors.
        self.concurrency = max(1, concurrency) if is_http(self.uri) else 1
        self._client, self._store = self._call(self._connect)
        self._experiments: list[str] | None = None
        self._artifact_uris: dict[str, str] = {}
        self._signatures: dict[str, ObservedSignature] = {}

    def _connect(self) -> tuple[Any, Any]:
        warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        try:
            store = client._get_registry_client().store
        except ModuleNotFoundError as exc:
            raise RegistryError(
                f"the registry {self.display_uri} needs the full mlflow package ({exc.name} is "
                "missing): pip install 'registry-reconciler[local]'"
            ) from None
        return client, store

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one MLflow call, turning its failures into one redacted line."""
        from mlflow.exceptions import MlflowException

        try:
            return fn()
        except RegistryError:
            raise
        except MlflowException as exc:
            raise RegistryError(self._explain(exc.message)) from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("requests", "urllib3", "sqlalchemy", "mlflow")):
                raise RegistryError(self._explain(f"{type(exc).__name__}: {exc}")) from exc
            raise

    def _explain(self, message: str) -> str:
        first = redact_text(str(message).strip().splitlines()[0] if message else "unknown error")
        if len(first) > 300:
            first = first[:297] + "..."
        for marker, reason in (
            ("Connection refused", "connection refused"),
            ("timed out", "timed out"),
            ("Read timed out", "timed out"),
            ("Max retries exceeded", "no answer after retries"),
            ("NameResolutionError", "unknown host"),
            ("ConnectionError", "connection failed"),
        ):
            if marker in message:
                return f"cannot reach the registry at {self.display_uri} ({reason})"
        if "401" in message or "403" in message or "Unauthorized" in message:
            return f"the registry at {self.display_uri} refused the credentials: {first}"
        return f"registry {self.display_uri}: {first}"

    def read(self, names: Iterable[str]) -> ObservedState:
        wanted = sorted(set(names))
        models: dict[str, Any] = {}
        versions: dict[str, dict[int, ObservedVersion]] = {n: {} for n in wanted}
        # Few names: filter server-side. Many: one unfiltered, paged read (1000 models and
        # 10000 versions a page) costs fewer requests than many IN-lists, and URLs stay short.
        filters: list[str | None] = [None]
        if len(wanted) <= NAMES_PER_FILTER:
            filters = [f"name IN ({', '.join(quote(n) for n in wanted)})"] if wanted else []
        for where in filters:
            for rm in self._paged(
                self._client.search_registered_models, filter_string=where, max_results=1000
            ):
                if rm.name in versions:  # exact match only, whatever the filter did
                    models[rm.name] = rm
            for mv in self._paged(
                self._client.search_model_versions, filter_string=where, max_results=10000
            ):
                if mv.name in versions:
                    versions[mv.name][int(mv.version)] = ObservedVersion(
                        version=int(mv.version),
                        status=str(mv.status),
                        stage=str(mv.current_stage or "None"),
                        run_id=mv.run_id or None,
                        tags=dict(mv.tags or {}),
                        description=mv.description or "",
                        created_at=int(mv.creation_timestamp or 0),
                        source=str(mv.source or ""),
                    )
        return ObservedState(
            models={
                name: ObservedModel(
                    name=name,
                    aliases={a: int(v) for a, v in (rm.aliases or {}).items()},
                    tags=dict(rm.tags or {}),
                    description=rm.description or "",
                    versions=versions[name],
                )
                for name, rm in sorted(models.items())
            }
        )

    def model_names(self) -> list[str]:
        """Every registered model's name (``import`` without ``--model``), paged."""
        found = self._paged(self._client.search_registered_models, max_results=1000)
        return sorted(rm.name for rm in found)

    def _paged(self, search: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        """All pages of an MLflow search call."""
        token: str | None = None
        while True:
            page = self._call(functools.partial(search, **kwargs, page_token=token))
            yield from page
            token = page.token
            if not token:
                return

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
        for chunk in _chunks(ids, RUNS_PER_SEARCH):
            where = f"attributes.run_id IN ({', '.join(quote(r) for r in chunk)})"
            for exp_chunk in _chunks(experiments, 1000):
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
        for chunk in _chunks(model_ids, RUNS_PER_SEARCH):  # POST: no URL length limit
            where = f"model_id IN ({', '.join(quote(m) for m in chunk)})"
            for exp_chunk in _chunks(experiments, 1000):
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

    def write(self, change: Change) -> None:
        self._call(lambda: self._write(change))

    def _write(self, c: Change) -> None:
        from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag

        store, v = self._store, str(c.version)
        if c.kind is Kind.ALIAS and c.action is Action.REMOVE:
            store.delete_registered_model_alias(c.model, c.key)
        elif c.kind is Kind.ALIAS:
            store.set_registered_model_alias(c.model, c.key, str(c.after))
        elif c.kind is Kind.STAGE:
            store.transition_model_version_stage(c.model, v, str(c.after), False)
        elif c.kind is Kind.TAG and c.action is Action.REMOVE:
            store.delete_registered_model_tag(c.model, c.key)
        elif c.kind is Kind.TAG:
            store.set_registered_model_tag(c.model, RegisteredModelTag(c.key, str(c.after)))
        elif c.kind is Kind.DESCRIPTION:
            store.update_registered_model(c.model, c.after or "")
        elif c.kind is Kind.VERSION_TAG and c.action is Action.REMOVE:
            store.delete_model_version_tag(c.model, v, c.key)
        elif c.kind is Kind.VERSION_TAG:
            store.set_model_version_tag(c.model, v, ModelVersionTag(c.key, str(c.after)))
        else:
            store.update_model_version(c.model, v, c.after or "")

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        from mlflow.entities.model_registry import RegisteredModelTag

        tag = RegisteredModelTag(key, value)
        self._call(lambda: self._store.set_registered_model_tag(model, tag))

    def set_version_tag(self, model: str, version: int, key: str, value: str) -> None:
        from mlflow.entities.model_registry import ModelVersionTag

        self._call(
            lambda: self._store.set_model_version_tag(
                model, str(version), ModelVersionTag(key, value)
            )
        )
