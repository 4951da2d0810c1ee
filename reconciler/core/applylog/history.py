"""Which apply carried out each alias move from git (SPEC §12, §17 ``history``), on plain data.

A move is the commit that set the alias; the next move of the same alias supersedes
it. The move was applied by the first verified apply (a believable ``FINISHED`` run of
this repository, ``baseline.trusted``) whose commit lies on the branch at or after the
move and before the next one, and whose scope covered this model: with changes or none
(a converged apply verified the state live too). None found: a superseded move was
never applied, the latest one is not applied yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.applylog.baseline import trusted
from reconciler.core.applylog.record import FINISHED, ApplyRecord
from reconciler.state.history import Move

Applied = dict[int, dict[str, Any]]
"""version -> the audit tag (``reconciler.applied``) it carries."""


@dataclass(frozen=True)
class MoveApplied:
    """A move and what the apply log says about it."""

    move: Move
    run: ApplyRecord | None
    """The apply that carried it out, None when the log has none."""
    latest: bool
    """The last move: the alias's value now (not applied yet, when ``run`` is None)."""


def applied_moves(
    moves: Sequence[Move], order: Sequence[str], runs: Sequence[ApplyRecord], model: str
) -> list[MoveApplied]:
    """Each move with the first verified apply that carried it out."""
    position = {commit: index for index, commit in enumerate(order)}
    placed = [
        (position[commit], run)
        for run in runs
        if run.status == FINISHED
        and run.covers(model)
        and (commit := run.commit.removesuffix("-dirty")) in position
    ]
    out: list[MoveApplied] = []
    for index, move in enumerate(moves):
        start = position.get(move.commit)
        nxt = moves[index + 1].commit if index + 1 < len(moves) else None
        end = position.get(nxt, len(order)) if nxt is not None else len(order)
        found = [run for where, run in placed if start <= where < end] if start is not None else []
        first = min(found, key=ApplyRecord.key) if found else None
        out.append(MoveApplied(move, first, latest=nxt is None))
    return out


def joined_moves(
    moves: Sequence[Move],
    order: Sequence[str],
    runs: Sequence[ApplyRecord],
    model: str,
    repo: str,
    key: str | None,
    now_ms: int,
) -> list[MoveApplied]:
    """``applied_moves`` over the believable runs only (``baseline.trusted``): the one join
    of git and the log that ``history`` and the controller's model page share."""
    believed = trusted(runs, repo, key, set(order).__contains__, now_ms)
    return applied_moves(moves, order, believed, model)


@dataclass(frozen=True)
class Records:
    """What the registry says about applies: audit tags per version, the apply log."""

    audit: Applied
    runs: list[ApplyRecord]
    joined: bool
    """False without a configured registry (then nothing is said about applies)."""


def audit_for(move: Move, alias: str, applied: Applied) -> dict[str, Any] | None:
    """The audit record of the apply that carried out ``move``, when the version has it."""
    record = applied.get(move.version) if isinstance(move.version, int) else None
    if record is None or alias not in record.get("aliases", []):
        return None
    commit = str(record.get("commit") or "")
    return record if commit.removesuffix("-dirty") == move.commit else None


def applied_of(item: MoveApplied, alias: str, records: Records) -> dict[str, Any] | None:
    run = item.run
    if run is not None:
        return {
            "at": run.ended,
            "by": run.actor,
            "commit": run.commit,
            "run_id": run.run_id,
            "started": run.started,
        }
    return audit_for(item.move, alias, records.audit)


def apply_state(item: MoveApplied, alias: str, records: Records) -> str | None:
    if not records.joined:
        return None
    if applied_of(item, alias, records) is not None:
        return "applied"
    return "not_applied_yet" if item.latest else "never_applied"
