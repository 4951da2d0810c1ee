"""Desired state from git objects: the served commit, a fetch, and the state at any commit.

Every state the controller uses, HEAD's included, is read from git itself (``git
archive`` of a commit into a temporary directory, then the normal loader), never from
the working tree: a merged but unapplied commit cannot leak into what the controller
heals toward, and a pull that fails half-way (a full disk) cannot serve a half-checked-out
tree. ``--git-pull`` fetches and serves the upstream commit when it fast-forwards the one
served; the working tree is never touched.
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

    def __init__(self, state: Path, workspace: str | None = None) -> None:
        self.state = state
        self.workspace = workspace
        """The workspace of state files without a ``workspace:`` key."""
        top = _git(_folder(state), "rev-parse", "--show-toplevel")
        self.root: Path | None = Path(top.stdout.decode().strip()) if top.returncode == 0 else None
        self._cache: dict[str, StateSet] = {}
        self._fetched: str | None = None
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

    def _rev(self, name: str) -> str | None:
        assert self.root is not None
        done = _git(self.root, "rev-parse", "--verify", "-q", f"{name}^{{commit}}")
        return done.stdout.decode().strip() or None if done.returncode == 0 else None

    def _ancestor(self, older: str, newer: str) -> bool:
        assert self.root is not None
        return _git(self.root, "merge-base", "--is-ancestor", older, newer).returncode == 0

    def head(self) -> str | None:
        """The commit served: the last fetched upstream commit after ``pull``, else the one
        checked out; None outside git (or before the first commit)."""
        if self.root is None:
            return None
        return self._fetched or self._rev("HEAD")

    def pull(self) -> None:
        """``git fetch``, then serve the upstream commit if it fast-forwards the one served.
        A failed fetch changes nothing (git writes a ref only once its objects are whole)."""
        if self.root is None:
            raise GitError(f"{self.state} is not in a git repository: --git-pull needs one")
        done = _git(self.root, "fetch", "-q")
        if done.returncode != 0:
            raise GitError(f"git pull (fetch) failed: {_first_line(done.stderr)}")
        upstream = self._rev("@{upstream}")
        if upstream is None:
            raise GitError("git pull: the checked-out branch has no upstream branch")
        current = self.head()
        if current is None or self._ancestor(current, upstream):
            self._fetched = upstream
        elif not self._ancestor(upstream, current):
            raise GitError(
                f"git pull: upstream {upstream[:12]} does not fast-forward {current[:12]} "
                f"(serving {current[:12]})"
            )

    def load_head(self) -> StateSet:
        """The state at the served commit, read from git objects."""
        commit = self.head()
        if commit is None:
            raise GitError(f"{self.state}: no commit to read the state from")
        return self.load_at(commit)

    def load_at(self, commit: str) -> StateSet:
        """The state files as they were at ``commit`` (cached: commits do not change)."""
        if commit in self._cache:
            return self._cache[commit]
        if self.root is None:
            raise GitError(f"{self.state} is not in a git repository")
        rel = self.state.resolve().relative_to(self.root.resolve())
        found = _git(self.root, "cat-file", "-e", f"{commit}^{{commit}}")
        if found.returncode != 0:
            raise GitError(f"commit {commit[:12]} is not in {self.root} (fetch it)")
        done = _git(self.root, "archive", "--format=tar", commit, "--", str(rel))
        with tempfile.TemporaryDirectory(prefix="reconciler-state-") as tmp:
            if done.returncode == 0:
                try:
                    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
                        tar.extractall(tmp, filter="data")
                except (tarfile.TarError, OSError) as exc:  # an absolute symlink, a full disk
                    raise GitError(f"cannot read the state at {commit[:12]}: {exc}") from None
            target = Path(tmp, rel)
            if not target.exists():  # the state path did not exist at that commit
                empty = DesiredState(models={}, sources={}, files=(), workspace=self.workspace)
                desired = StateSet.of([empty], (), self.workspace)
            else:
                try:
                    desired = load_state(target, self.workspace)
                except ReconcilerError as exc:  # name the commit, not the temporary folder
                    said = str(exc).replace(f"{Path(tmp).resolve()}/", "").replace(f"{tmp}/", "")
                    raise GitError(f"{commit[:12]}: {said}") from None
        if len(self._cache) >= 4:
            self._cache.pop(next(iter(self._cache)))
        self._cache[commit] = desired
        return desired
