"""After apply: what the registry does not hold as the plan intended. Pure.

``apply`` reads the registry again and these comparisons name every difference.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.observed import ObservedState
from reconciler.core.ownership import MANAGED_TAG
from reconciler.core.plantypes import BLANK_IS_ABSENT, Change, Kind, RecordWrite
from reconciler.core.resolve import copy_key


def current_value(observed: ObservedState, change: Change) -> Any:
    """The registry's value at the place ``change`` writes (None when absent)."""
    model = observed.models.get(change.model)
    if model is None:
        return None
    if change.kind is Kind.ALIAS:
        return model.aliases.get(change.key)
    if change.kind is Kind.COPY:
        copies = [v for v in model.versions.values() if copy_key(v) == change.after]
        return change.after if copies else None
    if change.kind is Kind.TAG:
        return model.tags.get(change.key)
    if change.kind is Kind.DESCRIPTION:
        return model.description or None
    version = model.versions.get(change.version or 0)
    if version is None:
        return None
    if change.kind is Kind.STAGE:
        return version.stage
    if change.kind is Kind.VERSION_TAG:
        return version.tags.get(change.key)
    return version.description or None


def differences(changes: tuple[Change, ...], observed: ObservedState) -> list[str]:
    """Changes whose intended value the registry does not hold (post-apply verification)."""
    out = []
    for change in changes:
        blank = change.kind in BLANK_IS_ABSENT and change.after == ""
        want = None if blank else change.after
        have = current_value(observed, change)
        if have != want:
            where = f"{change.model}: {change.kind.value} {change.key}"
            if change.version is not None and change.kind is not Kind.STAGE:
                where += f" of version {change.version}"
            out.append(f"{where} is {have!r}, expected {want!r}")
    return out


def record_differences(records: tuple[RecordWrite, ...], observed: ObservedState) -> list[str]:
    """Ownership records the registry does not hold as written (post-apply verification)."""
    last = {r.model: r.value for r in records}
    out = []
    for model, value in sorted(last.items()):
        obs = observed.models.get(model)
        have = obs.tags.get(MANAGED_TAG) if obs else None
        if have != value:
            out.append(f"{model}: ownership record {MANAGED_TAG} is {have!r}, expected {value!r}")
    return out
