"""Several registries in one plan (SPEC v4 §19): connect each, read copy sources across.

A state file names its server with ``registry: NAME``; a copy value may name another
(``{from: churn, version: 7, registry: staging}``). Each named registry is connected
with its own URI and credentials (``credentials``); the sources copied from another
server are read there in one batched read, and handed to the target's plan under
``REGISTRY:MODEL`` keys (model names cannot hold ``:``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from reconciler.core.fetch import plan_reads, references
from reconciler.core.observed import (
    AliasSet,
    ObservedModel,
    ObservedRun,
    ObservedSignature,
    ObservedState,
)
from reconciler.core.ports import Registry
from reconciler.mlflow.credentials import Key, named
from reconciler.state.desired import Source
from reconciler.state.scope import StateSet


def connect_all(
    desired: StateSet, default: Callable[[], Registry], make: Callable[[str, Key], Registry]
) -> dict[str | None, Registry]:
    """Every registry the state plans on or copies from, by name (None: the default);
    a named one whose URI variable is missing is an error at its ``registry:`` line."""
    wanted: dict[str | None, Source | None] = {p.registry: p.registry_at for p in desired.parts}
    for ref in references(desired):
        wanted.setdefault(ref, None)
    return connect_names(wanted, default, make)


def connect_names(
    wanted: Mapping[str | None, Source | None],
    default: Callable[[], Registry],
    make: Callable[[str, Key], Registry],
) -> dict[str | None, Registry]:
    """The registries ``wanted`` names (a saved plan's, or a state's), in name order; each
    reaches the named others for cross-server copies."""
    out: dict[str | None, Registry] = {}
    for name in sorted(wanted, key=lambda n: n or ""):
        if name is None:
            out[None] = default()
        else:
            found = named(name, wanted[name])
            out[name] = make(found.uri, found.key)
    for registry in out.values():  # a copy from a named server reaches it through these
        registry.sources = {n: r for n, r in out.items() if n is not None}  # type: ignore[attr-defined]
    return out


def read_elsewhere(
    registry: Registry, elsewhere: Mapping[str, tuple[set[str], set[str]]]
) -> tuple[dict[str, ObservedRun], dict[str, ObservedSignature]]:
    """The runs and signatures of versions on other servers, each read on its server
    (a gate on a copy not made yet judges the source's run)."""
    servers = getattr(registry, "sources", {})
    runs: dict[str, ObservedRun] = {}
    signatures: dict[str, ObservedSignature] = {}
    for name, (run_ids, files) in sorted(elsewhere.items()):
        runs.update(servers[name].runs(run_ids) if run_ids else {})
        signatures.update(servers[name].signatures(files) if files else {})
    return runs, signatures


def read_sources(
    desired: StateSet, registries: Mapping[str | None, Registry]
) -> tuple[dict[str, ObservedModel], dict[str | None, ObservedState]]:
    """(``REGISTRY:MODEL`` -> the source model as its own server has it, registry -> what
    its plan read): one batched read per registry, so a registry that is both planned and
    copied from reads its plan's models (default workspace) and the sources together."""
    foreign: dict[str, ObservedModel] = {}
    read: dict[str | None, ObservedState] = {}
    for name, models in sorted(references(desired).items()):
        own = desired.for_registry(name).part(None)
        names, prompts = plan_reads(own) if own is not None else (set(), set())
        observed = registries[name].read(sorted(names | models), prompts)
        foreign.update({f"{name}:{m}": observed.models[m] for m in models if m in observed.models})
        if own is not None:
            read[name] = observed
    return foreign, read


def source_digest(registry: Registry, models: Iterable[str]) -> str:
    """The digest of the copy sources on their server, to tell a saved plan is stale."""
    wanted = sorted(set(models))
    return registry.read(wanted).digest(wanted)


def alias_sets_elsewhere(registry: Registry, names: Iterable[str]) -> tuple[AliasSet, ...]:
    """The alias sets other servers' apply logs record, as ``REGISTRY:MODEL`` (soak gates
    with ``in: staging:churn@champion``): each server's log read once, on it."""
    from reconciler.mlflow.soaklog import alias_sets

    servers = getattr(registry, "sources", {})
    return tuple(
        replace(found, model=f"{name}:{found.model}")
        for name in sorted(names)
        if name in servers
        for found in alias_sets(servers[name])
    )
