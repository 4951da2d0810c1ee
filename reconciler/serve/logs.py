"""The controller's log: one line per event on stderr, as text or JSON lines (SPEC §21).

Every part of the controller logs through the stdlib logger ``reconciler.serve`` with
``extra={"event": ..., "model": ..., "workspace": ...}``; ``configure`` gives it one
handler whose formatter writes either a readable line or a JSON object with ``ts``,
``level``, ``event``, ``model``, ``workspace``, ``registry`` and ``msg``. Registry text
in a message cannot break the line: control and bidi characters are spelled out
(``render.escape.terminal``), JSON escapes the rest, and credentials in URLs are masked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Any

from reconciler.mlflow.connection import redact_text
from reconciler.render.escape import terminal

NAME = "reconciler.serve"
FORMATS = ("text", "json")
log = logging.getLogger(NAME)


def _ts(created: float) -> str:
    stamp = datetime.fromtimestamp(created, timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _field(record: logging.LogRecord, name: str) -> str | None:
    value = getattr(record, name, None)
    return None if value is None else terminal(redact_text(str(value)))


class JsonLines(logging.Formatter):
    """One JSON object per line, the fields of SPEC §21."""

    def __init__(self, registry: str) -> None:
        super().__init__()
        self.registry = registry

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _ts(record.created),
            "level": record.levelname.lower(),
            "event": _field(record, "event") or "message",
            "model": _field(record, "model"),
            "workspace": _field(record, "workspace"),
            "registry": self.registry,
            "msg": terminal(redact_text(record.getMessage())),
        }
        return json.dumps(line, ensure_ascii=False)


class TextLines(logging.Formatter):
    """``TIME LEVEL EVENT [workspace/]model: message`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        where = _field(record, "model")
        space = _field(record, "workspace")
        if where and space:
            where = f"{space}/{where}"
        head = f"{_ts(record.created)} {record.levelname.lower()} "
        head += _field(record, "event") or "message"
        prefix = f"{head} {where}: " if where else f"{head}: "
        return prefix + terminal(redact_text(record.getMessage()))


def configure(fmt: str, registry: str, stream: IO[str] | None = None) -> logging.Logger:
    """Send the controller's log to ``stream`` (stderr) in ``fmt``; replaces any handler
    an earlier call installed (tests run several controllers in one process)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines(registry) if fmt == "json" else TextLines())
    for old in list(log.handlers):
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def event(
    name: str,
    msg: str,
    *,
    model: str | None = None,
    workspace: str | None = None,
    level: int = logging.INFO,
) -> None:
    """Log one event (``drift``, ``healed``, ``round_failed``, ...)."""
    log.log(level, "%s", msg, extra={"event": name, "model": model, "workspace": workspace})
