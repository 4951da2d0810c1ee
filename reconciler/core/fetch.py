"""What a plan needs read besides the models: run ids and version sources. Pure.

Gates need the runs (metrics) and MLmodel signatures of each moving alias's candidate
and current holder; evidence adds both sides of every move and the gated metric's trend.
``api.observe`` fetches exactly these, in one batched run search and one MLmodel read
per version.
"""

from __future__ import annotations

from reconciler.core.evidence import directions, trend_versions
from reconciler.core.observed import ObservedState
from reconciler.core.resolve import moving_aliases
from reconciler.state.load import DesiredState
from reconciler.state.models import MetricRule, SignatureRule


def gate_run_ids(desired: DesiredState, observed: ObservedState) -> set[str]:
    """Run ids whose metrics the gates need (candidates and current holders)."""
    runs: set[str] = set()
    for name, spec in desired.models.items():
        obs = observed.models.get(name)
        for alias, target in moving_aliases(spec, obs, observed).items():
            if not any(isinstance(r, MetricRule) for r in spec.gates.get(alias, ())):
                continue
            holder = obs.holder(alias) if obs else None
            for version in (target.candidate, holder):
                if version is not None and version.run_id:
                    runs.add(version.run_id)
    return runs


def gate_sources(desired: DesiredState, observed: ObservedState) -> set[str]:
    """Version sources whose MLmodel signature gates need (candidates and current holders)."""
    sources: set[str] = set()
    for name, spec in desired.models.items():
        obs = observed.models.get(name)
        for alias, target in moving_aliases(spec, obs, observed).items():
            if not any(isinstance(r, SignatureRule) for r in spec.gates.get(alias, ())):
                continue
            holder = obs.holder(alias) if obs else None
            sources.update(v.source for v in (target.candidate, holder) if v and v.source)
    return sources


def evidence_needs(desired: DesiredState, observed: ObservedState) -> tuple[set[str], set[str]]:
    """(run ids, version sources) evidence reads: both sides of each move, plus the trend."""
    runs: set[str] = set()
    sources: set[str] = set()
    for name, spec in desired.models.items():
        obs = observed.models.get(name)
        if obs is None:
            continue
        for alias, target in moving_aliases(spec, obs, observed).items():
            holder = obs.holder(alias)
            for version in (target.candidate, holder):
                if version is not None:
                    runs.update([version.run_id] if version.run_id else [])
                    sources.update([version.source] if version.source else [])
            if directions(spec, alias):
                for number in trend_versions(obs, obs.aliases.get(alias), target.number):
                    run_id = obs.versions[number].run_id
                    runs.update([run_id] if run_id else [])
    return runs, sources
