"""Resolve once: every declared alias, against the observed registry. Pure.

Gates, evidence, the diff, the problems and ``status`` all need the same answers for
each declared alias: which version of this model it should hold, or which copy is
still to be made; which version is "the candidate" (whose run is judged); which version
holds it now; and whether it moves. ``resolve`` works them out once, per model and
alias, and everyone else reads the result (``fetch`` derives the runs and signatures to
read from it). An alias value is a version number, or a copy of another model's version
(SPEC v2 §2): the version of this model whose ``source`` is ``models:/MODEL/N``; until
that copy exists, the candidate is the source version itself (a copy keeps its run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.state.models import AliasValue, CopyFrom, ModelSpec

if TYPE_CHECKING:
    from reconciler.state.load import DesiredState


@dataclass(frozen=True)
class Resolved:
    """One declared alias of one model, resolved against the registry."""

    model: str
    alias: str
    declared: AliasValue
    """The value the state declares: a version number or a copy."""
    number: int | None
    """The version of this model the alias should hold (None: a copy not made yet)."""
    candidate: ObservedVersion | None
    """The version whose run gates and evidence read (None: it does not exist); for a
    copy not made yet, the source version."""
    live: int | None = None
    """The version number that holds the alias now (None: nothing does)."""
    holder: ObservedVersion | None = None
    """That version, when it exists."""

    @property
    def copy_of(self) -> CopyFrom | None:
        """The source, when the alias is declared as a copy."""
        return self.declared if isinstance(self.declared, CopyFrom) else None

    @property
    def copy_to_make(self) -> CopyFrom | None:
        """The copy apply must make before the alias can point at it."""
        return self.copy_of if self.number is None else None

    @property
    def moves(self) -> bool:
        """Whether the plan sets this alias (a copy not made yet always moves)."""
        return self.number is None or self.live != self.number

    @property
    def shown_number(self) -> int:
        """The version named in gate results: the target, else the candidate's number."""
        return self.number or (self.candidate.version if self.candidate else 0)


@dataclass(frozen=True)
class Resolution:
    """Every declared alias of every desired model: model -> alias -> ``Resolved``."""

    models: Mapping[str, Mapping[str, Resolved]] = field(default_factory=dict)

    def of(self, model: str) -> Mapping[str, Resolved]:
        """The model's declared aliases, by name (sorted)."""
        return self.models.get(model, {})

    def moving(self, model: str) -> Mapping[str, Resolved]:
        """The model's aliases that the plan sets, by name (sorted)."""
        return {a: r for a, r in self.of(model).items() if r.moves}

    def all_moving(self) -> list[Resolved]:
        """Every moving alias, by model then alias."""
        return [r for m in sorted(self.models) for r in self.moving(m).values()]


def find_copy(obs: ObservedModel | None, ref: CopyFrom) -> ObservedVersion | None:
    """The version of ``obs`` copied from ``ref`` (the oldest, if someone copied twice)."""
    if obs is None:
        return None
    if ref.registry:  # another server's version: found by the tag its copy carries
        want = (ref.registry, ref.from_, ref.version)
        copies = [v for n, v in sorted(obs.versions.items()) if copied_from(v) == want]
        return copies[0] if copies else None
    copies = [v for n, v in sorted(obs.versions.items()) if v.source == ref.source]
    return copies[0] if copies else None


def source_version(observed: ObservedState, ref: CopyFrom) -> ObservedVersion | None:
    """The version a copy is (to be) made from, if it exists."""
    model = observed.models.get(ref.model_key)
    return model.versions.get(ref.version) if model else None


def resolve_alias(
    name: str, alias: str, value: AliasValue, obs: ObservedModel | None, observed: ObservedState
) -> Resolved:
    """One declared alias value of model ``name``."""
    live = obs.aliases.get(alias) if obs else None
    holder = obs.holder(alias) if obs else None
    if isinstance(value, CopyFrom):
        copy = find_copy(obs, value)
        if copy is not None:
            return Resolved(name, alias, value, copy.version, copy, live, holder)
        return Resolved(name, alias, value, None, source_version(observed, value), live, holder)
    candidate = obs.versions.get(value) if obs else None
    return Resolved(name, alias, value, value, candidate, live, holder)


def resolve_model(
    name: str, spec: ModelSpec, obs: ObservedModel | None, observed: ObservedState | None = None
) -> dict[str, Resolved]:
    """Every declared alias of one model, by name (sorted); ``observed`` holds the copy
    sources (default: only this model)."""
    context = observed or ObservedState({name: obs} if obs else {})
    return {
        alias: resolve_alias(name, alias, spec.aliases[alias], obs, context)
        for alias in sorted(spec.aliases)
    }


def resolve(desired: DesiredState, observed: ObservedState) -> Resolution:
    """Every declared alias of every desired model, against ``observed``."""
    return Resolution(
        {
            name: resolve_model(name, desired.models[name], observed.models.get(name), observed)
            for name in sorted(desired.models)
        }
    )


def copy_sources(spec: ModelSpec) -> set[str]:
    """Models the state copies from (they are read with the model)."""
    return {v.model_key for v in spec.aliases.values() if isinstance(v, CopyFrom)}


COPIED_FROM = "reconciler.copied_from"
"""On a cross-server copy: JSON ``{"registry", "model", "version", "run_id"}``."""


def copy_key(version: ObservedVersion) -> str:
    """What a copy change's ``after`` names for this version: its ``source``, or for a
    cross-server copy ``REGISTRY:models:/MODEL/N`` from its tag."""
    found = copied_from(version)
    return f"{found[0]}:models:/{found[1]}/{found[2]}" if found else version.source


def copied_from(version: ObservedVersion) -> tuple[str, str, int] | None:
    """(registry, model, version) a cross-server copy names in its tag, else None."""
    try:
        data = json.loads(version.tags.get(COPIED_FROM) or "null")
        found = (str(data["registry"]), str(data["model"]), int(data["version"]))
    except (ValueError, TypeError, KeyError):
        return None
    return found
