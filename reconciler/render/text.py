"""Plan rendering for people: Terraform-like text and markdown for PR comments. Pure.

Rendering is plan in, string out; golden files pin the output. JSON lives in
``planfile`` because it is also the saved-plan format. The text plan shows a failed
gate in its model's block but no ``error:`` lines: the CLI says each error once, on
stderr (``plan_errors``). Markdown and JSON are documents read elsewhere (a PR
comment, a program), so they carry the errors themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from reconciler.core.gates import GateResult
from reconciler.core.holding import held_line
from reconciler.core.plan import Action, Change, Kind, Plan
from reconciler.core.scopes import DEFAULT, for_display, shows_workspace, workspaces
from reconciler.core.soak import span
from reconciler.errors import PlanError, PlanErrors
from reconciler.render.escape import LIMIT, markdown_code, markdown_text, shorten, terminal
from reconciler.render.evidence import text_block

SYMBOL = {Action.ADD: "+", Action.UPDATE: "~", Action.REMOVE: "-"}
COLOR = {Action.ADD: "green", Action.UPDATE: "yellow", Action.REMOVE: "red"}
STAGE_NOTE = "stages are deprecated in MLflow; prefer aliases"


@dataclass(frozen=True)
class Escaper:
    """How one output kind shows names and registry values (``render.escape``)."""

    name: Callable[[str], str]
    """A key, a model or metric name, a signature change: shown as words."""
    value: Callable[[str, int], str]
    """A registry value, quoted or in a code span, cut to the given length."""
    change_limit: int
    """Characters a changed value keeps (gate values keep ``LIMIT``)."""


TEXT = Escaper(terminal, lambda v, n: f'"{terminal(v, n)}"', 60)
MARKDOWN = Escaper(markdown_text, markdown_code, LIMIT)


def _value(value: Any, esc: Escaper) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict) and "from" in value:
        return f"the copy of {esc.name(str(value['from']))} v{value['version']}"
    if isinstance(value, str):
        return '""' if value == "" else esc.value(value, esc.change_limit)
    return str(value)


def describe(change: Change, esc: Escaper = TEXT) -> str:
    """One line: what is changed, e.g. ``alias champion: 5 -> 7``."""
    if change.kind is Kind.COPY:
        source, _, number = change.key.rpartition("/")
        return f"copy {esc.name(source)} v{number} -> {esc.name(change.model)} (new version)"
    key = esc.name(change.key)
    if change.kind is Kind.ALIAS:
        what = f"alias {key}"
    elif change.kind is Kind.STAGE:
        what = f"stage of version {change.version}"
    elif change.kind is Kind.TAG:
        what = f"tag {key}"
    elif change.kind is Kind.DESCRIPTION:
        what = "description"
    elif change.kind is Kind.VERSION_TAG:
        what = f"version {change.version} tag {key}"
    else:
        what = f"version {change.version} description"
    if change.action is Action.ADD:
        return f"{what}: {_value(change.after, esc)}"
    if change.action is Action.REMOVE:
        return f"{what}: {_value(change.before, esc)} (removed)"
    return f"{what}: {_value(change.before, esc)} -> {_value(change.after, esc)}"


def describe_gate(gate: GateResult, esc: Escaper = TEXT) -> str:
    """The gate and what was found, values cut to ``LIMIT`` characters."""
    head = f"{esc.name(gate.alias)} -> version {gate.version}"
    if gate.rule == "tag":
        actual = "missing" if gate.actual is None else esc.value(gate.actual, LIMIT)
        expected = esc.value(gate.expected or "", LIMIT)
        return f"{head}: tag {esc.name(gate.tag or '')} = {actual}, must be {expected}"
    if gate.rule == "signature":
        if gate.current_version is None:
            return f"{head}: signature compatible: " + (
                "no current holder" if gate.passed else "not checked"
            )
        more = f" (and {len(gate.changes) - 3} more)" if len(gate.changes) > 3 else ""
        shown = "; ".join(esc.name(shorten(c, LIMIT)) for c in gate.changes[:3])
        found = shown + more if gate.changes else "same"
        return f"{head}: signature compatible with version {gate.current_version}: {found}"
    if gate.rule == "soak":
        held = "not held" if gate.value is None else f"held {span(gate.value)}"
        return f"{head}: soak {held}, needs {span(gate.threshold or 0)}"
    value = "missing" if gate.value is None else f"{gate.value:g}"
    if gate.rule == "better_than":
        if gate.current_version is None:
            cond = "no current holder to beat"
        else:
            cur = "missing" if gate.threshold is None else f"{gate.threshold:g}"
            cond = f"must beat version {gate.current_version} ({cur})"
    else:
        sign = ">=" if gate.rule == "min" else "<="
        cond = f"{sign} {gate.threshold:g}"
    return f"{head}: {esc.name(gate.metric or '')} = {value}, {cond}"


def omission_line(plan: Plan) -> str:
    """Evidence left out (``plan --evidence N``), said once; empty when none was."""
    omitted = len(plan.evidence_omitted)
    if not omitted:
        return ""
    total = len(plan.evidence) + omitted
    return (
        f"evidence shown for {len(plan.evidence)} of {total} changes "
        "(`plan --evidence all` reads and shows every one)"
    )


def summary_line(plan: Plan) -> str:
    """Counts of the changes; "No changes" only for a plan without errors."""
    s = plan.summary()
    if not plan.changes and plan.applyable:
        return "No changes. The registry matches the state."
    return f"Plan: {s['add']} to add, {s['update']} to change, {s['remove']} to remove."


def verdict_line(plan: Plan) -> str | None:
    """``This plan cannot be applied: 3 errors (1 failed gate).``, None when it can."""
    if plan.applyable:
        return None
    count = len(plan.problems) + len(plan.failed_gates)
    failed = len(plan.failed_gates)
    gates = f" ({failed} failed gate{'' if failed == 1 else 's'})" if failed else ""
    return f"This plan cannot be applied: {count} error{'' if count == 1 else 's'}{gates}."


def workspace_names(plan: Plan) -> str | None:
    """``team-a, team-b`` when the plan names workspaces beside its models."""
    if not shows_workspace(plan):
        return None
    return ", ".join(ws or DEFAULT for ws in workspaces(plan))


def render_text(plan: Plan, color: bool = False) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines = [f"Registry: {terminal(plan.registry)}", ""]
    if named := workspace_names(plan):
        lines.insert(1, f"Workspaces: {named}")
    plan = for_display(plan)
    by_model: dict[str, list[Change]] = {}
    for change in plan.changes:
        by_model.setdefault(change.model, []).append(change)
    gates: dict[str, list[GateResult]] = {}
    for gate in plan.gates:
        gates.setdefault(gate.model, []).append(gate)
    notes: dict[str, list[str]] = {}
    for item in plan.notes:
        notes.setdefault(item.model, []).append(item.message)
    evidence = {(e.model, e.alias): e for e in plan.evidence}
    held = {b.model: b for b in plan.blocked}
    for model in plan.models:
        if model not in by_model and model not in gates and model not in notes:
            continue
        where = plan.sources.get(model)
        noun = "prompt" if model in plan.prompts else "model"
        head = style(f"{noun} {terminal(model)}", bold=True)
        lines.append(head + (f"  ({terminal(where)})" if where else ""))
        for change in by_model.get(model, []):
            mark = SYMBOL[change.action]
            note = f"  # {STAGE_NOTE}" if change.kind is Kind.STAGE else ""
            lines.append(style(f"  {mark} {describe(change)}", COLOR[change.action]) + note)
            found = evidence.get((model, change.key)) if change.kind is Kind.ALIAS else None
            if found is not None and change.action is not Action.REMOVE:
                lines.extend(style(line, "bright_black") for line in text_block(found))
        for gate in gates.get(model, []):
            verdict = style("passed", "green") if gate.passed else style("FAILED", "red")
            lines.append(f"  gate {describe_gate(gate)}: {verdict}")
        if model in held:
            line = f"  blocked: {terminal(held_line(held[model]))}; apply holds these changes"
            lines.append(style(line, "yellow"))
        lines.extend(style(f"  note: {terminal(text)}", "cyan") for text in notes.get(model, []))
        lines.append("")
    if not plan.applyable:
        count = len(plan.problems) + len(plan.failed_gates)
        errors = f"{count} error{'' if count == 1 else 's'}"
        lines.append(style(f"This plan cannot be applied: {errors} (see below).", "red", True))
    lines.append(style(summary_line(plan), bold=True))
    if omitted := omission_line(plan):
        lines.append(omitted)
    return "\n".join(lines) + "\n"


def _where(source: str | None) -> tuple[str | None, int | None]:
    """``("state/m.yaml", 3)`` from a plan source ``"state/m.yaml:3"``."""
    if not source:
        return None, None
    file, _, line = source.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (source, None)


def plan_errors(plan: Plan, note: str = "") -> PlanErrors:
    """Every reason ``plan`` cannot be applied, located: problems, then failed gates
    (at the line of their model)."""
    plan = for_display(plan)
    errors = [PlanError(p.message, p.file, p.line) for p in plan.problems]
    errors += [PlanError(g.reason, *_where(plan.sources.get(g.model))) for g in plan.failed_gates]
    return PlanErrors(errors, note)
