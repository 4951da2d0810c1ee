"""The controller's loop: pull, read, classify, heal, publish; one round at a time.

A single worker thread runs every round (the periodic resync and the rounds webhook
deliveries ask for), so two reconciles never overlap. A round that cannot read git or
the registry completely marks its models unknown and heals nothing. Stopping (SIGTERM)
lets the write in progress finish, then starts nothing new.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.core.plan import Change
from reconciler.core.ports import Registry
from reconciler.core.resolve import copy_sources
from reconciler.errors import ReconcilerError
from reconciler.serve import heal
from reconciler.serve.decide import ModelStatus, classify, to_heal, to_sync, unknown
from reconciler.serve.events import Notice, body, new_events, remember, summary
from reconciler.serve.gitsource import GitSource
from reconciler.serve.metrics import Metrics
from reconciler.serve.status import RECENT, Event, LastApply, Snapshot
from reconciler.state.load import DesiredState

MAX_BACKOFF = 8
"""After failures the next resync waits up to this many intervals."""
COALESCE = 0.05
"""Seconds to gather more webhook deliveries into one round (a move sends several)."""


@dataclass(frozen=True)
class Settings:
    """What ``reconciler serve`` was told."""

    state: Path
    workspace: str | None = None
    """The one workspace this controller governs (None: the server's default)."""
    interval: float = 60.0
    auto_sync: bool = False
    git_pull: bool = False


def _only(state: DesiredState, names: frozenset[str] | None) -> DesiredState:
    if names is None:
        return state
    keep = names & set(state.models)
    return DesiredState(
        models={n: s for n, s in state.models.items() if n in keep},
        sources={n: s for n, s in state.sources.items() if n in keep},
        files=state.files,
        workspace=state.workspace,
    )


class Controller:
    """Owns the snapshot; ``run`` is the worker thread's body."""

    def __init__(
        self,
        settings: Settings,
        connect: Callable[[], Registry],
        last_apply: Callable[[Registry], LastApply | None],
        publish: Callable[[dict[str, Any]], None] = lambda body: None,
        registry_uri: str = "",
    ) -> None:
        self.settings = settings
        self.git = GitSource(settings.state)
        self._connect = connect
        self._registry: Registry | None = None
        self._last_apply = last_apply
        self._publish = publish
        self.snapshot = Snapshot(registry=registry_uri)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._asked: set[str] = set()
        self._known: frozenset[str] = frozenset()
        self._head: DesiredState | None = None
        self._notified: dict[str, str] = {}
        self.metrics = Metrics(lambda: self.snapshot)
        self._details: dict[str, tuple[str, tuple[Change, ...]]] = {}
        """model -> (detail, changes) of this round's heal, for its notification."""

    def ask(self, model: str) -> bool:
        """Reconcile ``model`` soon (a webhook named it); False when it is not declared."""
        if model not in self._known:
            return False
        with self._lock:
            self._asked.add(model)
        self._wake.set()
        return True

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def run(self) -> None:
        """Resync every interval (backing off after failures) and serve webhook asks between."""
        failures, due = 0, 0.0
        while not self.stopping.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self.stopping.is_set():
                break
            if time.monotonic() >= due:
                with self._lock:
                    self._asked.clear()  # this round covers them
                failures = 0 if self.reconcile(None) else failures + 1
                due = time.monotonic() + self.settings.interval * min(2**failures, MAX_BACKOFF)
                continue
            time.sleep(COALESCE)
            with self._lock:
                names, self._asked = frozenset(self._asked), set()
            if names:
                self.reconcile(names)

    def _read_git(self, errors: list[str]) -> DesiredState | None:
        if self.settings.git_pull:
            try:
                self.git.pull()
            except ReconcilerError as exc:
                errors.append(f"{exc} (serving the last good state)")
        try:
            self._head = self.git.load_head()
        except ReconcilerError as exc:
            errors.append(f"the state at HEAD is invalid: {exc} (serving the last good state)")
        return self._head

    def reconcile(self, only: frozenset[str] | None) -> bool:
        """One round over every model (``only`` None) or the named ones; True when git and
        the registry were read completely (a failed pull still classifies and heals
        against the last good state, but counts as a failed round)."""
        started = time.time()
        errors: list[str] = []
        head = self._read_git(errors)
        git_failed = bool(errors)
        head_commit = self.git.head()
        last: LastApply | None = None
        applied_commit: str | None = head_commit
        try:
            if head is None:
                raise ReconcilerError("no valid state has been read yet")
            if self._registry is None:
                self._registry = self._connect()
            last = self._last_apply(self._registry)
            applied_commit = last.commit if last and last.commit else head_commit
            applied = (
                head
                if applied_commit in (None, head_commit)
                else self.git.load_at(applied_commit.removesuffix("-dirty"))
            )
            head, applied = _only(head, only), _only(applied, only)
            wanted = set(head.models) | set(applied.models)
            for spec in (*head.models.values(), *applied.models.values()):
                wanted |= {s for s in copy_sources(spec) if ":" not in s}  # same server
            observed = self._registry.read(sorted(wanted))
        except ReconcilerError as exc:
            errors.append(str(exc))
            names = tuple(only) if only is not None else tuple(sorted(self._known))
            before = self.snapshot.models
            statuses = unknown(names, before)
            self._finish(statuses, only, errors, started, last, applied_commit, {}, ok=False)
            return False
        statuses = classify(head, applied, observed)
        conditions = {s.name: s.state.value for s in statuses}
        if last is not None and last.running:
            errors.append("an apply is in progress (the apply log holds the lock): nothing healed")
        else:
            statuses = self._heal(statuses, head, applied, applied_commit, conditions)
        if only is None:
            self._known = frozenset(s.name for s in statuses)
        ok = not git_failed  # a failed pull or invalid HEAD: served from the last good state
        self._finish(statuses, only, errors, started, last, applied_commit, conditions, ok=ok)
        return ok

    def _heal(
        self,
        statuses: tuple[ModelStatus, ...],
        head: DesiredState,
        applied: DesiredState,
        commit: str | None,
        conditions: dict[str, str],
    ) -> tuple[ModelStatus, ...]:
        """Restore drifted self_heal models (and, with --auto-sync, apply pending ones)."""
        assert self._registry is not None
        jobs = [(n, applied, commit, False) for n in to_heal(statuses)]
        if self.settings.auto_sync:  # a new commit waits for its promotion window
            jobs += [(n, head, self.git.head(), True) for n in to_sync(statuses)]
        touched: list[str] = []
        for name, target, at, windows in jobs:
            if self.stopping.is_set():
                break  # SIGTERM: the write in progress finished; start no other
            result, detail, changes = heal.restore(self._registry, target, name, at, windows)
            self.metrics.heals.labels(name, result).inc()
            if result == "held":  # still pending: applied when its window lets it
                self._details[name] = (detail, changes)
                continue
            conditions[name] = result
            self._details[name] = (detail, changes)
            touched.append(name)
        if not touched:
            return statuses
        try:
            again = classify(
                _only(head, frozenset(touched)),
                _only(applied, frozenset(touched)),
                self._registry.read(touched),
            )
        except ReconcilerError:
            return statuses
        fresh = {s.name: s for s in again}
        return tuple(fresh.get(s.name, s) for s in statuses)

    def _finish(
        self,
        statuses: tuple[ModelStatus, ...],
        only: frozenset[str] | None,
        errors: list[str],
        started: float,
        last: LastApply | None,
        applied_commit: str | None,
        conditions: dict[str, str],
        ok: bool,
    ) -> None:
        """Swap in the new snapshot, then send what is news."""
        old = self.snapshot
        if only is not None:
            fresh = {s.name: s for s in statuses}
            statuses = tuple(fresh.get(s.name, s) for s in old.models)
        by_name = {s.name: s for s in statuses}
        news = list(new_events(self._notified, conditions))
        if only is None:
            self._notified = remember(self._notified, conditions)
        else:
            self._notified.update(remember(self._notified, conditions))
        events = []
        for model, event in news:
            status = by_name.get(model)
            detail, changes = self._details.pop(model, ("", ()))
            drift = status.drift if status is not None and event != "healed" else changes
            notice = Notice(event, model, tuple(drift), detail or (applied_commit or "")[:12])
            events.append(Event(time.time(), model, event, self._publish_text(notice)))
        full = only is None
        kind = "resync" if full else "webhook"
        self.metrics.resyncs.labels(kind, "ok" if ok else "failed").inc()
        if full:
            self.metrics.duration.observe(time.time() - started)
        self.snapshot = replace(
            old,
            models=statuses,
            head=self.git.head(),
            applied_commit=applied_commit,
            last_apply=last if last is not None else old.last_apply,
            healthy=ok if full else old.healthy,
            last_success=started if full and ok else old.last_success,
            last_attempt=started,
            errors=tuple(errors),
            events=(*reversed(events), *old.events)[:RECENT],
        )

    def _publish_text(self, notice: Notice) -> str:
        """Send one notification; its one-line text is kept for the status page."""
        self._publish(body(notice, self.snapshot.registry))
        return summary(notice, self.snapshot.registry)
