"""What the controller decides, as pure functions of plain data (SPEC §13).

Three states are compared: the state at HEAD (declared), the state at each model's
baseline commit (applied: the newest believable verified apply of this repository that
covered the model, SPEC §17) and the registry (live). Drift = live differs from applied;
pending = declared differs from applied (merged, not applied yet). Drift wins when both
hold: it is what someone must look at. A model with no baseline is ``unverified``:
nothing is known to have been applied, so nothing is healed (never a fallback to HEAD).
Nothing here reads git or the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from reconciler.core.observed import ObservedState
from reconciler.core.plan import Change, Kind, compute_plan
from reconciler.state.load import DesiredState
from reconciler.state.models import ModelSpec, value_label


class Sync(str, Enum):
    """A model's or an alias's condition as the status page shows it."""

    SYNCED = "synced"
    DRIFT = "drift"
    PENDING = "pending"
    UNKNOWN = "unknown"
    """The registry or git could not be read: nothing is known, nothing is healed."""
    UNVERIFIED = "unverified"
    """No verified apply of this repository covers the model: never healed."""


@dataclass(frozen=True)
class AliasRow:
    """One alias: its declared (HEAD), live and last applied value, and its condition."""

    alias: str
    declared: str
    live: str
    applied: str
    state: Sync


@dataclass(frozen=True)
class ModelStatus:
    """One model's condition, with the changes that would restore its last applied state."""

    name: str
    state: Sync
    aliases: tuple[AliasRow, ...]
    drift: tuple[Change, ...] = ()
    """Changes a heal would make (last applied state vs registry)."""
    self_heal: bool = False
    problem: str = ""
    """Why the model cannot be compared or healed (e.g. it is missing from the registry)."""


def _content(spec: ModelSpec | None) -> object:
    """What the registry is meant to hold; ``self_heal`` is a controller setting, not content."""
    return None if spec is None else spec.model_dump(mode="json", exclude={"self_heal"})


def _live_label(observed: ObservedState, name: str, alias: str) -> str:
    model = observed.models.get(name)
    number = None if model is None else model.aliases.get(alias)
    return "-" if number is None else str(number)


def _alias_rows(
    name: str,
    head: ModelSpec | None,
    applied: ModelSpec | None,
    observed: ObservedState,
    drift: tuple[Change, ...],
) -> tuple[AliasRow, ...]:
    declared = {} if head is None else dict(head.aliases)
    done = {} if applied is None else dict(applied.aliases)
    drifted = {c.key for c in drift if c.kind is Kind.ALIAS}
    rows = []
    for alias in sorted(set(declared) | set(done) | drifted):
        want, was = declared.get(alias), done.get(alias)
        state = Sync.DRIFT if alias in drifted else Sync.PENDING if want != was else Sync.SYNCED
        rows.append(
            AliasRow(
                alias,
                value_label(want),
                _live_label(observed, name, alias),
                value_label(was),
                state,
            )
        )
    return tuple(rows)


def classify(
    head: DesiredState,
    applied: DesiredState,
    observed: ObservedState,
    unverified: frozenset[str] = frozenset(),
) -> tuple[ModelStatus, ...]:
    """Every model of HEAD and of the applied state, compared with the registry.

    ``observed`` must be a complete read of the applied models (the caller never
    classifies on a partial read); ``unverified`` models have no baseline at all.
    """
    plan = compute_plan(applied, observed)
    changes: dict[str, list[Change]] = {}
    for change in plan.changes:
        changes.setdefault(change.model, []).append(change)
    problems = {p.model: p.message for p in plan.problems}
    statuses = []
    for name in sorted(set(head.models) | set(applied.models) | unverified):
        if name in unverified:
            statuses.append(_unverified(name, head.models.get(name), observed))
            continue
        want, was = head.models.get(name), applied.models.get(name)
        drift = tuple(changes.get(name, ()))
        missing = was is not None and name in problems and name not in observed.models
        state = (
            Sync.DRIFT
            if drift or missing
            else Sync.PENDING
            if _content(want) != _content(was)
            else Sync.SYNCED
        )
        statuses.append(
            ModelStatus(
                name=name,
                state=state,
                aliases=_alias_rows(name, want, was, observed, drift),
                drift=drift,
                self_heal=heals(want, was),
                problem=problems.get(name, "") if was is not None else "",
            )
        )
    return tuple(statuses)


def _unverified(name: str, head: ModelSpec | None, observed: ObservedState) -> ModelStatus:
    declared = {} if head is None else dict(head.aliases)
    rows = tuple(
        AliasRow(a, value_label(declared[a]), _live_label(observed, name, a), "-", Sync.UNVERIFIED)
        for a in sorted(declared)
    )
    return ModelStatus(
        name,
        Sync.UNVERIFIED,
        rows,
        problem="no verified apply of this repository covers it: run reconciler apply",
    )


def heals(head: ModelSpec | None, applied: ModelSpec | None) -> bool:
    """A model is healed only when both HEAD and the last applied commit say ``self_heal``:
    turning it off takes effect at once, turning it on only once applied."""
    return bool(head and applied and head.self_heal and applied.self_heal)


def to_heal(statuses: tuple[ModelStatus, ...]) -> tuple[str, ...]:
    """Models whose drift the controller restores: drifted, self_heal, nothing blocking."""
    return tuple(
        s.name for s in statuses if s.state is Sync.DRIFT and s.self_heal and not s.problem
    )


def to_sync(statuses: tuple[ModelStatus, ...]) -> tuple[str, ...]:
    """Models a ``--auto-sync`` controller applies from HEAD: pending and unverified ones
    (never drifted models without self_heal: auto-sync applies commits, it does not
    revert people)."""
    return tuple(s.name for s in statuses if s.state in (Sync.PENDING, Sync.UNVERIFIED))


def unknown(
    names: tuple[str, ...], before: tuple[ModelStatus, ...] = ()
) -> tuple[ModelStatus, ...]:
    """Every model as unknown when a read failed, keeping the last known values to show."""
    known = {s.name: s for s in before}
    return tuple(
        ModelStatus(
            name,
            Sync.UNKNOWN,
            tuple(AliasRow(r.alias, r.declared, r.live, r.applied, Sync.UNKNOWN) for r in rows),
        )
        for name in sorted(names)
        for rows in [known[name].aliases if name in known else ()]
    )
