"""Plan rendering for people: Terraform-like text and markdown for PR comments. Pure.

Rendering is plan in, string out; golden files pin the output. JSON lives in
``planfile`` because it is also the saved-plan format. The text plan shows a failed
gate in its model's block but no ``error:`` lines: the CLI says each error once, on
stderr (``plan_errors``). Markdown and JSON are documents read elsewhere (a PR
comment, a program), so they carry the errors themselves.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.core.gates import GateResult
from reconciler.core.plan import Action, Change, Kind, Plan
from reconciler.core.scopes import DEFAULT, for_display, shows_workspace, workspaces
from reconciler.errors import PlanError, PlanErrors
from reconciler.render.evidence import markdown_section, text_block

SYMBOL = {Action.ADD: "+", Action.UPDATE: "~", Action.REMOVE: "-"}
COLOR = {Action.ADD: "green", Action.UPDATE: "yellow", Action.REMOVE: "red"}
STAGE_NOTE = "stages are deprecated in MLflow; prefer aliases"
MARKDOWN_LIMIT = 60_000
"""Evidence blocks stop before the markdown plan passes this many characters, so the PR
comment stays under GitHub's 65,536 (the changes, gates and errors are never cut here)."""


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict) and "from" in value:
        return f"the copy of {value['from']} v{value['version']}"
    if isinstance(value, str):
        return '""' if value == "" else f'"{value}"' if len(value) <= 60 else f'"{value[:57]}..."'
    return str(value)


def describe(change: Change) -> str:
    """One line: what is changed, e.g. ``alias champion: 5 -> 7``."""
    if change.kind is Kind.COPY:
        source, _, number = change.key.rpartition("/")
        return f"copy {source} v{number} -> {change.model} (new version)"
    if change.kind is Kind.ALIAS:
        what = f"alias {change.key}"
    elif change.kind is Kind.STAGE:
        what = f"stage of version {change.version}"
    elif change.kind is Kind.TAG:
        what = f"tag {change.key}"
    elif change.kind is Kind.DESCRIPTION:
        what = "description"
    elif change.kind is Kind.VERSION_TAG:
        what = f"version {change.version} tag {change.key}"
    else:
        what = f"version {change.version} description"
    if change.action is Action.ADD:
        return f"{what}: {_value(change.after)}"
    if change.action is Action.REMOVE:
        return f"{what}: {_value(change.before)} (removed)"
    return f"{what}: {_value(change.before)} -> {_value(change.after)}"


def describe_gate(gate: GateResult) -> str:
    head = f"{gate.alias} -> version {gate.version}"
    if gate.rule == "tag":
        actual = "missing" if gate.actual is None else f'"{gate.actual}"'
        return f'{head}: tag {gate.tag} = {actual}, must be "{gate.expected}"'
    if gate.rule == "signature":
        if gate.current_version is None:
            return f"{head}: signature compatible: " + (
                "no current holder" if gate.passed else "not checked"
            )
        more = f" (and {len(gate.changes) - 3} more)" if len(gate.changes) > 3 else ""
        found = "; ".join(gate.changes[:3]) + more if gate.changes else "same"
        return f"{head}: signature compatible with version {gate.current_version}: {found}"
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
    return f"{head}: {gate.metric} = {value}, {cond}"


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if not plan.changes:
        return "No changes. The registry matches the state."
    return f"Plan: {s['add']} to add, {s['update']} to change, {s['remove']} to remove."


def _workspaces(plan: Plan) -> str | None:
    """``team-a, team-b`` when the plan names workspaces beside its models."""
    if not shows_workspace(plan):
        return None
    return ", ".join(ws or DEFAULT for ws in workspaces(plan))


def render_text(plan: Plan, color: bool = False) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines = [f"Registry: {plan.registry}", ""]
    if named := _workspaces(plan):
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
    for model in plan.models:
        if model not in by_model and model not in gates and model not in notes:
            continue
        where = plan.sources.get(model)
        lines.append(style(f"model {model}", bold=True) + (f"  ({where})" if where else ""))
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
        lines.extend(style(f"  note: {message}", "cyan") for message in notes.get(model, []))
        lines.append("")
    if not plan.applyable:
        count = len(plan.problems) + len(plan.failed_gates)
        errors = f"{count} error{'' if count == 1 else 's'}"
        lines.append(style(f"This plan cannot be applied: {errors} (see below).", "red", True))
    lines.append(style(summary_line(plan), bold=True))
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


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _model_md(plan: Plan, model: str) -> str:
    """The model and where the state declares it: ``churn `state/churn.yaml:3` ``."""
    where = plan.sources.get(model)
    return _md(model) + (f" `{_md(where)}`" if where else "")


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """Markdown for a PR comment or a job summary; evidence fills what ``limit`` leaves."""
    out = ["### registry-reconciler plan", "", f"Registry: `{plan.registry}`", ""]
    if named := _workspaces(plan):
        out.insert(3, f"Workspaces: `{named}`")
        out.insert(3, "")
    plan = for_display(plan)
    if plan.changes:
        out += ["| | model | change |", "|---|---|---|"]
        for change in plan.changes:
            note = f" ({STAGE_NOTE})" if change.kind is Kind.STAGE else ""
            out.append(
                f"| `{SYMBOL[change.action]}` | {_model_md(plan, change.model)} | "
                f"{_md(describe(change))}{note} |"
            )
        out.append("")
    if plan.gates:
        out += ["**Gates**", "", "| model | gate | result |", "|---|---|---|"]
        for gate in plan.gates:
            result = "passed" if gate.passed else "**FAILED**"
            out.append(f"| {_model_md(plan, gate.model)} | {_md(describe_gate(gate))} | {result} |")
        out.append("")
    at = len(out)
    if plan.notes:
        out += ["<details><summary>Notes (not changes)</summary>", ""]
        out += [f"- {_md(n.model)}: {_md(n.message)}" for n in plan.notes]
        out += ["", "</details>", ""]
    errors = plan_errors(plan).error_lines() if not plan.applyable else ()
    if errors:
        out += ["**Errors: this plan cannot be applied**", ""]
        out += [f"- {_md(e)}" for e in errors]
        out.append("")
    out.append(f"**{summary_line(plan)}**")
    rest = len("\n".join(out)) + 1
    section = markdown_section(plan.evidence, limit - rest)
    if section:
        out.insert(at, section.rstrip("\n") + "\n")
    return "\n".join(out) + "\n"
