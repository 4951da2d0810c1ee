"""Search answers gathered into the observed state, however they were fetched.

The read strategies (``compat.Read``) differ in requests, threads and filters, never in
their answer: each feeds every registered model and version it gets to one ``Found``,
which keeps exact name matches only and drops MLflow 3 prompts. No mlflow import.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.mlflow.compat import PROMPT_TAG


def is_prompt(rm: Any) -> bool:
    return str((rm.tags or {}).get(PROMPT_TAG, "")).lower() == "true"


class Found:
    """What the searches returned for the wanted names (exact matches only, prompts
    dropped), however many requests and threads it took."""

    def __init__(self, wanted: list[str]) -> None:
        self.wanted = wanted
        self.models: dict[str, Any] = {}
        self.versions: dict[str, dict[int, ObservedVersion]] = {n: {} for n in wanted}

    def add_model(self, rm: Any) -> None:
        if rm.name in self.versions and not is_prompt(rm):
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
                    versions=self.versions[name],
                )
                for name, rm in sorted(self.models.items())
            }
        )
