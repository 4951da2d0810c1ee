"""The only module that talks to MLflow.

Reads are batched (SPEC §8): registered models with their aliases/tags come from
``search_registered_models`` with ``name IN (...)``, versions from
``search_model_versions``, metrics from ``search_runs``. Writes go straight to the
registry store: ``MlflowClient`` makes a hidden ``registered-models/get`` before every
alias, tag and stage write, which doubles the request count for no benefit here.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from reconciler.connection import (
    apply_http_defaults,
    default_local_uri,
    is_http,
    redact,
    redact_text,
    refused,
)
from reconciler.errors import PERMISSION_DENIED, RegistryError
from reconciler.observed import AUDIT_PREFIX, ObservedModel, ObservedState, ObservedVersion
from reconciler.plan import Action, Change, Kind

NAMES_PER_FILTER = 100
"""Up to this many names are read with one ``IN (...)`` filter (GET URLs stay short)."""
RUNS_PER_SEARCH = 500
DEFAULT_CONCURRENCY = 8
COPY_READY_TIMEOUT = 300.0
"""Seconds apply waits for a copied version to become READY."""
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
        self, uri: str | None, concurrency: int = DEFAULT_CONCURRENCY, debug: bool = False
    ) -> None:
        apply_http_defaults()
        self.uri = uri or default_local_uri()
        self.display_uri = redact(self.uri)
        self.debug = debug
        # Local sqlite stores serialise writes anyway; threads only add lock errors.
        self.concurrency = max(1, concurrency) if is_http(self.uri) else 1
        if reason := refused(self.uri):  # seconds, not a round of retries
            raise RegistryError(f"cannot reach the registry at {self.display_uri} ({reason})")
        self._client, self._store = self._call(self._connect)

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

    def _call(self, fn: Callable[[], T], model: str | None = None) -> T:
        """Run one MLflow call (about ``model``), turning its failures into one line."""
        from mlflow.exceptions import MlflowException

        try:
            return fn()
        except RegistryError:
            raise
        except MlflowException as exc:
            status = exc.get_http_status_code()
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
        return f"registry {self.display_uri}: {first}"

    def _denied(self, status: int, model: str | None) -> str:
        """401/403 as who was refused what: running again cannot help (SPEC §6.5)."""
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        who = (
            repr(user)
            if user
            else "the MLFLOW_TRACKING_TOKEN user"
            if os.environ.get("MLFLOW_TRACKING_TOKEN")
            else "an anonymous user (MLFLOW_TRACKING_USERNAME is not set)"
        )
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
