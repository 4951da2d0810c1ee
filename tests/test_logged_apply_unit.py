"""Taking the lease (logged_apply.acquire) over an in-memory apply log: who proceeds, who
waits, who stands back, and that a run never keeps the lock when its apply stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest

from reconciler import logged_apply
from reconciler.core.applylog.record import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    SEAL,
    ApplyRecord,
)
from reconciler.core.applylog.signing import sealed, signed
from reconciler.core.plan import Action, Change, Kind, Plan
from reconciler.errors import ApplyError, RegistryError
from reconciler.logged_apply import acquire, run_logged
from reconciler.state.audit import AuditInfo

AUDIT = AuditInfo("2026-01-01T00:00:00+00:00", "ada", "c0ffee", repo="github.com/acme/s")
PLAN = Plan(
    registry="http://r",
    state_digest="s",
    observed_digest="o",
    models=("m",),
    changes=(Change("m", Kind.ALIAS, "champion", Action.UPDATE, 1, 2),),
)


@dataclass
class MemoryLog:
    """The ApplyLog port over a dict of runs (plain data, no MLflow)."""

    name: str = "reconciler-applies"
    runs: dict[str, ApplyRecord] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    fail_attach: bool = False
    fail_beat: bool = False
    beats: int = 0

    def start(self, draft: ApplyRecord, tags: Mapping[str, str] | None = None) -> ApplyRecord:
        run = replace(draft, run_id=f"r{len(self.runs) + 5}")
        self.tags[run.run_id] = dict(tags or {})
        self.runs[run.run_id] = run
        return run

    def recent(self, limit: int = 100, status: str | None = None) -> list[ApplyRecord]:
        return sorted(self.runs.values(), key=lambda r: r.start_ms, reverse=True)[:limit]

    def finished_of(self, repo: str, limit: int = 200) -> list[ApplyRecord]:
        return [r for r in self.recent() if r.status == FINISHED and r.repo == repo]

    def all(self, status: str | None = None) -> list[ApplyRecord]:
        return sorted(self.runs.values(), key=ApplyRecord.key)

    def attach(self, run_id: str, filename: str, text: str) -> None:
        if self.fail_attach:
            raise RegistryError("artifact store unreachable")
        self.files[f"{run_id}/{filename}"] = text

    def beat(self, run_id: str) -> None:
        if self.fail_beat:
            raise RegistryError("cannot reach the registry at http://r (timed out)")
        self.beats += 1

    def end(
        self,
        run_id: str,
        status: str,
        end_ms: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.tags.setdefault(run_id, {}).update(tags or {})
        when = end_ms if end_ms is not None else int(time.time() * 1000)
        seal = (tags or {}).get(SEAL, self.runs[run_id].seal)
        self.runs[run_id] = replace(self.runs[run_id], status=status, end_ms=when, seal=seal)

    def get(self, run_id: str) -> ApplyRecord:
        return self.runs[run_id]

    def add(self, run_id: str, start_ms: int, beat_ms: int, actor: str = "grace") -> ApplyRecord:
        run = ApplyRecord(run_id, RUNNING, start_ms, None, actor, "c1", heartbeat_ms=beat_ms)
        self.runs[run_id] = run
        return run


def now_ms() -> int:
    return int(time.time() * 1000)


def test_alone_it_takes_the_lock_attaches_the_plan_and_finishes() -> None:
    """No other apply: proceed, plan.json stored, FINISHED with what it applied."""
    log = MemoryLog()
    lease = acquire(log, PLAN, AUDIT, now_ms() - 10)
    assert f"{lease.run.run_id}/plan.json" in log.files
    assert lease.run.repo == "github.com/acme/s" and lease.run.changes == 1
    assert run_logged(log, lease, lambda: "done", 1) == "done"
    assert log.runs[lease.run.run_id].status == FINISHED
    assert "reconciler.result" not in log.tags[lease.run.run_id]  # FINISHED says it all


def test_a_live_holder_makes_it_stand_back_killed() -> None:
    """An earlier live RUNNING apply: exit 1 naming it, own run KILLED, no plan attached."""
    log = MemoryLog()
    holder = log.add("r1", now_ms() - 1_000, now_ms() - 1_000)
    with pytest.raises(ApplyError, match=f"run {holder.run_id} by grace"):
        acquire(log, PLAN, AUDIT, now_ms() - 10)
    mine = [r for r in log.runs.values() if r.run_id != holder.run_id]
    assert [r.status for r in mine] == [KILLED] and not log.files


def test_a_dead_holder_is_ended_killed_and_the_apply_proceeds() -> None:
    """No heartbeat for 60 s: the next apply ends it KILLED, says so once, goes ahead."""
    log = MemoryLog()
    dead = log.add("r1", now_ms() - 600_000, now_ms() - 61_000)
    said: list[str] = []
    lease = acquire(log, PLAN, AUDIT, now_ms() - 10, say=said.append)
    assert log.runs[dead.run_id].status == KILLED and lease.ended == [dead]
    assert len(said) == 1 and "sent no heartbeat" in said[0]
    lease.heartbeat.close()


def test_lock_timeout_waits_for_the_holder_to_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """--lock-timeout: retried while held; the holder ends KILLED (stood back) -> proceed."""
    monkeypatch.setattr(logged_apply, "HELD_POLL_SECONDS", 0.05)
    log = MemoryLog()
    holder = log.add("r1", now_ms() - 1_000, now_ms() - 1_000)
    threading.Timer(0.3, lambda: log.end(holder.run_id, KILLED)).start()
    lease = acquire(log, PLAN, AUDIT, now_ms() - 10, lock_timeout=5.0)
    assert log.runs[lease.run.run_id].status == RUNNING
    lease.heartbeat.close()


def test_a_log_failing_half_way_leaves_no_lock_behind() -> None:
    """plan.json cannot be stored: the apply stops naming --no-apply-log, its run KILLED."""
    log = MemoryLog(fail_attach=True)
    with pytest.raises(ApplyError, match="--no-apply-log"):
        acquire(log, PLAN, AUDIT, now_ms() - 10)
    assert [r.status for r in log.runs.values()] == [KILLED]


def test_a_failed_apply_ends_its_run_failed_with_what_it_did() -> None:
    """The apply raises: the run ends FAILED, its result says 1 applied of 3."""
    log = MemoryLog()
    lease = acquire(log, PLAN, AUDIT, now_ms() - 10)

    def boom() -> None:
        raise ApplyError("interrupted", ("applied      m: champion 1 -> 2", "not applied  x"))

    with pytest.raises(ApplyError, match="interrupted"):
        run_logged(log, lease, boom, 3)
    assert log.runs[lease.run.run_id].status == FAILED
    assert '"applied":1,"not_applied":2' in log.tags[lease.run.run_id]["reconciler.result"]


def test_with_a_key_the_run_is_signed_and_sealed(monkeypatch: pytest.MonkeyPatch) -> None:
    """RECONCILER_LOG_KEY: the created run is signed, the verified end sealed."""
    monkeypatch.setenv("RECONCILER_LOG_KEY", "k")
    log = MemoryLog()
    lease = acquire(log, PLAN, AUDIT, now_ms() - 10)
    run_logged(log, lease, lambda: None, 1)
    done = log.runs[lease.run.run_id]
    assert signed(done, "k") and sealed(done, "k") and not signed(done, "other")


def test_a_lost_lease_stops_new_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats failing past the lease minus two beats set the stop event."""
    monkeypatch.setattr(logged_apply, "HEARTBEAT", 0.01)
    monkeypatch.setattr(logged_apply, "LEASE", 0.05)
    log = MemoryLog(fail_beat=True)
    lease = acquire(log, PLAN, AUDIT, now_ms() - 10)
    assert lease.stop.wait(5)
    lease.heartbeat.close()


def test_lock_timeout_waits_before_planning_so_a_finished_holder_is_no_stale_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Terraform's order: wait while a live apply holds the registry, then read and plan;
    the holder FINISHED meanwhile, so the fresh plan is not stale and the apply proceeds."""
    monkeypatch.setattr(logged_apply, "HELD_POLL_SECONDS", 0.05)
    log = MemoryLog()
    holder = log.add("r1", now_ms() - 1_000, now_ms() - 1_000)
    threading.Timer(0.3, lambda: log.end(holder.run_id, FINISHED)).start()
    said: list[str] = []
    logged_apply.await_free(log, 5.0, said.append)
    assert log.runs[holder.run_id].status == FINISHED and "waiting up to 5s" in said[0]
    # the plan is read after the wait: at least a request later than the holder's end (in
    # memory the two can fall in one millisecond, which the rule counts as "after")
    lease = acquire(log, PLAN, AUDIT, now_ms() + 1)
    assert log.runs[lease.run.run_id].status == RUNNING
    lease.heartbeat.close()
