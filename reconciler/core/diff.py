"""The diff: the changes that take one observed model to its declared state. Pure.

Three-way rule (SPEC §6): a declared key is set to the declared value; a key in the
ownership record that is no longer declared is removed; any other key is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.core.observed import ObservedModel
from reconciler.core.ownership import EMPTY, Managed, declared, encode
from reconciler.core.plantypes import BLANK_IS_ABSENT, Action, Change, Kind, RecordWrite
from reconciler.core.resolve import Resolved, resolve_model
from reconciler.state.models import ModelSpec, VersionSpec


def _diff_value(
    model: str, kind: Kind, key: str, before: Any, after: Any, version: int | None = None
) -> Iterator[Change]:
    if before == after:
        return
    empty = (None, "") if kind in BLANK_IS_ABSENT else (None,)
    if before in empty:
        action = Action.ADD
    elif after in empty:
        action = Action.REMOVE
    else:
        action = Action.UPDATE
    yield Change(model, kind, key, action, before, after, version)


def _removal(model: str, kind: Kind, key: str, before: Any, version: int | None = None) -> Change:
    after: Any = "" if kind in BLANK_IS_ABSENT else None
    return Change(model, kind, key, Action.REMOVE, before, after, version)


def plan_model(
    name: str,
    spec: ModelSpec,
    obs: ObservedModel,
    owned: Managed = EMPTY,
    resolved: Mapping[str, Resolved] | None = None,
) -> Iterator[Change]:
    """Changes for one model, in a fixed order: copies, aliases, stages, description, tags,
    versions.

    Three-way rule: a declared key is set to the declared value; a key in ``owned`` (the
    ownership record) that is no longer declared is removed; any other key is left alone
    (aliases: unless ``prune``). A copy that does not exist yet is made once, before the
    alias that points at it. ``resolved``: the model's declared aliases, resolved
    (``resolve``); by default against this model alone.
    """
    targets = resolve_model(name, spec, obs) if resolved is None else resolved
    refs = sorted(
        {t.copy_to_make for t in targets.values() if t.copy_to_make},
        key=lambda r: (r.model_key, r.version),
    )
    for ref in refs:
        key = f"{ref.model_key}/{ref.version}"
        yield Change(name, Kind.COPY, key, Action.ADD, None, ref.source)
    for alias in sorted(spec.aliases):
        target = targets[alias]
        after: Any = target.number
        if after is None and target.copy_of is not None:
            after = {"from": target.copy_of.from_, "version": target.copy_of.version}
            if target.copy_of.registry:
                after["registry"] = target.copy_of.registry
        yield from _diff_value(name, Kind.ALIAS, alias, target.live, after)
    dropped = {a for a in obs.aliases if a not in spec.aliases and not spec.ignore.alias(a)}
    for alias in sorted(dropped if spec.prune else dropped & owned.aliases):
        yield _removal(name, Kind.ALIAS, alias, obs.aliases[alias])
    declared_stage = {number: stage for stage, number in spec.stages.items()}
    for number in sorted(obs.versions):
        stage = obs.versions[number].stage
        want: str | None = declared_stage.get(number)
        if want is None and stage in spec.stages:
            want = "Archived"
        if want is not None and want != stage:
            yield Change(name, Kind.STAGE, str(number), Action.UPDATE, stage, want, number)
        elif want is None and stage in owned.stages:
            yield Change(name, Kind.STAGE, str(number), Action.REMOVE, stage, "None", number)
    if spec.description is not None:
        yield from _diff_value(
            name, Kind.DESCRIPTION, "description", obs.description, spec.description
        )
    elif owned.description and obs.description:
        yield _removal(name, Kind.DESCRIPTION, "description", obs.description)
    for key in sorted(spec.tags):
        yield from _diff_value(name, Kind.TAG, key, obs.tags.get(key), spec.tags[key])
    for key in sorted((owned.tags - set(spec.tags)) & set(obs.tags)):
        yield _removal(name, Kind.TAG, key, obs.tags[key])
    owned_versions = owned.version_tags.keys() | owned.version_descriptions
    for number in sorted(spec.versions.keys() | owned_versions):
        version = obs.versions.get(number)
        if version is None:
            continue
        vspec = spec.versions.get(number, VersionSpec())
        if vspec.description is not None:
            yield from _diff_value(
                name,
                Kind.VERSION_DESCRIPTION,
                "description",
                version.description,
                vspec.description,
                number,
            )
        elif number in owned.version_descriptions and version.description:
            yield _removal(
                name, Kind.VERSION_DESCRIPTION, "description", version.description, number
            )
        for key in sorted(vspec.tags):
            yield from _diff_value(
                name, Kind.VERSION_TAG, key, version.tags.get(key), vspec.tags[key], number
            )
        gone = owned.version_tags.get(number, frozenset()) - set(vspec.tags)
        for key in sorted(gone & set(version.tags)):
            yield _removal(name, Kind.VERSION_TAG, key, version.tags[key], number)


def record_writes(
    name: str, spec: ModelSpec, owned: Managed, current: Managed | None = None
) -> Iterator[RecordWrite]:
    """The ownership record writes for a model that apply writes to.

    Keys are claimed before they are set (``first``: old record + declared keys) and
    released only after their removal succeeded (``final``: declared keys), so an apply
    cut off half-way never forgets a key it may still have to remove. ``current``: the
    record as stored, when ``owned`` already left out keys that are released (ignored).
    """
    want = declared(spec)
    first = owned.union(want)
    if first != (owned if current is None else current):
        text, dropped = encode(first)
        yield RecordWrite(name, text, after_removals=False, dropped=dropped)
    if want != first:
        text, dropped = encode(want)
        yield RecordWrite(name, text, after_removals=True, dropped=dropped)
