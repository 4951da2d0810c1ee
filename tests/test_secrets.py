"""Credentials never leak: not to stdout, stderr, a saved plan or a GitHub summary file.

Every command runs with a tracking URI carrying user-info and a query token, and with
``MLFLOW_TRACKING_TOKEN`` set; the test then searches everything the tool wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import Cli, write_state
from tests.support.mlflow_server import free_port
from tests.test_faults import FAST_RETRIES, fast_model

PASSWORD = "pw-Sx9Q2vLr"
QUERY_TOKEN = "qt-K7mZ4wPd"
BEARER = "bt-J3nR8cYe"
SECRETS = (PASSWORD, QUERY_TOKEN, BEARER, f"alice:{PASSWORD}")
RECONCILER = str(Path(sys.executable).parent / "reconciler")


def with_secrets(url: str, query: bool) -> str:
    """``url`` with user-info (and a query token): http://alice:PW@host:port/?token=T."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://alice:{PASSWORD}@{rest}" + (f"/?token={QUERY_TOKEN}" if query else "")


def leaks(*texts: str) -> list[str]:
    return [s for s in SECRETS for t in texts if s in t]


@pytest.fixture
def github_env(tmp_path: Path) -> dict[str, str]:
    """GitHub Actions files in tmp_path, plus the bearer token and fast-failing retries."""
    return {
        **FAST_RETRIES,
        "MLFLOW_TRACKING_TOKEN": BEARER,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "github-output.txt"),
        "RUNNER_TEMP": str(tmp_path / "runner"),
    }


def written_files(tmp_path: Path) -> dict[str, str]:
    """Every file the runs left under tmp_path, except the state itself."""
    return {
        str(p): p.read_text("utf-8", errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and "state" not in p.parts
    }


def test_no_command_prints_or_saves_credentials(
    url: str, tmp_path: Path, name: str, github_env: dict[str, str]
) -> None:
    """validate, plan (3 formats, --out, --github), apply and error paths never show a secret."""
    fast_model(url, name, 2, {"champion": 1})
    state = str(write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n"))
    good = Cli(with_secrets(url, query=False), tmp_path)
    dead = with_secrets(f"http://127.0.0.1:{free_port()}", query=True)
    queried = with_secrets(url, query=True)
    results: list[Result] = [good("validate", "--state", state, env=github_env)]
    for fmt in ("text", "markdown", "json"):
        results.append(
            good(
                "plan", "--state", state, "--format", fmt, "--out", f"plan-{fmt}.json",
                "--github", env=github_env,
            )
        )  # fmt: skip
    assert all(r.exit_code == 0 for r in results), [r.output for r in results]
    assert "alias champion: 1 -> 2" in results[1].stdout
    applied = good("apply", "--state", state, "--yes", "--github", env=github_env)
    assert applied.exit_code == 0, applied.output
    results.append(applied)
    for uri in (dead, queried):
        for cmd in ("plan", "apply"):
            failed = good(
                cmd, "--state", state, "--yes" if cmd == "apply" else "--detailed-exitcode",
                "--tracking-uri", uri, "--github", env=github_env,
            )  # fmt: skip
            assert failed.exit_code == 1 and failed.stderr.startswith("error: "), failed.output
            results.append(failed)
    assert "cannot reach the registry" in results[-4].stderr
    texts = [r.stdout + r.stderr for r in results]
    files = written_files(tmp_path)
    assert Path(github_env["GITHUB_STEP_SUMMARY"]).exists()
    assert (tmp_path / "plan-json.json").exists()
    assert leaks(*texts, *files.values()) == []


@pytest.mark.parametrize("cmd", ["plan", "apply"])
def test_debug_traceback_is_redacted(cmd: str, tmp_path: Path) -> None:
    """--debug on an unreachable registry shows a traceback, with no credential in it."""
    state = str(write_state(tmp_path, "models:\n  some-model:\n    aliases: {champion: 1}\n"))
    env = {
        **os.environ,
        **FAST_RETRIES,
        "MLFLOW_TRACKING_TOKEN": BEARER,
        "MLFLOW_TRACKING_URI": with_secrets(f"http://127.0.0.1:{free_port()}", query=True),
    }
    args = [RECONCILER, cmd, "--state", state, "--debug"] + (["--yes"] if cmd == "apply" else [])
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert leaks(run.stdout, run.stderr) == []
