"""What ``status`` decides: whether each alias matches git, and which metrics to show. Pure.

``synced``: the alias holds the version the state declares. ``drift``: declared but
live elsewhere or nowhere, or recorded as owned but no longer declared (plan would
remove it). ``unmanaged``: neither declared nor owned (plan leaves it alone).
``ignored``: the state hands it back (``ignore``): never planned, whatever its value.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.core.observed import MANAGED_TAG, ObservedModel, ObservedState
from reconciler.core.ownership import parse as parse_record
from reconciler.core.resolve import resolve_model
from reconciler.state.models import MetricRule, ModelSpec


def alias_sync(model: ObservedModel, spec: ModelSpec | None) -> dict[int, dict[str, str]]:
    """version -> {alias: synced | drift | unmanaged | ignored}, for live and declared aliases."""
    resolved = resolve_model(model.name, spec, model) if spec else {}
    declared = {alias: target.number for alias, target in resolved.items()}
    owned = parse_record(model.tags.get(MANAGED_TAG)).aliases
    out: dict[int, dict[str, str]] = {}
    for alias, number in model.aliases.items():
        if alias in declared:
            state = "synced" if declared[alias] == number else "drift"
        elif spec and spec.ignore.alias(alias):
            state = "ignored"
        else:
            state = "drift" if alias in owned or (spec and spec.prune) else "unmanaged"
        out.setdefault(number, {})[alias] = state
    for alias, want in declared.items():
        if want is not None and model.aliases.get(alias) != want:
            out.setdefault(want, {})[alias] = "drift"
    return {n: dict(sorted(a.items())) for n, a in out.items()}


def key_metrics(spec: ModelSpec | None, named: Iterable[str] = ()) -> list[str]:
    """The metrics ``status`` shows for a model: those ``named`` (``--metric``), else the
    ones its gates use (in order, once each); empty means all of the run's metrics."""
    if named := list(named):
        return named
    if spec is None:
        return []
    gated = [g.metric for rules in spec.gates.values() for g in rules if isinstance(g, MetricRule)]
    return list(dict.fromkeys(gated))


def run_ids(observed: ObservedState) -> list[str]:
    """Every version's run id, for one batched metrics read."""
    return [v.run_id for m in observed.models.values() for v in m.versions.values() if v.run_id]
