"""Whether a model may change now, given its promotion windows (SPEC v4 §18). Pure.

The clock is an argument: nothing here reads the time. A window opens at each match of
its cron expression (in its time zone) and stays open for its duration. A change is
blocked while a ``deny`` window is open, or when the model has ``allow`` windows and
none is open; deny wins. ``until`` is when the blocking window stops blocking: the end
of the open deny window (following matches that overlap it), or the next opening of
an allow window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reconciler.state.windows import Window, parse_duration

MAX_STEPS = 1000
"""Overlapping matches followed to find when a deny window closes; past this many (e.g.
``* * * * *`` for 1h, which never closes) it is open ``FOREVER``."""
FOREVER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class Blocked:
    """A model whose changes a window holds back."""

    model: str
    window: str
    """The window as written: ``deny "0 16 * * FRI" for 64h (Europe/Berlin)``."""
    reason: str | None
    until: datetime
    """When the model may change again (UTC)."""
    workspace: str | None = None


def _matches(window: Window, start: datetime, reverse: bool = False) -> object:
    from cronsim import CronSim

    zone = ZoneInfo(window.timezone)
    return CronSim(window.cron, start.astimezone(zone).replace(second=0, microsecond=0), reverse)


def open_until(window: Window, now: datetime) -> datetime | None:
    """When ``window`` (open at ``now``) closes, or None when it is closed at ``now``."""
    length = parse_duration(window.duration)
    # the latest opening at or before now (cronsim's reverse excludes the start minute)
    last = next(iter(_matches(window, now + timedelta(minutes=1), reverse=True)), None)  # type: ignore[call-overload]
    if last is None or last + length <= now:
        return None
    end: datetime = last + length
    later = iter(_matches(window, last + timedelta(minutes=1)))  # type: ignore[call-overload]
    for _ in range(MAX_STEPS):
        following = next(later, None)
        if following is None or following >= end:
            return end
        end = max(end, following + length)
    return FOREVER


def next_opening(window: Window, now: datetime) -> datetime | None:
    """The next time ``window`` opens after ``now``."""
    return next(iter(_matches(window, now)), None)  # type: ignore[call-overload]


def blocked(
    model: str, windows: list[Window], now: datetime, workspace: str | None = None
) -> Blocked | None:
    """Why ``model`` may not change at ``now`` (timezone-aware), or None when it may."""
    utc = now.astimezone(ZoneInfo("UTC"))
    for window in windows:
        if window.kind == "deny" and (end := open_until(window, utc)) is not None:
            return Blocked(model, window.label(), window.reason, _utc(end), workspace)
    allows = [w for w in windows if w.kind == "allow"]
    if not allows or any(open_until(w, utc) is not None for w in allows):
        return None
    openings = [(t, w) for w in allows if (t := next_opening(w, utc)) is not None]
    if not openings:
        first = allows[0]
        return Blocked(model, first.label(), first.reason, FOREVER, workspace)
    when, window = min(openings, key=lambda pair: pair[0])
    return Blocked(model, window.label(), window.reason, _utc(when), workspace)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("UTC"))
