"""The soak gate (SPEC v4 §18): how long a version has held an alias, from the apply log.

MLflow keeps no history of aliases, so the time a version took an alias is the end of
the verified (``FINISHED``) apply that set it: each apply run records the aliases its
plan sets (``reconciler.aliases``). Pure: records and the clock come in as arguments.
Only ``trusted`` records count (a run whose signature checks out once runs are signed,
issue 28); a record anyone could forge must not open a gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from reconciler.core.gates import GateResult
from reconciler.core.observed import AliasSet, ObservedState
from reconciler.core.plantypes import Action, Change, Kind
from reconciler.core.resolve import Resolved
from reconciler.state.models import CopyFrom, SoakRule

ALIASES_TAG = "reconciler.aliases"
"""On an apply run: JSON ``{"MODEL@ALIAS": VERSION}`` of the aliases its plan sets."""
TAG_LIMIT = 5000


def aliases_tag(changes: Iterable[Change]) -> str | None:
    """The ``reconciler.aliases`` value for a plan's changes (None: it sets no alias, or
    the list does not fit a tag)."""
    sets = {
        f"{c.model}@{c.key}": c.after
        for c in changes
        if c.kind is Kind.ALIAS and c.action is not Action.REMOVE and isinstance(c.after, int)
    }
    if not sets:
        return None
    text = json.dumps(dict(sorted(sets.items())), separators=(",", ":"))
    return text if len(text) <= TAG_LIMIT else None


def parse_sets(
    run_id: str, text: str | None, finished_ms: int, trusted: bool = True
) -> list[AliasSet]:
    """The alias sets one run's tag records (nothing for a tag that does not parse)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    out = []
    for key, version in data.items():
        model, _, alias = str(key).rpartition("@")
        if model and alias and isinstance(version, int) and not isinstance(version, bool):
            out.append(AliasSet(run_id, model, alias, version, finished_ms, trusted))
    return out


def soak_key(rule: SoakRule, model: str, value: object) -> str:
    """The model whose alias ``rule`` reads, as observed: ``MODEL``, or ``REGISTRY:MODEL``
    on another server. ``in: churn@champion`` on an alias copied from ``staging:churn``
    means staging's churn (the copy's source), read on its server with its apply log."""
    other, _ = rule.where(model)
    if isinstance(value, CopyFrom) and value.registry and value.from_ == other:
        return value.model_key if "@" in rule.in_ else other
    return other


def soak_version(target: Resolved, model: str) -> int | None:
    """The version that must have soaked in ``model``: for a copy value, its source."""
    if (copy := target.copy_of) is not None and copy.model_key == model:
        return copy.version
    cand = target.candidate
    if cand is not None and cand.copied_from and cand.copied_from[0] == model:
        return cand.copied_from[1]
    return target.number if model == target.model else None


def span(seconds: float) -> str:
    """``3h12m``, ``45m``, ``30s``, ``2d4h``."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def soak_result(
    target: Resolved, rule: SoakRule, ok: bool, why: str = "", value: float | None = None
) -> GateResult:
    """A soak gate's result; a failure says what was found (``why``)."""
    head = f"gate {target.model}@{target.alias} -> version {target.shown_number}: soak"
    return GateResult(
        target.model,
        target.alias,
        target.shown_number,
        None,
        "soak",
        float(rule.seconds),
        value,
        ok,
        "" if ok else f"{head}: {why}",
    )


def check_soak(
    target: Resolved,
    rule: SoakRule,
    observed: ObservedState,
    sets: Sequence[AliasSet],
    now: datetime,
) -> GateResult:
    """Pass when the version has held ``rule``'s alias since an apply at least
    ``rule.soak`` ago, and holds it now."""
    alias = rule.where(target.model)[1]
    model = soak_key(rule, target.model, target.copy_of)
    number = soak_version(target, model)

    def result(ok: bool, why: str = "", value: float | None = None) -> GateResult:
        return soak_result(target, rule, ok, why, value)

    if number is None:
        return result(False, f"the candidate is not a version of {model} (write in: ALIAS)")
    found = observed.models.get(model)
    live = found.aliases.get(alias) if found is not None else None
    if live != number:
        holds = "nothing" if live is None else f"v{live}"
        return result(False, f"{model} v{number} does not hold {alias} ({holds} does)")
    mine = [s for s in sets if s.trusted and s.model == model and s.alias == alias]
    last = max(mine, key=lambda s: (s.finished_ms, s.run_id), default=None)
    if last is None or last.version != number:
        return result(False, f"no verified apply set {model}@{alias} to v{number}")
    held = now.timestamp() - last.finished_ms / 1000
    since = datetime.fromtimestamp(last.finished_ms / 1000, timezone.utc).replace(microsecond=0)
    if held >= rule.seconds:
        return result(True, value=held)
    return result(
        False,
        f"{model} v{number} has held {alias} for {span(max(held, 0))} of {rule.soak} "
        f"(since {since.isoformat().replace('+00:00', 'Z')}, run {last.run_id[:8]})",
        held,
    )
