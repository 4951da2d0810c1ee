"""Promotion gates: pure checks of the versions an alias would move to.

Gates run only for aliases that would change, so a converged registry never fails
a gate retroactively. Missing data fails the gate: no metric, no signature or no tag
is not a pass. Rules: run metrics (min, max, better_than), ``{signature: compatible}``
and ``{tag: KEY, equals: VALUE}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.core.observed import ObservedSignature, ObservedVersion
from reconciler.core.resolve import Resolved
from reconciler.core.signature import HINT, differences
from reconciler.state.models import GateRule, MetricRule, ModelSpec, SignatureRule, SoakRule

SoakCheck = Callable[[Resolved, SoakRule], "GateResult"]


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate rule for one alias move (SPEC §5 ``gates``)."""

    model: str
    alias: str
    version: int
    metric: str | None
    """The run metric checked (None for signature and tag rules)."""
    rule: str
    """min, max, better_than, signature or tag."""
    threshold: float | None
    """The bound; for better_than, the current holder's value (None when nothing holds it)."""
    value: float | None
    """The candidate version's metric (None when missing)."""
    passed: bool
    reason: str = ""
    """Why it failed, in words (empty when passed)."""
    current_version: int | None = None
    """For better_than and signature: the version that holds the alias now."""
    tag: str | None = None
    """For tag rules: the version tag checked."""
    expected: str | None = None
    """For tag rules: the value the tag must have."""
    actual: str | None = None
    """For tag rules: the candidate's value (None when the tag is missing)."""
    changes: tuple[str, ...] = ()
    """For signature rules: how the candidate's signature differs from the holder's."""
    workspace: str | None = None
    """The MLflow workspace of the model (None: the server's default, or none)."""


def check_signature(target: Resolved, signatures: Mapping[str, ObservedSignature]) -> GateResult:
    """The candidate's signature must equal the current holder's; no holder passes."""
    name, alias, number = target.model, target.alias, target.shown_number
    head = f"gate {name}@{alias} -> version {number}: signature"
    base = functools.partial(
        GateResult, name, alias, number, None, "signature", None, None, current_version=None
    )
    cand = signatures.get(target.candidate.source) if target.candidate else None
    if cand is None or cand.error:
        why = cand.error if cand else "its MLmodel was not read"
        return base(False, f"{head} cannot be checked: {why}")
    if not cand.found:
        return base(False, f"{head} is missing on the version: {HINT}")
    holder = target.holder
    if holder is None:
        return base(True)
    current = signatures.get(holder.source)
    held = functools.partial(base, current_version=holder.version)
    if current is None or current.error:
        why = current.error if current else "its MLmodel was not read"
        return held(False, f"{head} cannot be compared with version {holder.version}: {why}")
    if not current.found:
        return held(True, changes=(f"version {holder.version} has no signature to compare",))
    changes = differences(current, cand)
    reason = f"{head} differs from version {holder.version}: {'; '.join(changes)}"
    return held(not changes, "" if not changes else reason, changes=changes)


def check_tag(target: Resolved, key: str, equals: str) -> GateResult:
    """The candidate version must carry tag ``key`` with value ``equals``."""
    name, alias, number = target.model, target.alias, target.shown_number
    actual = target.candidate.tags.get(key) if target.candidate else None
    ok = actual == equals
    found = "missing" if actual is None else f"{actual!r}"
    reason = "" if ok else f"gate {name}@{alias} -> version {number}: tag {key} is {found}, "
    reason += "" if ok else f"must be {equals!r}"
    return GateResult(
        name,
        alias,
        number,
        None,
        "tag",
        None,
        None,
        ok,
        reason,
        tag=key,
        expected=equals,
        actual=actual,
    )


def _metric(
    version: ObservedVersion | None, metric: str, metrics: Mapping[str, Mapping[str, float]]
) -> float | None:
    if version is None or not version.run_id:
        return None
    return metrics.get(version.run_id, {}).get(metric)


def _no_clock(target: Resolved, rule: SoakRule) -> GateResult:
    head = f"gate {target.model}@{target.alias} -> version {target.shown_number}: soak"
    return GateResult(
        target.model,
        target.alias,
        target.shown_number,
        None,
        "soak",
        float(rule.seconds),
        None,
        False,
        f"{head} cannot be checked without the time of the plan",
    )


def check_rule(
    target: Resolved,
    rule: GateRule,
    metrics: Mapping[str, Mapping[str, float]],
    signatures: Mapping[str, ObservedSignature] | None = None,
) -> GateResult:
    """Evaluate one rule for moving ``target.alias`` of ``target.model``."""
    if isinstance(rule, SignatureRule):
        return check_signature(target, signatures or {})
    if isinstance(rule, SoakRule):
        return _no_clock(target, rule)
    if not isinstance(rule, MetricRule):
        return check_tag(target, rule.tag, rule.equals)
    value = _metric(target.candidate, rule.metric, metrics)
    name, alias, number = target.model, target.alias, target.shown_number
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
    holder = target.live
    if holder is None:
        return base(threshold=None, passed=True)
    current = _metric(target.holder, rule.metric, metrics)
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
    spec: ModelSpec,
    moving: Mapping[str, Resolved],
    metrics: Mapping[str, Mapping[str, float]],
    signatures: Mapping[str, ObservedSignature] | None = None,
    soak: SoakCheck | None = None,
) -> list[GateResult]:
    """Results for every gate of every alias in ``moving`` (aliases the plan sets);
    ``soak`` judges soak rules (None: they fail, the clock being unknown)."""
    return [
        (soak or _no_clock)(moving[alias], rule)
        if isinstance(rule, SoakRule)
        else check_rule(moving[alias], rule, metrics, signatures)
        for alias in sorted(spec.gates)
        if alias in moving
        for rule in spec.gates[alias]
    ]
