"""The only module that talks to MLflow.

Reads are batched (SPEC §8): registered models with their aliases/tags come from
``search_registered_models`` with ``name IN (...)``, versions from
``search_model_versions``, metrics from ``search_runs``; over HTTP the two searches run
at once, and a server slow at registered-model search is read model by model instead
(``modelread``: measured, never assumed). Writes go straight to the
registry store: ``MlflowClient`` makes a hidden ``registered-models/get`` before every
alias, tag and stage write, which doubles the request count for no benefit here.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from reconciler.connection import (
    apply_http_defaults,
    default_local_uri,
    is_http,
    redact,
    redact_text,
)
from reconciler.errors import RegistryError
from reconciler.modelread import ModelReader
from reconciler.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.plan import Action, Change, Kind

NAMES_PER_FILTER = 100
"""Up to this many names are read with one ``IN (...)`` filter (GET URLs stay short)."""
PROMPT_TAG = "mlflow.prompt.is_prompt"
"""MLflow 3 keeps prompts as registered models with this tag; they are not models here."""
RUNS_PER_SEARCH = 500
DEFAULT_CONCURRENCY = 8
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
        self._models = ModelReader(self._search_models, self._get_model, self.concurrency)
        """Reads registered models by search or one by one; remembers which is faster."""

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

        def add_model(rm: Any) -> None:
            if rm.name in versions:  # exact match only, whatever the filter did
                models[rm.name] = rm

        def add_version(mv: Any) -> None:
            if mv.name in versions:
                versions[mv.name][int(mv.version)] = ObservedVersion(
                    version=int(mv.version),
                    status=str(mv.status),
                    stage=str(mv.current_stage or "None"),
                    run_id=mv.run_id or None,
                    tags=dict(mv.tags or {}),
                    description=mv.description or "",
                    created_at=int(mv.creation_timestamp or 0),
                )

        for where in filters:
            self._read_where(wanted, where, add_model, add_version)
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

    def _read_where(
        self,
        wanted: list[str],
        where: str | None,
        add_model: Callable[[Any], None],
        add_version: Callable[[Any], None],
    ) -> None:
        """Models and versions for one filter: in turn from a local store; at once over
        HTTP, the models by search or one by one, whichever this server answers faster
        (``modelread``)."""

        def read_versions() -> None:
            for mv in self._paged(
                self._client.search_model_versions, filter_string=where, max_results=10000
            ):
                add_version(mv)

        if self.concurrency > 1:
            self._models.read(wanted, where, add_model, read_versions)
            return
        for rm in self._paged(
            self._client.search_registered_models, filter_string=where, max_results=1000
        ):
            add_model(rm)
        read_versions()

    def _search_models(self, where: str | None, max_results: int, token: str | None) -> Any:
        """One page of registered models (what ``modelread`` searches with)."""
        search = self._client.search_registered_models
        return self._call(
            lambda: search(filter_string=where, max_results=max_results, page_token=token)
        )

    def _get_model(self, name: str) -> Any:
        """The registered model ``name`` (a primary-key read), None if there is none (or it
        is a prompt, which the searches leave out too)."""
        from mlflow.exceptions import MlflowException

        try:
            rm = self._call(lambda: self._store.get_registered_model(name))
        except RegistryError as exc:
            cause = exc.__cause__
            if isinstance(cause, MlflowException) and cause.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        is_prompt = str((rm.tags or {}).get(PROMPT_TAG, "")).lower() == "true"
        return None if is_prompt else rm

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
        ids = sorted(set(run_ids))
        if not ids:
            return {}
        from mlflow.entities import ViewType

        experiments = [
            e.experiment_id
            for e in self._paged(
                self._client.search_experiments, view_type=ViewType.ALL, max_results=1000
            )
        ]
        out: dict[str, Mapping[str, float]] = {}
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
                    out[run.info.run_id] = dict(run.data.metrics)
        return out

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
