"""Real authentication: ``mlflow server --app-name basic-auth`` (MLflow 3 and 2.22) with
READ / EDIT / MANAGE users, and ``MLFLOW_TRACKING_TOKEN`` through a bearer-token proxy.

What the README's GitOps set-up and docs/github-actions.md promise is checked here against
MLflow's own permission rules: plan needs READ, setting aliases EDIT, removing them MANAGE.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import Cli, require_mlflow2_python, write_state
from tests.support.auth import ADMIN, TokenProxy, Users, basic_auth_server, grant_experiment
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client, seed_model

PASSWORD = "Pw-" + uuid.uuid4().hex[:12]
"""Every test user's password (it must never be printed)."""


@pytest.fixture(
    scope="session", params=["mlflow3", pytest.param("mlflow2", marks=pytest.mark.mlflow2)]
)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A basic-auth server whose unknown users and ungranted models get no permission."""
    python = sys.executable if request.param == "mlflow3" else require_mlflow2_python()
    server = basic_auth_server(tmp_path_factory.mktemp(f"auth-{request.param}"), python).start()
    yield server
    server.stop()


@pytest.fixture
def admin(auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> Users:
    """Seeding and checking run as the admin; the CLI runs as the user each test names."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    return Users(auth_server)


def user(admin: Users, model: str, permission: str, log: str = "EDIT") -> dict[str, str]:
    """A new user with ``permission`` on ``model`` and ``log`` on the apply log's experiment;
    returns its MLflow credential env."""
    name = f"{permission.lower()}-{uuid.uuid4().hex[:6]}"
    admin.create(name, PASSWORD)
    admin.grant(name, model, permission)
    grant_experiment(admin, name, os.environ["RECONCILER_APPLY_EXPERIMENT"], log)
    return {"MLFLOW_TRACKING_USERNAME": name, "MLFLOW_TRACKING_PASSWORD": PASSWORD}


def aliases_of(url: str, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client(url).get_registered_model(name).aliases.items()}


def state(cli: Cli, name: str, body: str) -> str:
    return str(write_state(cli.cwd, f"models:\n  {json.dumps(name)}:\n{body}"))


def assert_refused(result: Result) -> None:
    """One error line saying the server refused, exit 1, no advice to run it again."""
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    said = errors[0].lower()
    assert "permission denied" in said or "refused the credentials" in said, errors[0]
    assert "again" not in result.output.lower(), result.output
    assert "Traceback" not in result.output
    assert PASSWORD not in result.output


def test_read_user_plans_and_reads_status_and_import(
    auth_server: MlflowServer, admin: Users, tmp_path: Path, name: str
) -> None:
    """A READ user can plan (changes pending), show status and import the model."""
    seed_model(auth_server.url, name, [{}, {}], {"champion": 1})
    env = user(admin, name, "READ")
    cli = Cli(auth_server.url, tmp_path)
    path = state(cli, name, "    aliases: {champion: 2}\n")
    plan = cli("plan", "--state", path, "--detailed-exitcode", env=env)
    assert plan.exit_code == 2, plan.output
    assert "champion" in plan.stdout
    status = cli("status", name, "--format", "json", env=env)
    assert status.exit_code == 0, status.output
    assert [row["aliases"] for row in json.loads(status.stdout)] == [[], ["champion"]]
    imported = cli("import", "--model", name, env=env)
    assert imported.exit_code == 0, imported.output
    assert "champion: 1" in imported.stdout
    assert all(PASSWORD not in r.output for r in (plan, status, imported))


def test_read_user_apply_is_refused_in_one_line_and_writes_nothing(
    auth_server: MlflowServer, admin: Users, tmp_path: Path, name: str
) -> None:
    """A READ user's apply fails with one permission line, no retry advice, nothing written."""
    seed_model(auth_server.url, name, [{}, {}], {"champion": 1})
    env = user(admin, name, "READ")
    cli = Cli(auth_server.url, tmp_path)
    result = cli(
        "apply", "--yes", "--state", state(cli, name, "    aliases: {champion: 2}\n"), env=env
    )
    assert_refused(result)
    assert aliases_of(auth_server.url, name) == {"champion": 1}
    tags = client(auth_server.url).get_model_version(name, "2").tags
    assert not [key for key in tags if key.startswith("reconciler.")]


def test_edit_user_sets_aliases_and_removing_one_needs_manage(
    auth_server: MlflowServer, admin: Users, tmp_path: Path, name: str
) -> None:
    """EDIT is enough to set aliases (and audit tags); removing an alias needs MANAGE."""
    seed_model(auth_server.url, name, [{}, {}], {"champion": 1, "old": 1})
    editor = user(admin, name, "EDIT")
    cli = Cli(auth_server.url, tmp_path)
    moved = cli(
        "apply", "--yes", "--state", state(cli, name, "    aliases: {champion: 2}\n"), env=editor
    )
    assert moved.exit_code == 0, moved.output
    assert aliases_of(auth_server.url, name) == {"champion": 2, "old": 1}
    pruned = state(cli, name, "    aliases: {champion: 2}\n    prune: true\n")
    assert_refused(cli("apply", "--yes", "--state", pruned, env=editor))
    assert aliases_of(auth_server.url, name) == {"champion": 2, "old": 1}
    manager = user(admin, name, "MANAGE")
    removed = cli("apply", "--yes", "--state", pruned, env=manager)
    assert removed.exit_code == 0, removed.output
    assert aliases_of(auth_server.url, name) == {"champion": 2}


def test_a_log_the_user_cannot_write_stops_apply_before_any_write(
    auth_server: MlflowServer, admin: Users, tmp_path: Path, name: str
) -> None:
    """EDIT on the model but only READ on the apply log's experiment: apply stops before
    any registry write, in one line naming --no-apply-log; with it, the apply goes ahead."""
    seed_model(auth_server.url, name, [{}, {}], {"champion": 1})
    env = user(admin, name, "EDIT", log="READ")
    cli = Cli(auth_server.url, tmp_path)
    path = state(cli, name, "    aliases: {champion: 2}\n")
    result = cli("apply", "--yes", "--state", path, env=env)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the apply log cannot be written: permission denied"), line
    assert "nothing was written" in line and "--no-apply-log" in line
    assert PASSWORD not in result.output
    assert aliases_of(auth_server.url, name) == {"champion": 1}
    assert not [
        k
        for k in client(auth_server.url).get_registered_model(name).tags
        if k.startswith("reconciler.")
    ]
    unlogged = cli("apply", "--yes", "--no-apply-log", "--state", path, env=env)
    assert unlogged.exit_code == 0, unlogged.output
    assert aliases_of(auth_server.url, name) == {"champion": 2}


def test_wrong_password_is_one_line_and_never_printed(
    auth_server: MlflowServer, admin: Users, tmp_path: Path, name: str
) -> None:
    """A wrong password ends plan in one line saying the credentials were not accepted."""
    seed_model(auth_server.url, name, [{}])
    env = user(admin, name, "READ") | {"MLFLOW_TRACKING_PASSWORD": "wrong-" + PASSWORD}
    cli = Cli(auth_server.url, tmp_path)
    result = cli("plan", "--state", state(cli, name, "    aliases: {champion: 1}\n"), env=env)
    assert_refused(result)
    assert "did not accept the credentials of" in result.stderr and "(HTTP 401)" in result.stderr
    assert "wrong-" not in result.output


def test_token_auth_through_a_bearer_proxy(url: str, tmp_path: Path, name: str) -> None:
    """MLFLOW_TRACKING_TOKEN reaches the server as a bearer header; a wrong one is one line."""
    seed_model(url, name, [{}, {}], {"champion": 1})
    token = "tok-" + uuid.uuid4().hex
    with TokenProxy(url, token) as proxy:
        cli = Cli(proxy.url, tmp_path)
        path = state(cli, name, "    aliases: {champion: 2}\n")
        applied = cli("apply", "--yes", "--state", path, env={"MLFLOW_TRACKING_TOKEN": token})
        assert applied.exit_code == 0, applied.output
        assert aliases_of(url, name) == {"champion": 2}
        assert any(seen.startswith("POST ") for seen in proxy.seen)
        wrong = cli("plan", "--state", path, env={"MLFLOW_TRACKING_TOKEN": "tok-wrong-123"})
        assert_refused(wrong)
        assert token not in applied.output + wrong.output and "tok-wrong-123" not in wrong.output
