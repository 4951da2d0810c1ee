"""Alias history from git: who moved an alias to which version, when, in which commit.

MLflow keeps no history of aliases; the state files in git do. This walks the
first-parent history of the state path (the branch ``apply`` deploys from), reads
every state file blob once (``git cat-file --batch``), and records each commit where
the model's alias value changed. Offline: only the ``git`` executable is needed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError, StateError
from reconciler.state.load import load_state
from reconciler.state.yamlsafe import MAX_BYTES, parse

_SEP = "\x1f"


@dataclass(frozen=True)
class Move:
    """One commit that changed which version holds the alias."""

    commit: str
    author: str
    email: str
    date: datetime
    """Committer date: when the change landed on the branch."""
    subject: str
    version: int | str | None
    """The version that holds the alias after this commit (None: alias removed); a copy
    of another model's version reads ``churn-staging v7``."""
    previous: int | str | None


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise ReconcilerError("history needs the git executable, which was not found") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ReconcilerError(f"git {args[0]}: {message[0] if message else 'failed'}")
    return done.stdout


def _rev(rev: str) -> str:
    """A revision for git's command line, never an option (``-x`` would be read as one)."""
    if not rev or rev.startswith("-"):
        raise ReconcilerError(f"not a git revision: {rev!r}")
    return rev


Scope = tuple[str | None, str | None]
"""(the workspace asked about, the workspace of files without a ``workspace:`` key)."""


def _alias_in(
    blob: bytes, model: str, alias: str, scope: Scope | None = None
) -> tuple[bool, int | str | None]:
    """(declares the model, version holding the alias) in one historical file; with
    ``scope``, only a file of that workspace declares it (same name, other workspace:
    another model)."""
    try:
        data: Any = parse(blob.decode("utf-8-sig"), "history").data
    except (StateError, UnicodeDecodeError):
        return False, None
    if scope is not None:
        named = data.get("workspace") if isinstance(data, dict) else None
        if (named if isinstance(named, str) else scope[1]) != scope[0]:
            return False, None
    models = data.get("models") if isinstance(data, dict) else None
    spec = models.get(model) if isinstance(models, dict) else None
    if not isinstance(spec, dict):
        return False, None
    aliases = spec.get("aliases")
    value = aliases.get(alias) if isinstance(aliases, dict) else None
    if isinstance(value, dict) and {"from", "version"} <= value.keys():
        return True, f"{value['from']} v{value['version']}"
    return True, value if isinstance(value, int) and not isinstance(value, bool) else None


def alias_history(
    state: Path, model: str, alias: str, scope: Scope | None = None, rev: str = "HEAD"
) -> list[Move]:
    """Every commit (oldest first, up to ``rev``) that changed which version holds
    ``alias`` of ``model`` (in the workspace ``scope`` names, when given)."""
    cwd = state if state.is_dir() else state.parent
    target = "." if state.is_dir() else state.name
    log = _git(
        [
            "log",
            "--first-parent",
            "--reverse",
            "-z",
            f"--format=%H{_SEP}%an{_SEP}%ae{_SEP}%cI{_SEP}%s",
            _rev(rev),
            "--",
            target,
        ],
        cwd,
    )
    moves: list[Move] = []
    blobs: dict[str, tuple[bool, int | str | None]] = {}
    previous: int | str | None = None
    for record in filter(None, log.decode(errors="replace").split("\0")):
        commit, author, email, date, subject = record.strip("\n").split(_SEP, 4)
        tree = _git(["ls-tree", "-r", "-z", commit, "--", target], cwd)
        wanted = []
        for entry in filter(None, tree.split(b"\0")):
            meta, _, name = entry.partition(b"\t")
            mode, kind, sha = meta.decode().split()
            if kind == "blob" and mode != "120000" and name.endswith((b".yaml", b".yml")):
                wanted.append(sha)
        missing = [sha for sha in wanted if sha not in blobs]
        if missing:
            blobs.update(_read_blobs(cwd, missing, model, alias, scope))
        found = [blobs[sha] for sha in wanted if blobs[sha][0]]
        value = found[0][1] if found else None
        if value != previous:
            moves.append(
                Move(commit, author, email, datetime.fromisoformat(date), subject, value, previous)
            )
            previous = value
    return moves


def _read_blobs(
    cwd: Path, shas: list[str], model: str, alias: str, scope: Scope | None = None
) -> dict[str, tuple[bool, int | str | None]]:
    """Read and parse the blobs, bounded in memory: a blob larger than validate accepts
    (``MAX_BYTES``) is never read (it declares nothing, like an unparsable one), and the
    rest are read at most ``BLOB_BATCH`` at a time."""
    sizes = _git(["cat-file", "--batch-check"], cwd, ("\n".join(shas) + "\n").encode())
    out: dict[str, tuple[bool, int | str | None]] = {}
    small = []
    for sha, line in zip(shas, sizes.decode().splitlines(), strict=True):
        fields = line.split()
        if len(fields) == 3 and int(fields[2]) <= MAX_BYTES:
            small.append(sha)
        else:
            out[sha] = (False, None)
    for start in range(0, len(small), BLOB_BATCH):
        batch = small[start : start + BLOB_BATCH]
        raw = _git(["cat-file", "--batch"], cwd, ("\n".join(batch) + "\n").encode())
        pos = 0
        for sha in batch:
            header_end = raw.index(b"\n", pos)
            size = int(raw[pos:header_end].split()[2])
            body = raw[header_end + 1 : header_end + 1 + size]
            pos = header_end + 1 + size + 1
            out[sha] = _alias_in(body, model, alias, scope)
    return out


BLOB_BATCH = 32
"""Blobs read per ``git cat-file --batch`` call: at most 32 MiB of state files at once."""


def parse_when(text: str) -> datetime:
    """``2026-01-31`` (end of that day, UTC) or an ISO-8601 time (UTC when no zone given)."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time.max, tzinfo=timezone.utc)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StateError(f"--at {text!r}: use a date (2026-01-31) or an ISO-8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def holder_at(moves: list[Move], when: datetime) -> Move | None:
    """The last move at or before ``when`` (None: the alias was not declared yet)."""
    before = [m for m in moves if m.date <= when]
    return before[-1] if before else None


def first_parent_commits(state: Path, rev: str = "HEAD") -> list[str]:
    """The commits of the branch that holds the state, oldest first (first parents only):
    the line along which applies are ordered."""
    cwd = state if state.is_dir() else state.parent
    out = _git(["rev-list", "--first-parent", "--reverse", _rev(rev)], cwd)
    return out.decode().split()


def history_scope(state: Path, workspace: str | None, model: str) -> Scope | None:
    """The workspace whose ``model`` is meant, when the state names workspaces: the one
    that declares it now (``--workspace`` picks when several do)."""
    try:
        desired = load_state(state, workspace)
    except ReconcilerError:
        return None
    if all(p.workspace in (None, workspace) for p in desired.parts):
        return None if workspace is None else (workspace, workspace)
    found = [p.workspace for p, _ in desired.declarations(model)]
    if len(found) > 1:
        if workspace not in found:
            raise ReconcilerError(
                f"model {model!r} is declared in several workspaces ({', '.join(map(str, found))});"
                " pass --workspace NAME"
            )
        found = [workspace]
    return (found[0] if found else workspace, workspace)
