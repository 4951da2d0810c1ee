"""The markdown plan, for a PR comment or a job summary. Pure: plan in, string out.

What a reviewer approves a promotion on must be true (SPEC §15), so the order is fixed:
the verdict and the counts first, then the errors, the gates, the changes, the notes and
last the evidence, the only part that is cut to fit. Every string that is not the tool's
own words goes through ``render.escape``: it cannot end a table, open an HTML comment,
add a link, an image or a mention, or look like a gate result.
"""

from __future__ import annotations

from reconciler.core.holding import held_line
from reconciler.core.plan import Kind, Plan
from reconciler.core.scopes import for_display
from reconciler.render.escape import markdown_code, markdown_text
from reconciler.render.evidence import markdown_section
from reconciler.render.text import (
    MARKDOWN,
    STAGE_NOTE,
    SYMBOL,
    describe,
    describe_gate,
    omission_line,
    plan_errors,
    summary_line,
    verdict_line,
    workspace_names,
)

MARKDOWN_LIMIT = 60_000
"""Evidence blocks stop before the markdown plan passes this many characters, so the PR
comment stays under GitHub's 65,536 (the changes, gates and errors are never cut here)."""
ERROR_LIMIT = 300
"""Characters an error line keeps in the markdown plan (its values are cut first)."""


def _model(plan: Plan, model: str) -> str:
    """The model and where the state declares it: ``churn `state/churn.yaml:3` ``."""
    where = plan.sources.get(model)
    return markdown_text(model) + (f" {markdown_code(where)}" if where else "")


def head(plan: Plan) -> list[str]:
    """The verdict, the counts and the registry: said before any registry text."""
    out = ["### registry-reconciler plan", ""]
    verdict = verdict_line(plan)
    if verdict:
        out.append(f"**{verdict}**  ")
    elif plan.gates:
        count = len(plan.gates)
        out.append(f"**All {count} gate{'' if count == 1 else 's'} passed.**  ")
    out += [f"**{summary_line(plan)}**", "", f"Registry: {markdown_code(plan.registry)}", ""]
    if named := workspace_names(plan):
        out += [f"Workspaces: {markdown_code(named)}", ""]
    return out


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """Markdown for a PR comment or a job summary; evidence fills what ``limit`` leaves."""
    out = head(plan)
    plan = for_display(plan)
    errors = plan_errors(plan).error_lines() if not plan.applyable else ()
    if errors:
        out += ["**Errors**", ""]
        out += [f"- {markdown_code(e, ERROR_LIMIT, table=False)}" for e in errors]
        out.append("")
    if plan.gates:
        out += ["**Gates**", "", "| result | model | gate |", "|---|---|---|"]
        for gate in plan.gates:
            result = "passed" if gate.passed else "**FAILED**"
            out.append(
                f"| {result} | {_model(plan, gate.model)} | {describe_gate(gate, MARKDOWN)} |"
            )
        out.append("")
    if plan.blocked:
        out += ["**Held by a promotion window** (not an error: apply leaves these out)", ""]
        out += [f"- {_model(plan, b.model)}: {markdown_text(held_line(b))}" for b in plan.blocked]
        out.append("")
    if plan.changes:
        out += ["**Changes**", "", "| | model | change |", "|---|---|---|"]
        for change in plan.changes:
            note = f" ({STAGE_NOTE})" if change.kind is Kind.STAGE else ""
            out.append(
                f"| `{SYMBOL[change.action]}` | {_model(plan, change.model)} | "
                f"{describe(change, MARKDOWN)}{note} |"
            )
        out.append("")
    if plan.notes:
        out += ["<details><summary>Notes (not changes)</summary>", ""]
        out += [
            f"- {markdown_text(n.model)}: {markdown_text(n.message, ERROR_LIMIT)}"
            for n in plan.notes
        ]
        out += ["", "</details>", ""]
    used = len("\n".join(out)) + 1
    section = markdown_section(plan.evidence, limit - used)
    if section:
        out.append(section.rstrip("\n") + "\n")
    if omitted := omission_line(plan):
        out += [f"_{omitted}_", ""]
    return "\n".join(out).rstrip("\n") + "\n"
