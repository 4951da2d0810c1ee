"""The shell of a logged apply (SPEC §12, §17): take the lease, write, end the run.

An apply (``reconciler apply``, a heal, a converged apply alike) first creates its own
``RUNNING`` run, signed when ``RECONCILER_LOG_KEY`` is set, starts renewing its
heartbeat, then asks ``core.applylog.lease.decide`` whether it may go ahead: it waits up
to ``--lock-timeout`` while another live apply holds the registry, ends dead applies'
runs ``KILLED``, and only then touches the registry. The run ends ``FINISHED`` (sealed)
once verified, ``FAILED`` on any error or interruption, ``KILLED`` when it stood back.
If the log cannot be written, nothing is written at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from reconciler.core.applylog.baseline import Baselines, baselines
from reconciler.core.applylog.lease import (
    HEARTBEAT,
    LEASE,
    Outcome,
    Verdict,
    alive,
    decide,
    in_future,
)
from reconciler.core.applylog.record import (
    FAILED,
    FINISHED,
    KILLED,
    RESULT,
    RUNNING,
    SEAL,
    ApplyRecord,
)
from reconciler.core.applylog.signing import KEY_ENV, seal, sign
from reconciler.core.plan import Plan
from reconciler.core.ports import ApplyLog, Registry
from reconciler.core.scopes import workspaces
from reconciler.core.soak import ALIASES_TAG, aliases_tag
from reconciler.errors import ApplyError, ReconcilerError, RegistryError
from reconciler.render.planfile import to_json
from reconciler.state.audit import AuditInfo

WAIT_SECONDS = 10.0
"""How long an apply waits for a later simultaneous apply to stand back."""
POLL_SECONDS = 0.2
"""How often the lock is read again while a simultaneous apply decides."""
HELD_POLL_SECONDS = 2.0
"""How often the lock is read again while ``--lock-timeout`` waits for a holder."""
RECENT_READ = 100
"""Runs one search of the log returns (the adapter's default)."""
OVERRIDE_TAG = "reconciler.override"
"""On an apply run: the reason given to ``--override-window`` (SPEC v4 §18)."""
NO_LOG_HINT = "pass --no-apply-log to apply without the log (and without the lock)"
T = TypeVar("T")
Say = Callable[[str], None]


class LockRefused(ApplyError):
    """Another apply holds the registry, or ended after this plan read it: nothing was
    written, and trying again later is the fix (a heal waits for the next round)."""


def log_key() -> str | None:
    """``RECONCILER_LOG_KEY``: the secret CI and the controller share (None: unsigned)."""
    return os.environ.get(KEY_ENV) or None


class Heartbeat:
    """Renews the run's lease every ``HEARTBEAT`` s on a daemon thread. When it cannot
    for longer than the lease minus two beats, it sets ``stop``: another apply will soon
    take the registry, so this one must start no new write."""

    def __init__(self, log: ApplyLog, run_id: str, stop: threading.Event) -> None:
        self._log, self._run_id, self.stop = log, run_id, stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="apply-heartbeat", daemon=True)
        self.failures = 0

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        last_ok = time.monotonic()
        while not self._done.wait(HEARTBEAT):
            try:
                self._log.beat(self._run_id)
                last_ok = time.monotonic()
            except ReconcilerError:
                self.failures += 1
                if time.monotonic() - last_ok > LEASE - 2 * HEARTBEAT:
                    self.stop.set()

    def close(self) -> None:
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


@dataclass
class Lease:
    """This apply's run, which holds the registry until it ends."""

    run: ApplyRecord
    heartbeat: Heartbeat
    stop: threading.Event
    """Set on SIGINT/SIGTERM or a lost lease: no new write starts."""
    ended: list[ApplyRecord] = field(default_factory=list)
    """Dead applies' runs this apply ended ``KILLED`` (reported once)."""


def open_log(
    registry: Registry, workspace: str | None = None, retry_seconds: float | None = None
) -> ApplyLog:
    """The apply log on the registry's own tracking server, in the apply's default
    workspace (``--workspace`` / MLFLOW_WORKSPACE): that team's lock and history.
    ``retry_seconds``: how long a call retries transient failures (a controller's reads
    fail fast: the next round is the retry)."""
    from reconciler.mlflow.applylog import RETRY_SECONDS, MlflowApplyLog

    target = registry.in_workspace(workspace) if workspace else registry
    return MlflowApplyLog.of(target, RETRY_SECONDS if retry_seconds is None else retry_seconds)


def log_workspace(plan: Plan, default: str | None) -> str | None:
    """Where an apply's log run and lock live: ``--workspace`` / MLFLOW_WORKSPACE, else
    the one workspace the plan touches (a team's apply is logged where that team may
    write, and ``history`` finds it beside the model), else the server's default."""
    if default is not None:
        return default
    named = {w for w in workspaces(plan) if w is not None}
    return named.pop() if len(named) == 1 else None


def unlock_command(run_id: str) -> str:
    return f"reconciler unlock {run_id}"


def dead_warning(run: ApplyRecord) -> str:
    """One line for a dead apply's run that this apply ended."""
    return (
        f"apply run {run.run_id} by {run.actor or 'unknown'}, started {run.started}, sent no "
        f"heartbeat for {int(LEASE)} s: it was ended KILLED (what it wrote is in the log; "
        "this apply converges the rest)"
    )


def future_warning(run: ApplyRecord) -> str:
    return (
        f"apply run {run.run_id} by {run.actor or 'unknown'} is dated in the future "
        f"({run.started}): ignored by the lock (a wrong clock, or a forged run)"
    )


def format_seconds(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _refusal(verdict: Verdict, waited: float) -> str:
    other = verdict.other
    who = f"run {other.run_id} by {other.actor or 'unknown'}" if other else "another run"
    if verdict.outcome is Outcome.HELD and other is not None:
        return (
            f"another apply holds the registry: {who}, started {other.started}, is RUNNING "
            f"(heartbeat {int(max(0, time.time() * 1000 - other.last_beat_ms) // 1000)} s ago); "
            f"nothing was written (waited {format_seconds(waited)}: pass --lock-timeout 5m to "
            f"wait for it; a dead apply releases the lock {int(LEASE)} s after its last heartbeat)"
        )
    if verdict.outcome is Outcome.STALE_PLAN and other is not None:
        return (
            f"another apply ({who}) ended at {other.ended}, after this plan read the "
            "registry; nothing was written; run apply again"
        )
    return f"another apply ({who}) started at the same time and went ahead; nothing was written"


def _logged(call: Callable[[], T], what: str) -> T:
    """A log call that must succeed before any registry write (retried inside)."""
    try:
        return call()
    except RegistryError as exc:
        raise ApplyError(
            f"the apply log cannot be {what}: {exc.message}; nothing was written; {NO_LOG_HINT}"
        ) from exc


def draft(
    plan: Plan, audit: AuditInfo, scope: tuple[str, ...] | None, key: str | None
) -> ApplyRecord:
    """The record a new run will carry, signed when there is a key."""
    models = tuple(sorted({c.model for c in plan.changes} | {r.model for r in plan.records}))
    named = ",".join(w for w in workspaces(plan) if w is not None)
    now = int(time.time() * 1000)
    record = ApplyRecord(
        run_id="",
        status=RUNNING,
        start_ms=now,
        end_ms=None,
        actor=audit.actor,
        commit=audit.commit or "",
        registry=plan.registry,
        workspace=named or os.environ.get("MLFLOW_WORKSPACE", ""),
        models=models,
        repo=audit.repo,
        scope=scope,
        changes=len(plan.changes),
        apply_id=uuid.uuid4().hex,
        heartbeat_ms=now,
    )
    if key is not None:
        from dataclasses import replace

        record = replace(record, signature=sign(record, key))
    return record


def acquire(
    log: ApplyLog,
    plan: Plan,
    audit: AuditInfo,
    read_ms: int,
    scope: tuple[str, ...] | None = None,
    lock_timeout: float = 0.0,
    seen: frozenset[str] | None = None,
    stop: threading.Event | None = None,
    say: Say = lambda line: None,
    override: str | None = None,
) -> Lease:
    """Start this apply's run and take the lock, or stop (exit 1) before any write.

    ``read_ms`` is when the plan began reading the registry; ``seen`` (heals) the runs
    that had ended when the log was read; ``scope`` the models covered (None: all). The
    run also records the aliases the plan sets (soak gates count from it) and
    ``override``: why a promotion window was overridden (``apply --override-window``).
    """
    stop = stop or threading.Event()
    tags = {ALIASES_TAG: sets} if (sets := aliases_tag(plan.changes)) else {}
    if override is not None:
        tags[OVERRIDE_TAG] = override
    me = _logged(lambda: log.start(draft(plan, audit, scope, log_key()), tags), "written")
    beat = Heartbeat(log, me.run_id, stop).start()
    lease = Lease(me, beat, stop)
    try:
        _take(log, lease, read_ms, lock_timeout, seen, say)
        _logged(lambda: log.attach(me.run_id, "plan.json", to_json(plan)), "written")
    except BaseException:
        # standing back, interrupted, or the log failing half-way: hold nothing
        beat.close()
        with contextlib.suppress(ReconcilerError):
            log.end(me.run_id, KILLED)
        raise
    return lease


def _take(
    log: ApplyLog,
    lease: Lease,
    read_ms: int,
    lock_timeout: float,
    seen: frozenset[str] | None,
    say: Say,
) -> None:
    """Decide, waiting for a simultaneous apply to stand back and (up to
    ``lock_timeout``) for a holder to finish; end dead and duplicate runs on the way."""
    started = time.monotonic()
    told: set[str] = set()
    while True:
        if lease.stop.is_set():
            raise ApplyError("interrupted before any write; nothing was written")
        runs = _logged(log.recent, "read")
        verdict = decide(lease.run, runs, read_ms, int(time.time() * 1000), seen)
        for run in (*verdict.dead, *verdict.duplicates):
            _logged(lambda run=run: log.end(run.run_id, KILLED), "written")  # type: ignore[misc]
            if run in verdict.dead:
                lease.ended.append(run)
                say(dead_warning(run))
        for run in verdict.future:
            if run.run_id not in told:
                told.add(run.run_id)
                say(future_warning(run))
        waited = time.monotonic() - started
        if verdict.outcome is Outcome.PROCEED:
            return
        if verdict.outcome is Outcome.WAIT and waited < WAIT_SECONDS:
            time.sleep(POLL_SECONDS)
            continue
        if verdict.outcome is Outcome.HELD and waited + HELD_POLL_SECONDS <= lock_timeout:
            lease.stop.wait(HELD_POLL_SECONDS)
            continue
        raise LockRefused(_refusal(verdict, waited))


def await_free(log: ApplyLog, timeout: float, say: Say = lambda line: None) -> None:
    """Before planning (``--lock-timeout``, as Terraform waits before it reads state):
    wait up to ``timeout`` while another live apply holds the registry, so that the plan is
    made after it finished and is not stale. ``acquire`` still decides."""
    started = time.monotonic()
    told = False
    while True:
        now = int(time.time() * 1000)
        live = sorted(
            (r for r in _logged(log.recent, "read") if alive(r, now)), key=ApplyRecord.key
        )
        if not live or time.monotonic() - started + HELD_POLL_SECONDS > timeout:
            return
        if not told:
            told = True
            say(
                f"apply run {live[0].run_id} by {live[0].actor or 'unknown'} holds the registry; "
                f"waiting up to {format_seconds(timeout)} for it before planning"
            )
        time.sleep(HELD_POLL_SECONDS)


def _result(applied: int, planned: int, error: str = "") -> dict[str, str]:
    body: dict[str, object] = {"applied": applied, "not_applied": planned - applied}
    if error:
        body["error"] = error[:2000]
    return {RESULT: json.dumps(body, separators=(",", ":"))}


def run_logged(log: ApplyLog, lease: Lease, apply: Callable[[], T], planned: int = 0) -> T:
    """Run ``apply`` under the lease; end the run ``FINISHED`` (sealed) or ``FAILED``
    (with what was and was not applied)."""
    try:
        result = apply()
    except BaseException as exc:
        lease.heartbeat.close()
        error = exc.message if isinstance(exc, ReconcilerError) else type(exc).__name__
        done = sum(1 for line in getattr(exc, "details", ()) if line.startswith("applied"))
        with contextlib.suppress(ReconcilerError):
            log.end(lease.run.run_id, FAILED, tags=_result(done, planned, error))
        raise
    lease.heartbeat.close()
    end_ms = int(time.time() * 1000)
    tags: dict[str, str] = {}  # FINISHED: everything applied (reconciler.changes says how much)
    if (key := log_key()) is not None:
        tags[SEAL] = seal(lease.run, key, end_ms)
    try:
        log.end(lease.run.run_id, FINISHED, end_ms, tags)
    except RegistryError as exc:
        raise ApplyError(
            f"all changes applied and verified, but the apply log run {lease.run.run_id} could "
            f"not be ended ({exc.message}); it holds the lock until {int(LEASE)} s after its "
            f"last heartbeat, or: {unlock_command(lease.run.run_id)}"
        ) from exc
    return result


@dataclass(frozen=True)
class LogView:
    """What one read of the log tells a controller (SPEC §17)."""

    baselines: Baselines
    holder: ApplyRecord | None
    """A live ``RUNNING`` apply (any repository): nothing is healed meanwhile."""
    seen: frozenset[str]
    """Runs that had ended at the read: a heal is stale if any other ends before it locks."""
    future: tuple[ApplyRecord, ...] = ()

    @property
    def newest(self) -> ApplyRecord | None:
        """The newest baseline run (what the page shows as the last apply)."""
        runs = self.baselines.runs.values()
        return max(runs, key=lambda r: (r.end_ms or 0, r.run_id)) if runs else None


def read_log(
    log: ApplyLog, models: list[str], repo: str, on_branch: Callable[[str], bool]
) -> LogView:
    """Baselines for ``models``, the live holder and the ended runs: one search of the
    latest runs, and one more of this repository's verified runs when a model's
    baseline is not among them."""
    now = int(time.time() * 1000)
    key = log_key()
    runs = log.recent()
    found = baselines(runs, models, repo, key, on_branch, now)
    if set(models) - set(found.runs) and len(runs) >= RECENT_READ:
        older = log.finished_of(repo)
        known = {r.run_id for r in runs}
        found = baselines(
            [*runs, *(r for r in older if r.run_id not in known)], models, repo, key, on_branch, now
        )
    live = [r for r in runs if alive(r, now)]
    return LogView(
        baselines=found,
        holder=min(live, key=ApplyRecord.key) if live else None,
        seen=frozenset(r.run_id for r in runs if r.status in (FINISHED, FAILED)),
        future=tuple(r for r in runs if in_future(r, now)),
    )
