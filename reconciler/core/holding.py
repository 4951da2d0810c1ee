"""What ``apply`` holds back for promotion windows (SPEC v4 §18). Pure.

A blocked model is not an error: the plan keeps every other model's changes, and
``apply`` writes those, lists each held model with its window and when it closes, and
exits 1. A saved plan's ``blocked`` entries hold until their ``until`` (the clock is an
argument). Heals never go through here: they restore the last applied state.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from reconciler.core.plantypes import Plan
from reconciler.core.windows import FOREVER, Blocked
from reconciler.state.scope import StateSet


def still_blocked(plan: Plan, now: datetime) -> tuple[Blocked, ...]:
    """The plan's blocked models whose window has not closed by ``now``."""
    return tuple(b for b in plan.blocked if b.until > now)


def hold(plan: Plan, held: tuple[Blocked, ...]) -> Plan:
    """The plan without the ``held`` models' changes, gates, records and evidence."""
    keys = {(b.model, b.workspace) for b in held}

    def free(items: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(
            i
            for i in items
            if (getattr(i, "model", None), getattr(i, "workspace", None)) not in keys
        )

    return dataclasses.replace(
        plan,
        changes=free(plan.changes),  # type: ignore[arg-type]
        gates=free(plan.gates),  # type: ignore[arg-type]
        records=free(plan.records),  # type: ignore[arg-type]
        evidence=free(plan.evidence),  # type: ignore[arg-type]
        blocked=held,
    )


def without(desired: StateSet, held: tuple[Blocked, ...]) -> StateSet:
    """The desired state less the held models (so verification does not expect them)."""
    parts = []
    for part in desired.parts:
        gone = {b.model for b in held if b.workspace == part.workspace}
        parts.append(part.only(tuple(n for n in part.models if n not in gone)) if gone else part)
    return StateSet(tuple(parts), desired.files, desired.default)


def held_line(block: Blocked) -> str:
    """``churn: deny "0 16 * * FRI" for 64h (weekend freeze) until 2026-12-07T07:00:00Z``."""
    why = f" ({block.reason})" if block.reason else ""
    if block.until >= FOREVER:
        return f"{block.window}{why}, which never closes (until the window is removed)"
    return f"{block.window}{why} until {iso(block.until)}"


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, to the second."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
