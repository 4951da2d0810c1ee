"""A model's applied state (SPEC §17): the newest verified apply of *this* repository.

The controller heals toward it, ``history`` credits moves to it, the soak gate counts
from it. A run is a baseline for a model when it is ``FINISHED``, of the same state
repository, its scope covers the model, its commit is clean and on the tracked branch
(HEAD or an ancestor), its times are not in the future and, with a key, its seal is
valid. Runs of other repositories are simply someone else's record. Runs that claim
this repository but fail a check are *suspects*: reported (status, notification), never
used. A model with no baseline is ``unverified``: nothing falls back to HEAD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.core.applylog.lease import in_future
from reconciler.core.applylog.record import FINISHED, ApplyRecord
from reconciler.core.applylog.signing import sealed, signed


@dataclass(frozen=True)
class Suspect:
    """A run that claims this repository but cannot be believed, and why."""

    run: ApplyRecord
    reason: str

    def line(self) -> str:
        """One line for the status page, logs and notifications."""
        return (
            f"apply-log run {self.run.run_id} ignored: {self.reason} (commit "
            f"{self.run.commit[:12] or '-'}, actor {self.run.actor or '-'})"
        )


@dataclass(frozen=True)
class Baselines:
    """Per model, the run whose commit is its applied state; and the suspects seen."""

    runs: dict[str, ApplyRecord]
    suspects: tuple[Suspect, ...] = ()


def doubt(
    run: ApplyRecord, key: str | None, on_branch: Callable[[str], bool], now_ms: int
) -> str | None:
    """Why a run of this repository is not to be believed (None: it is)."""
    if in_future(run, now_ms):
        return "dated in the future of this clock"
    if key is not None and not signed(run, key):
        return "not signed with RECONCILER_LOG_KEY (forged?)"
    if key is not None and run.status == FINISHED and not sealed(run, key):
        return "its FINISHED state is not sealed with RECONCILER_LOG_KEY (forged?)"
    if run.dirty:
        return "applied from uncommitted changes"
    if not run.commit or not on_branch(run.commit):
        return f"commit {run.commit[:12] or '(none)'} is not on the tracked branch"
    return None


def baselines(
    runs: Iterable[ApplyRecord],
    models: Iterable[str],
    repo: str,
    key: str | None,
    on_branch: Callable[[str], bool],
    now_ms: int,
) -> Baselines:
    """The newest believable ``FINISHED`` run of ``repo`` covering each of ``models``.

    Runs are checked newest first and only until every model has its baseline, so
    ``on_branch`` (a git call) runs for few of them.
    """
    wanted = set(models)
    found: dict[str, ApplyRecord] = {}
    suspects: list[Suspect] = []
    candidates = sorted(
        (r for r in runs if r.status == FINISHED and r.repo == repo),
        key=lambda r: (r.end_ms or r.start_ms, r.start_ms, r.run_id),
        reverse=True,
    )
    for run in candidates:
        if wanted <= set(found):
            break
        covered = [m for m in sorted(wanted - set(found)) if run.covers(m)]
        if not covered:
            continue
        reason = doubt(run, key, on_branch, now_ms)
        if reason is not None:
            if reason != "applied from uncommitted changes":
                suspects.append(Suspect(run, reason))
            continue
        for model in covered:
            found[model] = run
    return Baselines(found, tuple(suspects))


def trusted(
    runs: Iterable[ApplyRecord],
    repo: str,
    key: str | None,
    on_branch: Callable[[str], bool],
    now_ms: int,
) -> list[ApplyRecord]:
    """Every believable ``FINISHED`` run of ``repo`` (``history``, the soak gate)."""
    return [
        r
        for r in runs
        if r.status == FINISHED and r.repo == repo and doubt(r, key, on_branch, now_ms) is None
    ]
