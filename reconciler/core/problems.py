"""What makes a plan unappliable (problems) and what a reviewer should see (notes). Pure.

Problems are located in the state file where possible; notes never block an apply.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from reconciler.core.observed import ObservedModel, ObservedState, managed_tags
from reconciler.core.ownership import Managed
from reconciler.core.plantypes import Note, Problem
from reconciler.core.resolve import Resolved
from reconciler.state.load import Source
from reconciler.state.models import STAGES, ModelSpec


def copy_problems(
    name: str, resolved: Mapping[str, Resolved], observed: ObservedState, src: Source
) -> Iterator[Problem]:
    """A copy to be made needs its source; an existing copy must be READY."""
    for alias, target in sorted(resolved.items()):
        value = target.copy_of
        if value is None:
            continue
        line = src.locate(name, "aliases", alias)
        if target.number is not None:
            copy = target.candidate
            if copy is not None and copy.status != "READY":
                yield Problem(
                    name,
                    f"version {copy.version} of {name!r} (the copy of {value.label()}) is "
                    f"{copy.status}, not READY",
                    src.file,
                    line,
                )
            continue
        source = target.candidate
        if value.model_key not in observed.models:
            yield Problem(
                name, f"copy source model {value.model_key!r} does not exist", src.file, line
            )
        elif source is None:
            yield Problem(
                name,
                f"copy source {value.model_key!r} has no version {value.version}",
                src.file,
                line,
            )
        elif source.status != "READY":
            yield Problem(
                name,
                f"copy source {value.label()} is {source.status}, not READY",
                src.file,
                line,
            )


def version_problems(
    name: str, spec: ModelSpec, obs: ObservedModel, src: Source
) -> Iterator[Problem]:
    referenced: dict[int, tuple[object, ...]] = {}
    for alias, number in spec.aliases.items():
        if isinstance(number, int):
            referenced.setdefault(number, ("aliases", alias))
    for stage, number in spec.stages.items():
        referenced.setdefault(number, ("stages", stage))
    for number in spec.versions:
        referenced.setdefault(number, ("versions", number))
    for number, path in sorted(referenced.items()):
        version = obs.versions.get(number)
        line = src.locate(name, *path)
        if version is None:
            yield Problem(name, f"{src.noun} {name!r} has no version {number}", src.file, line)
        elif version.status != "READY":
            yield Problem(
                name, f"version {number} of {name!r} is {version.status}, not READY", src.file, line
            )


def unmanaged_notes(
    name: str, spec: ModelSpec, obs: ObservedModel, owned: Managed
) -> Iterator[Note]:
    """Live keys the state neither declares nor has recorded: left alone, but shown."""
    if not spec.prune:
        for alias in sorted(set(obs.aliases) - set(spec.aliases) - owned.aliases):
            if spec.ignore.alias(alias):
                continue
            yield Note(
                name,
                f"alias {alias} (version {obs.aliases[alias]}) is not managed by the state; "
                "left alone",
            )
    for key in sorted(set(managed_tags(obs.tags)) - set(spec.tags) - owned.tags):
        if not key.startswith("mlflow.") and not spec.ignore.tag(key):
            yield Note(name, f"tag {key} is not managed by the state; left alone")
    staged = sorted(
        (v.version, v.stage)
        for v in obs.versions.values()
        if v.stage in STAGES and v.stage not in spec.stages and v.stage not in owned.stages
    )
    for number, stage in staged:
        yield Note(name, f"version {number} is in {stage}, which the state does not manage")


def did_you_mean(name: str, names: list[str]) -> str:
    """``; did you mean 'churn-classifier'?`` for the registered name nearest ``name``."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
