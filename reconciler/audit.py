"""Who applied what from which commit (SPEC §6.4): the ``reconciler.*`` version tags."""

from __future__ import annotations

import getpass
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone

APPLIED_AT = "reconciler.applied_at"
ACTOR = "reconciler.actor"
COMMIT = "reconciler.commit"


@dataclass(frozen=True)
class AuditInfo:
    """The audit tags written on every version whose alias or stage apply moved."""

    applied_at: str
    """UTC ISO-8601 time of the apply."""
    actor: str
    """``GITHUB_ACTOR`` or the OS user."""
    commit: str | None
    """``GITHUB_SHA`` or ``git rev-parse HEAD`` of the working directory, when known."""

    def tags(self) -> dict[str, str]:
        out = {APPLIED_AT: self.applied_at, ACTOR: self.actor}
        if self.commit:
            out[COMMIT] = self.commit
        return out


def git_head() -> str | None:
    """``git rev-parse HEAD`` of the working directory, or None outside a repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def current_audit() -> AuditInfo:
    """Audit info from the environment (GitHub Actions first, then the local machine)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return AuditInfo(
        applied_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        actor=os.environ.get("GITHUB_ACTOR") or user,
        commit=os.environ.get("GITHUB_SHA") or git_head(),
    )
