"""Which version an alias should point at, resolved against the observed registry. Pure.

Gates, evidence and the plan all need the same answer ("the candidate": the version an
alias moves to, whose run is judged), so it is computed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.state import ModelSpec


@dataclass(frozen=True)
class Target:
    """Where a declared alias should point."""

    number: int | None
    """The version of this model the alias should hold (None: not known yet)."""
    candidate: ObservedVersion | None
    """The version whose run gates and evidence read (None: it does not exist)."""


def alias_target(value: int, obs: ObservedModel | None, observed: ObservedState) -> Target:
    """The target of one declared alias value."""
    return Target(value, obs.versions.get(value) if obs else None)


def moving_aliases(
    spec: ModelSpec, obs: ObservedModel | None, observed: ObservedState
) -> Mapping[str, Target]:
    """Declared aliases whose live value differs from their target, by name (sorted)."""
    out: dict[str, Target] = {}
    for alias in sorted(spec.aliases):
        target = alias_target(spec.aliases[alias], obs, observed)
        live = obs.aliases.get(alias) if obs else None
        if target.number is None or live != target.number:
            out[alias] = target
    return out
