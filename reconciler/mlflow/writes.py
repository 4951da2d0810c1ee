"""Registry writes and copies, straight to the registry store.

``MlflowClient`` makes a hidden ``registered-models/get`` before every alias, tag and
stage write, which doubles the request count for no benefit here; the store does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler.core.observed import AUDIT_PREFIX
from reconciler.core.plantypes import Action, Change, Kind
from reconciler.errors import RegistryError
from reconciler.mlflow.newversion import COPY_READY_TIMEOUT as COPY_READY_TIMEOUT
from reconciler.mlflow.newversion import new_version
from reconciler.mlflow.session import Session


class Writes(Session):
    """One plan change, one copy or one tag at a time."""

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

    sources: Mapping[str, Session] = MappingProxyType({})
    """Named registries a cross-server copy may come from (``staging:churn``)."""

    def copy_version(self, model: str, source_model: str, source_version: int) -> int:
        """What ``copy_model_version`` does, without its extra reads and stderr chatter:
        read the source, create the version (and the model when missing), wait for READY.
        A ``REGISTRY:MODEL`` source is on another server: its files are carried across."""
        registry, _, name = source_model.rpartition(":")
        if registry:
            from reconciler.mlflow.crosscopy import copy_across

            if registry not in self.sources:
                raise RegistryError(f"registry {registry!r} is not connected")
            source = self.sources[registry]
            return copy_across(self, source, registry, model, name, source_version)
        return self._call(lambda: self._copy(model, source_model, source_version))

    def _copy(self, model: str, source_model: str, source_version: int) -> int:
        from mlflow.entities.model_registry import ModelVersionTag

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

        return new_version(self._store, model, create, f"{source_model} v{source_version}")

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
