"""The plan as JSON (SPEC §5): the machine-readable form and the saved-plan format.

``format_version`` is bumped only for breaking changes; keys beyond SPEC §5
(``models``, ``errors``, ``notes``, ``records``, a change's ``version``) are additions,
not breaks. ``records`` are the ownership-record writes a saved plan must carry out.
``evidence`` (SPEC §5) is for reviewers and carried in full; a saved plan is applied
without it, so plans saved before it existed still load.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.core.evidence import Evidence, Side
from reconciler.core.gates import GateResult
from reconciler.core.holding import iso
from reconciler.core.plantypes import Action, Change, Kind, Note, Plan, Problem, RecordWrite, Scope
from reconciler.core.windows import Blocked
from reconciler.errors import PlanError
from reconciler.render.template import to_dict as template_to_dict
from reconciler.state.models import check_workspace

FORMAT_VERSION = 1


def change_to_dict(change: Change) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": change.model,
        "workspace": change.workspace,
        "kind": change.kind.value,
        "key": change.key,
        "action": change.action.value,
        "before": change.before,
        "after": change.after,
    }
    if change.version is not None:
        out["version"] = change.version
    return out


def gate_to_dict(gate: GateResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": gate.model,
        "workspace": gate.workspace,
        "alias": gate.alias,
        "version": gate.version,
        "metric": gate.metric,
        "rule": gate.rule,
        "threshold": gate.threshold,
        "value": gate.value,
        "passed": gate.passed,
    }
    if gate.current_version is not None:
        out["current_version"] = gate.current_version
    if gate.rule == "tag":
        out.update(tag=gate.tag, expected=gate.expected, actual=gate.actual)
    if gate.rule == "signature":
        out["changes"] = list(gate.changes)
    if gate.reason:
        out["reason"] = gate.reason
    return out


def _side(side: Side | None) -> dict[str, Any] | None:
    return None if side is None else dataclasses.asdict(side)


def evidence_to_dict(ev: Evidence) -> dict[str, Any]:
    """Everything the evidence holds (the renderings show a bounded part of it)."""
    return {
        "model": ev.model,
        "workspace": ev.workspace,
        "alias": ev.alias,
        "before": _side(ev.before),
        "after": _side(ev.after),
        "metrics": [
            {
                "name": m.name,
                "before": m.before,
                "after": m.after,
                "delta": m.delta,
                "better": m.better,
                "improved": m.improved,
            }
            for m in ev.metrics
        ],
        "params": [{"name": p.name, "before": p.before, "after": p.after} for p in ev.params],
        "lineage": dict(ev.lineage),
        "version_tags": dict(ev.version_tags),
        "signature": {
            "status": ev.signature.status,
            "changes": list(ev.signature.changes),
            "before": ev.signature.before,
            "after": ev.signature.after,
        },
        "trend": None
        if ev.trend is None
        else {
            "metric": ev.trend.metric,
            "points": [{"version": n, "value": v} for n, v in ev.trend.points],
            "old": ev.trend.old,
            "new": ev.trend.new,
        },
    } | ({} if ev.template is None else {"template_diff": template_to_dict(ev.template)})


def blocked_to_dict(block: Blocked) -> dict[str, Any]:
    """SPEC v4 §18: the window that holds the model, its reason and when it closes."""
    return {"window": block.window, "reason": block.reason, "until": iso(block.until)}


def _with_blocked(change: Change, held: dict[tuple[str, str | None], Blocked]) -> dict[str, Any]:
    out = change_to_dict(change)
    if (block := held.get((change.model, change.workspace))) is not None:
        out["blocked"] = blocked_to_dict(block)
    return out


def _marked(change: dict[str, Any], omitted: set[tuple[Any, ...]]) -> dict[str, Any]:
    """An alias move whose evidence was left out (``--evidence N``) says so: null."""
    if change["kind"] == Kind.ALIAS.value and (
        (change["model"], change["key"], change["workspace"]) in omitted
    ):
        change["evidence"] = None
    return change


def to_dict(plan: Plan) -> dict[str, Any]:
    held = {(b.model, b.workspace): b for b in plan.blocked}
    omitted = {(g.model, g.alias, g.workspace) for g in plan.evidence_omitted}
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "registry": plan.registry,
        "state_digest": plan.state_digest,
        "observed_digest": plan.observed_digest,
        "workspace": plan.workspace,
        "workspaces": [
            {
                "workspace": s.workspace,
                "models": list(s.models),
                "observed_digest": s.observed_digest,
            }
            for s in plan.scopes
        ],
        "models": list(plan.models),
        "changes": [_marked(_with_blocked(c, held), omitted) for c in plan.changes],
        "gates": [gate_to_dict(g) for g in plan.gates],
        "errors": [
            {
                "model": p.model,
                "workspace": p.workspace,
                "message": p.message,
                "file": p.file,
                "line": p.line,
            }
            for p in plan.problems
        ],
        "notes": [
            {"model": n.model, "workspace": n.workspace, "message": n.message} for n in plan.notes
        ],
        "records": [
            {
                "model": r.model,
                "workspace": r.workspace,
                "value": r.value,
                "after_removals": r.after_removals,
            }
            for r in plan.records
        ],
        "evidence": [evidence_to_dict(e) for e in plan.evidence],
        "summary": plan.summary(),
    }
    if plan.prompts:  # an addition (SPEC v4 §20): absent when the plan has no prompts
        out["prompts"] = list(plan.prompts)
    if plan.blocked:  # an addition (SPEC v4 §18): absent when nothing is held
        out["blocked"] = [
            {"model": b.model, "workspace": b.workspace, **blocked_to_dict(b)} for b in plan.blocked
        ]
    return out


def to_json(plan: Plan) -> str:
    return json.dumps(to_dict(plan), indent=2) + "\n"


def _workspace(item: Any) -> str | None:
    """An item's workspace: absent or null is the server's default; anything else must be
    a workspace name (a saved plan is input, not trusted)."""
    value = item.get("workspace")
    if value is None:
        return None
    return check_workspace(value) if isinstance(value, str) else check_workspace(str(value))


def _when(text: Any) -> datetime:
    """An ISO-8601 time with a zone (a saved plan is input: naive times are refused)."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return moment.astimezone(timezone.utc)


def from_dict(data: Any) -> Plan:
    """Rebuild a saved plan; anything malformed is a PlanError, not a traceback."""
    try:
        if data.get("format_version") != FORMAT_VERSION:
            raise PlanError(f"unsupported plan format_version {data.get('format_version')!r}")
        changes = tuple(
            Change(
                model=str(c["model"]),
                kind=Kind(c["kind"]),
                key=str(c["key"]),
                action=Action(c["action"]),
                before=c["before"],
                after=c["after"],
                version=c.get("version"),
                workspace=_workspace(c),
            )
            for c in data["changes"]
        )
        gates = tuple(
            GateResult(
                model=g["model"],
                alias=g["alias"],
                version=g["version"],
                metric=g.get("metric"),
                rule=g["rule"],
                threshold=g["threshold"],
                value=g["value"],
                passed=bool(g["passed"]),
                reason=g.get("reason", ""),
                current_version=g.get("current_version"),
                tag=g.get("tag"),
                expected=g.get("expected"),
                actual=g.get("actual"),
                changes=tuple(g.get("changes", ())),
                workspace=_workspace(g),
            )
            for g in data.get("gates", [])
        )
        problems = tuple(
            Problem(
                model=p["model"],
                message=p["message"],
                file=p.get("file"),
                line=p.get("line"),
                workspace=_workspace(p),
            )
            for p in data.get("errors", [])
        )
        notes = tuple(
            Note(model=str(n["model"]), message=str(n["message"]), workspace=_workspace(n))
            for n in data.get("notes", [])
        )
        records = tuple(
            RecordWrite(
                model=str(r["model"]),
                value=str(r["value"]),
                after_removals=bool(r["after_removals"]),
                workspace=_workspace(r),
            )
            for r in data.get("records", [])
        )
        scopes = tuple(
            Scope(_workspace(s), tuple(str(m) for m in s["models"]), str(s["observed_digest"]))
            for s in data.get("workspaces", [])
        )
        blocked = tuple(
            Blocked(
                model=str(b["model"]),
                window=str(b["window"]),
                reason=None if b.get("reason") is None else str(b["reason"]),
                until=_when(b["until"]),
                workspace=_workspace(b),
            )
            for b in data.get("blocked", [])
        )
        known = {s.workspace for s in scopes} or {None}
        stray = {c.workspace for c in changes} | {r.workspace for r in records}
        if stray - known:
            bad = sorted(str(w) for w in stray - known)[0]
            raise PlanError(
                f"not a valid saved plan: it has changes in workspace {bad!r}, "
                "which its workspaces do not list"
            )
        return Plan(
            registry=str(data["registry"]),
            state_digest=str(data["state_digest"]),
            observed_digest=str(data["observed_digest"]),
            models=tuple(str(m) for m in data["models"]),
            prompts=tuple(str(m) for m in data.get("prompts", [])),
            changes=changes,
            gates=gates,
            problems=problems,
            notes=notes,
            records=records,
            workspace=_workspace(data),
            scopes=scopes,
            blocked=blocked,
        )
    except PlanError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanError(f"not a valid saved plan ({type(exc).__name__}: {exc})") from None


def read_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"cannot read plan file: {exc.strerror}", file=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"plan file is not valid JSON: {exc}", file=str(path)) from None
    return from_dict(data)
