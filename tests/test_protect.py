"""Protected aliases (SPEC §22): one typo must not remove the production champion.

Plain data for the rules; one real server and the CLI for the story a user lives through
(`champoin: 3` validates, and the plan refuses instead of removing champion).
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.ownership import MANAGED_TAG, Managed, encode
from reconciler.core.plan import Action, compute_plan
from reconciler.core.protect import distance
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import ModelSpec, state_schema
from tests.conftest import Cli, write_state
from tests.support.seed import client, seed_model
from tests.test_errors_state import validate, write


def held(**aliases: int) -> ObservedState:
    """Model ``m`` holding ``aliases``, every one recorded as the state's (applied before)."""
    record = encode(Managed(aliases=frozenset(aliases)))[0]
    versions = {n: ObservedVersion(n) for n in (1, 2, 3)}
    obs = ObservedModel("m", aliases=aliases, tags={MANAGED_TAG: record}, versions=versions)
    return ObservedState({"m": obs})


def plan_of(body: dict[str, Any], observed: ObservedState) -> Any:
    spec = ModelSpec.model_validate(body)
    return compute_plan(DesiredState({"m": spec}, {"m": Source("s.yaml", 3)}, ("s",)), observed)


def test_removing_champion_is_an_error_at_the_models_line() -> None:
    """champion recorded, no longer declared: a located error naming the alias and how to
    remove it on purpose; the plan cannot be applied."""
    plan = plan_of({"aliases": {"archived": 1}}, held(champion=2, archived=1))
    (problem,) = plan.problems
    assert (problem.file, problem.line) == ("s.yaml", 3)
    assert problem.message == (
        "the plan would remove the protected alias 'champion' (v2) of 'm': declare "
        "`champion: null` to remove it on purpose"
    )
    assert not plan.applyable


def test_champion_null_removes_it_on_purpose() -> None:
    """`champion: null`: the removal is planned, no error."""
    plan = plan_of({"aliases": {"archived": 1, "champion": None}}, held(champion=2, archived=1))
    assert plan.applyable
    assert [(c.key, c.action) for c in plan.changes] == [("champion", Action.REMOVE)]


def test_unprotected_aliases_are_removed_as_before() -> None:
    """archived is not protected by default: removing it is an ordinary change."""
    plan = plan_of({"aliases": {"champion": 2}}, held(champion=2, archived=1))
    assert plan.applyable and [c.key for c in plan.changes] == ["archived"]


def test_a_models_protect_list_replaces_the_default() -> None:
    """`protect: [archived]`: archived is refused, champion may go."""
    body = {"aliases": {}, "protect": ["archived"]}
    plan = plan_of(body, held(champion=2, archived=1))
    assert [p.message.split(" of ")[0] for p in plan.problems] == [
        "the plan would remove the protected alias 'archived' (v1)"
    ]
    assert plan_of({"aliases": {}, "protect": []}, held(champion=2)).applyable


def test_a_typo_gets_did_you_mean_in_the_error_and_a_note() -> None:
    """`champoin: 3` beside a held champion: the removal error suggests the fix, and the
    new alias gets a note even where nothing is removed."""
    plan = plan_of({"aliases": {"champoin": 3}}, held(champion=2))
    (problem,) = plan.problems
    assert problem.message.endswith("; did you mean 'champion' instead of 'champoin'?")
    assert [n.message for n in plan.notes] == [
        "new alias 'champoin' is close to 'champion', which the model holds: "
        "did you mean 'champion'?"
    ]
    unrecorded = ObservedState({"m": ObservedModel("m", aliases={"champion": 2})})
    assert any(
        "did you mean 'champion'" in n.message
        for n in plan_of({"aliases": {"champoin": 3}}, unrecorded).notes
    )


def test_near_is_two_edits_and_short_names_need_fewer() -> None:
    """Swaps count one edit; `challenger` is no typo of `champion`; `ac` none of `ab`
    (one edit in two letters is a different name); a held alias still declared is no miss."""
    assert distance("champoin", "champion") == 1
    assert distance("chmapion", "champion") == 1
    assert distance("challenger", "champion") > 2
    assert plan_of({"aliases": {"ac": 1}}, held(ab=2)).notes == ()
    assert plan_of({"aliases": {"champions": 1, "champion": 2}}, held(champion=2)).notes == ()


def test_file_defaults_protect_every_model_and_a_models_own_list_wins(tmp_path: Any) -> None:
    """`defaults: {protect: [prod]}` reaches each model; a model's `protect` replaces it."""
    from reconciler.state.load import load_state

    write(
        tmp_path / "state/m.yaml",
        "defaults:\n  protect: [prod]\nmodels:\n  a: {aliases: {prod: 1}}\n"
        "  b:\n    aliases: {prod: 1}\n    protect: [champion, prod]\n",
    )
    models = load_state(tmp_path / "state").parts[0].models
    assert models["a"].protected() == ("prod",)
    assert models["b"].protected() == ("champion", "prod")
    assert validate(tmp_path).exit_code == 0


def test_the_schema_accepts_null_aliases_and_protect() -> None:
    """Editors accept `champion: null` and `protect`; the internal field is not offered."""
    model = state_schema()["$defs"]["ModelSpec"]["properties"]  # type: ignore[index]
    assert {"type": "null"} in model["aliases"]["additionalProperties"]["anyOf"]
    assert "protect" in model and "removed" not in model


def test_a_typo_in_the_state_refuses_the_plan_and_apply_writes_nothing(
    cli_sqlite: Cli, name: str
) -> None:
    """The story from the issue on a real server: champion applied from the state, then a
    commit writes `champoin: 3`. validate passes, plan and apply fail at the model's line
    naming champion and the likely fix, and the registry is untouched."""
    seed_model(cli_sqlite.url, name, [{}, {}, {}])
    state = write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n")
    assert cli_sqlite("apply", "--yes", "--state", str(state)).exit_code == 0
    write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champoin: 3}}\n")
    assert cli_sqlite("validate", "--state", str(state)).exit_code == 0
    plan = cli_sqlite("plan", "--state", str(state), "--format", "json")
    assert plan.exit_code == 1
    (error,) = json.loads(plan.stdout)["errors"]
    assert (error["file"], error["line"]) == ("state/models.yaml", 2)
    assert "protected alias 'champion'" in error["message"] and "champoin" in error["message"]
    applied = cli_sqlite("apply", "--yes", "--state", str(state))
    assert applied.exit_code == 1 and "protected alias 'champion'" in applied.stderr
    live = client(cli_sqlite.url).get_registered_model(name).aliases
    assert live == {"champion": "2"}
