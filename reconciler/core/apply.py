"""Carry out a plan: exactly its changes and ownership records, sets before removals.

Apply never re-plans. If any write of a phase fails, later phases do not start, so a
desired alias is never removed before its replacement is set (SPEC §6.2); the report
says what was and was not applied, and running apply again converges (SPEC §6.5).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from reconciler.core.observed import MANAGED_TAG
from reconciler.core.plan import Change, Kind, Plan
from reconciler.core.ports import Registry
from reconciler.errors import ReconcilerError, UnreachableError
from reconciler.state.audit import APPLIED, AuditInfo

Progress = Callable[[int], None]
Job = Callable[[], None]


@dataclass
class ApplyReport:
    """What happened to each change of the plan."""

    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)
    record_errors: list[str] = field(default_factory=list)
    """Failures writing the ownership record (``reconciler.managed``)."""
    audit_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.skipped or self.record_errors or self.audit_errors)


def phases(changes: Iterable[Change]) -> list[list[Change]]:
    """Sets first, removals second (both in plan order)."""
    changes = list(changes)
    return [[c for c in changes if not c.is_removal], [c for c in changes if c.is_removal]]


INTERRUPTED = "interrupted (SIGINT/SIGTERM, or the apply's lease was lost): no new write started"
NOT_ATTEMPTED = "not attempted"
"""The result of a job that never ran: an earlier one found the registry unreachable."""


def _run_all(
    jobs: list[Job],
    workers: int,
    progress: Progress | None,
    unreachable: threading.Event,
    stop: threading.Event | None = None,
) -> list[str | None]:
    """Run jobs with bounded concurrency; the error message per job, None on success.

    Once a job finds the registry ``unreachable``, jobs not yet started (in this and any
    later call given the same event) are not attempted (``NOT_ATTEMPTED``): a dead server
    costs one round of retries, not one per write. Once ``stop`` is set (SIGTERM, or the
    apply's lease could not be renewed), no new write starts; those in flight finish.
    """

    def run(job: Job) -> str | None:
        if unreachable.is_set() or (stop is not None and stop.is_set()):
            return NOT_ATTEMPTED
        try:
            job()
            return None
        except UnreachableError as exc:
            unreachable.set()
            return exc.message
        except ReconcilerError as exc:
            return exc.message
        finally:
            if progress is not None:
                progress(1)

    if workers <= 1 or len(jobs) <= 1:
        return [run(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))


def resolve_copies(change: Change, made: dict[tuple[str, str], int]) -> Change:
    """An alias change that points at a copy made by this apply, with its version number."""
    if change.kind is Kind.ALIAS and isinstance(change.after, dict):
        where = f"{change.after['registry']}:" if change.after.get("registry") else ""
        source = f"{where}models:/{change.after['from']}/{change.after['version']}"
        return replace(change, after=made[(change.model, source)])
    return change


def _record_jobs(plan: Plan, registry: Registry, after_removals: bool) -> list[Job]:
    return [
        functools.partial(registry.set_model_tag, r.model, MANAGED_TAG, r.value)
        for r in plan.records
        if r.after_removals is after_removals
    ]


def audit_jobs(changes: Iterable[Change], registry: Registry, audit: AuditInfo) -> list[Job]:
    """One audit tag per version that gained an alias or stage (SPEC §6.4)."""
    aliases: dict[tuple[str, int], list[str]] = {}
    stages: dict[tuple[str, int], str] = {}
    for change in changes:
        got = change.gained()
        if got is not None:
            aliases.setdefault((change.model, got[0]), [])
            if change.kind is Kind.ALIAS:
                aliases[(change.model, got[0])].append(got[1])
            else:
                stages[(change.model, got[0])] = got[1]
    return [
        functools.partial(
            registry.set_version_tag, m, v, APPLIED, audit.tag_value(names, stages.get((m, v)))
        )
        for (m, v), names in sorted(aliases.items())
    ]


def execute(
    plan: Plan,
    registry: Registry,
    audit: AuditInfo,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> ApplyReport:
    """Write the plan's changes to the registry. The caller has checked ``plan.applyable``.

    Order: copies (each waited for until READY), ownership records that claim new keys,
    sets, removals, records that release removed keys, then audit tags. A failed phase
    stops the later ones. The report lists alias changes with the copies' real numbers.
    """
    report = ApplyReport()
    workers, dead = registry.concurrency, threading.Event()
    copies = [c for c in plan.changes if c.kind is Kind.COPY]
    made: dict[tuple[str, str], int] = {}
    for change in copies:
        if stop is not None and stop.is_set():
            report.skipped = [c for c in plan.changes if c not in report.applied]
            return report
        source_model, _, number = change.key.rpartition("/")
        try:
            made[(change.model, str(change.after))] = registry.copy_version(
                change.model, source_model, int(number)
            )
        except ReconcilerError as exc:
            report.failed.append((change, exc.message))
            report.skipped = [c for c in plan.changes if c is not change and c not in copies]
            report.skipped += copies[len(made) + 1 :]
            return report
        report.applied.append(change)
        if progress is not None:
            progress(1)
    errors = _run_all(_record_jobs(plan, registry, False), workers, None, dead, stop)
    if any(errors) or (stop is not None and stop.is_set()):
        report.record_errors = sorted({e for e in errors if e is not None})
        report.skipped = [c for c in plan.changes if c.kind is not Kind.COPY]
        return report
    todo = phases(resolve_copies(c, made) for c in plan.changes if c.kind is not Kind.COPY)
    for index, phase in enumerate(todo):
        jobs: list[Job] = [functools.partial(registry.write, c) for c in phase]
        results = _run_all(jobs, workers, progress, dead, stop)
        for change, error in zip(phase, results, strict=True):
            if error is None:
                report.applied.append(change)
            elif error == NOT_ATTEMPTED:
                report.skipped.append(change)
            else:
                report.failed.append((change, error))
        if report.failed or report.skipped:
            report.skipped += [c for later in todo[index + 1 :] for c in later]
            break
    if not report.failed:
        errors = _run_all(_record_jobs(plan, registry, True), workers, None, dead)
        report.record_errors = sorted({e for e in errors if e is not None})
    errors = _run_all(audit_jobs(report.applied, registry, audit), workers, None, dead)
    report.audit_errors = sorted({e for e in errors if e is not None})
    return report
