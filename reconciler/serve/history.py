"""Alias histories for the model pages, computed off the request path (SPEC v4 §21).

A history walks git (``state.history.alias_history``) and reads the apply log, both
slow; a page request only looks up the cache and, on a miss, queues the work for one
background thread and answers at once ("being computed"): ``/healthz`` and the other
pages never wait for git or the registry. Entries are keyed by (workspace, model, HEAD,
newest apply run): a new commit or a new apply makes a new entry, and nothing else
needs invalidating. Only declared models are ever queued (the page checks first), so
request text never reaches git and cannot flood the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler import logged_apply
from reconciler.core.applylog.history import MoveApplied, joined_moves
from reconciler.core.applylog.record import FINISHED, ApplyRecord
from reconciler.core.ports import Registry
from reconciler.errors import ReconcilerError
from reconciler.state.history import alias_history, first_parent_commits

Key = tuple[str | None, str, str, str]
"""(workspace, model, HEAD commit, newest apply run id)."""
SIZE = 256
"""Histories kept (the least recently asked for go first)."""
RETRY = 60.0
"""Seconds before a history with problems (git or the registry failed) is computed again."""


@dataclass(frozen=True)
class ModelHistory:
    """Every declared alias's moves, each joined with the apply that carried it out."""

    aliases: tuple[tuple[str, tuple[MoveApplied, ...]], ...] = ()
    joined: bool = False
    """True when the apply log was read (else nothing is said about applies)."""
    problems: tuple[str, ...] = ()
    """Why part of the history is missing (git or the registry failed), one line each."""
    at: float = 0.0
    """When it was computed (``time.monotonic``): one with problems is retried after
    ``RETRY`` seconds, meanwhile shown as it is."""


@dataclass(frozen=True)
class Source:
    """Where one workspace's history comes from."""

    state: Path
    default: str | None
    """The workspace of state files without a ``workspace:`` key."""
    repo: str
    """The state repository's identity: only its runs count as applies."""
    connect: Callable[[], Registry]


class Histories:
    """The cache and its one worker thread."""

    def __init__(self, sources: Mapping[str | None, Source], size: int = SIZE) -> None:
        self._sources = dict(sources)
        self._size = size
        self._done: OrderedDict[Key, ModelHistory] = OrderedDict()
        self._queue: OrderedDict[Key, tuple[str, ...]] = OrderedDict()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._runs: dict[str | None, tuple[str, list[ApplyRecord]]] = {}
        """workspace -> (newest run id, the log's finished runs): one read per new apply."""
        self._registries: dict[str | None, Registry] = {}
        self.computed = 0
        """Histories computed so far (tests count them: a cached page computes nothing)."""

    def get(self, key: Key, aliases: tuple[str, ...]) -> ModelHistory | None:
        """The history when computed, else None (and it is queued); never blocks on I/O.
        A history with problems is queued again after ``RETRY`` s (and shown meanwhile)."""
        with self._cond:
            found = self._done.get(key)
            if found is not None:
                self._done.move_to_end(key)
                if not found.problems or time.monotonic() - found.at < RETRY:
                    return found
            if key[0] not in self._sources or len(self._queue) >= self._size:
                return found
            self._queue[key] = aliases
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="history", daemon=True)
                self._thread.start()
            self._cond.notify()
        return found

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                key, aliases = next(iter(self._queue.items()))
            try:
                found = self._compute(key, aliases)
            except Exception as exc:  # a bug must not end the thread: say it on the page
                found = ModelHistory(problems=(f"unexpected {type(exc).__name__}: {exc}",))
            with self._cond:
                self._queue.pop(key, None)
                self._done[key] = replace(found, at=time.monotonic())
                while len(self._done) > self._size:
                    self._done.popitem(last=False)
                self.computed += 1

    def _finished(self, workspace: str | None, newest: str) -> list[ApplyRecord]:
        """The log's finished runs, read again only when a newer apply appeared."""
        cached = self._runs.get(workspace)
        if cached is not None and cached[0] == newest:
            return cached[1]
        if workspace not in self._registries:
            self._registries[workspace] = self._sources[workspace].connect()
        log = logged_apply.open_log(self._registries[workspace], retry_seconds=0)
        runs = log.all(FINISHED)
        self._runs[workspace] = (newest, runs)
        return runs

    def _compute(self, which: Key, aliases: tuple[str, ...]) -> ModelHistory:
        workspace, model, head, newest = which
        source = self._sources[workspace]
        scope = (workspace, source.default)
        try:
            moves = {a: alias_history(source.state, model, a, scope, rev=head) for a in aliases}
            order = first_parent_commits(source.state, rev=head)
        except ReconcilerError as exc:
            return ModelHistory(problems=(f"git: {exc}",))
        problems: tuple[str, ...] = ()
        try:
            runs, joined = self._finished(workspace, newest), True
        except ReconcilerError as exc:
            self._registries.pop(workspace, None)
            runs, joined = [], False
            problems = (f"the apply log was not read: {exc}",)
        now, key = int(time.time() * 1000), logged_apply.log_key()
        found = tuple(
            (a, tuple(joined_moves(moves[a], order, runs, model, source.repo, key, now)))
            for a in aliases
        )
        return ModelHistory(found, joined, problems)
