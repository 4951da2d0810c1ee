"""Promotion windows and soak durations as written in a state file (SPEC v4 §18).

Checked offline, so ``validate`` names the line of a bad cron expression, duration or
time zone. The cron grammar is cronsim's (5 fields, names like ``FRI``, ``MON-FRI``);
time zones are the IANA names ``zoneinfo`` knows.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StrictStr, model_validator

from reconciler.state.names import Frozen

_DURATION = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``10h``, ``7d`` as a timedelta; ValueError otherwise."""
    found = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 10h or 7d")
    return timedelta(seconds=int(found.group(1)) * _UNIT[found.group(2)])


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_cron(text: str) -> str:
    from cronsim import CronSim, CronSimError

    if len(text.split()) != 5:
        raise ValueError(
            f"{text!r} is not a 5-field cron expression (minute hour day month weekday)"
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=timezone.utc))
    except CronSimError as exc:
        raise ValueError(f"{text!r} is not a valid cron expression: {exc}") from None
    return text


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone (write an IANA name: UTC, Europe/Berlin)"
        ) from None
    return name


Duration = Annotated[StrictStr, AfterValidator(_check_duration)]
"""``30s``, ``15m``, ``10h`` or ``7d``."""
Cron = Annotated[StrictStr, Field(min_length=1), AfterValidator(_check_cron)]
Zone = Annotated[StrictStr, AfterValidator(_check_zone)]


class Window(Frozen):
    """A time span that opens at each match of a cron expression and lasts ``duration``."""

    deny: Cron | None = None
    """While open, changes to the model are blocked."""
    allow: Cron | None = None
    """When a model has allow windows, changes go through only while one is open."""
    duration: Duration
    """How long the window stays open after each match."""
    timezone: Zone = "UTC"
    """The time zone the cron expression is read in."""
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None
    """Shown beside the models it blocks (e.g. ``weekend freeze``)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Window:
        if (self.deny is None) == (self.allow is None):
            raise ValueError("a window needs exactly one of 'deny' or 'allow' (a cron expression)")
        return self

    @property
    def kind(self) -> str:
        return "deny" if self.deny is not None else "allow"

    @property
    def cron(self) -> str:
        return self.deny if self.deny is not None else str(self.allow)

    def label(self) -> str:
        """``deny "0 16 * * FRI" for 64h (Europe/Berlin)``."""
        zone = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f'{self.kind} "{self.cron}" for {self.duration}{zone}'
