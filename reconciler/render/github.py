"""GitHub Actions support: the job summary, step outputs and a PR-comment-sized plan.

Opt-in with ``--github`` (env ``RECONCILER_GITHUB``) on ``plan`` and ``apply``, never
switched on by ``GITHUB_ACTIONS`` alone: the test suite itself runs in Actions and must
not write its plans into the CI job's summary. With the flag the command still prints
as usual and, in addition:

- appends the markdown plan (and the apply result or the error) to ``$GITHUB_STEP_SUMMARY``;
- writes the full markdown to ``summary-path`` and a copy cut to GitHub's comment
  limit to ``comment-path`` (both under ``$RUNNER_TEMP``);
- writes ``status``, ``has-changes``, ``changes``, ``summary-path``, ``comment-path``
  to ``$GITHUB_OUTPUT``, so workflow steps stay one-liners.

Nothing here prints or exits; the CLI stays the only place that does.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.core.plan import Plan
from reconciler.errors import ApplyError, PlanErrors, ReconcilerError
from reconciler.render.escape import markdown_code
from reconciler.render.markdown import ERROR_LIMIT, render_markdown

F = TypeVar("F", bound=Callable[..., Any])

COMMENT_LIMIT = 65_536
"""GitHub rejects issue/PR comment bodies longer than this (characters)."""
COMMENT_BUDGET = COMMENT_LIMIT - 1_024
"""What the comment file may hold: room for the marker a sticky-comment action adds."""
SUMMARY_LIMIT = 1_000_000
"""A step summary may hold at most 1 MiB; stay below it with room for other steps."""
HEADING = "### registry-reconciler"


def truncate(markdown: str, limit: int, pointer: str) -> str:
    """``markdown`` if it fits in ``limit`` UTF-8 bytes, else cut at a line end + ``pointer``.

    Bytes, not characters: a byte count is never below the character count, so one
    rule fits both GitHub's character limit (comments) and its byte limit (summaries).
    """
    data = markdown.encode("utf-8")
    if len(data) <= limit:
        return markdown
    note = f"\n\n> **Truncated:** the plan is {len(markdown):,} characters long. {pointer}\n"
    head = data[: max(0, limit - len(note.encode("utf-8")))].decode("utf-8", "ignore")
    cut = head.rfind("\n")
    return (head[:cut] if cut > 0 else head) + note


def run_url(environ: Mapping[str, str]) -> str | None:
    """The URL of this workflow run (its job summary is there), when Actions says so."""
    parts = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repo, run = parts
    return f"{server}/{repo}/actions/runs/{run}"


def plan_outputs(plan: Plan) -> dict[str, str]:
    """The machine outputs of a plan (values as GitHub expects them: strings)."""
    counts = plan.summary()
    status = "error" if not plan.applyable else "changes" if plan.changes else "no-changes"
    return {
        "status": status,
        "has-changes": str(bool(plan.changes)).lower(),
        "changes": str(len(plan.changes)),
        **{k: str(v) for k, v in counts.items()},
    }


class Report:
    """Where one command run reports to GitHub; a no-op when ``--github`` is off."""

    def __init__(
        self, command: str, enabled: bool, environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        self.command = command
        self.enabled = enabled
        self.summary = Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None
        self.output = Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None
        temp = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir())
        self.summary_path = temp / f"reconciler-{command}.md"
        self.comment_path = temp / f"reconciler-{command}-comment.md"
        url = run_url(env)
        self.pointer = (
            f"The full plan is in the [job summary]({url})."
            if url
            else "The full plan is in the job summary."
        )
        self.markdown = ""
        self.comment = ""
        """The markdown for the PR comment: evidence bounded to fit GitHub's limit."""
        self.after_plan = ""
        """What was added after the plan (the apply result, an error): never cut."""
        self.outputs: dict[str, str] = {
            "status": "error",
            "has-changes": "false",
            "changes": "0",
            "summary-path": str(self.summary_path),
            "comment-path": str(self.comment_path),
        }

    def _append(self, path: Path | None, text: str) -> None:
        if path is not None:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(text)

    def _publish(self, addition: str, outputs: dict[str, str], comment: str | None = None) -> None:
        """Add to the markdown, rewrite the files, append to the summary, set the outputs."""
        self.markdown += addition
        if comment is not None:
            self.comment, self.after_plan = comment, ""
        else:
            self.after_plan += addition
        self.outputs = {**self.outputs, **outputs}
        self.summary_path.parent.mkdir(parents=True, exist_ok=True)
        self.summary_path.write_text(self.markdown, encoding="utf-8")
        room = COMMENT_BUDGET - len(self.after_plan.encode("utf-8"))
        self.comment_path.write_text(
            truncate(self.comment, room, self.pointer) + self.after_plan, encoding="utf-8"
        )
        self._append(
            self.summary,
            truncate(addition, SUMMARY_LIMIT, f"The full text is in `{self.summary_path}`."),
        )
        self._append(self.output, "".join(f"{k}={v}\n" for k, v in self.outputs.items()))

    def plan(self, plan: Plan) -> None:
        """Report the plan: summary, files and outputs."""
        if self.enabled:
            full = render_markdown(plan, limit=SUMMARY_LIMIT // 2)  # all evidence that fits
            self._publish(full, plan_outputs(plan), render_markdown(plan))

    def applied(self, line: str) -> None:
        """Add the result of a successful apply."""
        if self.enabled:
            self._publish(f"\n**Applied:** {line}\n", {"status": "applied"})

    def error(self, exc: ReconcilerError) -> None:
        """Add the error (and what was and was not applied), unless the plan already
        published lists it (a plan that cannot be applied: each error is said once)."""
        if not self.enabled or (isinstance(exc, PlanErrors) and self.markdown):
            return
        lines = [""] + [
            f"**Error:** {markdown_code(line, ERROR_LIMIT, table=False)}  "
            for line in exc.error_lines()
        ]
        if isinstance(exc, ApplyError) and exc.details:
            lines += ["", *(f"- {markdown_code(d, ERROR_LIMIT, table=False)}" for d in exc.details)]
        lines.append("")
        head = "" if self.markdown else f"{HEADING} {self.command}\n"
        self._publish(head + "\n".join(lines), {"status": "error"})


def github_option(fn: F) -> F:
    """Add ``--github`` and hand the command a ``report``; errors go to the summary too."""
    name = fn.__module__.rsplit(".", 1)[-1]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        report = Report(name, kwargs.pop("github"))
        try:
            return fn(*args, report=report, **kwargs)
        except ReconcilerError as exc:
            report.error(exc)
            raise

    return click.option(  # type: ignore[return-value]
        "--github",
        is_flag=True,
        envvar="RECONCILER_GITHUB",
        help="In GitHub Actions: append the markdown plan to $GITHUB_STEP_SUMMARY and write "
        "status, has-changes, changes, summary-path, comment-path to $GITHUB_OUTPUT "
        "(env RECONCILER_GITHUB).",
    )(wrapper)
