"""Carry out a plan: exactly its changes, sets before removals, then audit tags.

Apply never re-plans. If any write of a phase fails, later phases do not start, so a
desired alias is never removed before its replacement is set (SPEC §6.2); the report
says what was and was not applied, and running apply again converges (SPEC §6.5).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reconciler.audit import AuditInfo
from reconciler.errors import ReconcilerError
from reconciler.plan import Change, Kind, Plan
from reconciler.ports import Registry

Progress = Callable[[int], None]


@dataclass
class ApplyReport:
    """What happened to each change of the plan."""

    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)
    audit_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.audit_errors


def phases(changes: Iterable[Change]) -> list[list[Change]]:
    """Sets first, removals second (both in plan order)."""
    changes = list(changes)
    return [[c for c in changes if not c.is_removal], [c for c in changes if c.is_removal]]


def _run_all(
    jobs: list[Callable[[], None]], workers: int, progress: Progress | None
) -> list[str | None]:
    """Run jobs with bounded concurrency; the error message per job, None on success."""

    def run(job: Callable[[], None]) -> str | None:
        try:
            job()
            return None
        except ReconcilerError as exc:
            return exc.message
        finally:
            if progress is not None:
                progress(1)

    if workers <= 1 or len(jobs) <= 1:
        return [run(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))


def execute(
    plan: Plan, registry: Registry, audit: AuditInfo, progress: Progress | None = None
) -> ApplyReport:
    """Write the plan's changes to the registry. The caller has checked ``plan.applyable``."""
    report = ApplyReport()
    todo = phases(plan.changes)
    for index, phase in enumerate(todo):
        jobs: list[Callable[[], None]] = [functools.partial(registry.write, c) for c in phase]
        for change, error in zip(
            phase, _run_all(jobs, registry.concurrency, progress), strict=True
        ):
            if error is None:
                report.applied.append(change)
            else:
                report.failed.append((change, error))
        if report.failed:
            report.skipped = [c for later in todo[index + 1 :] for c in later]
            break
    touched = sorted(
        {
            (c.model, v)
            for c in report.applied
            if c.kind in (Kind.ALIAS, Kind.STAGE)
            for v in c.touched_versions()
        }
    )
    tag_jobs: list[Callable[[], None]] = [
        functools.partial(registry.set_version_tag, m, v, k, val)
        for m, v in touched
        for k, val in audit.tags().items()
    ]
    errors = _run_all(tag_jobs, registry.concurrency, None)
    report.audit_errors = sorted({e for e in errors if e is not None})
    return report
