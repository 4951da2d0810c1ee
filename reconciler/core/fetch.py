"""What a plan needs read besides the models: run ids and version sources. Pure.

Derived from the resolution in this one place. Gates need the run (metrics) or the
MLmodel signature of each moving alias's candidate and current holder, as their rules
require; evidence needs both for every move, plus the runs behind the gated metric's
trend. ``api.observe`` fetches exactly these, in one batched run search and one MLmodel
read per version.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.evidence import directions, trend_versions
from reconciler.core.observed import ObservedModel, ObservedState
from reconciler.core.resolve import Resolution, copy_sources
from reconciler.core.soak import soak_key
from reconciler.state.load import DesiredState
from reconciler.state.models import MetricRule, SignatureRule, SoakRule
from reconciler.state.scope import StateSet


def by_server(
    foreign: Mapping[str, ObservedModel], run_ids: set[str], sources: set[str]
) -> dict[str, tuple[set[str], set[str]]]:
    """registry -> (run ids, version sources) of ``run_ids`` / ``sources`` that belong to
    versions read on another server (``REGISTRY:MODEL`` keys): read there, not here."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for key, model in foreign.items():
        server = key.split(":", 1)[0]
        runs, files = out.setdefault(server, (set(), set()))
        for version in model.versions.values():
            runs.update({version.run_id} & run_ids if version.run_id else set())
            files.update({version.source} & sources)
    return out


def soak_models(desired: DesiredState) -> set[str]:
    """Models that soak gates name (``in: MODEL@ALIAS``): read with the plan's models;
    ``REGISTRY:MODEL`` ones on their own server."""
    return {
        soak_key(rule, name, spec.aliases.get(alias))
        for name, spec in desired.models.items()
        for alias, rules in spec.gates.items()
        for rule in rules
        if isinstance(rule, SoakRule)
    }


def plan_reads(desired: DesiredState) -> tuple[set[str], set[str]]:
    """(models, prompts) one plan of ``desired`` reads in one batch: its models, the
    same-server copy sources and the models soak gates name (``REGISTRY:MODEL`` ones are
    read on their own server)."""
    copied = {s for spec in desired.models.values() for s in copy_sources(spec)}
    prompts = {n for n in desired.models if desired.prompt(n)}
    here = {m for m in copied | soak_models(desired) if ":" not in m}
    return (set(desired.models) - prompts) | here, prompts


def references(desired: StateSet) -> dict[str, set[str]]:
    """registry -> the models read there for other registries' plans: cross-server copy
    sources and the models soak gates name as ``REGISTRY:MODEL``."""
    out: dict[str, set[str]] = {}
    for part in desired.parts:
        keys = {k for spec in part.models.values() for k in copy_sources(spec)}
        for key in keys | soak_models(part):
            registry, colon, model = key.partition(":")
            if colon:
                out.setdefault(registry, set()).add(model)
    return out


def soak_registries(desired: DesiredState, resolution: Resolution) -> set[str | None]:
    """The registries whose apply logs the moving aliases' soak gates read (None: the
    plan's own); each is read once."""
    out: set[str | None] = set()
    for target in resolution.all_moving():
        for rule in desired.models[target.model].gates.get(target.alias, ()):
            if isinstance(rule, SoakRule):
                key = soak_key(rule, target.model, target.copy_of)
                out.add(key.partition(":")[0] if ":" in key else None)
    return out


def evidence_moves(
    resolution: Resolution, observed: ObservedState, limit: int | None = None
) -> list[tuple[str, str]]:
    """The (model, alias) moves that get evidence: the first ``limit`` (None: all) moves of
    models that exist, by model then alias. The rest is omitted, and said so."""
    moves = [(t.model, t.alias) for t in resolution.all_moving() if t.model in observed.models]
    return moves if limit is None else moves[: max(limit, 0)]


def needs(
    desired: DesiredState,
    observed: ObservedState,
    resolution: Resolution,
    evidence: bool = False,
    limit: int | None = None,
) -> tuple[set[str], set[str]]:
    """(run ids, version sources) that the gates (and, with ``evidence``, the reviewer's
    evidence for at most ``limit`` moves) read for the moving aliases: a plan reads what
    it shows, and gates always read what they need."""
    runs: set[str] = set()
    sources: set[str] = set()
    wanted = set(evidence_moves(resolution, observed, limit)) if evidence else set()
    for target in resolution.all_moving():
        spec = desired.models[target.model]
        rules = spec.gates.get(target.alias, ())
        obs = observed.models.get(target.model)
        if obs is not None and obs.prompt:
            continue  # a prompt version has no run and no MLmodel: its evidence is its text
        shown = (target.model, target.alias) in wanted
        sides = [v for v in (target.candidate, target.holder) if v is not None]
        if shown or any(isinstance(r, MetricRule) for r in rules):
            runs.update(v.run_id for v in sides if v.run_id)
        if shown or any(isinstance(r, SignatureRule) for r in rules):
            sources.update(v.source for v in sides if v.source)
        if shown and obs is not None and directions(spec, target.alias):
            for number in trend_versions(obs, target.live, target.number):
                run_id = obs.versions[number].run_id
                runs.update([run_id] if run_id else [])
    return runs, sources
