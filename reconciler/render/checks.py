"""``reconciler check`` as text: one line per check, its outcome first, then the fix.

Details can quote registry text (model names, server answers): escaped for a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.core.checks import Check, Outcome
from reconciler.render.escape import terminal


def line(check: Check) -> str:
    """``ok       server: ...`` / ``FAIL     clock: ... -> fix: ...``."""
    text = f"{check.outcome.value:<8} {check.name}: {terminal(check.detail)}"
    if check.fix and check.outcome is not Outcome.OK:
        text += f" -> fix: {terminal(check.fix)}"
    return text


def summary(checks: Iterable[Check]) -> str:
    found = list(checks)
    failed = sum(c.outcome is Outcome.FAIL for c in found)
    unknown = sum(c.outcome is Outcome.UNKNOWN for c in found)
    return f"{len(found)} checks: {failed} failed, {unknown} unknown"
