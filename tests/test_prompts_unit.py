"""Prompts on plain data (SPEC v4 §20): the ``prompts:`` format, the same plan/apply path
as models, exact revert, kinds never mixed, and the template diff."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from reconciler.core.apply import execute
from reconciler.core.evidence import Evidence, Side
from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.plan import Action, Change, Kind, Plan, compute_plan
from reconciler.core.prompts import template_diff
from reconciler.errors import StateErrors
from reconciler.render.escape import BIDI, command_safe, visible
from reconciler.render.markdown import render_markdown
from reconciler.render.planfile import to_json
from reconciler.render.text import render_text
from reconciler.state.audit import AuditInfo
from reconciler.state.load import DesiredState, load_state
from tests.support.cmark import read, to_html
from tests.support.memory_registry import MemoryRegistry
from tests.test_markdown_hostile import ALLOWED_TAGS, HOSTILE, MENTION

AUDIT = AuditInfo("2026-01-01T00:00:00+00:00", "tester", "abc123")
V1 = "You are a support agent. Answer {{question}} politely."
V2 = "You are a support agent.\nAnswer {{question}} briefly and politely."


def load(tmp_path: Path, text: str) -> DesiredState:
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    return load_state(tmp_path / "s.yaml").parts[0]


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(StateErrors) as caught:
        load(tmp_path, text)
    return [str(e) for e in caught.value.errors]


def prompt_registry(aliases: dict[str, int], tags: dict[str, str] | None = None) -> MemoryRegistry:
    versions = {
        1: ObservedVersion(1, template=V1, description="first"),
        2: ObservedVersion(2, template=V2, tags={"reviewed": "true"}, description="shorter"),
    }
    prompt = ObservedModel("support-reply", aliases, tags or {}, versions=versions, prompt=True)
    return MemoryRegistry(ObservedState({"support-reply": prompt}))


STATE = """\
prompts:
  support-reply:
    aliases: {production: %d}
    gates:
      production:
        - {tag: reviewed, equals: "true"}
"""


def test_prompts_section_loads_as_a_prompt(tmp_path: Path) -> None:
    """A prompt declaration becomes the model spec the plan reads, marked as a prompt."""
    state = load(tmp_path, STATE % 2)
    assert state.prompt("support-reply")
    assert state.models["support-reply"].aliases == {"production": 2}
    assert state.sources["support-reply"].locate("support-reply", "aliases") == 3


def test_a_name_under_models_and_prompts_is_an_error_at_its_line(tmp_path: Path) -> None:
    """The same name in both sections is refused at the second declaration's line."""
    text = "models:\n  x:\n    aliases: {a: 1}\nprompts:\n  x:\n    aliases: {a: 1}\n"
    (found,) = errors(tmp_path, text)
    assert ":5:" in found and "both models: and prompts:" in found


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    versions: {1: {}}\n", ":4: prompts.p: unknown key 'versions'"),
        ("    gates: {a: [{metric: x, max: 1}]}\n", ":4: prompts.p.gates.a.0"),
        ("    gates: {b: [{tag: t, equals: v}]}\n", "which 'aliases' does not declare"),
        ("    aliases: {a: {from: m, version: 1}}\n", "prompts.p.aliases.a"),
    ],
)
def test_what_a_prompt_cannot_have_is_a_located_error(
    tmp_path: Path, body: str, expected: str
) -> None:
    """Version metadata, metric gates and copies are not part of a prompt's schema."""
    head = "prompts:\n  p:\n" + ("" if "aliases" in body else "    aliases: {a: 1}\n")
    found = errors(tmp_path, head + body)
    assert any(expected in e for e in found), found


def test_prompt_alias_move_plans_applies_and_reverts_exactly(tmp_path: Path) -> None:
    """Promotion then revert of the state restores the registry, through the model path."""
    registry = prompt_registry({"production": 1, "candidate": 2})
    before = registry.read([], ["support-reply"])
    plan = compute_plan(load(tmp_path, STATE % 2), before)
    assert [(c.kind, c.action, c.before, c.after) for c in plan.changes] == [
        (Kind.ALIAS, Action.UPDATE, 1, 2)
    ]
    assert plan.applyable and [g.passed for g in plan.gates] == [True]
    assert execute(plan, registry, AUDIT).ok
    assert (
        compute_plan(load(tmp_path, STATE % 2), registry.read([], ["support-reply"])).changes == ()
    )
    revert = compute_plan(load(tmp_path, STATE % 1), registry.read([], ["support-reply"]))
    assert execute(revert, registry, AUDIT).ok
    after = registry.read([], ["support-reply"]).models["support-reply"]
    assert after.aliases == before.models["support-reply"].aliases
    assert registry.writes[-1].after == 1


def test_prompt_gate_blocks_an_unreviewed_version(tmp_path: Path) -> None:
    """A {tag, equals} gate reads the prompt version's tags."""
    registry = prompt_registry({"production": 2})
    plan = compute_plan(load(tmp_path, STATE % 1), registry.read([], ["support-reply"]))
    assert not plan.applyable and [g.passed for g in plan.gates] == [False]


def test_models_and_prompts_never_mix(tmp_path: Path) -> None:
    """A prompt declared under models: (and the reverse) is one problem, never a change."""
    registry = prompt_registry({"production": 1})
    text = "models:\n  support-reply:\n    aliases: {production: 2}\n"
    plan = compute_plan(load(tmp_path, text), registry.read([], ["support-reply"]))
    assert plan.changes == ()
    assert [p.message for p in plan.problems] == [
        "'support-reply' is a prompt, not a registered model: declare it under prompts:"
    ]
    model = MemoryRegistry(
        ObservedState({"m": ObservedModel("m", versions={1: ObservedVersion(1)})})
    )
    plan = compute_plan(load(tmp_path, "prompts:\n  m:\n    aliases: {a: 1}\n"), model.read(["m"]))
    assert (
        plan.changes == () and "not a prompt: declare it under models:" in plan.problems[0].message
    )


def test_missing_prompt_is_named_a_prompt(tmp_path: Path) -> None:
    """The error for an absent prompt says prompt, not model."""
    plan = compute_plan(load(tmp_path, STATE % 1), ObservedState({}))
    assert plan.problems[0].message == "prompt 'support-reply' does not exist in the registry"


def test_prompt_evidence_is_the_template_diff_with_both_messages(tmp_path: Path) -> None:
    """Each prompt alias move carries the unified diff of the two templates."""
    registry = prompt_registry({"production": 1})
    plan = compute_plan(
        load(tmp_path, STATE % 2), registry.read([], ["support-reply"]), evidence=True
    )
    (ev,) = plan.evidence
    assert ev.template is not None
    assert (ev.template.before_message, ev.template.after_message) == ("first", "shorter")
    assert ev.template.lines[:2] == ("--- v1", "+++ v2")
    assert f"-{V1}" in ev.template.lines and "+You are a support agent." in ev.template.lines
    assert ev.metrics == () and ev.params == ()


def test_long_template_diffs_are_cut_and_counted() -> None:
    """Past the limit the diff stops, and the number of lines left out is kept."""
    old = "\n".join(f"line {i}" for i in range(500))
    diff = template_diff((1, old, ""), (2, "", ""), limit=50)
    assert len(diff.lines) == 50 and diff.cut == 503 - 50
    assert template_diff((1, "same", ""), (2, "same", "")).same


PAGE = "http://127.0.0.1:5000/#/prompts/support-reply?promptVersion="


def hostile_prompt_plan(value: str) -> Plan:
    """A prompt move whose templates and commit messages are ``value`` on every line."""
    old = "\n".join(["Intro", *HOSTILE, "Outro"])
    new = "\n".join(["Intro", value, *(h + " v2" for h in HOSTILE), "Outro"])
    diff = template_diff((1, old, value), (2, new, value))
    evidence = Evidence(
        "support-reply",
        "production",
        Side(1, None, created="t0", version_url=f"{PAGE}1"),
        Side(2, None, created="t1", version_url=f"{PAGE}2"),
        version_tags={"reviewed": value},
        template=diff,
    )
    change = Change("support-reply", Kind.ALIAS, "production", Action.UPDATE, 1, 2)
    return Plan(
        "http://127.0.0.1:5000",
        "sha256:a",
        "sha256:b",
        ("support-reply",),
        (change,),
        sources={"support-reply": "state/p.yaml:2"},
        evidence=(evidence,),
        prompts=("support-reply",),
    )


@pytest.mark.parametrize("value", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_hostile_template_text_renders_literally(value: str, cmark: str) -> None:
    """Template lines and commit messages add no HTML, link, mention or comment in the PR
    comment; the diff is one fenced block holding every line as written."""
    markdown = render_markdown(hostile_prompt_plan(value))
    html = to_html(markdown, cmark)
    page = read(html)
    assert page.comments == 0 and "<!--" not in html
    assert page.tags <= ALLOWED_TAGS, page.tags - ALLOWED_TAGS
    assert page.links == [f"{PAGE}1", f"{PAGE}2"] and not any(c in html for c in BIDI)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", html)
    prose = "".join(page.text).replace("\u200b", "\u0000")
    assert not MENTION.search(prose), MENTION.findall(prose)[:5]
    assert html.count("<pre>") == 1 and 'class="language-diff"' in html
    code = "".join(page.code)
    for line in value.splitlines() or [value]:
        assert "+" + visible(line)[:40] in code, (line, code[:2000])
    assert page.paragraphs[0] == "Plan: 0 to add, 1 to change, 0 to remove."


def test_hostile_template_text_cannot_run_a_workflow_command() -> None:
    """No printed line of the text or markdown plan starts a workflow command."""
    for value in HOSTILE:
        plan = hostile_prompt_plan(value)
        for rendered in (render_text(plan), render_markdown(plan)):
            for line in command_safe(rendered).split("\n"):
                assert not line.lstrip().startswith("::"), line
                assert "##[" not in line and "\r" not in line, line
        assert "prompt support-reply" in render_text(plan)


def test_json_plan_carries_the_template_diff() -> None:
    """``template_diff`` holds both versions, both messages, the diff and the cut count."""
    body = json.loads(to_json(hostile_prompt_plan("x")))
    found = body["evidence"][0]["template_diff"]
    assert (found["before_version"], found["after_version"]) == (1, 2)
    assert found["before_message"] == "x" and found["diff"][:2] == ["--- v1", "+++ v2"]
    assert found["cut_lines"] == 0 and body["prompts"] == ["support-reply"]


def test_a_cut_diff_says_so_in_every_renderer() -> None:
    """A diff past the limit ends with a line saying how many lines are left out."""
    old = "\n".join(f"line {i}" for i in range(400))
    plan = hostile_prompt_plan("x")
    ev = dataclasses.replace(plan.evidence[0], template=template_diff((1, old, ""), (2, "new", "")))
    plan = dataclasses.replace(plan, evidence=(ev,))
    assert "diff cut\\: 204 more lines left out" in render_markdown(plan)
    assert "diff cut: 364 more lines left out" in render_text(plan)


def test_a_prompt_takes_windows_and_protect_like_a_model(tmp_path: Path) -> None:
    """``windows`` and ``protect`` under a prompt reach the spec the plan reads; a bad cron
    is an error at its line."""
    from reconciler.errors import StateError
    from reconciler.state.load import load_state

    (tmp_path / "p.yaml").write_text(
        "prompts:\n  reply:\n    aliases: {production: 2}\n    protect: [production]\n"
        "    windows:\n      - {deny: '0 16 * * FRI', duration: 64h, reason: freeze}\n",
        encoding="utf-8",
    )
    spec = load_state(tmp_path).parts[0].models["reply"]
    assert spec.protected() == ("production",) and len(spec.windows) == 1
    (tmp_path / "p.yaml").write_text(
        "prompts:\n  reply:\n    aliases: {production: 2}\n    windows:\n"
        "      - {deny: 'not cron', duration: 1h}\n",
        encoding="utf-8",
    )
    try:
        load_state(tmp_path)
    except StateError as exc:
        assert exc.file and exc.line == 5, str(exc)
    else:
        raise AssertionError("a bad cron under a prompt validated")
