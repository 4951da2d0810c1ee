"""The controller's loop: pull, read, classify, heal, publish; one round at a time.

A single worker thread runs every round (the periodic resync and the rounds webhook
deliveries ask for), so two reconciles never overlap. A round that cannot read git or
the registry completely marks its models unknown and heals nothing. Stopping (SIGTERM)
lets the write in progress finish, then starts nothing new.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler import logged_apply
from reconciler.core.plan import Change
from reconciler.core.ports import Registry
from reconciler.core.prompts import by_kind
from reconciler.core.resolve import copy_sources
from reconciler.errors import ReconcilerError
from reconciler.logged_apply import LogView
from reconciler.serve import heal, logs
from reconciler.serve.decide import ModelStatus, classify, to_heal, to_sync, unknown
from reconciler.serve.events import Notice, body, new_events, remember, summary
from reconciler.serve.gitsource import GitSource
from reconciler.serve.metrics import Metrics
from reconciler.serve.status import RECENT, Event, LastApply, Snapshot
from reconciler.state.load import DesiredState, StateSet

MAX_BACKOFF = 8
"""After failures the next resync waits up to this many intervals."""
LOUD = frozenset({"drift", "heal_failed", "unverified"})
"""Events logged as warnings (someone should look); the rest are info."""
COALESCE = 0.05
"""Seconds to gather more webhook deliveries into one round (a move sends several)."""


@dataclass(frozen=True)
class Settings:
    """What ``reconciler serve`` was told."""

    state: Path
    workspace: str | None = None
    """The workspace this controller governs (None: the server's default); a process
    serving several runs one controller per workspace (``serve/fleet.py``)."""
    default: str | None = None
    """The workspace of state files without a ``workspace:`` key (--workspace)."""
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
        log_reader: Callable[[Registry, list[str], str, Callable[[str], bool]], LogView],
        publish: Callable[[dict[str, Any]], None] = lambda body: None,
        registry_uri: str = "",
        metrics: Metrics | None = None,
        gate: threading.Lock | None = None,
    ) -> None:
        self.settings = settings
        self.git = GitSource(settings.state, settings.default)
        self._gate = gate or threading.Lock()
        """Held for a round: controllers of one process never reconcile at the same time."""
        self._connect = connect
        self._registry: Registry | None = None
        self._log_reader = log_reader
        self.leading: Callable[[], bool] = lambda: True
        """Whether this replica leads (``serve/leader.py``); only the leader writes and
        notifies."""
        self._suspected: set[str] = set()
        self._publish = publish
        self.snapshot = Snapshot(registry=registry_uri, workspace=settings.workspace)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._asked: set[str] = set()
        self._known: frozenset[str] = frozenset()
        self._head: DesiredState | None = None
        self._notified: dict[str, str] = {}
        self.metrics = metrics or Metrics(lambda: [self.snapshot])
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
                failures = 0 if self._round(None) else failures + 1
                due = time.monotonic() + self.settings.interval * min(2**failures, MAX_BACKOFF)
                continue
            time.sleep(COALESCE)
            with self._lock:
                names, self._asked = frozenset(self._asked), set()
            if names:
                self._round(names)

    def _round(self, only: frozenset[str] | None) -> bool:
        """One round that cannot kill the loop: an unexpected exception is logged, counted
        and fails the round (models unknown, nothing more healed); the next round runs."""
        started = time.time()
        try:
            with self._gate:
                return self.reconcile(only)
        except Exception as exc:  # the loop must outlive any bug or odd input
            what = f"unexpected {type(exc).__name__} in a round: {exc}"
            logs.log.debug("round traceback", exc_info=True)
            self.metrics.round_errors.inc()
            statuses = unknown(tuple(only or sorted(self._known)), self.snapshot.models)
            try:
                applied = self.snapshot.applied_commit
                self._finish(statuses, only, [what], started, None, applied, {}, ok=False)
            except Exception:  # even the snapshot could not be built: say it, keep going
                logs.event("round_failed", what, level=logging.ERROR)
            return False

    def _part(self, state: StateSet) -> DesiredState:
        """This controller's workspace of the state (empty when the commit has none)."""
        ws = self.settings.workspace
        found = [p for p in state.parts if p.workspace == ws]
        return found[0] if found else DesiredState({}, {}, state.files, ws)

    def _read_git(self, errors: list[str]) -> DesiredState | None:
        if self.settings.git_pull:
            try:
                self.git.pull()
            except ReconcilerError as exc:
                errors.append(f"{exc} (serving the last good state)")
        try:
            self._head = self._part(self.git.load_head())
        except ReconcilerError as exc:
            errors.append(f"the state at HEAD is invalid: {exc} (serving the last good state)")
        return self._head

    def _read_log(self, registry: Registry, models: list[str]) -> LogView:
        view = self._log_reader(registry, models, self.git.repo, self.git.on_branch)
        for suspect in view.baselines.suspects:
            if suspect.run.run_id not in self._suspected:
                self._suspected.add(suspect.run.run_id)
                notice = Notice(
                    "forged", ",".join(suspect.run.scope or ()) or "*", (), suspect.line()
                )
                self._publish_text(notice)
        return view

    def _applied(
        self, head: DesiredState, view: LogView
    ) -> tuple[DesiredState, dict[str, tuple[DesiredState, str]], frozenset[str]]:
        """Each declared model's applied state (the state at its baseline commit), the
        target a heal restores, and the models without a baseline (unverified)."""
        models: dict[str, Any] = {}
        sources: dict[str, Any] = {}
        targets: dict[str, tuple[DesiredState, str]] = {}
        unverified = set()
        for name in head.models:
            run = view.baselines.runs.get(name)
            if run is None:
                unverified.add(name)
                continue
            state = self._part(self.git.load_at(run.commit))
            targets[name] = (state, run.commit)
            if name in state.models:
                models[name] = state.models[name]
                sources[name] = state.sources[name]
        applied = DesiredState(
            models=models, sources=sources, files=head.files, workspace=head.workspace
        )
        return applied, targets, frozenset(unverified)

    def reconcile(self, only: frozenset[str] | None) -> bool:
        """One round over every model (``only`` None) or the named ones; True when git and
        the registry were read completely (a failed pull still classifies and heals
        against the last good state, but counts as a failed round)."""
        started = time.time()
        errors: list[str] = []
        head = self._read_git(errors)
        git_failed = bool(errors)
        last: LastApply | None = None
        applied_commit: str | None = None
        try:
            if head is None:
                raise ReconcilerError("no valid state has been read yet")
            if self._registry is None:
                self._registry = self._connect()
            view = self._read_log(self._registry, sorted(head.models))
            newest = view.newest
            applied_commit = newest.commit if newest is not None else None
            last = LastApply(
                applied_commit,
                newest.actor if newest else "",
                newest.started if newest else "",
                newest.run_id if newest else "",
                running=view.holder is not None,
            )
            errors += [s.line() for s in view.baselines.suspects]
            errors += [logged_apply.future_warning(r) for r in view.future]
            applied, targets, unverified = self._applied(head, view)
            head, applied = _only(head, only), _only(applied, only)
            if only is not None:
                unverified &= only
            wanted = set(head.models) | set(applied.models)
            for spec in (*head.models.values(), *applied.models.values()):
                wanted |= {s for s in copy_sources(spec) if ":" not in s}  # same server
            prompts = {n for n in wanted if head.prompt(n) or applied.prompt(n)}
            observed = self._registry.read(sorted(wanted - prompts), prompts)
        except ReconcilerError as exc:
            errors.append(str(exc))
            names = tuple(only) if only is not None else tuple(sorted(self._known))
            before = self.snapshot.models
            statuses = unknown(names, before)
            self._finish(statuses, only, errors, started, last, applied_commit, {}, ok=False)
            return False
        statuses = classify(head, applied, observed, unverified)
        conditions = {s.name: s.state.value for s in statuses}
        if view.holder is not None:
            errors.append(
                f"an apply is in progress (run {view.holder.run_id} holds the lock): nothing healed"
            )
        else:
            statuses = self._heal(statuses, head, applied, targets, view, conditions)
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
        targets: dict[str, tuple[DesiredState, str]],
        view: LogView,
        conditions: dict[str, str],
    ) -> tuple[ModelStatus, ...]:
        """Restore drifted self_heal models to their baseline (and, with --auto-sync,
        apply pending and unverified ones from HEAD)."""
        assert self._registry is not None
        if not self.leading():
            return statuses  # a standby replica only watches
        jobs = [(n, *targets[n], False) for n in to_heal(statuses) if n in targets]
        head_commit = self.git.head()
        if self.settings.auto_sync and head_commit is not None:
            # a new commit waits for its promotion window; a heal never does
            jobs += [(n, head, head_commit, True) for n in to_sync(statuses)]
        seen = set(view.seen)
        touched: list[str] = []
        for name, target, at, windows in jobs:
            if self.stopping.is_set():
                break  # SIGTERM: the write in progress finished; start no other
            done = heal.restore(
                self._registry, target, name, at, self.git.repo, frozenset(seen), windows
            )
            if done.run_id:
                seen.add(done.run_id)  # this controller's own heal is no news to the next
            self.metrics.heals.labels(name, done.result).inc()
            self._details[name] = (done.detail, done.changes)
            if done.result == "held":  # still pending: applied when its window lets it
                continue
            conditions[name] = done.result
            touched.append(name)
        if not touched:
            return statuses
        try:
            done_now = self._read_log(self._registry, touched)
            applied_now, _, unverified_now = self._applied(
                _only(head, frozenset(touched)), done_now
            )
            again = classify(
                _only(head, frozenset(touched)),
                applied_now,
                self._registry.read(*by_kind(touched, filter(head.prompt, touched))),
                unverified_now,
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
        if not self.leading():
            pass  # a standby sends nothing, so nothing counts as notified: it tells on taking over
        elif only is None:
            self._notified = remember(self._notified, conditions)
        else:
            self._notified.update(remember(self._notified, conditions))
        events = []
        for model, event in news:
            status = by_name.get(model)
            detail, changes = self._details.pop(model, ("", ()))
            drift = status.drift if status is not None and event != "healed" else changes
            notice = Notice(event, model, tuple(drift), detail or (applied_commit or "")[:12])
            text = self._publish_text(notice)
            events.append(Event(time.time(), model, event, text))
            level = logging.WARNING if event in LOUD else logging.INFO
            logs.event(event, text, model=model, workspace=self.settings.workspace, level=level)
        if not ok:
            logs.event("round_failed", "; ".join(errors) or "round failed", level=logging.ERROR)
        elif errors:
            logs.event("round_warning", "; ".join(errors), level=logging.WARNING)
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
            leader=self.leading(),
            events=(*reversed(events), *old.events)[:RECENT],
        )

    def _publish_text(self, notice: Notice) -> str:
        """Send one notification (the leader only); its one-line text is kept for the
        status page."""
        if self.leading():
            self._publish(body(notice, self.snapshot.registry, self.settings.workspace))
        return summary(notice, self.snapshot.registry)
