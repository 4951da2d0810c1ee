"""Workspaces (SPEC §14) against a real ``mlflow server --enable-workspaces``, sqlite and
PostgreSQL: one state directory for several teams' workspaces, each converging on its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.render.escape import markdown_text
from tests.conftest import IN_CI, Cli
from tests.support.mlflow_server import MlflowServer, create_pg_database, drop_pg_database
from tests.support.seed import client
from tests.support.workspaces import (
    aliases_in,
    create_workspaces,
    in_workspace,
    seed_in,
    workspaces_server,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ws_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A workspaces-enabled server with workspaces ``team-a`` and ``team-b``."""
    work = tmp_path_factory.mktemp(f"mlflow-ws-{request.param}")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    if request.param == "postgres":
        try:
            uri = create_pg_database("reconciler_ws")
        except Exception as exc:  # psycopg missing or PostgreSQL down
            if IN_CI:
                pytest.fail(f"PostgreSQL is required in CI: {exc}")
            pytest.skip(f"PostgreSQL not available: {exc}")
    server = workspaces_server(uri, work).start()
    create_workspaces(server.url, "team-a", "team-b")
    yield server
    server.stop()
    if request.param == "postgres":
        drop_pg_database(uri)


@pytest.fixture
def wcli(ws_server: MlflowServer, tmp_path: Path) -> Cli:
    """The CLI against the workspaces server (sqlite and PostgreSQL)."""
    return Cli(ws_server.url, tmp_path)


def log_workspaces(url: str, experiment: str) -> list[str]:
    """The ``reconciler.workspace`` tag of every apply-log run in the default workspace."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, "no apply log"
    runs = client.search_runs([found.experiment_id])
    return [r.data.tags.get("reconciler.workspace", "") for r in runs]


def state_file(cwd: Path, path: str, model: str, champion: int, workspace: str | None) -> None:
    """``state/<path>`` declaring ``model``'s champion (in ``workspace`` when given)."""
    file = cwd / "state" / path
    file.parent.mkdir(parents=True, exist_ok=True)
    head = f"workspace: {workspace}\n" if workspace else ""
    file.write_text(
        f"version: 1\n{head}models:\n  {model}:\n    aliases:\n      champion: {champion}\n",
        encoding="utf-8",
    )


def test_same_name_in_two_workspaces_is_planned_and_applied_in_one_run(
    wcli: Cli, name: str, apply_experiment: str
) -> None:
    """One state dir, one model name in team-a and team-b: one plan naming each workspace,
    one apply, each workspace converges to its own file; a later change touches one."""
    seed_in(wcli.url, "team-a", name, [{}, {}])
    seed_in(wcli.url, "team-b", name, [{}, {}, {}])
    state_file(wcli.cwd, "team-a/models.yaml", name, 1, "team-a")
    state_file(wcli.cwd, "team-b/models.yaml", name, 3, "team-b")

    plan = wcli("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "Workspaces: team-a, team-b" in plan.stdout
    assert f"model team-a/{name}  (state/team-a/models.yaml:4)" in plan.stdout
    assert f"model team-b/{name}  (state/team-b/models.yaml:4)" in plan.stdout
    data = json.loads(wcli("plan", "--format", "json").stdout)
    assert [(c["workspace"], c["model"], c["after"]) for c in data["changes"]] == [
        ("team-a", name, 1),
        ("team-b", name, 3),
    ]
    assert [s["workspace"] for s in data["workspaces"]] == ["team-a", "team-b"]
    markdown = wcli("plan", "--format", "markdown").stdout
    shown = markdown_text(f"team-b/{name}")  # escaped like every name
    assert f"| `+` | {shown} `state/team-b/models.yaml:4` | alias champion: 3 |" in markdown
    assert "?workspace=team-b" in markdown  # the UI link opens the right workspace

    applied = wcli("apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "2 change(s) applied and verified" in applied.stdout
    assert aliases_in(wcli.url, "team-a", name) == {"champion": 1}
    assert aliases_in(wcli.url, "team-b", name) == {"champion": 3}
    with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST"):
        aliases_in(wcli.url, None, name)  # the default workspace never saw it
    # one apply-log run, in the apply's default workspace, naming both workspaces it touched
    assert log_workspaces(wcli.url, apply_experiment) == ["team-a,team-b"]

    again = wcli("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout, again.output
    state_file(wcli.cwd, "team-b/models.yaml", name, 2, "team-b")
    moved = wcli("apply", "--yes")
    assert moved.exit_code == 0, moved.output
    assert f"model team-b/{name}" in moved.stdout and f"team-a/{name}" not in moved.stdout
    assert aliases_in(wcli.url, "team-a", name) == {"champion": 1}
    assert aliases_in(wcli.url, "team-b", name) == {"champion": 2}


def test_env_default_workspace_for_files_without_one(wcli: Cli, name: str) -> None:
    """MLFLOW_WORKSPACE (or --workspace) places a file without `workspace:`; the flag wins."""
    seed_in(wcli.url, "team-a", name)
    seed_in(wcli.url, "team-b", name)
    state_file(wcli.cwd, "models.yaml", name, 2, None)
    env = {"MLFLOW_WORKSPACE": "team-a"}
    plan = wcli("plan", env=env)
    assert plan.exit_code == 0, plan.output
    assert "Workspaces: team-a" in plan.stdout and f"model team-a/{name}" in plan.stdout
    assert wcli("apply", "--yes", env=env).exit_code == 0
    assert aliases_in(wcli.url, "team-a", name) == {"champion": 2}
    assert aliases_in(wcli.url, "team-b", name) == {}
    flagged = wcli("apply", "--yes", "--workspace", "team-b", env=env)
    assert flagged.exit_code == 0, flagged.output
    assert aliases_in(wcli.url, "team-b", name) == {"champion": 2}


def test_unknown_workspace_is_one_error_at_its_line_and_nothing_is_written(
    wcli: Cli, name: str
) -> None:
    """A file naming a workspace the server lacks fails the whole apply before any write."""
    seed_in(wcli.url, "team-a", name)
    state_file(wcli.cwd, "team-a/models.yaml", name, 1, "team-a")
    state_file(wcli.cwd, "ghost/models.yaml", name, 1, "team-ghost")
    result = wcli("apply", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: state/ghost/models.yaml:2: workspace 'team-ghost' does not exist on the "
        f"registry at {wcli.url}; create it (mlflow.create_workspace) or fix the name"
    ]
    assert aliases_in(wcli.url, "team-a", name) == {}
    (wcli.cwd / "state/ghost/models.yaml").unlink()
    state_file(wcli.cwd, "plain.yaml", name, 1, None)  # placed by the default
    from_env = wcli("plan", env={"MLFLOW_WORKSPACE": "team-nope"})
    assert from_env.exit_code == 1
    assert "workspace 'team-nope' (from --workspace / MLFLOW_WORKSPACE) does not exist" in (
        from_env.stderr
    )


def test_workspace_against_a_server_without_workspaces_is_one_clear_line(
    cli_sqlite: Cli, name: str
) -> None:
    """`workspace:` (or MLFLOW_WORKSPACE) against a plain server: one line, exit 1."""
    state_file(cli_sqlite.cwd, "models.yaml", name, 1, "team-a")
    result = cli_sqlite("plan")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"error: state/models.yaml:2: the registry at {cli_sqlite.url} does not have "
        "workspaces enabled, but workspace 'team-a' was asked for"
    )
    assert "--enable-workspaces" in lines[0]
    state_file(cli_sqlite.cwd, "models.yaml", name, 1, None)
    from_env = cli_sqlite("plan", env={"MLFLOW_WORKSPACE": "team-a"})
    assert from_env.exit_code == 1
    assert "does not have workspaces enabled" in from_env.stderr
    assert len(from_env.stderr.strip().splitlines()) == 1


def test_saved_plan_is_refused_for_another_workspace(wcli: Cli, name: str) -> None:
    """A plan saved under MLFLOW_WORKSPACE=team-a is refused under team-b, nothing written;
    under team-a it applies."""
    seed_in(wcli.url, "team-a", name)
    seed_in(wcli.url, "team-b", name)
    state_file(wcli.cwd, "models.yaml", name, 2, None)
    saved = wcli("plan", "--out", "plan.json", env={"MLFLOW_WORKSPACE": "team-a"})
    assert saved.exit_code == 0, saved.output
    assert json.loads((wcli.cwd / "plan.json").read_text())["workspace"] == "team-a"
    refused = wcli("apply", "--yes", "plan.json", env={"MLFLOW_WORKSPACE": "team-b"})
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        "error: the plan was made for workspace team-a, not workspace team-b; pass "
        "--workspace team-a (or MLFLOW_WORKSPACE=team-a), or make a new plan "
        "(nothing was written)"
    )
    assert wcli("apply", "--yes", "plan.json").exit_code == 1  # nor under the default
    assert aliases_in(wcli.url, "team-a", name) == {}
    assert aliases_in(wcli.url, "team-b", name) == {}
    done = wcli("apply", "--yes", "plan.json", env={"MLFLOW_WORKSPACE": "team-a"})
    assert done.exit_code == 0, done.output
    assert aliases_in(wcli.url, "team-a", name) == {"champion": 2}
    assert aliases_in(wcli.url, "team-b", name) == {}


def test_saved_plan_spanning_workspaces_goes_stale_per_workspace(wcli: Cli, name: str) -> None:
    """A saved two-workspace plan is refused as stale when one workspace changed since."""
    seed_in(wcli.url, "team-a", name)
    seed_in(wcli.url, "team-b", name)
    state_file(wcli.cwd, "a.yaml", name, 1, "team-a")
    state_file(wcli.cwd, "b.yaml", name, 2, "team-b")
    assert wcli("plan", "--out", "plan.json").exit_code == 0
    with in_workspace("team-b"):
        client(wcli.url).set_registered_model_alias(name, "candidate", "1")
    stale = wcli("apply", "--yes", "plan.json")
    assert stale.exit_code == 1
    assert "stale: the registry (workspace team-b) changed" in stale.stderr
    assert aliases_in(wcli.url, "team-a", name) == {}


def test_copies_stay_within_one_workspace(wcli: Cli, name: str) -> None:
    """{from: MODEL, version: N} reads the source in the copy's own workspace."""
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_in(wcli.url, "team-a", staging, [{}])  # one version only in team-a
    seed_in(wcli.url, "team-b", staging, [{}, {}])
    file = wcli.cwd / "state" / "b.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(
        f"workspace: team-b\nmodels:\n  {prod}:\n    aliases:\n"
        f"      champion: {{from: {staging}, version: 2}}\n",
        encoding="utf-8",
    )
    applied = wcli("apply", "--yes")
    assert applied.exit_code == 0, applied.output
    with in_workspace("team-b"):
        copy = client(wcli.url).get_model_version(prod, "1")
        assert copy.source == f"models:/{staging}/2"
    assert aliases_in(wcli.url, "team-b", prod) == {"champion": 1}
    file.write_text(file.read_text().replace("team-b", "team-a"), encoding="utf-8")
    wrong = wcli("plan")
    assert wrong.exit_code == 1
    assert f"copy source {staging!r} has no version 2" in wrong.stderr


def test_import_status_history_and_promote_check_in_a_workspace(wcli: Cli, name: str) -> None:
    """import --workspace writes `workspace:` and plans clean; status and promote --check
    read that workspace, not the default."""
    seed_in(wcli.url, "team-b", name, [{"auc": 0.7}, {"auc": 0.9}], aliases={"champion": 1})
    out = wcli(
        "import", "--workspace", "team-b", "--model", name, "--out", "state/team-b/models.yaml"
    )
    assert out.exit_code == 0, out.output
    text = (wcli.cwd / "state/team-b/models.yaml").read_text()
    assert "\nworkspace: team-b\n" in text
    clean = wcli("plan", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    status = json.loads(wcli("status", "--format", "json").stdout)
    assert {(r["workspace"], r["model"], r["version"]) for r in status} == {
        ("team-b", name, 1),
        ("team-b", name, 2),
    }
    assert f"team-b/{name}" in wcli("status").stdout
    checked = wcli("promote", name, "2", "--check")
    assert checked.exit_code == 0, checked.output
    missing = wcli("promote", name, "9", "--check", "--alias", "challenger")
    assert missing.exit_code == 1
    assert f"model {name!r} has no version 9" in missing.stderr


def test_basic_auth_user_is_limited_to_the_workspace_a_role_grants(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's basic-auth RBAC: a role in team-a lets a user plan and apply there; a state
    naming team-b is one error saying the workspace is closed to them, nothing written."""
    import sys

    from tests.support.auth import ADMIN, basic_auth_server

    server = basic_auth_server(tmp_path / "auth", sys.executable)
    server.env["MLFLOW_ENABLE_WORKSPACES"] = "true"
    server.start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
        create_workspaces(server.url, "team-a", "team-b")
        seed_in(server.url, "team-a", name)
        seed_in(server.url, "team-b", name)
        from mlflow.server.auth.client import AuthServiceClient

        admin = AuthServiceClient(server.url)
        password = f"pw-{uuid.uuid4().hex}"
        admin.create_user("alice", password)
        role = admin.create_role("team-a", "registry-editors")
        admin.add_role_permission(role.id, "registered_model", "*", "EDIT")
        admin.add_role_permission(role.id, "workspace", "*", "USE")  # creates the apply log
        admin.assign_role("alice", role.id)
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")

        alice = Cli(server.url, tmp_path)
        env = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": password}
        state_file(tmp_path, "team-a/models.yaml", name, 2, "team-a")
        ok = alice("apply", "--yes", env=env)
        assert ok.exit_code == 0, ok.output
        state_file(tmp_path, "team-b/models.yaml", name, 2, "team-b")
        refused = alice("apply", "--yes", env=env)
        assert refused.exit_code == 1
        assert refused.stderr.strip() == (
            "error: state/team-b/models.yaml:2: workspace 'team-b' is not open to 'alice' "
            f"(no role in it) on the registry at {server.url}; ask an admin of the "
            "registry for a role in it"
        )
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
        assert aliases_in(server.url, "team-a", name) == {"champion": 2}
        assert aliases_in(server.url, "team-b", name) == {}
    finally:
        server.stop()
