"""Search answers gathered into the observed state, however they were fetched.

The read strategies (``compat.Read``) differ in requests, threads and filters, never in
their answer: each feeds every registered model and version it gets to one ``Found``,
which keeps exact name matches only. MLflow 3 prompts come back from the same searches
(the store does not filter them, only ``MlflowClient`` does): they are kept, marked
``prompt``, with each version's template taken out of its tags (SPEC v4 §20), so a state
that declares them reads them in the same requests. No mlflow import.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.prompts import TEXT_TAG, version_tags
from reconciler.core.prompts import is_prompt as prompt_tags


def is_prompt(rm: Any) -> bool:
    return prompt_tags(rm.tags or {})


def _as_prompt(version: ObservedVersion) -> ObservedVersion:
    """A prompt version: its template out of its tags."""
    text = version.tags.get(TEXT_TAG)
    return replace(version, tags=version_tags(version.tags), template=text or "")


class Found:
    """What the searches returned for the wanted names (exact matches only), however many
    requests and threads it took."""

    def __init__(self, wanted: list[str]) -> None:
        self.wanted = wanted
        self.models: dict[str, Any] = {}
        self.versions: dict[str, dict[int, ObservedVersion]] = {n: {} for n in wanted}

    def add_model(self, rm: Any) -> None:
        if rm.name in self.versions:
            self.models[rm.name] = rm

    def add_version(self, mv: Any) -> None:
        if mv.name in self.versions:
            self.versions[mv.name][int(mv.version)] = ObservedVersion(
                version=int(mv.version),
                status=str(mv.status),
                stage=str(mv.current_stage or "None"),
                run_id=mv.run_id or None,
                tags=dict(mv.tags or {}),
                description=mv.description or "",
                created_at=int(mv.creation_timestamp or 0),
                source=str(mv.source or ""),
            )

    def observed(self) -> ObservedState:
        return ObservedState(
            models={
                name: ObservedModel(
                    name=name,
                    aliases={a: int(v) for a, v in (rm.aliases or {}).items()},
                    tags=dict(rm.tags or {}),
                    description=rm.description or "",
                    versions=self._versions(name, is_prompt(rm)),
                    prompt=is_prompt(rm),
                )
                for name, rm in sorted(self.models.items())
            }
        )

    def _versions(self, name: str, prompt: bool) -> dict[int, ObservedVersion]:
        found = self.versions[name]
        return {n: _as_prompt(v) for n, v in found.items()} if prompt else found
