"""Which conditions are new, and the notification a new one sends (SPEC §13). Pure.

One notification per new condition, not one per resync: a model's condition after each
round is compared with the last one notified. ``healed`` is always news (a write
happened); afterwards it counts as ``synced``, so no "synced" follows it. ``unknown`` (a
failed read) is never notified per model and never resets what was notified.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.plan import Change, Kind
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


_NEUTRAL = str.maketrans({"<": "\u2039", ">": "\u203a", "`": "'", "&": "+"})
"""Characters that start HTML, Slack's ``<!channel>`` / ``<url|label>`` sequences, code
spans and entities, replaced by look-alikes (plain text, no entities to decode)."""
_LINKS = re.compile(r"(\]|!|:)(?=\(|\[|//)")


def plain(text: str) -> str:
    """Registry text as one plain-text line safe for Slack, Mattermost, Teams and apprise's
    services: no control characters, no HTML or Slack markup, no markdown links, images or
    autolinks (``](``, ``![``, ``://`` broken by a zero-width space), no @-mentions.
    Emphasis characters (``*_~``) stay: they can style, not forge."""
    line = _CONTROL.sub(" ", text).translate(_NEUTRAL)
    return _LINKS.sub("\\1\u200b", line).replace("@", "@\u200b")


def _cut(line: str) -> str:
    return line if len(line) <= TEXT_LIMIT else line[: TEXT_LIMIT - 3] + "..."


def chat_text(text: str) -> str:
    """``plain`` text cut at ``TEXT_LIMIT`` (chat messages are read at a glance)."""
    return _cut(plain(text))


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


_WHAT = {
    Kind.ALIAS: "{key}",
    Kind.TAG: "tag {key}",
    Kind.DESCRIPTION: "description",
    Kind.STAGE: "stage of version {version}",
    Kind.VERSION_TAG: "version {version} tag {key}",
    Kind.VERSION_DESCRIPTION: "version {version} description",
}


def drift_line(change: Change) -> str:
    """What is live and what was applied: ``champion: live 3, applied 2`` (a heal's change
    goes from live to applied)."""
    if change.kind not in _WHAT:
        return describe(change)
    what = _WHAT[change.kind].format(key=change.key, version=change.version)

    def value(v: object) -> str:
        if isinstance(v, dict) and "from" in v:
            return f"the copy of {v['from']} v{v.get('version')}"
        return "none" if v is None else str(v)

    return f"{what}: live {value(change.before)}, applied {value(change.after)}"


def summary(notice: Notice, registry: str, clean: Callable[[str], str] = str) -> str:
    """The one line a person reads; ``clean`` is applied to everything but the registry
    (the one part this controller, not the registry, wrote)."""
    said = drift_line if notice.event == "drift" else describe
    what = "; ".join(said(c) for c in notice.changes[:3])
    if len(notice.changes) > 3:
        what += f" (and {len(notice.changes) - 3} more)"
    line = f"reconciler: {notice.model} {_SAYS[notice.event]}"
    if notice.detail and notice.event != "synced":
        line += f" {notice.detail}"
    return clean(line + (f": {what}" if what else "")) + f" on {registry}"


def body(notice: Notice, registry: str, workspace: str | None = None) -> dict[str, Any]:
    """The JSON body of SPEC §13; ``text`` alone is what a chat webhook shows."""
    return {
        "event": notice.event,
        "model": notice.model,
        "workspace": workspace,
        "changes": [change_to_dict(c) for c in notice.changes],
        "registry": registry,
        "text": _cut(summary(notice, registry, plain)),
    }
