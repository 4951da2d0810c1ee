"""Evidence for the reviewer: what an alias move changes about the model. Pure.

For every alias that moves to a version (SPEC §5 evidence), the plan carries the two
versions side by side: runs and UI links, metrics with deltas, the params that differ,
the candidate's lineage tags, creation times, the signature comparison and the gated
metric across the model's recent versions. Observed data in, frozen ``Evidence`` out;
which version is "the candidate" and which holds the alias now come from ``resolve``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import quote

from reconciler.core.observed import (
    ObservedModel,
    ObservedSignature,
    ObservedState,
    ObservedVersion,
)
from reconciler.core.prompts import TemplateDiff
from reconciler.core.resolve import Resolved
from reconciler.core.signature import differences, summary
from reconciler.state.models import MetricRule, ModelSpec

TREND_POINTS = 8
"""Versions shown in the trend of the gated metric (the newest, plus old and new holder)."""
Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Side:
    """One of the two versions compared."""

    version: int
    run_id: str | None
    run_name: str = ""
    run_url: str | None = None
    """The run's page in the MLflow UI (http(s) registries only)."""
    version_url: str | None = None
    """The version's page in the MLflow UI (http(s) registries only)."""
    created: str = ""
    """Creation time, UTC ISO-8601."""


@dataclass(frozen=True)
class MetricRow:
    """One metric side by side."""

    name: str
    before: float | None
    after: float | None
    better: Better | None = None
    """Which way is better, when a gate on this alias says so."""

    @property
    def delta(self) -> float | None:
        """after - before, when both exist."""
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def improved(self) -> bool | None:
        """Whether the candidate is better (None: no direction, a side missing, or equal)."""
        delta = self.delta
        if self.better is None or delta is None or delta == 0:
            return None
        return delta < 0 if self.better == "lower" else delta > 0


@dataclass(frozen=True)
class ParamRow:
    """A param whose value differs between the two runs (None: not logged)."""

    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class SignatureCheck:
    """The two signatures compared."""

    status: Literal["same", "changed", "missing", "unknown", "new", "holder-missing"]
    """same/changed; missing: the candidate has none; unknown: an MLmodel was not read;
    new: nothing holds the alias; holder-missing: only the current holder has none."""
    changes: tuple[str, ...] = ()
    before: str = ""
    """A few words on the holder's signature (e.g. ``2 inputs, 1 output``)."""
    after: str = ""


@dataclass(frozen=True)
class Trend:
    """The gated metric across the model's recent versions."""

    metric: str
    points: tuple[tuple[int, float], ...]
    """(version, value), oldest first; versions without the metric are left out."""
    old: int | None
    new: int | None


@dataclass(frozen=True)
class Evidence:
    """What moving ``alias`` of ``model`` from ``before`` to ``after`` changes."""

    model: str
    alias: str
    before: Side | None
    """The version that holds the alias now (None: nothing does)."""
    after: Side
    metrics: tuple[MetricRow, ...] = ()
    """Every metric of either run, gated ones first, then by name."""
    params: tuple[ParamRow, ...] = ()
    """Params that differ (with no holder: all of the candidate's)."""
    lineage: Mapping[str, str] = field(default_factory=dict)
    """The candidate run's tags without MLflow's own (git commit, data version, ...)."""
    version_tags: Mapping[str, str] = field(default_factory=dict)
    """The candidate version's tags without the reconciler's audit tags."""
    signature: SignatureCheck = SignatureCheck("unknown")
    trend: Trend | None = None
    template: TemplateDiff | None = None
    """A prompt's template text, holder against candidate (SPEC v4 §20; None: a model)."""
    workspace: str | None = None
    """The MLflow workspace of the model (None: the server's default, or none)."""


def _iso(ms: int) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base_url(registry: str) -> str | None:
    return registry.rstrip("/") if registry.startswith(("http://", "https://")) else None


def _side(
    model: str,
    number: int,
    version: ObservedVersion,
    observed: ObservedState,
    registry: str,
    exists: bool = True,
) -> Side:
    """One side; ``exists`` is False for a copy not made yet (no version page to link)."""
    base = _base_url(registry)
    run = observed.runs.get(version.run_id or "")
    run_url = (
        f"{base}/#/experiments/{run.experiment_id}/runs/{run.run_id}"
        if base and run and run.experiment_id
        else None
    )
    page = f"{base}/#/models/{quote(model, safe='')}/versions/{number}"
    version_url = page if base and exists else None
    return Side(
        number,
        version.run_id,
        run.name if run else "",
        run_url,
        version_url,
        _iso(version.created_at),
    )


def directions(spec: ModelSpec, alias: str) -> dict[str, Better]:
    """metric -> which way is better, as this alias's gates imply (first rule wins)."""
    out: dict[str, Better] = {}
    for rule in spec.gates.get(alias, ()):
        if isinstance(rule, MetricRule):
            out.setdefault(rule.metric, rule.better)
    return out


def _run_metrics(observed: ObservedState, version: ObservedVersion | None) -> Mapping[str, float]:
    if version is None or not version.run_id:
        return {}
    return observed.metrics.get(version.run_id, {})


def _signature(
    observed: ObservedState, old: ObservedVersion | None, new: ObservedVersion
) -> SignatureCheck:
    missing = ObservedSignature(error="not read")
    after = observed.signatures.get(new.source, missing)
    if old is None:
        if after.error:
            return SignatureCheck("unknown", after=summary(after))
        return SignatureCheck("new" if after.found else "missing", after=summary(after))
    before = observed.signatures.get(old.source, missing)
    words = (summary(before), summary(after))
    if after.error or before.error:
        return SignatureCheck("unknown", (), *words)
    if not after.found:
        return SignatureCheck("missing", (), *words)
    if not before.found:
        return SignatureCheck("holder-missing", (), *words)
    changes = differences(before, after)
    return SignatureCheck("changed" if changes else "same", changes, *words)


def _trend(
    spec: ModelSpec, target: Resolved, obs: ObservedModel, observed: ObservedState
) -> Trend | None:
    metric = next(iter(directions(spec, target.alias)), None)
    if metric is None:
        return None
    old, new = target.live, target.number
    points = []
    for number in trend_versions(obs, old, new):
        value = _run_metrics(observed, obs.versions.get(number)).get(metric)
        if value is not None:
            points.append((number, value))
    return Trend(metric, tuple(points), old, new) if points else None


def trend_versions(obs: ObservedModel, old: int | None, new: int | None) -> list[int]:
    """The newest TREND_POINTS versions, always including the old and new holder."""
    keep = {n for n in (old, new) if n is not None and n in obs.versions}
    rest = [n for n in sorted(obs.versions, reverse=True) if n not in keep]
    return sorted(keep | set(rest[: max(0, TREND_POINTS - len(keep))]))


def for_alias(
    spec: ModelSpec,
    target: Resolved,
    obs: ObservedModel,
    observed: ObservedState,
    registry: str = "",
) -> Evidence | None:
    """The evidence for moving ``target.alias`` (None when the candidate is absent)."""
    name, alias, new, old = target.model, target.alias, target.candidate, target.holder
    if new is None:
        return None
    better = directions(spec, alias)
    before_m, after_m = _run_metrics(observed, old), _run_metrics(observed, new)
    names = sorted(before_m.keys() | after_m.keys(), key=lambda m: (m not in better, m))
    rows = tuple(MetricRow(m, before_m.get(m), after_m.get(m), better.get(m)) for m in names)
    old_run = observed.runs.get(old.run_id or "") if old else None
    new_run = observed.runs.get(new.run_id or "")
    old_params = old_run.params if old_run else {}
    new_params = new_run.params if new_run else {}
    params = tuple(
        ParamRow(p, old_params.get(p), new_params.get(p))
        for p in sorted(old_params.keys() | new_params.keys())
        if old_params.get(p) != new_params.get(p)
    )
    lineage = {
        k: v
        for k, v in sorted((new_run.tags if new_run else {}).items())
        if not k.startswith("mlflow.") or k == "mlflow.source.git.commit"
    }
    number = target.number or new.version
    return Evidence(
        model=name,
        alias=alias,
        before=_side(name, old.version, old, observed, registry) if old else None,
        after=_side(name, number, new, observed, registry, target.number is not None),
        metrics=rows,
        params=params,
        lineage=lineage,
        version_tags={k: v for k, v in sorted(new.tags.items()) if not k.startswith("reconciler.")},
        signature=_signature(observed, old, new),
        trend=_trend(spec, target, obs, observed),
    )


def for_model(
    spec: ModelSpec,
    obs: ObservedModel,
    observed: ObservedState,
    moving: Mapping[str, Resolved],
    registry: str = "",
) -> Iterator[Evidence]:
    """Evidence for every alias in ``moving``, by alias name."""
    for alias in sorted(moving):
        found = for_alias(spec, moving[alias], obs, observed, registry)
        if found is not None:
            yield found
