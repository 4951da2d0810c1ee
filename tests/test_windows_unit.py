"""Promotion windows and soak gates as pure decisions on plain data (SPEC v4 §18)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.core.holding import hold, still_blocked, without
from reconciler.core.observed import AliasSet, ObservedModel, ObservedState, ObservedVersion
from reconciler.core.plan import compute_plan
from reconciler.core.resolve import Resolved
from reconciler.core.soak import aliases_tag, check_soak, parse_sets, span
from reconciler.core.windows import blocked
from reconciler.errors import StateErrors
from reconciler.state.load import load_state
from reconciler.state.models import CopyFrom, SoakRule
from reconciler.state.windows import Window

UTC = timezone.utc
FREEZE = Window(
    deny="0 16 * * FRI", duration="64h", timezone="Europe/Berlin", reason="weekend freeze"
)
OFFICE = Window(allow="0 8 * * MON-FRI", duration="10h")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_deny_window_is_open_from_its_match_for_its_duration_in_its_zone() -> None:
    """Fri 16:00 Berlin (15:00 UTC in winter) + 64h = Mon 07:00 UTC."""
    assert blocked("m", [FREEZE], at(2026, 12, 4, 14, 59)) is None
    found = blocked("m", [FREEZE], at(2026, 12, 4, 15, 0))
    assert found is not None and found.until == at(2026, 12, 7, 7, 0)
    assert found.reason == "weekend freeze"
    assert found.window == 'deny "0 16 * * FRI" for 64h (Europe/Berlin)'
    assert blocked("m", [FREEZE], at(2026, 12, 7, 7, 0)) is None


def test_deny_window_follows_daylight_saving_time() -> None:
    """In summer, Fri 16:00 Berlin is 14:00 UTC."""
    assert blocked("m", [FREEZE], at(2026, 7, 3, 13, 59)) is None
    assert blocked("m", [FREEZE], at(2026, 7, 3, 14, 0)) is not None


def test_allow_windows_block_outside_and_name_the_next_opening() -> None:
    """Closed allow: blocked until it next opens; open allow: free."""
    saturday = blocked("m", [OFFICE], at(2026, 12, 5, 12, 0))
    assert saturday is not None and saturday.until == at(2026, 12, 7, 8, 0)
    assert blocked("m", [OFFICE], at(2026, 12, 7, 8, 0)) is None
    assert blocked("m", [OFFICE], at(2026, 12, 7, 18, 0)) is not None


def test_deny_wins_over_an_open_allow() -> None:
    """Both open: the deny window blocks."""
    found = blocked("m", [OFFICE, Window(deny="0 9 * * *", duration="1h")], at(2026, 12, 7, 9, 30))
    assert (
        found is not None
        and found.window.startswith("deny")
        and found.until == at(2026, 12, 7, 10, 0)
    )


def test_overlapping_matches_extend_the_deny_window() -> None:
    """Hourly matches of a 90m window chain: it closes 90m after the last overlapping one."""
    chain = Window(deny="0 9-11 * * *", duration="90m")
    found = blocked("m", [chain], at(2026, 12, 7, 9, 10))
    assert found is not None and found.until == at(2026, 12, 7, 12, 30)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_cron_duration_and_zone_are_errors_at_their_lines(tmp_path: Path) -> None:
    """validate names each bad value at its line."""
    path = write(
        tmp_path,
        "defaults:\n  windows:\n    - {deny: '0 99 * * *', duration: 1h}\n"
        "models:\n  m:\n    windows:\n      - {allow: '0 8 * *', duration: 1h}\n"
        "      - {deny: '0 8 * * *', duration: 5x, timezone: Mars/Base}\n"
        "      - {deny: '0 8 * * *', allow: '0 9 * * *', duration: 1h}\n"
        "    aliases: {a: 1}\n    gates:\n      a:\n        - {soak: 2y, in: '@'}\n",
    )
    with pytest.raises(StateErrors) as caught:
        load_state(path)
    lines = sorted((e.line, e.message) for e in caught.value.errors)
    text = "\n".join(f"{n}: {m}" for n, m in lines)
    assert "3: defaults.windows.0.deny: '0 99 * * *' is not a valid cron expression" in text
    assert "7: m.windows.0.allow: '0 8 * *' is not a 5-field cron expression" in text
    assert "8: m.windows.1.duration: '5x' is not a duration" in text
    assert "8: m.windows.1.timezone: 'Mars/Base' is not a time zone" in text
    assert "9: m.windows.2: " in text and "exactly one of 'deny' or 'allow'" in text
    assert "13: m.gates.a.0.soak: '2y' is not a duration" in text


def test_defaults_windows_come_first_then_the_models_own(tmp_path: Path) -> None:
    """A model's windows are the file's defaults plus its own."""
    path = write(
        tmp_path,
        "defaults:\n  windows:\n    - {deny: '0 16 * * FRI', duration: 64h}\n"
        "models:\n  m:\n    windows:\n      - {allow: '0 8 * * *', duration: 10h}\n  n: {}\n",
    )
    models = load_state(path).models
    assert [w.kind for w in models["m"].windows] == ["deny", "allow"]
    assert [w.kind for w in models["n"].windows] == ["deny"]


def test_plan_blocks_only_models_with_changes_and_apply_holds_them(tmp_path: Path) -> None:
    """A blocked model keeps its changes in the plan (not an error); hold() drops them."""
    path = write(
        tmp_path,
        "defaults:\n  windows:\n    - {deny: '* * * * *', duration: 1h}\n"
        "models:\n  a:\n    aliases: {champion: 2}\n  b:\n    aliases: {champion: 1}\n",
    )
    desired = load_state(path).parts[0]
    versions = {n: ObservedVersion(n) for n in (1, 2)}
    observed = ObservedState(
        {n: ObservedModel(n, {"champion": 1}, versions=versions) for n in ("a", "b")}
    )
    now = at(2026, 12, 7, 9, 0)
    plan = compute_plan(desired, observed, now=now)
    assert plan.applyable and [b.model for b in plan.blocked] == ["a"]
    assert compute_plan(desired, observed).blocked == ()  # no clock: not judged
    held = still_blocked(plan, now)
    assert hold(plan, held).changes == ()
    assert still_blocked(plan, held[0].until) == ()  # the window has closed by then
    state = load_state(path)
    assert sorted(without(state, held).names()) == ["b"]


def target(number: int | None, copy: CopyFrom | None = None) -> Resolved:
    declared = copy if copy is not None else (number or 1)
    return Resolved("prod", "champion", declared, number, ObservedVersion(number or 1))


def staging(holder: int | None) -> ObservedState:
    aliases = {} if holder is None else {"champion": holder}
    return ObservedState({"stg": ObservedModel("stg", aliases)})


RULE = SoakRule.model_validate({"soak": "24h", "in": "stg@champion"})
NOW = at(2026, 12, 7, 9, 12)
COPY = CopyFrom.model_validate({"from": "stg", "version": 7})


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_soak_fails_with_how_long_of_how_long_since_and_run() -> None:
    """Held 3h12m of 24h: the failure says so, with since and the run."""
    sets = [AliasSet("1a2b3c4d5e", "stg", "champion", 7, ms(at(2026, 12, 7, 6, 0)))]
    result = check_soak(target(None, COPY), RULE, staging(7), sets, NOW)
    assert not result.passed
    assert result.reason.endswith(
        "stg v7 has held champion for 3h12m of 24h (since 2026-12-07T06:00:00Z, run 1a2b3c4d)"
    )
    later = check_soak(target(None, COPY), RULE, staging(7), sets, NOW + timedelta(hours=21))
    assert later.passed and later.value is not None and later.value >= 24 * 3600


def test_soak_needs_the_version_to_hold_the_alias_now_and_an_apply_that_set_it() -> None:
    """Moved away: fails; never set by an apply, or set to another version last: fails."""
    old = ms(NOW - timedelta(days=3))
    sets = [AliasSet("r1", "stg", "champion", 7, old)]
    moved = check_soak(target(None, COPY), RULE, staging(8), sets, NOW)
    assert "stg v7 does not hold champion (v8 does)" in moved.reason
    assert (
        "no verified apply set stg@champion to v7"
        in check_soak(target(None, COPY), RULE, staging(7), [], NOW).reason
    )
    later = [*sets, AliasSet("r2", "stg", "champion", 8, old + 1000)]
    assert not check_soak(target(None, COPY), RULE, staging(7), later, NOW).passed


def test_a_forged_untrusted_record_never_opens_the_gate() -> None:
    """A record whose signature does not check out is not counted."""
    forged = [AliasSet("evil", "stg", "champion", 7, ms(NOW - timedelta(days=9)), False)]
    assert not check_soak(target(None, COPY), RULE, staging(7), forged, NOW).passed


def test_this_models_alias_and_the_log_tag_round_trip() -> None:
    """``in: ALIAS`` reads this model; the apply run's tag parses back; junk is ignored."""
    rule = SoakRule.model_validate({"soak": "1h", "in": "challenger"})
    assert rule.where("prod") == ("prod", "challenger")
    from reconciler.core.plantypes import Action, Change, Kind

    tag = aliases_tag([Change("stg", Kind.ALIAS, "champion", Action.UPDATE, 1, 7)])
    assert tag == '{"stg@champion":7}'
    assert parse_sets("r", tag, 5) == [AliasSet("r", "stg", "champion", 7, 5)]
    assert parse_sets("r", "not json", 5) == [] and parse_sets("r", '{"x": true}', 5) == []
    assert (span(59), span(3600 * 3 + 720), span(86400 * 2 + 3600)) == ("59s", "3h12m", "2d1h")


def test_a_hostile_reason_is_escaped_and_a_saved_plan_keeps_the_block(tmp_path: Path) -> None:
    """A reason from a pull request cannot add markup to the PR comment; the JSON plan
    carries the block on the change and back (a saved plan holds it until ``until``)."""
    from reconciler.render.markdown import render_markdown
    from reconciler.render.planfile import from_dict, to_dict

    path = write(
        tmp_path,
        "models:\n  a:\n    aliases: {champion: 2}\n    windows:\n"
        "      - {deny: '* * * * *', duration: 1h, reason: '<!-- x --> @admin [y](http://e)'}\n",
    )
    desired = load_state(path).parts[0]
    versions = {n: ObservedVersion(n) for n in (1, 2)}
    observed = ObservedState({"a": ObservedModel("a", {"champion": 1}, versions=versions)})
    plan = compute_plan(desired, observed, now=at(2026, 12, 7, 9, 0))
    md = render_markdown(plan)
    assert "<!--" not in md and "](http" not in md and " @admin" not in md
    data = to_dict(plan)
    assert data["changes"][0]["blocked"]["until"] == "9999-12-31T23:59:59Z"  # never closes
    again = from_dict(data)
    assert again.blocked == plan.blocked
