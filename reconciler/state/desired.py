"""The desired state of one workspace: the models declared for it and where.

``load`` builds these from the state files; ``scope.StateSet`` groups one per workspace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.errors import StateError
from reconciler.state.models import ModelSpec
from reconciler.state.yamlsafe import Document


@dataclass(frozen=True)
class Source:
    """Where a model is declared."""

    file: str
    line: int | None
    doc: Document | None = None
    """The parsed file, to locate keys inside the model's block."""
    section: str = "models"
    """``models`` or ``prompts`` (SPEC v4 §20): which kind of registry object it is."""

    @property
    def prompt(self) -> bool:
        return self.section == "prompts"

    @property
    def noun(self) -> str:
        """``model`` or ``prompt``, for messages."""
        return "prompt" if self.prompt else "model"

    def locate(self, *path: object) -> int | None:
        """Line of a key inside this model's block (falls back to the model's line)."""
        if self.doc is None:
            return self.line
        return self.doc.line_of((self.section, *path)) or self.line


@dataclass(frozen=True)
class DesiredState:
    """The models declared for one workspace, by name, with where each is declared."""

    models: Mapping[str, ModelSpec]
    sources: Mapping[str, Source]
    files: tuple[str, ...]
    workspace: str | None = None
    """The MLflow workspace of these models (None: the server's default, or none)."""
    named_at: Source | None = None
    """The first ``workspace:`` line naming it (None: from --workspace / the default)."""
    registry: str | None = None
    """The named registry of these models (``registry:``, SPEC v4 §19); None: the
    ``--tracking-uri`` / MLFLOW_TRACKING_URI one."""
    registry_at: Source | None = None
    """The first ``registry:`` line naming it (where a missing variable is reported)."""

    def digest(self) -> str:
        """A stable hash of the declared content (not of formatting or comments); the
        workspace is part of it, so a plan for one workspace never passes for another."""
        body: dict[str, object] = {
            name: spec.model_dump(mode="json", by_alias=True) | self._kind(name)
            for name, spec in sorted(self.models.items())
        }
        if self.workspace is not None:
            body = {"workspace": self.workspace, "models": body}
        if self.registry is not None:
            body = {"registry": self.registry, "models": body}
        blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    def _kind(self, name: str) -> dict[str, object]:
        source = self.sources.get(name)
        return {"prompt": True} if source is not None and source.prompt else {}

    def prompt(self, name: str) -> bool:
        """Whether ``name`` is declared under ``prompts:`` (SPEC v4 §20)."""
        source = self.sources.get(name)
        return source is not None and source.prompt

    def only(self, names: tuple[str, ...]) -> DesiredState:
        """The state restricted to ``names`` (``--model``); unknown names are an error."""
        if not names:
            return self
        missing = [n for n in names if n not in self.models]
        if missing:
            raise StateError(f"model or prompt {missing[0]!r} is not declared in the state files")
        keep = set(names)
        return DesiredState(
            models={n: s for n, s in self.models.items() if n in keep},
            sources={n: s for n, s in self.sources.items() if n in keep},
            files=self.files,
            workspace=self.workspace,
            named_at=self.named_at,
            registry=self.registry,
            registry_at=self.registry_at,
        )
