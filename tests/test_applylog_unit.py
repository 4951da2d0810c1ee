"""The apply log's rules on plain data (core/applylog/): the lease, baselines, signatures."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.applylog.baseline import baselines, trusted
from reconciler.core.applylog.history import applied_moves
from reconciler.core.applylog.lease import Outcome, decide, unlockable
from reconciler.core.applylog.record import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    ApplyRecord,
    from_tags,
    to_tags,
)
from reconciler.core.applylog.signing import seal, sealed, sign, signed
from reconciler.state.audit import remote_identity

NOW = 1_800_000_000_000
REPO = "github.com/acme/ml-state"
KEY = "s3cret"


def run(
    run_id: str,
    start: int,
    status: str = RUNNING,
    end: int | None = None,
    commit: str = "c1",
    repo: str = REPO,
    scope: tuple[str, ...] | None = None,
    beat: int | None = None,
    apply_id: str = "",
) -> ApplyRecord:
    return ApplyRecord(
        run_id,
        status,
        start,
        end,
        actor="ada",
        commit=commit,
        repo=repo,
        scope=scope,
        changes=1,
        apply_id=apply_id or f"id-{run_id}",
        heartbeat_ms=beat,
    )


ME = run("m", NOW - 100)


def always(commit: str) -> bool:
    return True


# --- the lease -------------------------------------------------------------------------


def test_alone_proceeds() -> None:
    """No other run: go ahead."""
    assert decide(ME, [ME], NOW - 500, NOW).outcome is Outcome.PROCEED


def test_an_earlier_live_running_run_holds() -> None:
    """A RUNNING run that started first and beat recently holds the registry."""
    other = run("x", NOW - 300_000, beat=NOW - 5_000)
    verdict = decide(ME, [ME, other], NOW - 500, NOW)
    assert verdict.outcome is Outcome.HELD and verdict.other == other


def test_a_run_without_heartbeat_for_the_lease_is_dead() -> None:
    """Its newest heartbeat older than 60 s: it holds nothing and is to be ended."""
    other = run("x", NOW - 300_000, beat=NOW - 61_000)
    verdict = decide(ME, [ME, other], NOW - 500, NOW)
    assert verdict.outcome is Outcome.PROCEED and verdict.dead == (other,)


def test_a_run_dated_in_the_future_neither_holds_nor_stales() -> None:
    """A RUNNING run dated tomorrow, a FAILED run ended tomorrow: reported, ignored."""
    running = run("x", NOW + 86_400_000)
    failed = run("y", NOW - 1_000, FAILED, end=NOW + 86_400_000)
    verdict = decide(ME, [ME, running, failed], NOW - 500, NOW)
    assert verdict.outcome is Outcome.PROCEED
    assert set(verdict.future) == {running, failed} and not verdict.dead


def test_an_apply_that_ended_after_the_read_makes_the_plan_stale() -> None:
    """FINISHED after this plan read the registry: stale, stop."""
    other = run("x", NOW - 5_000, FINISHED, end=NOW - 200)
    assert decide(ME, [ME, other], NOW - 500, NOW).outcome is Outcome.STALE_PLAN


def test_a_heal_is_stale_when_any_run_ended_since_it_read_the_log() -> None:
    """Even with the other applier's clock behind: ``seen`` decides, not the clocks."""
    behind = run("x", NOW - 50_000, FINISHED, end=NOW - 40_000)
    assert decide(ME, [ME, behind], NOW - 500, NOW, seen=frozenset()).outcome is (
        Outcome.STALE_PLAN
    )
    seen = frozenset({"x"})
    assert decide(ME, [ME, behind], NOW - 500, NOW, seen=seen).outcome is Outcome.PROCEED


def test_a_later_running_run_is_waited_for() -> None:
    """A RUNNING run that started after this one has not decided yet."""
    later = run("z", NOW - 50)
    assert decide(ME, [ME, later], NOW - 500, NOW).outcome is Outcome.WAIT
    stood_back = replace(later, status=KILLED, end_ms=NOW - 10)
    assert decide(ME, [ME, stood_back], NOW - 500, NOW).outcome is Outcome.PROCEED


def test_ties_go_to_the_smaller_run_id() -> None:
    """Same start time: the smaller run id goes first, and both sides agree."""
    a, b = run("a", NOW - 100), run("b", NOW - 100)
    assert decide(a, [a, b], NOW - 500, NOW).outcome is Outcome.WAIT
    assert decide(b, [a, b], NOW - 500, NOW).outcome is Outcome.HELD


def test_a_duplicate_of_my_own_run_is_mine_to_end() -> None:
    """A create retried after a lost answer made a second run with my apply id."""
    twin = run("n", NOW - 90, apply_id=ME.apply_id)
    verdict = decide(ME, [ME, twin], NOW - 500, NOW)
    assert verdict.outcome is Outcome.PROCEED and verdict.duplicates == (twin,)


def test_unlock_refuses_a_live_run_and_takes_a_dead_one() -> None:
    """A fresh heartbeat: unlock says why not; past the lease it may."""
    assert "alive" in (unlockable(run("x", NOW - 300_000, beat=NOW - 3_000), NOW) or "")
    assert unlockable(run("x", NOW - 300_000, beat=NOW - 70_000), NOW) is None
    assert "not RUNNING" in (unlockable(run("x", NOW, FINISHED, end=NOW), NOW) or "")


# --- records and signatures ------------------------------------------------------------


def test_tags_round_trip_and_hostile_tags_read_as_absent() -> None:
    """to_tags/from_tags agree; garbage in a tag never raises."""
    record = replace(run("r", NOW, scope=("a", "b"), beat=NOW + 5), signature="v1:x")
    back = from_tags("r", RUNNING, NOW, None, to_tags(record))
    assert back.scope == ("a", "b") and back.heartbeat_ms == NOW + 5 and back.repo == REPO
    odd = from_tags(
        "r", RUNNING, NOW, None, {"reconciler.scope": "{", "reconciler.heartbeat": "9" * 5000}
    )
    assert odd.scope == () and odd.heartbeat_ms is None


def test_signature_covers_every_field() -> None:
    """Changing the commit, scope, count, id or start time breaks the signature."""
    record = run("r", NOW, FINISHED, end=NOW + 10)
    good = replace(record, signature=sign(record, KEY), seal=seal(record, KEY, NOW + 10))
    assert signed(good, KEY) and sealed(good, KEY)
    for forged in (
        replace(good, commit="c2"),
        replace(good, scope=("m",)),
        replace(good, changes=0),
        replace(good, apply_id="other"),
        replace(good, start_ms=NOW + 1),
        replace(good, repo="github.com/evil/x"),
    ):
        assert not signed(forged, KEY)
    assert not signed(good, "another key")
    assert not sealed(replace(good, end_ms=NOW + 99), KEY)  # its end moved
    failed = replace(good, status=FAILED)
    assert not sealed(failed, KEY)


# --- baselines -------------------------------------------------------------------------


def test_the_newest_finished_run_of_this_repository_is_the_baseline() -> None:
    """Another repository's newer run is ignored, not reported."""
    mine = run("a", NOW - 9_000, FINISHED, end=NOW - 8_000, commit="c1")
    theirs = run("b", NOW - 2_000, FINISHED, end=NOW - 1_000, commit="z9", repo="other")
    found = baselines([mine, theirs], ["m"], REPO, None, always, NOW)
    assert found.runs == {"m": mine} and not found.suspects


def test_no_finished_run_means_no_baseline() -> None:
    """RUNNING and FAILED runs are never baselines: the model is unverified."""
    runs = [run("a", NOW - 9_000), run("b", NOW - 5_000, FAILED, end=NOW - 4_000)]
    assert baselines(runs, ["m"], REPO, None, always, NOW).runs == {}


def test_scope_limits_what_a_run_verified() -> None:
    """A --model run covers only its models; a converged whole-state run covers all."""
    whole = run("a", NOW - 9_000, FINISHED, end=NOW - 8_000, commit="c1")
    one = run("b", NOW - 2_000, FINISHED, end=NOW - 1_000, commit="c2", scope=("x",))
    found = baselines([whole, one], ["m", "x"], REPO, None, always, NOW)
    assert found.runs == {"m": whole, "x": one}


def test_with_a_key_unsigned_runs_are_suspects_never_baselines() -> None:
    """A forged FINISHED run (no signature) newer than the real one is reported."""
    real = run("a", NOW - 9_000, FINISHED, end=NOW - 8_000)
    real = replace(real, signature=sign(real, KEY), seal=seal(real, KEY, NOW - 8_000))
    forged = run("b", NOW - 2_000, FINISHED, end=NOW - 1_000, commit="evil")
    found = baselines([real, forged], ["m"], REPO, KEY, always, NOW)
    assert found.runs == {"m": real}
    assert [s.run for s in found.suspects] == [forged] and "signed" in found.suspects[0].reason


def test_a_commit_off_the_tracked_branch_is_never_a_baseline() -> None:
    """A run naming a pushed branch's commit (or HEAD's future) is reported."""
    good = run("a", NOW - 9_000, FINISHED, end=NOW - 8_000, commit="c1")
    off = run("b", NOW - 2_000, FINISHED, end=NOW - 1_000, commit="feature")
    found = baselines([good, off], ["m"], REPO, None, lambda c: c == "c1", NOW)
    assert found.runs == {"m": good} and "tracked branch" in found.suspects[0].reason


def test_dirty_and_future_runs_are_never_baselines() -> None:
    """Uncommitted changes prove no commit; a run ended tomorrow is not believed."""
    dirty = run("a", NOW - 9_000, FINISHED, end=NOW - 8_000, commit="c1-dirty")
    future = run("b", NOW - 2_000, FINISHED, end=NOW + 86_400_000)
    assert baselines([dirty, future], ["m"], REPO, None, always, NOW).runs == {}
    assert trusted([dirty, future], REPO, None, always, NOW) == []


def test_remote_identity_is_the_same_over_https_and_ssh() -> None:
    """User-info, scheme and .git suffix do not make another repository."""
    for url in (
        "https://x-access-token:ghs_abc@github.com/acme/ml-state.git",
        "git@github.com:acme/ml-state.git",
        "ssh://git@github.com/acme/ml-state",
        "https://github.com/acme/ml-state/",
    ):
        assert remote_identity(url) == REPO


# --- history ---------------------------------------------------------------------------


def test_a_converged_apply_credits_the_move() -> None:
    """A revert whose state an apply verified with no change is shown as applied."""
    from datetime import datetime, timezone

    from reconciler.state.history import Move

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    moves = [
        Move("c1", "a", "a@x", when, "promote", 2, 1),
        Move("c2", "a", "a@x", when, "revert", 1, 2),
    ]
    converged = replace(run("b", NOW, FINISHED, end=NOW + 1, commit="c2"), changes=0, models=())
    items = applied_moves(moves, ["c1", "c2"], [converged], "m")
    assert items[1].run == converged and items[0].run is None
