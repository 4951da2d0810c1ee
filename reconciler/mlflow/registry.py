"""The only module that talks to MLflow.

Reads are batched (SPEC §8): registered models with their aliases/tags come from
``search_registered_models`` with ``name IN (...)``, versions from
``search_model_versions``, runs (metrics, params, tags) from ``search_runs``; evidence
reads one MLmodel file per version involved (in parallel, cached per command). Over
HTTP the two searches run at once, and a server slow at registered-model search is read
model by model instead (``modelread``: measured, never assumed). MLflow 2.x servers
refuse ``IN`` on names; the first refusal switches this registry object to filters they
accept (``compat.choose_read``), with the same result. Writes go straight to the
registry store: ``MlflowClient`` makes a hidden ``registered-models/get`` before every
alias, tag and stage write, which doubles the request count for no benefit here.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from reconciler.core.observed import (
    AUDIT_PREFIX,
    ObservedRun,
    ObservedSignature,
    ObservedState,
)
from reconciler.core.plan import Action, Change, Kind
from reconciler.core.signature import parse_mlmodel
from reconciler.errors import PERMISSION_DENIED, RegistryError
from reconciler.mlflow.compat import (
    Read,
    choose_read,
    equals_literal,
    parse_version,
    refuses_in_lists,
    too_old,
)
from reconciler.mlflow.connection import (
    apply_http_defaults,
    default_local_uri,
    is_http,
    redact,
    redact_text,
    refused,
)
from reconciler.mlflow.found import Found, is_prompt
from reconciler.mlflow.modelread import ModelReader
from reconciler.mlflow.scope import in_workspace, no_workspaces, requester, unavailable

RUNS_PER_SEARCH = 500
DEFAULT_CONCURRENCY = 8
COPY_READY_TIMEOUT = 300.0
"""Seconds apply waits for a copied version to become READY."""
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

    def __init__(
        self,
        uri: str | None,
        concurrency: int = DEFAULT_CONCURRENCY,
        debug: bool = False,
        workspace: str | None = None,
    ) -> None:
        apply_http_defaults()
        self.workspace = workspace
        """The MLflow workspace every call is made in (None: MLflow's own choice)."""
        self.uri = uri or default_local_uri()
        self.display_uri = redact(self.uri)
        self.debug = debug
        # Local sqlite stores serialise writes anyway; threads only add lock errors.
        self.concurrency = max(1, concurrency) if is_http(self.uri) else 1
        if reason := refused(self.uri):  # seconds, not a round of retries
            raise RegistryError(f"cannot reach the registry at {self.display_uri} ({reason})")
        self._client, self._store = self._call(self._connect)
        self._reset()

    def _reset(self) -> None:
        """Caches and readers that belong to one workspace."""
        self.in_lists: bool | None = None
        """Whether the server accepts ``name IN (...)``; None until a read finds out."""
        self.server_version: str | None = None
        """The server's MLflow version, asked only once it refused an ``IN`` filter."""
        self._models = ModelReader(self._search_models, self._get_model, self.concurrency)
        self._readers: dict[Read, Callable[[Found], None]] = {
            Read.IN_LISTS: self._read_in_lists,
            Read.ONE_BY_ONE: self._read_one_by_one,
            Read.EVERYTHING: self._read_everything,
        }
        self._experiments: list[str] | None = None
        self._artifact_uris: dict[str, str] = {}
        self._signatures: dict[str, ObservedSignature] = {}

    def _connect(self) -> tuple[Any, Any]:
        warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
        from mlflow.tracking import MlflowClient

        # MLflow logs at INFO to stderr ("Creating initial MLflow database tables..."):
        # the user's terminal gets it only with --debug.
        level = logging.INFO if self.debug else logging.WARNING
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(level)

        client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        try:
            store = client._get_registry_client().store
        except ModuleNotFoundError as exc:
            raise RegistryError(
                f"the registry {self.display_uri} needs the full mlflow package ({exc.name} is "
                "missing): pip install 'registry-reconciler[local]'"
            ) from None
        return client, store

    def in_workspace(self, workspace: str | None) -> MlflowRegistry:
        """The same connection, every call made in ``workspace`` (``scope.py``)."""
        if workspace == self.workspace:
            return self
        other = copy.copy(self)
        other.workspace = workspace
        other._reset()
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

    def _call(self, fn: Callable[[], T], model: str | None = None) -> T:
        """Run one MLflow call (about ``model``) in this registry's workspace, turning its
        failures into one line."""
        from mlflow.exceptions import MlflowException

        try:
            with in_workspace(self.workspace):
                return fn()
        except RegistryError:
            raise
        except MlflowException as exc:
            status = exc.get_http_status_code()
            if exc.error_code == "FEATURE_DISABLED":
                raise RegistryError(no_workspaces(self.display_uri, self.workspace)) from exc
            if status in (401, 403):
                raise RegistryError(self._denied(status, model)) from exc
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
        if "403" in message or "PERMISSION_DENIED" in message:
            return f"permission denied by the registry at {self.display_uri}: {first}"
        if "401" in message or "Unauthorized" in message or "UNAUTHENTICATED" in message:
            return f"the registry at {self.display_uri} refused the credentials: {first}"
        return f"registry {self.display_uri}: {first}"

    def _denied(self, status: int, model: str | None) -> str:
        """401/403 as who was refused what: running again cannot help (SPEC §6.5)."""
        who = requester()
        on = f"model {model!r}" if model else f"the registry at {self.display_uri}"
        if status == 401:
            return (
                f"{PERMISSION_DENIED}: the registry at {self.display_uri} did not accept the "
                f"credentials of {who} (HTTP 401); check MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        return (
            f"{PERMISSION_DENIED} for {who} on {on} (HTTP 403); "
            "ask an admin of the registry for EDIT permission"
        )

    def read(self, names: Iterable[str]) -> ObservedState:
        wanted = sorted(set(names))
        strategy = choose_read(wanted, self.in_lists)
        try:
            return self.read_by(strategy, wanted)
        except RegistryError as exc:
            if strategy is not Read.IN_LISTS or not refuses_in_lists(str(exc.__cause__)):
                raise
        self._learn_no_in_lists()
        return self.read_by(choose_read(wanted, self.in_lists), wanted)

    def read_by(self, strategy: Read, names: Iterable[str]) -> ObservedState:
        """The named models read one particular way (``read`` chooses the way)."""
        found = Found(sorted(set(names)))
        self._readers[strategy](found)
        return found.observed()

    def _learn_no_in_lists(self) -> None:
        """The server refused ``name IN (...)``: an MLflow 2.x server. Remember it, and
        refuse one too old to hold aliases before anything is planned against it."""
        self.in_lists = False
        self.server_version = self._call(self._get_server_version)
        problem = too_old(self.server_version) if self.server_version else None
        if problem:
            raise RegistryError(f"the registry at {self.display_uri} {problem}")

    def _get_server_version(self) -> str | None:
        """What ``GET /version`` says (MLflow servers 1.x to 3.x answer it), or None."""
        from mlflow.utils.rest_utils import http_request

        get_creds = getattr(self._store, "get_host_creds", None)
        if get_creds is None:
            return None
        response = http_request(get_creds(), "/version", "GET", max_retries=0, timeout=10)
        text = response.text.strip() if response.status_code == 200 else ""
        return text if parse_version(text) else None

    def _read_in_lists(self, found: Found) -> None:
        """Two searches filtered with ``name IN (...)``: 3.x servers and local stores."""
        if found.wanted:
            self._read_fastest(found, f"name IN ({', '.join(quote(n) for n in found.wanted)})")

    def _read_everything(self, found: Found) -> None:
        """Two unfiltered, paged searches (1000 models, 10000 versions a page)."""
        self._read_fastest(found, None)

    def _read_fastest(self, found: Found, where: str | None) -> None:
        """Versions and models at once, models by search or one by one, whichever this
        server answers faster (``modelread``); a local store reads in turn."""
        if self.concurrency <= 1:
            self._read_where(found, where)
            return
        versions = functools.partial(self._read_versions, found, where)
        self._models.read(found.wanted, where, found.add_model, versions)

    def _search_models(self, where: str | None, max_results: int, token: str | None) -> Any:
        search = self._store.search_registered_models
        return self._call(
            lambda: search(filter_string=where, max_results=max_results, page_token=token)
        )

    def _get_model(self, name: str) -> Any:
        """The registered model ``name`` (one primary-key read), None if there is none."""
        from mlflow.exceptions import MlflowException

        try:
            return self._call(lambda: self._store.get_registered_model(name))
        except RegistryError as exc:
            cause = exc.__cause__
            if isinstance(cause, MlflowException) and cause.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _read_versions(self, found: Found, where: str | None) -> None:
        for mv in self._paged(
            self._store.search_model_versions, filter_string=where, max_results=10000
        ):
            found.add_version(mv)

    def _read_one_by_one(self, found: Found) -> None:
        """Two searches per model with ``name = '...'``, ``concurrency`` at a time."""
        from concurrent.futures import ThreadPoolExecutor

        if not all(equals_literal(n) for n in found.wanted):
            return self._read_everything(found)  # a name no literal can hold

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for future in [
                pool.submit(self._read_where, found, f"name = {equals_literal(n)}")
                for n in found.wanted
            ]:
                future.result()

    def _read_where(self, found: Found, where: str | None) -> None:
        # The store, not MlflowClient: the 3.x client appends a prompt filter that a
        # 2.9 server answers with nothing at all; prompts are dropped by ``Found``.
        for rm in self._paged(
            self._store.search_registered_models, filter_string=where, max_results=1000
        ):
            found.add_model(rm)
        self._read_versions(found, where)

    def model_names(self) -> list[str]:
        """Every registered model's name (``import`` without ``--model``), paged."""
        found = self._paged(self._store.search_registered_models, max_results=1000)
        return sorted(rm.name for rm in found if not is_prompt(rm))

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
        with in_workspace(self.workspace):
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

    def write(self, change: Change) -> None:
        self._call(lambda: self._write(change), change.model)

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

    def copy_version(self, model: str, source_model: str, source_version: int) -> int:
        """What ``copy_model_version`` does, without its extra reads and stderr chatter:
        read the source, create the version (and the model when missing), wait for READY."""
        return self._call(lambda: self._copy(model, source_model, source_version))

    def _copy(self, model: str, source_model: str, source_version: int) -> int:
        from mlflow.entities.model_registry import ModelVersionTag
        from mlflow.exceptions import MlflowException

        src = self._store.get_model_version(source_model, str(source_version))
        tags = [
            ModelVersionTag(k, v)
            for k, v in (src.tags or {}).items()
            if not k.startswith(AUDIT_PREFIX)
        ]

        def create() -> Any:
            return self._store.create_model_version(
                name=model,
                source=f"models:/{source_model}/{source_version}",
                run_id=src.run_id,
                tags=tags,
                run_link=src.run_link,
                description=src.description,
            )

        try:
            created = create()
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            self._store.create_registered_model(model)
            created = create()
        deadline = time.monotonic() + COPY_READY_TIMEOUT
        while str(created.status) != "READY":
            if str(created.status) == "FAILED_REGISTRATION" or time.monotonic() > deadline:
                raise RegistryError(
                    f"the copy of {source_model} v{source_version} in {model} (version "
                    f"{created.version}) is {created.status}, not READY"
                )
            time.sleep(0.5)
            created = self._store.get_model_version(model, str(created.version))
        return int(created.version)

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        from mlflow.entities.model_registry import RegisteredModelTag

        tag = RegisteredModelTag(key, value)
        self._call(lambda: self._store.set_registered_model_tag(model, tag))

    def set_version_tag(self, model: str, version: int, key: str, value: str) -> None:
        from mlflow.entities.model_registry import ModelVersionTag

        self._call(
            lambda: self._store.set_model_version_tag(
                model, str(version), ModelVersionTag(key, value)
            ),
            model,
        )
