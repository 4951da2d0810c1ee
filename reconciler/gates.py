"""Promotion gates: pure checks of run metrics for versions an alias would move to.

Gates run only for aliases that would change, so a converged registry never fails
a gate retroactively. A missing metric fails the gate: no data is not a pass.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.resolve import Target, moving_aliases
from reconciler.state import GateRule, ModelSpec

if TYPE_CHECKING:
    from reconciler.load import DesiredState


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate rule for one alias move (SPEC §5 ``gates``)."""

    model: str
    alias: str
    version: int
    metric: str
    rule: str
    """min, max or better_than."""
    threshold: float | None
    """The bound; for better_than, the current holder's value (None when nothing holds it)."""
    value: float | None
    """The candidate version's metric (None when missing)."""
    passed: bool
    reason: str = ""
    """Why it failed, in words (empty when passed)."""
    current_version: int | None = None
    """For better_than: the version that holds the alias now."""


def gate_run_ids(desired: DesiredState, observed: ObservedState) -> set[str]:
    """Run ids whose metrics the gates need (candidates and current holders)."""
    runs: set[str] = set()
    for name, spec in desired.models.items():
        obs = observed.models.get(name)
        for alias, target in moving_aliases(spec, obs, observed).items():
            if alias not in spec.gates:
                continue
            holder = obs.holder(alias) if obs else None
            for version in (target.candidate, holder):
                if version is not None and version.run_id:
                    runs.add(version.run_id)
    return runs


def _metric(
    version: ObservedVersion | None, metric: str, metrics: Mapping[str, Mapping[str, float]]
) -> float | None:
    if version is None or not version.run_id:
        return None
    return metrics.get(version.run_id, {}).get(metric)


def check_rule(
    name: str,
    alias: str,
    target: Target,
    rule: GateRule,
    obs: ObservedModel | None,
    metrics: Mapping[str, Mapping[str, float]],
) -> GateResult:
    """Evaluate one rule for moving ``alias`` of model ``name`` to ``target``."""
    value = _metric(target.candidate, rule.metric, metrics)
    number = target.number or (target.candidate.version if target.candidate else 0)
    head = f"gate {name}@{alias} -> version {number}: {rule.metric}"
    base = functools.partial(
        GateResult,
        model=name,
        alias=alias,
        version=number,
        metric=rule.metric,
        rule=rule.rule,
        value=value,
    )
    if rule.better_than is None:
        bound = float(rule.min if rule.min is not None else rule.max)  # type: ignore[arg-type]
        if value is None:
            return base(
                threshold=bound,
                passed=False,
                reason=f"{head} is missing on the version's run",
            )
        ok = value >= bound if rule.min is not None else value <= bound
        sign = ">=" if rule.min is not None else "<="
        return base(
            threshold=bound,
            passed=ok,
            reason="" if ok else f"{head} = {value:g}, must be {sign} {bound:g}",
        )
    holder = obs.aliases.get(alias) if obs else None
    if obs is None or holder is None:
        return base(threshold=None, passed=True)
    current = _metric(obs.versions.get(holder), rule.metric, metrics)
    if value is None or current is None:
        which = "candidate" if value is None else f"current version {holder}"
        return base(
            threshold=current,
            passed=False,
            current_version=holder,
            reason=f"{head} is missing on the {which}'s run",
        )
    ok = value < current if rule.direction == "lower" else value > current
    want = "lower" if rule.direction == "lower" else "higher"
    reason = (
        ""
        if ok
        else (f"{head} = {value:g} does not beat version {holder} ({current:g}; {want} is better)")
    )
    return base(threshold=current, passed=ok, reason=reason, current_version=holder)


def evaluate_gates(
    name: str,
    spec: ModelSpec,
    obs: ObservedModel | None,
    metrics: Mapping[str, Mapping[str, float]],
    moving: Mapping[str, Target],
) -> list[GateResult]:
    """Results for every gate of every alias in ``moving`` (aliases the plan sets)."""
    return [
        check_rule(name, alias, moving[alias], rule, obs, metrics)
        for alias in sorted(spec.gates)
        if alias in moving
        for rule in spec.gates[alias]
    ]
