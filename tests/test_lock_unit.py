"""The lock decision (core/lock.py) on plain data: who holds, who waits, what is stale."""

from __future__ import annotations

from reconciler.core.lock import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    ApplyRecord,
    Outcome,
    decide,
    last_finished,
)

NOW = 10_000_000
TIMEOUT = 60_000


def run(run_id: str, start: int, status: str = RUNNING, end: int | None = None) -> ApplyRecord:
    return ApplyRecord(run_id, status, start, end, actor="ada", commit="c1")


ME = run("m", NOW - 100)


def test_alone_proceeds() -> None:
    """No other run: go ahead."""
    assert decide(ME, [ME], NOW - 500, NOW, TIMEOUT).outcome is Outcome.PROCEED


def test_an_earlier_fresh_running_run_holds() -> None:
    """A RUNNING run that started first holds the registry."""
    other = run("x", NOW - 5_000)
    verdict = decide(ME, [ME, other], NOW - 500, NOW, TIMEOUT)
    assert verdict.outcome is Outcome.HELD and verdict.other == other


def test_ties_go_to_the_smaller_run_id() -> None:
    """Same start time: the smaller run id goes first, and both sides agree."""
    a, b = run("a", NOW - 100), run("b", NOW - 100)
    assert decide(b, [a, b], NOW - 500, NOW, TIMEOUT).outcome is Outcome.HELD
    assert decide(a, [a, b], NOW - 500, NOW, TIMEOUT).outcome is Outcome.WAIT


def test_a_later_running_run_is_awaited_and_a_killed_one_ignored() -> None:
    """A later RUNNING run has not decided yet; once KILLED it no longer matters."""
    later = run("z", NOW - 50)
    assert decide(ME, [ME, later], NOW - 500, NOW, TIMEOUT).outcome is Outcome.WAIT
    gone = run("z", NOW - 50, KILLED, NOW - 10)
    assert decide(ME, [ME, gone], NOW - 500, NOW, TIMEOUT).outcome is Outcome.PROCEED


def test_an_apply_that_ended_after_the_plan_read_makes_it_stale() -> None:
    """FINISHED or FAILED after this plan read the registry: the plan may be stale."""
    for status in (FINISHED, FAILED):
        done = run("d", NOW - 20_000, status, NOW - 200)
        verdict = decide(ME, [ME, done], NOW - 500, NOW, TIMEOUT)
        assert verdict.outcome is Outcome.STALE_PLAN and verdict.other == done
    before = run("d", NOW - 20_000, FINISHED, NOW - 900)
    assert decide(ME, [ME, before], NOW - 500, NOW, TIMEOUT).outcome is Outcome.PROCEED


def test_a_running_run_past_the_timeout_is_stale_and_holds_nothing() -> None:
    """A dead apply's RUNNING run older than the timeout is reported, not obeyed."""
    dead = run("old", NOW - TIMEOUT - 1)
    verdict = decide(ME, [ME, dead], NOW - 500, NOW, TIMEOUT)
    assert verdict.outcome is Outcome.PROCEED and verdict.stale_locks == (dead,)


def test_last_finished_is_the_latest_verified_apply() -> None:
    """The controller's last applied commit: the FINISHED run that ended last."""
    runs = [
        run("a", 1, FINISHED, 5),
        run("b", 2, FINISHED, 9),
        run("c", 3, FAILED, 12),
        run("d", 4, RUNNING),
    ]
    found = last_finished(runs)
    assert found is not None and found.run_id == "b"
    assert last_finished([run("c", 3, FAILED, 12)]) is None
