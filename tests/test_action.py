"""The composite action (action.yml) run in a simulated GitHub Actions environment.

The action's ``run:`` steps are executed with bash exactly as the runner would
(``bash --noprofile --norc -eo pipefail``), with ``${{ inputs.* }}`` resolved into the
steps' ``env:``, against a real ``mlflow server``. The pip install step is skipped: the
package is already installed in this interpreter's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.github import COMMENT_LIMIT, Report, truncate
from reconciler.plan import Action, Change, Kind, Plan
from tests.conftest import Cli, write_state
from tests.support.mlflow_server import MlflowServer, server_command
from tests.support.seed import client, seed_model

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPR = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


@dataclass
class ActionRun:
    """What one run of the composite action left behind."""

    code: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]
    temp: Path


def _resolve(value: str, context: dict[str, str]) -> str:
    """Replace ``${{ name }}`` expressions by their value in ``context`` (missing: empty)."""
    return EXPR.sub(lambda m: context.get(m.group(1), ""), str(value))


def _condition(expr: str, context: dict[str, str]) -> bool:
    """Evaluate the only form of ``if:`` the action uses: ``inputs.NAME != ''``."""
    match = re.fullmatch(r"([\w.-]+) != ''", expr.strip())
    assert match, f"unsupported if: {expr}"
    return context.get(match.group(1), "") != ""


def _read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            outputs[key] = value  # the runner keeps the last value written
    return outputs


def run_action(work: Path, url: str, **inputs: str) -> ActionRun:
    """Run every ``run:`` step of action.yml (but the install) like a GitHub runner."""
    given = {k.replace("_", "-"): v for k, v in inputs.items()}
    context = {
        f"inputs.{name}": str(given.get(name, spec.get("default", "")))
        for name, spec in ACTION["inputs"].items()
    }
    temp = work / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary, output, event = temp / "summary.md", temp / "output.txt", temp / "event.json"
    for f in (summary, output):
        f.write_text("", encoding="utf-8")
    event.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": 7,
                "pull_request": {
                    "number": 7,
                    "head": {"sha": "c0ffee" * 6 + "abcd"},
                    "base": {"ref": "main"},
                },
            }
        )
    )
    base_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(work),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "c0ffee" * 6 + "abcd",
        "GITHUB_ACTOR": "octo-reviewer",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/registry-state",
        "GITHUB_RUN_ID": "4242",
        "RUNNER_TEMP": str(temp),
        "MLFLOW_TRACKING_URI": url,
    }
    code, stdout, stderr, outputs = 0, "", "", {}
    for step in ACTION["runs"]["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue
        if "if" in step and not _condition(step["if"], context):
            continue
        env = {**base_env, **{k: _resolve(v, context) for k, v in step.get("env", {}).items()}}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        code, stdout, stderr = done.returncode, stdout + done.stdout, stderr + done.stderr
        if step.get("id"):
            step_out = _read_outputs(output)
            context.update({f"steps.{step['id']}.outputs.{k}": v for k, v in step_out.items()})
        if code:
            break
    for name, spec in ACTION["outputs"].items():
        outputs[name] = _resolve(spec["value"], context)
    return ActionRun(code, stdout, stderr, summary.read_text(encoding="utf-8"), outputs, temp)


@pytest.fixture
def seeded(sqlite_server: MlflowServer, name: str) -> str:
    """A model with v1 (val_rmspe 0.09) holding champion and v2 (val_rmspe 0.2)."""
    seed_model(
        sqlite_server.url,
        name,
        metrics=[{"val_rmspe": 0.09}, {"val_rmspe": 0.2}],
        aliases={"champion": 1},
    )
    return name


def test_action_plan_without_changes(
    sqlite_server: MlflowServer, seeded: str, tmp_path: Path
) -> None:
    """A converged registry: exit 0, has-changes=false, 'No changes' in the job summary."""
    write_state(tmp_path, f"models:\n  {seeded}:\n    aliases: {{champion: 1}}\n")
    run = run_action(tmp_path, sqlite_server.url)
    assert run.code == 0, run.stderr
    assert run.outputs["has-changes"] == "false"
    assert run.outputs["status"] == "no-changes"
    assert run.outputs["changes"] == "0"
    assert "### registry-reconciler plan" in run.summary
    assert "No changes. The registry matches the state." in run.summary
    assert Path(run.outputs["summary-path"]).read_text(encoding="utf-8") in run.summary


def test_action_plan_with_changes(sqlite_server: MlflowServer, seeded: str, tmp_path: Path) -> None:
    """Pending changes: exit 0, has-changes=true, the change in the summary and the comment."""
    write_state(tmp_path, f"models:\n  {seeded}:\n    aliases: {{champion: 2, archived: 1}}\n")
    run = run_action(tmp_path, sqlite_server.url)
    assert run.code == 0, run.stderr
    assert run.outputs["has-changes"] == "true"
    assert run.outputs["status"] == "changes"
    assert run.outputs["changes"] == "2"
    assert "alias champion: 1 -> 2" in run.summary
    assert "Plan: 1 to add, 1 to change, 0 to remove." in run.summary
    comment = Path(run.outputs["comment-path"]).read_text(encoding="utf-8")
    assert "alias champion: 1 -> 2" in comment


def test_action_drift_check_exits_2(
    sqlite_server: MlflowServer, seeded: str, tmp_path: Path
) -> None:
    """plan --detailed-exitcode through the action: drift fails the step with exit 2."""
    write_state(tmp_path, f"models:\n  {seeded}:\n    aliases: {{champion: 2}}\n")
    run = run_action(tmp_path, sqlite_server.url, args="--detailed-exitcode")
    assert run.code == 2
    assert run.outputs["has-changes"] == "true"
    assert "alias champion: 1 -> 2" in run.summary


def test_action_invalid_state(sqlite_server: MlflowServer, tmp_path: Path) -> None:
    """Invalid state: exit 1, status=error, the located error in the summary and on stderr."""
    write_state(tmp_path, "models:\n  m:\n    aliasses: {champion: 1}\n")
    run = run_action(tmp_path, sqlite_server.url)
    assert run.code == 1
    assert run.outputs["status"] == "error"
    assert run.outputs["has-changes"] == "false"
    assert re.search(r"error: state/models\.yaml:3: .*aliasses", run.stderr), run.stderr
    assert "**Error:**" in run.summary and "models.yaml:3" in run.summary
    assert "Traceback" not in run.stderr
    assert "::add-matcher::" in run.stdout
    matcher = json.loads((run.temp / "registry-reconciler-matcher.json").read_text())
    (pattern,) = matcher["problemMatcher"][0]["pattern"]
    hits = [m for m in map(re.compile(pattern["regexp"]).match, run.stderr.splitlines()) if m]
    assert [(m[pattern["file"]], m[pattern["line"]]) for m in hits] == [("state/models.yaml", "3")]


def test_action_validate_command_rejects_invalid_state(
    sqlite_server: MlflowServer, tmp_path: Path
) -> None:
    """command=validate: exit 1 with the one-line located error, nothing in the summary."""
    write_state(tmp_path, "models:\n  m:\n    aliasses: {champion: 1}\n")
    run = run_action(tmp_path, sqlite_server.url, command="validate")
    assert run.code == 1
    assert re.search(r"error: state/models\.yaml:3: ", run.stderr), run.stderr
    assert run.summary == ""


def test_action_failed_gate(sqlite_server: MlflowServer, seeded: str, tmp_path: Path) -> None:
    """A failed gate: exit 1, status=error, FAILED gate in the summary, nothing written."""
    write_state(
        tmp_path,
        f"""models:
  {seeded}:
    aliases: {{champion: 2}}
    gates:
      champion:
        - {{metric: val_rmspe, max: 0.10}}
""",
    )
    run = run_action(tmp_path, sqlite_server.url)
    assert run.code == 1
    assert run.outputs["status"] == "error"
    assert "FAILED" in run.stdout and "error:" not in run.stdout
    assert [line for line in run.stderr.splitlines() if "val_rmspe" in line] == [
        f"error: state/models.yaml:2: gate {seeded}@champion -> version 2: "
        "val_rmspe = 0.2, must be <= 0.1"
    ]
    assert "**FAILED**" in run.summary
    assert "this plan cannot be applied" in run.summary
    assert "val_rmspe" in run.stderr
    champion = client(sqlite_server.url).get_model_version_by_alias(seeded, "champion")
    assert champion.version == "1"


def test_action_apply_writes_result_and_audit(
    sqlite_server: MlflowServer, seeded: str, tmp_path: Path
) -> None:
    """command=apply --yes: exit 0, status=applied, result in the summary, GitHub audit tags."""
    write_state(tmp_path, f"models:\n  {seeded}:\n    aliases: {{champion: 2}}\n")
    run = run_action(tmp_path, sqlite_server.url, command="apply", args="--yes")
    assert run.code == 0, run.stderr
    assert run.outputs["status"] == "applied"
    assert run.outputs["has-changes"] == "true"
    assert "alias champion: 1 -> 2" in run.summary
    assert "**Applied:** Apply complete: 1 change(s) applied and verified." in run.summary
    tags = client(sqlite_server.url).get_model_version(seeded, "2").tags
    audit = json.loads(tags["reconciler.applied"])
    assert audit["by"] == "octo-reviewer"
    assert audit["commit"] == "c0ffee" * 6 + "abcd"
    again = run_action(tmp_path, sqlite_server.url)
    assert again.outputs["has-changes"] == "false"


def _big_plan(n: int) -> Plan:
    changes = tuple(
        Change(f"model-{i:05d}", Kind.ALIAS, "champion", Action.UPDATE, 1, 2) for i in range(n)
    )
    return Plan(
        registry="http://registry",
        state_digest="sha256:a",
        observed_digest="sha256:b",
        models=tuple(c.model for c in changes),
        changes=changes,
    )


def test_long_plan_comment_is_cut_below_github_limit(tmp_path: Path) -> None:
    """A plan over 65,536 characters: the comment file fits and points to the job summary."""
    summary, output = tmp_path / "summary.md", tmp_path / "out.txt"
    env = {
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/state",
        "GITHUB_RUN_ID": "9",
    }
    Report("plan", True, env).plan(_big_plan(3000))
    full = summary.read_text(encoding="utf-8")
    comment = (tmp_path / "reconciler-plan-comment.md").read_text(encoding="utf-8")
    assert len(full) > COMMENT_LIMIT
    assert len(comment) <= COMMENT_LIMIT
    assert "https://github.com/acme/state/actions/runs/9" in comment
    assert comment.splitlines()[-1].startswith("> **Truncated:**")
    assert "model-00000" in comment and "model-02999" not in comment


def test_truncate_keeps_short_text() -> None:
    """Text under the limit is returned unchanged."""
    assert truncate("short\n", 100, "see summary") == "short\n"


def test_truncate_counts_utf8_bytes_and_cuts_at_a_line_end() -> None:
    """Multi-byte text is cut to the byte limit, on a line boundary, with the pointer."""
    text = "".join(f"| modèle-ü-{i} | alias champion: 1 -> 2 |\n" for i in range(500))
    cut = truncate(text, 4_000, "see the job summary")
    assert len(cut.encode("utf-8")) <= 4_000
    body, note = cut.split("\n\n> **Truncated:**")
    assert text.startswith(body + "\n")
    assert "see the job summary" in note


def test_report_is_silent_without_the_flag(tmp_path: Path) -> None:
    """Without --github nothing is written, even inside GitHub Actions."""
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(tmp_path)}
    Report("plan", False, env).plan(_big_plan(1))
    assert not summary.exists()
    assert list(tmp_path.iterdir()) == []


def _compose() -> dict[str, Any]:
    return yaml.safe_load(  # type: ignore[no-any-return]
        (ROOT / "deploy" / "docker-compose.yml").read_text(encoding="utf-8")
    )


def test_compose_server_command_matches_the_tested_one() -> None:
    """deploy/docker-compose.yml runs exactly the mlflow server command the tests run."""
    mlflow = _compose()["services"]["mlflow"]
    cmd = mlflow["command"]
    backend = cmd[cmd.index("--backend-store-uri") + 1]
    artifacts = cmd[cmd.index("--artifacts-destination") + 1]
    port = int(cmd[cmd.index("--port") + 1])
    expected = server_command(backend, artifacts, port)
    assert cmd == ["python", *expected[1:]]
    assert backend.startswith("postgresql+psycopg://")


def test_compose_services_have_health_checks_and_secrets_from_env_file() -> None:
    """Long-running services have health checks; every secret is a required ${VAR}."""
    services = _compose()["services"]
    for name in ("postgres", "minio", "mlflow"):
        assert "healthcheck" in services[name], name
    for service in services.values():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key or "SECRET" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (key, value)
    example = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8")
    for var in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert f"{var}=" in example


def test_pre_commit_hook_runs_validate(tmp_path: Path) -> None:
    """The pre-commit hook's entry passes a valid state and rejects an invalid one."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    write_state(tmp_path, "models:\n  m:\n    aliases: {champion: 1}\n")
    assert re.match(hook["files"], "state/models.yaml")
    ok = subprocess.run(
        hook["entry"].split(), cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    write_state(tmp_path, "models:\n  m:\n    aliases: {champion: 0}\n")
    bad = subprocess.run(
        hook["entry"].split(), cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: state/models.yaml:3: ")


def test_workflows_and_action_pass_zizmor() -> None:
    """zizmor (offline audits) finds nothing in .github/ and action.yml."""
    zizmor = Path(sys.executable).parent / "zizmor"
    if not zizmor.exists():
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", ".github/", "action.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_plan_without_flag_leaves_github_files_alone(
    cli_sqlite: Cli, seeded: str, tmp_path: Path
) -> None:
    """Inside Actions but without --github, plan prints as usual and writes no summary."""
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    write_state(tmp_path, f"models:\n  {seeded}:\n    aliases: {{champion: 2}}\n")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(tmp_path),
    }
    result = cli_sqlite("plan", env=env)
    assert result.exit_code == 0, result.output
    assert "alias champion: 1 -> 2" in result.output
    assert not summary.exists() and not output.exists()
    with_flag = cli_sqlite("plan", "--github", env=env)
    assert with_flag.exit_code == 0, with_flag.output
    assert "alias champion: 1 -> 2" in summary.read_text(encoding="utf-8")
    assert "has-changes=true" in output.read_text(encoding="utf-8")
