"""Which version an alias should point at, resolved against the observed registry. Pure.

Gates, evidence and the plan all need the same answer ("the candidate": the version an
alias moves to, whose run is judged), so it is computed in one place. An alias value is
a version number, or a copy of another model's version (SPEC v2 §2): the version of this
model whose ``source`` is ``models:/MODEL/N``; until that copy exists, the candidate is
the source version itself (a copy keeps its run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.state.models import AliasValue, CopyFrom, ModelSpec


@dataclass(frozen=True)
class Target:
    """Where a declared alias should point."""

    number: int | None
    """The version of this model the alias should hold (None: a copy not made yet)."""
    candidate: ObservedVersion | None
    """The version whose run gates and evidence read (None: it does not exist)."""
    copy_of: CopyFrom | None = None
    """The source, when the alias is declared as a copy."""


def find_copy(obs: ObservedModel | None, ref: CopyFrom) -> ObservedVersion | None:
    """The version of ``obs`` copied from ``ref`` (the oldest, if someone copied twice)."""
    if obs is None:
        return None
    copies = [v for n, v in sorted(obs.versions.items()) if v.source == ref.source]
    return copies[0] if copies else None


def source_version(observed: ObservedState, ref: CopyFrom) -> ObservedVersion | None:
    """The version a copy is (to be) made from, if it exists."""
    model = observed.models.get(ref.from_)
    return model.versions.get(ref.version) if model else None


def alias_target(value: AliasValue, obs: ObservedModel | None, observed: ObservedState) -> Target:
    """The target of one declared alias value."""
    if isinstance(value, CopyFrom):
        copy = find_copy(obs, value)
        if copy is not None:
            return Target(copy.version, copy, value)
        return Target(None, source_version(observed, value), value)
    return Target(value, obs.versions.get(value) if obs else None)


def copy_sources(spec: ModelSpec) -> set[str]:
    """Models the state copies from (they are read with the model)."""
    return {v.from_ for v in spec.aliases.values() if isinstance(v, CopyFrom)}


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
