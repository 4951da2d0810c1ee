"""Desired state from git: HEAD, ``git pull --ff-only``, and the state at any commit.

The state of the last applied commit is read from git itself (``git archive`` into a
temporary directory, then the normal loader), never from the working tree, so a merged
but unapplied commit cannot leak into what the controller heals toward.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.state.audit import repo_identity
from reconciler.state.load import DesiredState, load_state
from reconciler.state.scope import StateSet

GIT_TIMEOUT = 60.0
"""Seconds a pull may take before it counts as failed."""


class GitError(ReconcilerError):
    """git could not give the desired state (pull failed, commit missing)."""


def _git(
    folder: Path, *args: str, timeout: float = GIT_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f} s") from exc
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc


def _folder(state: Path) -> Path:
    return state if state.is_dir() else state.parent


def _first_line(out: bytes) -> str:
    lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


class GitSource:
    """The state path's git repository (or none: then HEAD is the working tree)."""

    def __init__(self, state: Path) -> None:
        self.state = state
        top = _git(_folder(state), "rev-parse", "--show-toplevel")
        self.root: Path | None = Path(top.stdout.decode().strip()) if top.returncode == 0 else None
        self._cache: dict[str, DesiredState] = {}
        self._ancestors: dict[tuple[str, str], bool] = {}
        self.repo = repo_identity(self.root) if self.root is not None else ""
        """This state repository's identity: only its own apply-log runs are baselines."""

    def on_branch(self, commit: str) -> bool:
        """``commit`` is HEAD (the tracked branch) or one of its ancestors (SPEC §17)."""
        head = self.head()
        if self.root is None or head is None or not commit or commit.startswith("-"):
            return False
        key = (commit, head)
        if key not in self._ancestors:
            done = _git(self.root, "merge-base", "--is-ancestor", commit, head)
            if len(self._ancestors) > 4096:
                self._ancestors.clear()
            self._ancestors[key] = done.returncode == 0
        return self._ancestors[key]

    def head(self) -> str | None:
        """The commit checked out, or None outside git (or before the first commit)."""
        if self.root is None:
            return None
        done = _git(self.root, "rev-parse", "--verify", "-q", "HEAD")
        return done.stdout.decode().strip() or None if done.returncode == 0 else None

    def pull(self) -> None:
        """``git pull --ff-only``; a failure leaves the working tree as it was."""
        if self.root is None:
            raise GitError(f"{self.state} is not in a git repository: --git-pull needs one")
        done = _git(self.root, "pull", "--ff-only", "-q")
        if done.returncode != 0:
            raise GitError(f"git pull --ff-only failed: {_first_line(done.stderr)}")

    def load_head(self) -> DesiredState:
        """The state as checked out (HEAD after a pull)."""
        return one_workspace(load_state(self.state))

    def load_at(self, commit: str) -> DesiredState:
        """The state files as they were at ``commit`` (cached: commits do not change)."""
        if commit in self._cache:
            return self._cache[commit]
        if self.root is None:
            raise GitError(f"{self.state} is not in a git repository")
        rel = self.state.resolve().relative_to(self.root.resolve())
        found = _git(self.root, "cat-file", "-e", f"{commit}^{{commit}}")
        if found.returncode != 0:
            raise GitError(
                f"the last applied commit {commit[:12]} is not in {self.root} (fetch it)"
            )
        done = _git(self.root, "archive", "--format=tar", commit, "--", str(rel))
        with tempfile.TemporaryDirectory(prefix="reconciler-applied-") as tmp:
            if done.returncode == 0:
                with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
                    tar.extractall(tmp, filter="data")
            target = Path(tmp, rel)
            if not target.exists():  # the state path did not exist at that commit
                desired = DesiredState(models={}, sources={}, files=())
            else:
                desired = one_workspace(load_state(target))
        if len(self._cache) >= 4:
            self._cache.pop(next(iter(self._cache)))
        self._cache[commit] = desired
        return desired


def one_workspace(state: StateSet) -> DesiredState:
    """The controller governs one workspace per process (its registry connection is
    scoped to it): a state spanning several is refused."""
    if len(state.parts) > 1:
        named = ", ".join(str(p.workspace or "default") for p in state.parts)
        raise GitError(
            f"the state spans several workspaces ({named}); run one reconciler serve per "
            "workspace with --state state/<workspace>"
        )
    return state.parts[0]
