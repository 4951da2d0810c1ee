"""A state spanning workspaces: one ``DesiredState`` per MLflow workspace (SPEC §14).

The same model name in two workspaces is two models, so everything that plans, reads or
writes works on one part at a time; this module only groups the parts and says what
they have in common (their digest, ``--model`` selection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import StateError
from reconciler.state.desired import DesiredState, Source
from reconciler.state.models import ModelSpec


def combined_digest(digests: Sequence[tuple[str | None, str]]) -> str:
    """One digest over per-workspace digests; a single unnamed part keeps its own, so a
    state without workspaces digests exactly as before."""
    if len(digests) == 1 and digests[0][0] is None:
        return digests[0][1]
    blob = "\n".join(f"{ws or ''}\t{d}" for ws, d in sorted(digests, key=_order)).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _order(item: tuple[str | None, str]) -> tuple[str, str]:
    return (item[0] or "", item[1])


@dataclass(frozen=True)
class StateSet:
    """The desired state of every workspace the state files name."""

    parts: tuple[DesiredState, ...]
    """One per workspace, the default (None) first, then by name."""
    files: tuple[str, ...]
    default: str | None = None
    """The workspace of files without a ``workspace:`` key (--workspace / MLFLOW_WORKSPACE)."""

    @classmethod
    def of(
        cls, parts: Sequence[DesiredState], files: tuple[str, ...], default: str | None
    ) -> StateSet:
        """Parts sorted by workspace; an empty state is one empty default part."""
        ordered = sorted(parts, key=lambda p: (p.registry or "", p.workspace or ""))
        if not ordered:
            ordered = [DesiredState({}, {}, files, default)]
        return cls(tuple(ordered), files, default)

    @property
    def workspaces(self) -> tuple[str | None, ...]:
        return tuple(p.workspace for p in self.parts)

    @property
    def empty(self) -> bool:
        """True when no model is declared anywhere."""
        return not any(p.models for p in self.parts)

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """Every model by name, for code that works on one workspace at a time; a name
        declared in several workspaces is refused here (use ``parts``)."""
        return self._flat("models")

    @property
    def sources(self) -> Mapping[str, Source]:
        """Where each model is declared (same rule as ``models``)."""
        return self._flat("sources")

    def prompt(self, name: str) -> bool:
        """Whether ``name`` is declared under ``prompts:`` (SPEC v4 §20)."""
        source = self.sources.get(name)
        return source is not None and source.prompt

    def _flat(self, field: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for part in self.parts:
            for name, value in getattr(part, field).items():
                if name in out:
                    raise StateError(
                        f"model {name!r} is declared in several workspaces; pass --workspace "
                        "NAME or a --state that covers one workspace"
                    )
                out[name] = value
        return out

    def names(self) -> set[str]:
        """Every declared model name, in any workspace."""
        return {n for p in self.parts for n in p.models}

    def digest(self) -> str:
        return combined_digest([(p.workspace, p.digest()) for p in self.parts])

    @property
    def registries(self) -> tuple[str | None, ...]:
        """The registries the state names, in name order (None, the default, first)."""
        return tuple(sorted({p.registry for p in self.parts}, key=lambda r: r or ""))

    def for_registry(self, name: str | None) -> StateSet:
        """The part of the state on one registry."""
        parts = [p for p in self.parts if p.registry == name]
        return StateSet.of(parts, self.files, self.default)

    def part(self, workspace: str | None) -> DesiredState | None:
        """The part for ``workspace`` (None when the state has none)."""
        return next((p for p in self.parts if p.workspace == workspace), None)

    def declarations(self, name: str) -> list[tuple[DesiredState, Source]]:
        """Each part that declares ``name``, with where."""
        return [(p, p.sources[name]) for p in self.parts if name in p.sources]

    def only(self, names: tuple[str, ...]) -> StateSet:
        """The state restricted to ``names`` (``--model``), in every workspace that
        declares them; a name no workspace declares is an error."""
        if not names:
            return self
        missing = [n for n in names if n not in self.names()]
        if missing:
            raise StateError(f"model {missing[0]!r} is not declared in the state files")
        parts = [
            p.only(tuple(n for n in names if n in p.models))
            for p in self.parts
            if any(n in p.models for n in names)
        ]
        return StateSet(tuple(parts), self.files, self.default)
