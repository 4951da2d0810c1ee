"""``history`` rows and notes: one move of an alias, joined with how it was applied. Pure."""

from __future__ import annotations

from reconciler.core.applylog.history import MoveApplied, Records, applied_of, apply_state
from reconciler.render.escape import terminal


def history_row(
    item: MoveApplied, alias: str = "", records: Records | None = None
) -> dict[str, object]:
    move, records = item.move, records or Records({}, [], False)
    return {
        "commit": move.commit,
        "date": move.date.isoformat(),
        "author": move.author,
        "email": move.email,
        "version": move.version,
        "previous": move.previous,
        "subject": move.subject,
        "applied": applied_of(item, alias, records),
        "apply": apply_state(item, alias, records),
    }


def history_note(item: MoveApplied, alias: str, records: Records) -> str:
    """``[applied AT by WHO, run ID]``, ``[never applied]`` ... (empty without a registry)."""
    state = apply_state(item, alias, records)
    if state is None:
        return ""
    if state != "applied":
        return f"  [{state.replace('_', ' ')}]"
    record = applied_of(item, alias, records) or {}
    at, by, run_id = (terminal(str(record.get(k)), 100) for k in ("at", "by", "run_id"))
    run = f", run {run_id}" if record.get("run_id") else ""
    return f"  [applied {at} by {by}{run}]"  # registry text: escaped
