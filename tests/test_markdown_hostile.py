"""The markdown plan shows registry text literally (SPEC §15), checked in the HTML that
GitHub's renderer (``cmark-gfm``) makes of it, for a corpus of hostile values put in every
registry field the plan shows: descriptions, tags, version tags, run names, params, metric
names, signature columns, lineage. A reviewer's verdict line, the count of failed gates and
the errors come first and cannot be hidden, imitated or cut.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.core.evidence import Evidence, MetricRow, ParamRow, Side, SignatureCheck, Trend
from reconciler.core.gates import GateResult
from reconciler.core.plan import Action, Change, Kind, Note, Plan, Problem
from reconciler.render.escape import (
    BIDI,
    command_safe,
    html,
    markdown_code,
    markdown_text,
    markdown_url,
    terminal,
    visible,
)
from reconciler.render.github import COMMENT_LIMIT, Report
from reconciler.render.markdown import ERROR_LIMIT, render_markdown
from reconciler.render.text import render_text
from tests.support.cmark import Page, read, to_html

HOSTILE = [
    "x\r\r**All gates passed.** No errors.\r\r<!--",
    "</td></tr></tbody></table><table><tr><td>passed</td></tr></table>\n\n**No errors.**",
    "<details><summary>ok</summary>",
    "</details></summary>-->",
    "[approve](https://evil.example/x) ![img](https://evil.example/i.png)",
    "<img src=x onerror=alert(1)><script>alert(1)</script>",
    "@acme/reviewers @octocat please merge",
    "see #1 and acme/registry#2",
    "https://evil.example/phish www.evil.example mail@evil.example",
    "``` ` `` code`",
    "`",
    "\u202egnp.exe\u202c and \u2066isolate\u2069",
    "line\u2028separator\u2029para\u0085nel",
    "\x1b[31mred\x1b[0m\x00nul\x07bell",
    "| passed | **FAILED** |",
    "# Heading\n---\n> quote\n- item",
    "*bold* _em_ ~~strike~~ \\*escaped\\*",
    "&lt;b&gt; &amp; &#64;",
    "x\n::error title=reconciler::All gates passed",
    "##[error]injected",
    "a" * 300,
]
"""Hostile registry values: each one is put in every field the plan shows."""
REGISTRY = "http://127.0.0.1:5000"
ALLOWED_TAGS = {
    "h3", "p", "strong", "em", "br", "code", "ul", "li", "table", "thead", "tbody", "tr",
    "th", "td", "details", "summary", "b", "pre", "a", "blockquote",
}  # fmt: skip
MENTION = re.compile(r"[@#][\w/]")


def hostile_plan(value: str) -> Plan:
    """A plan with ``value`` in every registry-sourced field, one failed gate, one error."""
    model = "churn"
    side = Side(1, "1" * 32, value, f"{REGISTRY}/#/experiments/1/runs/{'1' * 32}", None, "t0")
    after = Side(2, "2" * 32, value, None, f"{REGISTRY}/#/models/churn/versions/2", "t1")
    return Plan(
        registry=REGISTRY,
        state_digest="sha256:a",
        observed_digest="sha256:b",
        models=(model,),
        changes=(
            Change(model, Kind.ALIAS, "champion", Action.UPDATE, 1, 2),
            Change(model, Kind.DESCRIPTION, "description", Action.UPDATE, value, "clean"),
            Change(model, Kind.TAG, "team", Action.UPDATE, value, "growth"),
            Change(model, Kind.TAG, value, Action.REMOVE, value, None),
            Change(model, Kind.VERSION_TAG, "ok", Action.UPDATE, value, "yes", 2),
            Change(model, Kind.VERSION_DESCRIPTION, "description", Action.REMOVE, value, "", 2),
        ),
        gates=(
            GateResult(model, "champion", 2, "auc", "min", 0.5, 0.9, True),
            GateResult(
                model,
                "champion",
                2,
                None,
                "tag",
                None,
                None,
                False,
                f"gate churn@champion -> version 2: tag validated is {value!r}, must be 'yes'",
                tag="validated",
                expected="yes",
                actual=value,
            ),
            GateResult(
                model,
                "champion",
                2,
                None,
                "signature",
                None,
                None,
                False,
                f"gate churn@champion -> version 2: signature differs: column `{value}` added",
                current_version=1,
                changes=(f"column `{value}` added (double)",),
            ),
        ),
        problems=(Problem(model, f"copy source {value!r} does not exist", "state/m.yaml", 3),),
        sources={model: "state/m.yaml:2"},
        notes=(Note(model, f"tag {value} is not managed by the state; left alone"),),
        evidence=(
            Evidence(
                model=model,
                alias="champion",
                before=side,
                after=after,
                metrics=(MetricRow(value, 0.5, 0.9, "higher"), MetricRow("auc", 0.8, 0.9)),
                params=(ParamRow(value, value, "2"), ParamRow("depth", "3", value)),
                lineage={value: value, "lineage.data": value},
                version_tags={"validated": value, value: "x"},
                signature=SignatureCheck("changed", (f"column `{value}` added",), value, value),
                trend=Trend(value, ((1, 0.5), (2, 0.9)), 1, 2),
            ),
        ),
    )


def check_page(
    page: Page, html: str, failed: int, errors: int, gates: int = 3, registry: str = REGISTRY
) -> None:
    """What every rendering of a plan with ``failed`` gates and ``errors`` must show."""
    assert page.comments == 0 and "<!--" not in html, "an HTML comment can hide the rest"
    assert page.tags <= ALLOWED_TAGS, page.tags - ALLOWED_TAGS
    assert all(link.startswith(registry + "/") for link in page.links), page.links
    assert not any(c in html for c in BIDI), "bidi controls are removed"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", html)
    prose = "".join(page.text).replace("\u200b", "\u0000")
    assert not MENTION.search(prose), MENTION.findall(prose)[:5]
    # the verdict and the counts are the first paragraph, before any registry text
    assert page.paragraphs[0].startswith(f"This plan cannot be applied: {errors} errors")
    assert f"({failed} failed gate" in page.paragraphs[0]
    results = [row[0] for row in page.rows if row and row[0] in ("passed", "FAILED")]
    assert results.count("FAILED") == failed and len(results) == gates, results
    gate_rows = [row for row in page.rows if row and row[0] in ("result", "passed", "FAILED")]
    assert all(len(row) == 3 for row in gate_rows), gate_rows
    error_items = [i for i in page.items if i.startswith("state/")]
    assert len(error_items) == errors, page.items


@pytest.mark.parametrize("value", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_hostile_values_render_literally(value: str, cmark: str) -> None:
    """Each hostile value, in every field, adds no HTML, link, mention, row or comment;
    the verdict, the failed gates and the errors are all there, and the value reads as
    it is (control characters spelt out, bidi controls removed)."""
    markdown = render_markdown(hostile_plan(value))
    html = to_html(markdown, cmark)
    page = read(html)
    check_page(page, html, failed=2, errors=3)
    shown = visible(value)[:40]
    assert shown in page.all_text.replace("\u200b", ""), (shown, page.all_text[:2000])


def test_a_100000_character_value_cuts_evidence_not_gates_or_errors(
    cmark: str, tmp_path: Path
) -> None:
    """A 100,000-character tag value and signature column: the PR comment keeps every
    gate row (FAILED included) and every error; each value is cut with an ellipsis."""
    plan = hostile_plan("v" * 100_000)
    report = Report("plan", True, {"RUNNER_TEMP": str(tmp_path)})
    report.plan(plan)
    comment = report.comment_path.read_text(encoding="utf-8")
    assert len(comment) < COMMENT_LIMIT
    html = to_html(comment, cmark)
    page = read(html)
    check_page(page, html, failed=2, errors=3)
    assert "v" * 199 + "…" in page.code  # a gate value, cut to 200 characters
    longest = max(len(node) for node in page.text + page.code)
    assert longest <= ERROR_LIMIT + len("churn: ")  # a note: the model, then its line


def test_the_summary_never_says_no_changes_beside_errors() -> None:
    """A plan with errors and no changes says how many errors, not "No changes" (markdown
    and text); a plan without either still says "No changes"."""
    plan = Plan(
        REGISTRY, "a", "b", ("m",), (), problems=(Problem("m", "model 'm' does not exist"),)
    )
    for rendered in (render_markdown(plan), render_text(plan)):
        assert "No changes" not in rendered and "cannot be applied: 1 error" in rendered
        assert "Plan: 0 to add, 0 to change, 0 to remove." in rendered
    clean = Plan(REGISTRY, "a", "b", ("m",), ())
    assert "No changes. The registry matches the state." in render_text(clean)


def test_markdown_code_fence_is_longer_than_any_backtick_run() -> None:
    """A code span's fence outgrows the value's backticks; a table cell's pipe is escaped."""
    assert markdown_code("a``b") == "```a``b```"
    assert markdown_code("`x`") == "`` `x` ``"
    assert markdown_code("a|b") == "`a\\|b`" and markdown_code("a|b", table=False) == "`a|b`"


def test_markdown_text_escapes_punctuation_and_defuses_mentions() -> None:
    """Every ASCII punctuation mark is escaped; ``@`` and ``#`` cannot mention or link."""
    assert markdown_text("*a*") == "\\*a\\*"
    assert markdown_text("@org") == "\\@&#8203;org"
    assert markdown_text("x\r\ny\u202e") == "x\\\\r\\\\ny"


def test_the_last_guard_keeps_json_valid_and_lines_inert() -> None:
    """``command_safe`` (every printed line) defuses ``##[`` and a leading ``::`` with
    JSON-valid escapes: a JSON plan still loads to the very same values."""
    value = {"run": "x ##[error]forged", "tag": "::error::y"}
    text = command_safe(json.dumps(value, indent=2))
    assert json.loads(text) == value and "##[" not in text
    assert command_safe("  ::error::x\nok ::x\r::warning::y") == (
        "  \\u003a:error::x\nok ::x\\r::warning::y"
    )
    assert terminal("a\n::error::b ##[warning]c") == "a\\n::error::b #\\u0023[warning]c"


def test_html_and_link_targets_cannot_break_out() -> None:
    """``html`` (the controller's page) escapes ``<>&"'`` on one line without bidi
    controls; a link target cannot end the markdown link or add a title."""
    assert html("<b>&\"'\n\u202e") == "&lt;b&gt;&amp;&quot;&#x27;\\n"
    assert markdown_url('http://r/#/runs/x) "t" (y') == "http://r/#/runs/x%29%20%22t%22%20%28y"
