"""End-to-end plan/apply through the CLI against real mlflow servers (sqlite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, write_state
from tests.support.seed import client, seed_model


def aliases_of(url: str, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client(url).get_registered_model(name).aliases.items()}


def state_for(tmp: Path, name: str, body: str) -> str:
    return str(write_state(tmp, f"models:\n  {json.dumps(name)}:\n{body}"))


def test_plan_shows_alias_changes_and_apply_makes_them(cli: Cli, name: str) -> None:
    """plan lists the alias add/update; apply --yes makes the registry match and verifies."""
    seed_model(cli.url, name, [{}, {}, {}], {"champion": 1})
    state = state_for(cli.cwd, name, "    aliases:\n      champion: 3\n      archived: 1\n")
    planned = cli("plan", "--state", state)
    assert planned.exit_code == 0, planned.output
    assert "~ alias champion: 1 -> 3" in planned.stdout
    assert "+ alias archived: 1" in planned.stdout
    assert "Plan: 1 to add, 1 to change, 0 to remove." in planned.stdout
    applied = cli("apply", "--state", state, "--yes")
    assert applied.exit_code == 0, applied.output
    assert aliases_of(cli.url, name) == {"champion": 3, "archived": 1}
    again = cli("plan", "--state", state, "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout


def test_editing_the_file_back_and_applying_restores_previous_aliases(cli: Cli, name: str) -> None:
    """The rollback story in miniature: apply, edit the state back, apply again."""
    seed_model(cli.url, name, [{}, {}], {"champion": 1})
    state = state_for(cli.cwd, name, "    aliases: {champion: 2, archived: 1}\n")
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    state = state_for(cli.cwd, name, "    aliases: {champion: 1, archived: 2}\n")
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    assert aliases_of(cli.url, name) == {"champion": 1, "archived": 2}


def test_second_apply_on_converged_registry_writes_nothing(cli: Cli, name: str) -> None:
    """A converged registry gets no writes: the audit tags of the first apply stay as they were."""
    seed_model(cli.url, name, [{}, {}])
    state = state_for(cli.cwd, name, "    aliases: {champion: 2}\n")
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    tags = client(cli.url).get_model_version(name, "2").tags
    assert json.loads(tags["reconciler.applied"])["aliases"] == ["champion"]
    second = cli("apply", "--state", state, "--yes")
    assert second.exit_code == 0 and "No changes" in second.stdout
    assert client(cli.url).get_model_version(name, "2").tags == tags


def test_detailed_exitcode_is_2_when_changes_are_pending(cli: Cli, name: str) -> None:
    """--detailed-exitcode: 2 with pending changes."""
    seed_model(cli.url, name, [{}])
    state = state_for(cli.cwd, name, "    aliases: {champion: 1}\n")
    assert cli("plan", "--state", state, "--detailed-exitcode").exit_code == 2


def test_missing_version_fails_plan_with_file_and_line_and_apply_writes_nothing(
    cli: Cli, name: str
) -> None:
    """A version that does not exist: one error line naming file:line; no alias is set."""
    seed_model(cli.url, name, [{}], {"champion": 1})
    state = state_for(cli.cwd, name, "    aliases:\n      archived: 1\n      champion: 9\n")
    planned = cli("plan", "--state", state)
    assert planned.exit_code == 1
    assert planned.stderr.strip().splitlines() == [
        f"error: state/models.yaml:5: model {name!r} has no version 9"
    ]
    applied = cli("apply", "--state", state, "--yes")
    assert applied.exit_code == 1 and "nothing was written" in applied.stderr
    assert aliases_of(cli.url, name) == {"champion": 1}


def test_unknown_model_is_an_error(cli: Cli, name: str) -> None:
    """A model the registry does not have makes plan exit 1 naming it."""
    state = state_for(cli.cwd, name, "    aliases: {champion: 1}\n")
    result = cli("plan", "--state", state)
    assert result.exit_code == 1
    assert f"model {name!r} does not exist in the registry" in result.stderr


def test_prune_removes_unlisted_aliases_only_when_asked(cli: Cli, name: str) -> None:
    """Unlisted aliases stay without prune and are removed with prune: true."""
    seed_model(cli.url, name, [{}, {}], {"champion": 1, "old": 2})
    state = state_for(cli.cwd, name, "    aliases: {champion: 1}\n")
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    assert aliases_of(cli.url, name) == {"champion": 1, "old": 2}
    state = state_for(cli.cwd, name, "    aliases: {champion: 1}\n    prune: true\n")
    planned = cli("plan", "--state", state)
    assert "- alias old: 2 (removed)" in planned.stdout
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    assert aliases_of(cli.url, name) == {"champion": 1}


def test_model_tags_and_description_are_managed_only_for_listed_keys(cli: Cli, name: str) -> None:
    """Listed tags and the description are set; unlisted tags are left alone."""
    seed_model(cli.url, name, [{}])
    client(cli.url).set_registered_model_tag(name, "owner", "someone")
    state = state_for(cli.cwd, name, '    description: "Churn model"\n    tags: {team: growth}\n')
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    model = client(cli.url).get_registered_model(name)
    assert model.description == "Churn model"
    assert model.tags == {
        "team": "growth",
        "owner": "someone",
        "reconciler.managed": '{"description":true,"tags":["team"],"v":1}',
    }


def test_json_plan_has_the_spec_shape(cli: Cli, name: str) -> None:
    """plan --format json carries format_version, digests, changes and summary (SPEC §5)."""
    seed_model(cli.url, name, [{}, {}], {"champion": 1})
    state = state_for(cli.cwd, name, "    aliases: {champion: 2}\n")
    data = json.loads(cli("plan", "--state", state, "--format", "json").stdout)
    assert data["format_version"] == 1
    assert data["registry"] == cli.url
    assert data["state_digest"].startswith("sha256:")
    assert data["observed_digest"].startswith("sha256:")
    assert data["changes"] == [
        {
            "model": name,
            "workspace": None,  # SPEC §14: every change names its workspace (None: default)
            "kind": "alias",
            "key": "champion",
            "action": "update",
            "before": 1,
            "after": 2,
        }
    ]
    assert data["summary"] == {"add": 0, "update": 1, "remove": 0}


def test_saved_plan_applies_and_a_stale_one_is_refused(cli: Cli, name: str) -> None:
    """apply PLANFILE writes the saved changes; after a registry change it is refused as stale."""
    seed_model(cli.url, name, [{}, {}, {}], {"champion": 1})
    state = state_for(cli.cwd, name, "    aliases: {champion: 2}\n")
    assert cli("plan", "--state", state, "--out", "p.json").exit_code == 0
    client(cli.url).set_registered_model_alias(name, "champion", "3")
    stale = cli("apply", "--yes", "p.json")
    assert stale.exit_code == 1 and "stale" in stale.stderr
    assert aliases_of(cli.url, name) == {"champion": 3}
    assert cli("plan", "--state", state, "--out", "p.json").exit_code == 0
    fresh = cli("apply", "--yes", "p.json")
    assert fresh.exit_code == 0, fresh.output
    assert aliases_of(cli.url, name) == {"champion": 2}


def test_apply_without_tty_requires_yes(cli: Cli, name: str) -> None:
    """Without a terminal, apply refuses to run unless --yes is given, and writes nothing."""
    seed_model(cli.url, name, [{}, {}], {"champion": 1})
    state = state_for(cli.cwd, name, "    aliases: {champion: 2}\n")
    result = cli("apply", "--state", state)
    assert result.exit_code == 1 and "--yes" in result.stderr
    assert aliases_of(cli.url, name) == {"champion": 1}


def test_model_filter_plans_only_the_named_model(cli: Cli, name: str) -> None:
    """--model restricts the plan to that model."""
    other = name + "-other"
    seed_model(cli.url, name, [{}])
    seed_model(cli.url, other, [{}])
    body = (
        f"models:\n  {name}:\n    aliases: {{champion: 1}}\n"
        f"  {other}:\n    aliases: {{champion: 1}}\n"
    )
    state = str(write_state(cli.cwd, body))
    result = cli("plan", "--state", state, "--model", name, "--format", "json")
    assert {c["model"] for c in json.loads(result.stdout)["changes"]} == {name}


def test_names_with_quotes_and_filter_characters_match_only_themselves(cli: Cli, name: str) -> None:
    """Quotes, backslashes, % and _ in names neither break the filter nor match other models."""
    odd = [f'{name} it\'s "odd"', f"{name}%_x", f"{name} back\\slash"]
    decoy = f"{name}AAx"  # would match '{name}%_x' if it were read as a LIKE pattern
    for model in [*odd, decoy]:
        seed_model(cli.url, model, [{}, {}], {"champion": 1})
    body = "models:\n" + "".join(f"  {json.dumps(m)}:\n    aliases: {{champion: 2}}\n" for m in odd)
    state = str(write_state(cli.cwd, body))
    result = cli("apply", "--state", state, "--yes")
    assert result.exit_code == 0, result.output
    for model in odd:
        assert aliases_of(cli.url, model) == {"champion": 2}
    assert aliases_of(cli.url, decoy) == {"champion": 1}


def test_unreachable_registry_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A registry nobody listens on: one error line, exit 1, no traceback."""
    cli = Cli("http://127.0.0.1:9", tmp_path)
    state = state_for(tmp_path, "m", "    aliases: {champion: 1}\n")
    result = cli("plan", "--state", state, env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot reach the registry at http://127.0.0.1:9 (connection refused)"
    ]


def test_credentials_in_the_uri_never_appear_in_output(cli_sqlite: Cli, name: str) -> None:
    """User-info in --tracking-uri and the token value are redacted from every output."""
    seed_model(cli_sqlite.url, name, [{}])
    state = state_for(cli_sqlite.cwd, name, "    aliases: {champion: 1}\n")
    secret_uri = cli_sqlite.url.replace("http://", "http://alice:s3cr3tpw@") + "?token=qq123"
    env = {"MLFLOW_TRACKING_TOKEN": "tok-9f8e7d6c"}
    for args in (
        ["plan"],
        ["plan", "--format", "json"],
        ["plan", "--format", "markdown"],
        ["apply", "--yes"],
    ):
        result = cli_sqlite(*args, "--state", state, "--tracking-uri", secret_uri, env=env)
        for secret in ("s3cr3tpw", "alice", "qq123", "tok-9f8e7d6c"):
            assert secret not in result.output, (args, result.output)


def test_many_models_are_read_in_one_unfiltered_pass(cli_sqlite: Cli, name: str) -> None:
    """Over 100 declared models switch to an unfiltered read; only declared models change."""
    c = client(cli_sqlite.url)
    names = [f"{name}-{i:03d}" for i in range(101)]
    for model in [*names, f"{name}-decoy"]:
        c.create_registered_model(model)
        c.create_model_version(model, source="s3://bucket/model")
    body = "models:\n" + "".join(f"  {m}:\n    aliases: {{champion: 1}}\n" for m in names)
    state = str(write_state(cli_sqlite.cwd, body))
    result = cli_sqlite("apply", "--state", state, "--yes")
    assert result.exit_code == 0, result.output[-500:]
    assert "101 change(s) applied" in result.stdout
    assert aliases_of(cli_sqlite.url, names[-1]) == {"champion": 1}
    assert aliases_of(cli_sqlite.url, f"{name}-decoy") == {}
