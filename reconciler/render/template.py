"""A prompt alias move's evidence (SPEC v4 §20): the template diff, in text, markdown, JSON.

The template and both commit messages are registry text: every line goes through
``escape`` like any other value. In markdown the diff is a fenced ``diff`` block whose
fence is longer than any backtick run in it, each line made visible (no control
character, no bidi reordering), so no template can end the block, open a link or start
a workflow command. A diff the core cut (``prompts.DIFF_LINES``) ends with a line saying
how much is left out.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.core.evidence import Evidence, Side
from reconciler.core.prompts import TemplateDiff
from reconciler.render.escape import (
    markdown_code,
    markdown_html,
    markdown_text,
    markdown_url,
    shorten,
    terminal,
    visible,
)

LINE = 300
"""Characters a diff line keeps (the rest of a very long line is cut with an ellipsis)."""
TEXT_LINES = 40
"""Diff lines shown in the text plan; the markdown shows what the core kept."""


def _cut_note(count: int) -> str:
    return f"... diff cut: {count} more line{'s' * (count != 1)} left out"


def _message(text: str) -> str:
    return text or "(no commit message)"


def text_block(ev: Evidence, diff: TemplateDiff, indent: str) -> list[str]:
    """The lines under ``~ alias production: 1 -> 2`` for a prompt."""
    before = f"v{diff.before_version}" if diff.before_version else "(none)"
    created = f"{ev.before.created or '-'} -> " if ev.before else ""
    lines = [
        f"template   {before} -> v{diff.after_version}" + (" (same text)" if diff.same else ""),
        f"created    {created}{ev.after.created or '-'}",
        f"messages   {shorten(_message(diff.before_message), 80)} -> "
        f"{shorten(_message(diff.after_message), 80)}",
    ]
    shown = [f"  | {line}" for line in diff.lines[:TEXT_LINES]]
    left = len(diff.lines) - len(shown) + diff.cut
    lines += shown + ([f"  | {_cut_note(left)}"] if left > 0 else [])
    return [indent + terminal(line, LINE) for line in lines]


def _link(side: Side) -> str:
    """``v2``, linked to the version's page in the MLflow UI when there is one."""
    label = f"v{side.version}"
    return f"[{label}]({markdown_url(side.version_url)})" if side.version_url else label


def _fence(lines: list[str]) -> str:
    runs = [len(r) for line in lines for r in re.findall(r"`+", line)]
    return "`" * max(3, max(runs, default=0) + 1)


def markdown_block(ev: Evidence, diff: TemplateDiff, open_: bool) -> str:
    """A ``<details>`` block: both versions, both commit messages, the fenced diff."""
    head = f"v{ev.before.version} → " if ev.before else ""
    before = f"{_link(ev.before)} (now)" if ev.before else "(none)"
    lines = [shorten(visible(line), LINE) for line in diff.lines]
    fence = _fence(lines)
    out = [
        f"<details{' open' if open_ else ''}><summary><b>{markdown_html(ev.model)}</b> · prompt "
        f"alias <code>{markdown_html(ev.alias)}</code>: {head}v{ev.after.version}</summary>",
        "",
        f"| | {before} | {_link(ev.after)} (candidate) |",
        "|---|---|---|",
        f"| created | {markdown_text(ev.before.created) if ev.before else '-'} | "
        f"{markdown_text(ev.after.created)} |",
        f"| commit message | {markdown_code(_message(diff.before_message))} | "
        f"{markdown_code(_message(diff.after_message))} |",
        "",
    ]
    if diff.same:
        out += ["_Both versions hold the same template text._", ""]
    else:
        out += [f"{fence}diff", *lines, fence, ""]
    if diff.cut:
        out += [f"_{markdown_text(_cut_note(diff.cut))} (the JSON plan has the same cut)._", ""]
    tags = list(ev.version_tags.items())
    if tags:
        shown = ", ".join(
            f"{markdown_code(k, table=False)}={markdown_code(v, table=False)}" for k, v in tags[:6]
        )
        out += [f"Version tags: {shown}", ""]
    out += ["</details>", ""]
    return "\n".join(out)


def compact_line(ev: Evidence, diff: TemplateDiff) -> str:
    """One line for a prompt move whose block does not fit."""
    head = f"v{ev.before.version} → " if ev.before else ""
    changed = sum(1 for line in diff.lines[2:] if line[:1] in "+-") + diff.cut
    return (
        f"- **{markdown_text(ev.model)}** {markdown_code(ev.alias, table=False)}: "
        f"{head}v{ev.after.version} · template: {changed} line{'s' * (changed != 1)} changed\n"
    )


def to_dict(diff: TemplateDiff | None) -> dict[str, Any] | None:
    """``template_diff`` in the JSON plan (None for a model's alias)."""
    if diff is None:
        return None
    return {
        "before_version": diff.before_version,
        "after_version": diff.after_version,
        "before_message": diff.before_message,
        "after_message": diff.after_message,
        "diff": list(diff.lines),
        "cut_lines": diff.cut,
    }
