"""Taking the lock (logged_apply.acquire) over an in-memory apply log: who proceeds, who
stands back, and that a run never keeps the lock when its apply stops before writing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest

from reconciler.core.lock import FAILED, FINISHED, KILLED, RUNNING, ApplyRecord
from reconciler.core.plan import Action, Change, Kind, Plan
from reconciler.errors import ApplyError, RegistryError
from reconciler.logged_apply import acquire, run_logged
from reconciler.state.audit import AuditInfo

AUDIT = AuditInfo("2026-01-01T00:00:00+00:00", "ada", "c0ffee")
PLAN = Plan(
    registry="http://r",
    state_digest="s",
    observed_digest="o",
    models=("m",),
    changes=(Change("m", Kind.ALIAS, "champion", Action.UPDATE, 1, 2),),
)


@dataclass
class MemoryLog:
    """The ApplyLog port over a list of runs (plain data, no MLflow)."""

    name: str = "reconciler-applies"
    runs: dict[str, ApplyRecord] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    fail_attach: bool = False

    def start(
        self,
        commit: str | None,
        actor: str,
        registry: str,
        models: list[str],
        workspaces: tuple[str, ...] = (),
        tags: Mapping[str, str] | None = None,
    ) -> ApplyRecord:
        run = ApplyRecord(
            f"r{len(self.runs) + 5}", RUNNING, int(time.time() * 1000), None, actor, commit or ""
        )
        self.runs[run.run_id] = run
        return run

    def recent(self, limit: int = 100, status: str | None = None) -> list[ApplyRecord]:
        return sorted(self.runs.values(), key=lambda r: r.start_ms, reverse=True)[:limit]

    def all(self, status: str | None = None) -> list[ApplyRecord]:
        return sorted(self.runs.values(), key=ApplyRecord.key)

    def attach(self, run_id: str, filename: str, text: str) -> None:
        if self.fail_attach:
            raise RegistryError("artifact store unreachable")
        self.files[f"{run_id}/{filename}"] = text

    def end(self, run_id: str, status: str) -> None:
        self.runs[run_id] = replace(
            self.runs[run_id], status=status, end_ms=int(time.time() * 1000)
        )

    def unlock(self, run_id: str) -> ApplyRecord:
        self.end(run_id, KILLED)
        return self.runs[run_id]


def test_alone_it_takes_the_lock_attaches_the_plan_and_finishes() -> None:
    """No other apply: proceed, plan.json stored, FINISHED after the apply."""
    log = MemoryLog()
    lease = acquire(log, PLAN, AUDIT, int(time.time() * 1000) - 10)
    assert f"{lease.run.run_id}/plan.json" in log.files
    assert run_logged(log, lease, lambda: "done") == "done"
    assert log.runs[lease.run.run_id].status == FINISHED


def test_a_holder_makes_it_stand_back_killed() -> None:
    """An earlier RUNNING apply: exit 1 naming it, own run KILLED, no plan attached."""
    log = MemoryLog()
    holder = log.start("c1", "grace", "r", ["m"])
    with pytest.raises(ApplyError, match=f"run {holder.run_id} by grace"):
        acquire(log, PLAN, AUDIT, int(time.time() * 1000) - 10)
    mine = [r for r in log.runs.values() if r.run_id != holder.run_id]
    assert [r.status for r in mine] == [KILLED] and not log.files


def test_a_log_failing_half_way_leaves_no_lock_behind() -> None:
    """plan.json cannot be stored: the apply stops naming --no-apply-log, its run KILLED."""
    log = MemoryLog(fail_attach=True)
    with pytest.raises(ApplyError, match="--no-apply-log"):
        acquire(log, PLAN, AUDIT, int(time.time() * 1000) - 10)
    assert [r.status for r in log.runs.values()] == [KILLED]


def test_a_failed_apply_ends_its_run_failed() -> None:
    """The apply raises: the run ends FAILED and the apply's own error propagates."""
    log = MemoryLog()
    lease = acquire(log, PLAN, AUDIT, int(time.time() * 1000) - 10)

    def boom() -> None:
        raise ApplyError("verification failed")

    with pytest.raises(ApplyError, match="verification failed"):
        run_logged(log, lease, boom)
    assert log.runs[lease.run.run_id].status == FAILED
