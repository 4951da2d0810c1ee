"""Search answers gathered into the observed state, however they were fetched.

The read strategies (``compat.Read``) differ in requests, threads and filters, never in
their answer: each feeds every registered model and version it gets to one ``Found``,
which keeps exact name matches of one kind only. MLflow 3 servers leave prompts out of
every search that does not ask for them by their tag (SPEC v4 §20); a ``Found`` for
prompts adds that clause to its searches, keeps prompts only, marks them ``prompt`` and
takes each version's template out of its tags. No mlflow import.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.prompts import IS_PROMPT_TAG, TEXT_TAG, own_tags
from reconciler.core.prompts import is_prompt as prompt_tags

PROMPTS = f"tags.`{IS_PROMPT_TAG}` = 'true'"
"""The filter clause that makes a registered-model or version search return prompts."""


def is_prompt(rm: Any) -> bool:
    return prompt_tags(rm.tags or {})


def _as_prompt(version: ObservedVersion) -> ObservedVersion:
    """A prompt version: its template out of its tags."""
    text = version.tags.get(TEXT_TAG)
    return replace(version, tags=own_tags(version.tags), template=text or "")


class Found:
    """What the searches returned for the wanted names (exact matches only), however many
    requests and threads it took."""

    def __init__(self, wanted: list[str], prompts: bool = False) -> None:
        self.wanted = wanted
        self.prompts = prompts
        """True: this read is for prompts (the searches carry ``PROMPTS``), else models."""
        self.models: dict[str, Any] = {}
        self.versions: dict[str, dict[int, ObservedVersion]] = {n: {} for n in wanted}

    def add_model(self, rm: Any) -> None:
        # a server hides the prompt tag in its answers: a prompt read trusts its filter
        if rm.name in self.versions and (self.prompts or not is_prompt(rm)):
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

    def where(self, clause: str | None) -> str | None:
        """A search filter for this read: the server leaves prompts out of every search
        that does not ask for them by their tag, so a prompt read adds ``PROMPTS``."""
        if not self.prompts:
            return clause
        return PROMPTS if clause is None else f"{clause} AND {PROMPTS}"

    def observed(self) -> ObservedState:
        return ObservedState(
            models={
                name: ObservedModel(
                    name=name,
                    aliases={a: int(v) for a, v in (rm.aliases or {}).items()},
                    tags=own_tags(rm.tags or {}) if self.prompts else dict(rm.tags or {}),
                    description=rm.description or "",
                    versions=self._versions(name, self.prompts),
                    prompt=self.prompts,
                )
                for name, rm in sorted(self.models.items())
            }
        )

    def _versions(self, name: str, prompt: bool) -> dict[int, ObservedVersion]:
        found = self.versions[name]
        return {n: _as_prompt(v) for n, v in found.items()} if prompt else found
