"""Evidence rendering: a compact text block under an alias change, a markdown table per
moved alias for the PR comment, and the gated metric's trend as a sparkline or a Mermaid
chart. Pure; bounded: at most ``SHOWN`` metrics and params, then "and K more" (the JSON
plan carries everything).
"""

from __future__ import annotations

from reconciler.core.evidence import Evidence, MetricRow, Side, Trend
from reconciler.render import template
from reconciler.render.escape import (
    markdown_code,
    markdown_html,
    markdown_text,
    markdown_url,
    mermaid_label,
    shorten,
    terminal,
)

SHOWN = 6
"""Metrics (and params) shown per alias move in markdown before "and K more"."""
TEXT_SHOWN = 3
"""The same for the text plan, where each kind stays on one line."""
TICKS = "▁▂▃▄▅▆▇█"
TEXT_VALUE = 60
"""Characters a param or tag value keeps in the text plan."""


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _delta(row: MetricRow) -> str:
    if row.delta is None:
        return ""
    verdict = {True: ", better", False: ", worse", None: ""}[row.improved]
    return f"{row.delta:+.4g}{verdict}"


def sparkline(values: list[float]) -> str:
    """One block character per value, scaled between the smallest and the largest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(TICKS[round((v - low) / span * (len(TICKS) - 1))] for v in values)


def trend_text(trend: Trend) -> str:
    """``val_rmse v1 14.2, v2 40, v3 5.1 ▃█▁ (now v1, new v3)``."""
    values = ", ".join(f"v{n} {number(v)}" for n, v in trend.points)
    marks = [f"now v{trend.old}" if trend.old else "", f"new v{trend.new}" if trend.new else ""]
    mark = ", ".join(m for m in marks if m)
    line = sparkline([v for _, v in trend.points])
    return f"{trend.metric}: {values}  {line}" + (f"  ({mark})" if mark else "")


def _more(count: int, what: str) -> str:
    return f" (and {count} more {what})" if count > 0 else ""


def _short(run_id: str | None) -> str:
    return run_id[:8] if run_id else "(no run)"


def _side_text(side: Side | None) -> str:
    if side is None:
        return "(none)"
    name = f" ({shorten(side.run_name, TEXT_VALUE)})" if side.run_name else ""
    return f"v{side.version} run {_short(side.run_id)}{name}"


def text_block(ev: Evidence, indent: str = "      ") -> list[str]:
    """The lines shown under ``~ alias champion: 7 -> 8`` in the text plan."""
    if ev.template is not None:  # a prompt (SPEC v4 §20)
        return template.text_block(ev, ev.template, indent)
    lines = [f"runs       {_side_text(ev.before)} -> {_side_text(ev.after)}"]
    created = f"{ev.before.created or '-'} -> " if ev.before else ""
    lines.append(f"created    {created}{ev.after.created or '-'}")
    if ev.metrics:
        shown = [
            f"{m.name} {number(m.after)}"
            if ev.before is None
            else f"{m.name} {number(m.before)} -> {number(m.after)}"
            + (f" ({_delta(m)})" if m.delta is not None else "")
            for m in ev.metrics[:TEXT_SHOWN]
        ]
        more = _more(len(ev.metrics) - TEXT_SHOWN, "metrics")
        lines.append("metrics    " + "; ".join(shown) + more)
    if ev.params:
        shown = [
            f"{p.name} {_cut(p.after)}"
            if ev.before is None
            else f"{p.name} {_cut(p.before)} -> {_cut(p.after)}"
            for p in ev.params[:TEXT_SHOWN]
        ]
        more = _more(len(ev.params) - TEXT_SHOWN, "params")
        lines.append("params     " + "; ".join(shown) + more)
    if ev.lineage:
        items = list(ev.lineage.items())
        shown = [f"{k}={shorten(v, TEXT_VALUE)}" for k, v in items[:SHOWN]]
        lines.append("lineage    " + " ".join(shown) + _more(len(items) - SHOWN, "tags"))
    lines.append("signature  " + signature_words(ev))
    if ev.trend:
        lines.append("trend      " + trend_text(ev.trend))
    if ev.after.run_url:
        lines.append(f"run page   {ev.after.run_url}")
    return [indent + terminal(line) for line in lines]


def _cut(value: str | None) -> str:
    return shorten(value, TEXT_VALUE) if value else "-"


def signature_words(ev: Evidence) -> str:
    """The signature comparison in one phrase."""
    sig = ev.signature
    if sig.status == "changed":
        return "CHANGED: " + "; ".join(sig.changes[:SHOWN]) + _more(len(sig.changes) - SHOWN, "")
    words = {
        "same": f"same ({sig.after})",
        "missing": f"the candidate has none ({sig.after})",
        "unknown": f"not compared (now: {sig.before or '-'}; candidate: {sig.after or '-'})",
        "new": f"{sig.after} (nothing holds the alias now)",
        "holder-missing": f"{sig.after}; the current version has none",
    }
    return words[sig.status]


def _link(label: str, url: str | None) -> str:
    return f"[{label}]({markdown_url(url)})" if url else label


def _md_side(side: Side | None, what: str) -> tuple[str, str]:
    if side is None:
        return "-", "(none)"
    run = "(no run)"
    if side.run_id:
        run = _link(markdown_code(_short(side.run_id)), side.run_url)
    if side.run_name:
        run += f" {markdown_code(side.run_name)}"
    return run, _link(f"v{side.version}", side.version_url) + f" {what}"


def mermaid(trend: Trend) -> list[str]:
    """An ``xychart-beta`` line of the gated metric by version (GitHub renders it)."""
    labels = []
    for n, _ in trend.points:
        mark = " now" if n == trend.old else " new" if n == trend.new else ""
        labels.append(f'"v{n}{mark}"')
    values = ", ".join(f"{v:.6g}" for _, v in trend.points)
    metric = mermaid_label(trend.metric)
    return [
        "```mermaid",
        "xychart-beta",
        f'  title "{metric} by version"',
        f"  x-axis [{', '.join(labels)}]",
        f'  y-axis "{metric}"',
        f"  line [{values}]",
        "```",
    ]


def roles(evidence: tuple[Evidence, ...]) -> dict[tuple[str, str], str]:
    """(model, alias) -> what the version it moves to is, when not a new candidate: an
    alias that takes the version another alias leaves (``archived`` taking the old
    ``champion``) gets ``previous champion``."""
    leaving = {(e.model, e.before.version): e.alias for e in evidence if e.before}
    out = {}
    for ev in evidence:
        left = leaving.get((ev.model, ev.after.version))
        if left is not None and left != ev.alias:
            out[(ev.model, ev.alias)] = f"previous {left}"
    return out


def markdown_block(ev: Evidence, open_: bool, role: str = "candidate") -> str:
    """A table for one moved alias, in a ``<details>`` block; ``role`` names the version
    the alias moves to (``candidate``, or ``previous champion`` for a demotion)."""
    if ev.template is not None:  # a prompt (SPEC v4 §20)
        return template.markdown_block(ev, ev.template, open_)
    before_run, before_version = _md_side(ev.before, "(now)")
    after_run, after_version = _md_side(ev.after, f"({markdown_text(role)})")
    head = f"v{ev.before.version} → " if ev.before else ""
    out = [
        f"<details{' open' if open_ else ''}><summary><b>{markdown_html(ev.model)}</b> · alias "
        f"<code>{markdown_html(ev.alias)}</code>: {head}v{ev.after.version}</summary>",
        "",
        f"| | {before_version} | {after_version} | change |",
        "|---|---|---|---|",
        f"| run | {before_run} | {after_run} | |",
        f"| created | {markdown_text(ev.before.created) if ev.before else '-'} | "
        f"{markdown_text(ev.after.created)} | |",
    ]
    for m in ev.metrics[:SHOWN]:
        better = f" ({m.better} is better)" if m.better else ""
        out.append(
            f"| {markdown_code(m.name)}{better} | {number(m.before)} | {number(m.after)} | "
            f"{_delta(m)} |"
        )
    for p in ev.params[:SHOWN]:
        before, after = (markdown_code(v) if v else "-" for v in (p.before, p.after))
        out.append(f"| param {markdown_code(p.name)} | {before} | {after} | |")
    sig = ev.signature
    verdict = {
        "same": "same",
        "changed": "**changed**",
        "missing": "**missing**",
        "new": "no current version",
        "unknown": "not compared",
        "holder-missing": "none before",
    }
    out.append(
        f"| signature | {markdown_text(sig.before or '-')} | {markdown_text(sig.after or '-')} | "
        f"{verdict.get(sig.status) or markdown_text(sig.status)} |"
    )
    hidden = [
        f"{n} more {what}"
        for n, what in (
            (len(ev.metrics) - SHOWN, "metrics"),
            (len(ev.params) - SHOWN, "params"),
        )
        if n > 0
    ]
    if hidden:
        out.append(f"| _and {', '.join(hidden)} (all in the JSON plan)_ | | | |")
    out.append("")
    if sig.changes:
        shown = "; ".join(markdown_text(c) for c in sig.changes[:SHOWN])
        out += [f"Signature: {shown}{_more(len(sig.changes) - SHOWN, 'changes')}", ""]
    for label, tags in (("Lineage", ev.lineage), ("Version tags", ev.version_tags)):
        items = list(tags.items())
        if items:
            shown = ", ".join(
                f"{markdown_code(k, table=False)}={markdown_code(v, table=False)}"
                for k, v in items[:SHOWN]
            )
            out += [f"{label}: {shown}{_more(len(items) - SHOWN, 'tags')}", ""]
    if ev.trend and len(ev.trend.points) > 1:
        out += [*mermaid(ev.trend), ""]
    out += ["</details>", ""]
    return "\n".join(out)


def compact_line(ev: Evidence) -> str:
    """One line for a move whose full table does not fit: the first metric and signature."""
    if ev.template is not None:  # a prompt (SPEC v4 §20)
        return template.compact_line(ev, ev.template)
    head = f"v{ev.before.version} → " if ev.before else ""
    parts = [
        f"- **{markdown_text(ev.model)}** {markdown_code(ev.alias, table=False)}: "
        f"{head}v{ev.after.version}"
    ]
    if ev.metrics:
        m = ev.metrics[0]
        delta = f" ({_delta(m)})" if m.delta is not None else ""
        name = markdown_code(m.name, table=False)
        parts.append(f"{name} {number(m.before)} → {number(m.after)}{delta}")
    parts.append(f"signature {markdown_text(ev.signature.status)}")
    return " · ".join(parts) + "\n"


def markdown_section(evidence: tuple[Evidence, ...], budget: int) -> str:
    """Full tables for the first moves, one line each for the next, a note for the rest.

    The first table is always shown when it fits; each further one only when the lines of
    every move after it still fit in ``budget`` characters, so as many moves as possible
    are at least named. The JSON plan has all of it.
    """
    if not evidence:
        return ""
    head = "**Evidence** (what each alias move changes)\n\n"
    open_ = len(evidence) <= 3
    lines = [compact_line(ev) for ev in evidence]
    role = roles(evidence)
    blocks: list[str] = []
    used = len(head) + 250  # room for the note
    after = sum(len(line) for line in lines)
    for ev, line in zip(evidence, lines, strict=True):
        block = markdown_block(ev, open_, role.get((ev.model, ev.alias), "candidate"))
        after -= len(line)
        first = not blocks and used + len(block) <= budget  # one table is worth some lines
        if used + len(block) + after > budget and not first:
            break
        blocks.append(block)
        used += len(block)
    short: list[str] = []
    for line in lines[len(blocks) :]:
        if used + len(line) > budget:
            break
        short.append(line)
        used += len(line)
    shown = blocks + ([*(["\n"] if blocks else []), *short, "\n"] if short else [])
    left = len(evidence) - len(blocks) - len(short)
    note = (
        f"_Evidence for {left} more alias move{'s' * (left != 1)} is left out to keep this "
        "comment under GitHub's size limit; `reconciler plan --format json` has all of it._\n\n"
    )
    return head + "".join(shown) + (note if left else "")
