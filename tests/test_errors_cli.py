"""Errors a user can act on (issue 12), driven through the CLI against real servers:
each error said once, nothing created before a command knows it can proceed, path and
connection errors that say what to do, permission errors without "run again"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.render.escape import markdown_text
from tests.conftest import Cli, write_state
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import free_port
from tests.support.seed import client, seed_model
from tests.test_faults import aliases_of, fast_model


def state_with(cwd: Path, name: str, body: str) -> str:
    """A state directory declaring ``name`` with ``body``; its path relative to ``cwd``."""
    write_state(cwd, f"models:\n  {name}:\n{body}")
    return "state"


# --- point 2: each error once ---------------------------------------------------------


def test_plan_says_each_problem_once_on_stderr_only(cli_sqlite: Cli, name: str) -> None:
    """Two missing versions: two located stderr lines and a count; stdout repeats none."""
    fast_model(cli_sqlite.url, name, 1, {"champion": 1})
    state = state_with(cli_sqlite.cwd, name, "    aliases: {champion: 8, archived: 9}\n")
    result = cli_sqlite("plan", "--state", state)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: state/models.yaml:3: model {name!r} has no version 8",
        f"error: state/models.yaml:3: model {name!r} has no version 9",
        "2 errors",
    ]
    assert "error" not in result.stdout.replace("2 errors (see below)", "")
    assert "no version" not in result.stdout


def test_apply_refusal_says_each_error_once_and_that_nothing_was_written(
    cli_sqlite: Cli, name: str
) -> None:
    """apply on a plan with an error: the error once, then 'nothing was written'; no write."""
    fast_model(cli_sqlite.url, name, 1, {"champion": 1})
    state = state_with(cli_sqlite.cwd, name, "    aliases: {champion: 9}\n")
    result = cli_sqlite("apply", "--state", state, "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: state/models.yaml:3: model {name!r} has no version 9",
        "nothing was written",
    ]
    assert "no version 9" not in result.stdout
    assert aliases_of(cli_sqlite.url, name) == {"champion": 1}


# --- point 3: nothing created before the command knows it can proceed ----------------


def test_saved_plan_for_another_registry_creates_no_sqlite_file(cli_sqlite: Cli, name: str) -> None:
    """apply PLAN --tracking-uri sqlite:///other.db is refused and other.db never appears."""
    fast_model(cli_sqlite.url, name, 2, {"champion": 1})
    state = state_with(cli_sqlite.cwd, name, "    aliases: {champion: 2}\n")
    assert cli_sqlite("plan", "--state", state, "--out", "p.json").exit_code == 0
    other = cli_sqlite.cwd / "other.db"
    result = cli_sqlite("apply", "p.json", "--yes", "--tracking-uri", f"sqlite:///{other}")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: the plan was made for {cli_sqlite.url}, not ")
    assert len(result.stderr.splitlines()) == 1
    assert not other.exists()
    assert aliases_of(cli_sqlite.url, name) == {"champion": 1}


def run_reconciler(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``reconciler`` in a fresh process (MLflow's log handler writes to the real stderr)."""
    code = "import sys; from reconciler.cli import main; main(sys.argv[1:])"
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_mlflow_info_logs_reach_the_terminal_only_with_debug(tmp_path: Path) -> None:
    """A new local sqlite registry: MLflow's 'Creating initial ... tables' only under --debug
    (apply, which writes, may create one; read-only commands refuse a missing file)."""
    write_state(tmp_path, "models: {}\n")
    quiet = run_reconciler(tmp_path, "apply", "--yes", "--tracking-uri", "sqlite:///quiet.db")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    loud = run_reconciler(
        tmp_path, "apply", "--yes", "--debug", "--tracking-uri", "sqlite:///loud.db"
    )
    assert loud.returncode == 0, loud.stderr
    assert "Creating initial MLflow database tables" in loud.stderr


# --- point 4: path errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("history", "m"),
        ("status",),
        ("promote", "m", "3"),
        ("import", "--out", "elsewhere.yaml"),
        ("plan",),
    ],
)
def test_a_missing_state_path_says_it_does_not_exist(tmp_path: Path, args: tuple[str, ...]) -> None:
    """--state nosuchdir: 'does not exist' and how to fix it, before any registry call."""
    cli = Cli(f"http://127.0.0.1:{free_port()}", tmp_path)
    result = cli(*args, "--state", "nosuchdir")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: state path nosuchdir does not exist: pass --state with your state file or "
        "directory, or create it from the registry with "
        "`reconciler import --out nosuchdir/models.yaml`"
    ]
    assert not (tmp_path / "elsewhere.yaml").exists()


def test_promote_of_an_undeclared_model_points_at_state_and_import(tmp_path: Path) -> None:
    """A model the state does not declare: the message names --state and `import`."""
    write_state(tmp_path, "models:\n  other: {}\n")
    result = Cli("http://127.0.0.1:9", tmp_path)("promote", "churn", "3")
    assert result.exit_code == 1
    assert "pass --state" in result.stderr
    assert "`reconciler import --model churn --out state/churn.yaml`" in result.stderr


def test_an_empty_state_warns_when_the_registry_has_models(cli_sqlite: Cli, name: str) -> None:
    """A state with no models against a registry that has some: a warning, exit 0."""
    fast_model(cli_sqlite.url, name, 1, {})
    write_state(cli_sqlite.cwd, "models: {}\n")
    result = cli_sqlite("plan")
    assert result.exit_code == 0
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: no models are declared under state, but the registry")
    assert "`reconciler import --out state/models.yaml`" in warning


# --- point 5: connection --------------------------------------------------------------


def test_a_refused_connection_fails_in_under_3_seconds_with_one_line(tmp_path: Path) -> None:
    """Nothing listening, default retry settings: one line in under 3 s (not ~10 s)."""
    port = free_port()
    cli = Cli(f"http://127.0.0.1:{port}", tmp_path)
    write_state(tmp_path, "models:\n  m: {aliases: {champion: 1}}\n")
    start = time.monotonic()
    result = cli("plan")
    elapsed = time.monotonic() - start
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: cannot reach the registry at http://127.0.0.1:{port} (connection refused)"
    ]
    assert elapsed < 3, elapsed


def deny_champion(method: str, path: str, body: bytes) -> bool:
    """Refuse writes that move the alias 'champion' (as a registry ACL would)."""
    return method != "GET" and path.endswith("/alias") and b'"champion"' in body


def test_permission_denied_names_user_and_model_lists_what_was_applied_and_never_says_run_again(
    url: str, tmp_path: Path, name: str
) -> None:
    """A 403 on one alias: 'permission denied for USER on MODEL', applied/FAILED lines,
    no advice to run apply again."""
    fast_model(url, name, 2, {"champion": 1})
    state = state_with(tmp_path, name, "    aliases: {champion: 2, challenger: 1}\n")
    with FaultProxy(url, deny=deny_champion) as proxy:
        result = Cli(proxy.url, tmp_path)(
            "apply", "--state", state, "--yes", env={"MLFLOW_TRACKING_USERNAME": "alice"}
        )
    assert result.exit_code == 1
    assert f"applied      {name}: alias challenger: 1" in result.stdout
    assert f"FAILED       {name}: alias champion: 1 -> 2" in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: apply stopped: 1 of 2 changes applied, 1 failed")
    assert f"permission denied for 'alice' on model {name!r} (HTTP 403)" in line
    assert "again" not in result.output
    assert aliases_of(url, name) == {"champion": 1, "challenger": 1}


# --- point 6: plan --out --------------------------------------------------------------


def test_a_bad_out_path_is_refused_before_any_registry_call(url: str, tmp_path: Path) -> None:
    """plan --out missing/dir/p.json: one line, exit 1, and the registry was never asked."""
    write_state(tmp_path, "models:\n  m: {aliases: {champion: 1}}\n")
    with FaultProxy(url) as proxy:
        result = Cli(proxy.url, tmp_path)("plan", "--out", "missing/dir/p.json")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: --out missing/dir/p.json: the directory missing/dir does not exist"
    ]
    assert sum(proxy.requests.values()) == 0


def test_plan_out_says_where_it_saved_and_json_stdout_stays_pure(
    cli_sqlite: Cli, name: str
) -> None:
    """plan --format json --out p.json: stdout parses as JSON; stderr says where it went."""
    fast_model(cli_sqlite.url, name, 2, {"champion": 1})
    state = state_with(cli_sqlite.cwd, name, "    aliases: {champion: 2}\n")
    result = cli_sqlite("plan", "--state", state, "--format", "json", "--out", "p.json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads((cli_sqlite.cwd / "p.json").read_text())
    assert result.stderr == "Saved the plan to p.json: `reconciler apply p.json` applies it.\n"


def test_a_plan_with_errors_is_not_saved(cli_sqlite: Cli, name: str) -> None:
    """plan --out with an error: no plan file, and the last line says so."""
    seed_model(cli_sqlite.url, name, [{}], {"champion": 1})
    state = state_with(cli_sqlite.cwd, name, "    aliases: {champion: 9}\n")
    result = cli_sqlite("plan", "--state", state, "--out", "p.json")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "no plan saved to p.json"
    assert not (cli_sqlite.cwd / "p.json").exists()


def test_markdown_plan_shows_where_each_model_is_declared(cli_sqlite: Cli, name: str) -> None:
    """The PR-comment plan names the file:line of each model it changes."""
    fast_model(cli_sqlite.url, name, 2, {"champion": 1})
    state = state_with(cli_sqlite.cwd, name, "    aliases: {champion: 2}\n")
    result = cli_sqlite("plan", "--state", state, "--format", "markdown")
    shown = markdown_text(name)  # escaped like every name: m\\-1a2b...
    assert f"| `~` | {shown} `state/models.yaml:2` | alias champion: 1 -> 2 |" in result.stdout
    assert client(cli_sqlite.url).get_registered_model(name).aliases == {"champion": "1"}


# --- issue 11: usage errors -----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("plan", "--bogus"), ("plan", "--format", "yaml"), ("promote",), ("nosuchcommand",)],
)
def test_usage_errors_exit_1_never_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Unknown option, bad choice, missing argument, unknown command: exit 1 (2 is
    reserved for 'changes pending')."""
    result = Cli("http://127.0.0.1:9", tmp_path)(*args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.stderr
