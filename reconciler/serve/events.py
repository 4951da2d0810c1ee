"""Which conditions are new, and the notification a new one sends (SPEC §13). Pure.

One notification per new condition, not one per resync: a model's condition after each
round is compared with the last one notified. ``healed`` is always news (a write
happened); afterwards it counts as ``synced``, so no "synced" follows it. ``unknown`` (a
failed read) is never notified per model and never resets what was notified.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.plan import Change
from reconciler.render.planfile import change_to_dict
from reconciler.render.text import describe

EVENTS = ("drift", "healed", "heal_failed", "pending", "synced", "unverified")
"""The notification events of SPEC §13 and §17 (``forged`` is sent once per run, apart)."""
_SAME_AS = {"healed": "synced"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
TEXT_LIMIT = 300
"""Characters of the one-line ``text`` (chat messages are read at a glance)."""


def new_events(
    notified: Mapping[str, str], current: Mapping[str, str]
) -> Iterator[tuple[str, str]]:
    """(model, event) for each model whose condition is news since the last notification.

    A model never notified counts as ``synced``: a controller that starts on a synced
    registry says nothing.
    """
    for model, condition in sorted(current.items()):
        if condition not in EVENTS:
            continue  # unknown: the read failed, nothing is known
        before = notified.get(model, "synced")
        if condition == "healed" or _SAME_AS.get(before, before) != condition:
            yield model, condition


def remember(notified: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """What counts as notified after this round (models no longer declared are forgotten)."""
    return {
        model: (condition if condition in EVENTS else notified.get(model, "synced"))
        for model, condition in current.items()
    }


def chat_text(text: str) -> str:
    """One line safe for Slack, Mattermost and Teams: no control characters, no markup
    entities (``<!channel>``, ``<url|label>``), no mentions; cut at ``TEXT_LIMIT``."""
    line = _CONTROL.sub(" ", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = line.replace("@", "@\u200b")
    return line if len(line) <= TEXT_LIMIT else line[: TEXT_LIMIT - 3] + "..."


@dataclass(frozen=True)
class Notice:
    """One notification: the event and what it is about."""

    event: str
    model: str
    changes: tuple[Change, ...] = ()
    detail: str = ""
    """The commit, or why a heal failed."""


_SAYS = {
    "drift": "drifted from the last applied commit",
    "healed": "was healed back to commit",
    "heal_failed": "could not be healed:",
    "pending": "has a merged commit not applied yet; last applied",
    "synced": "is in sync again",
    "unverified": "has no verified apply of this repository (never healed; run apply)",
    "forged": "apply log:",
}


def summary(notice: Notice, registry: str) -> str:
    """The one line a person reads (not yet escaped for any output)."""
    what = "; ".join(describe(c) for c in notice.changes[:3])
    if len(notice.changes) > 3:
        what += f" (and {len(notice.changes) - 3} more)"
    line = f"reconciler: {notice.model} {_SAYS[notice.event]}"
    if notice.detail and notice.event != "synced":
        line += f" {notice.detail}"
    return line + (f": {what}" if what else "") + f" on {registry}"


def body(notice: Notice, registry: str, workspace: str | None = None) -> dict[str, Any]:
    """The JSON body of SPEC §13; ``text`` alone is what a chat webhook shows."""
    return {
        "event": notice.event,
        "model": notice.model,
        "workspace": workspace,
        "changes": [change_to_dict(c) for c in notice.changes],
        "registry": registry,
        "text": chat_text(summary(notice, registry)),
    }
