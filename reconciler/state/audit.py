"""Who applied what from which commit (SPEC §6.4): one ``reconciler.applied`` version tag.

Every version that gains an alias or a stage gets one compact JSON tag, written with
one request (like kubectl's single last-applied annotation). The commit is
``GITHUB_SHA`` or git HEAD, suffixed ``-dirty`` when the state files have uncommitted
changes, so the trail never claims a commit that does not hold what was applied.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

APPLIED = "reconciler.applied"
"""The audit tag on a model version."""
LIMIT = 5000
"""MLflow 2.x caps tag values at 5,000 characters."""


@dataclass(frozen=True)
class AuditInfo:
    """Who applies, when, and from which commit."""

    applied_at: str
    """UTC ISO-8601 time of the apply."""
    actor: str
    """``GITHUB_ACTOR`` or the OS user."""
    commit: str | None
    """``GITHUB_SHA`` or git HEAD, ``-dirty`` when the state files had local changes."""
    repo: str = ""
    """The state repository's identity (``repo_identity``), recorded on apply-log runs."""

    @property
    def dirty(self) -> bool:
        return bool(self.commit and self.commit.endswith("-dirty"))

    def tag_value(self, aliases: list[str], stage: str | None = None) -> str:
        """The audit tag for a version that gained ``aliases`` (and maybe ``stage``).

        Past the tag-value limit the alias list is cut and ``more`` says how many are left
        out, rather than failing the apply.
        """
        body: dict[str, Any] = {"at": self.applied_at, "by": self.actor, "commit": self.commit}
        body["aliases"] = sorted(aliases)
        if stage:
            body["stage"] = stage
        text = json.dumps(body, separators=(",", ":"))
        while len(text) > LIMIT and body["aliases"]:
            body["aliases"] = body["aliases"][:-1]
            body["more"] = len(aliases) - len(body["aliases"])
            text = json.dumps(body, separators=(",", ":"))
        return text


def parse_applied(text: str | None) -> dict[str, Any] | None:
    """An audit tag's content, or None when absent or unreadable."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _git(args: list[str], cwd: Path | None) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_head(cwd: Path | None = None) -> str | None:
    """``git rev-parse HEAD`` in ``cwd`` (default: the working directory), None outside git."""
    out = _git(["rev-parse", "HEAD"], cwd)
    return out.strip() or None if out else None


def state_is_dirty(state: Path) -> bool:
    """True when the state files have uncommitted (or untracked) changes in git."""
    folder = state if state.is_dir() else state.parent
    target = "." if state.is_dir() else state.name
    out = _git(["status", "--porcelain", "--untracked-files=all", "--", target], folder)
    return bool(out and out.strip())


def remote_identity(url: str) -> str:
    """An ``origin`` URL without scheme, user-info and ``.git``: every clone of one
    repository, over https or ssh, names it the same (``github.com/acme/ml-state``)."""
    text = url.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
        host, _, path = text.partition("/")
        host = host.rsplit("@", 1)[-1]
        text = f"{host}/{path}" if path else host
    elif "@" in text.split("/", 1)[0] and ":" in text:  # scp-like: git@host:owner/repo
        host, _, path = text.partition(":")
        text = f"{host.rsplit('@', 1)[-1]}/{path}"
    text = text.rstrip("/")
    return text.removesuffix(".git").rstrip("/")


def repo_identity(folder: Path | None = None) -> str:
    """Which state repository applies (SPEC §17): ``GITHUB_REPOSITORY``, else the
    ``origin`` remote, else ``local:`` + the root commit; empty outside git."""
    if named := os.environ.get("GITHUB_REPOSITORY"):
        return named.strip()
    origin = _git(["remote", "get-url", "origin"], folder)
    if origin and origin.strip():
        return remote_identity(origin)
    roots = _git(["rev-list", "--max-parents=0", "HEAD"], folder)
    first = sorted(roots.split())[0] if roots and roots.split() else ""
    return f"local:{first}" if first else ""


def current_audit(state: Path | None = None) -> AuditInfo:
    """Audit info from the environment (GitHub Actions first, then the local machine)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    folder = None if state is None else state if state.is_dir() else state.parent
    commit = os.environ.get("GITHUB_SHA") or git_head(folder)
    if commit and state is not None and state_is_dirty(state):
        commit += "-dirty"
    return AuditInfo(
        applied_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        actor=os.environ.get("GITHUB_ACTOR") or user,
        commit=commit,
        repo=repo_identity(folder),
    )
