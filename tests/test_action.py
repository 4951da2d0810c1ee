"""The composite action (action.yml) run in a simulated GitHub Actions environment.

The action's ``run:`` steps are executed with bash exactly as the runner would
(``bash --noprofile --norc -eo pipefail``), with ``${{ inputs.* }}`` resolved into the
steps' ``env:``, against a real ``mlflow server``. The install steps are skipped (the
package is already installed in this interpreter's environment); they are run on their own
with stand-ins for ``uv`` and ``python`` that record how they were called.
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

from reconciler.core.plan import Action, Change, Kind, Plan
from reconciler.render.github import COMMENT_LIMIT, Report, truncate
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
    """Evaluate the forms of ``if:`` the action uses: ``inputs.NAME != ''`` and
    ``inputs.NAME == 'value'``, joined by ``&&``."""
    result = True
    for part in expr.split("&&"):
        match = re.fullmatch(r"\s*([\w.-]+) (==|!=) '([^']*)'\s*", part)
        assert match, f"unsupported if: {expr}"
        name, op, value = match.groups()
        result &= (context.get(name, "") == value) == (op == "==")
    return result


def _context(given: dict[str, str]) -> dict[str, str]:
    """``inputs.*`` for one run: the given inputs over action.yml's defaults."""
    return {
        f"inputs.{name}": str(given.get(name, spec.get("default", "")))
        for name, spec in ACTION["inputs"].items()
    }


def _is_install(step: dict[str, Any]) -> bool:
    """The steps that install the tool (skipped when the tool under test is on PATH)."""
    return step.get("id") in ("uv-key", "install")


def _read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            outputs[key] = value  # the runner keeps the last value written
    return outputs


def run_action(work: Path, url: str, **inputs: str) -> ActionRun:
    """Run every ``run:`` step of action.yml (but the install) like a GitHub runner."""
    context = _context({k.replace("_", "-"): v for k, v in inputs.items()})
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
        if "run" not in step or _is_install(step):
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
    assert "This plan cannot be applied: 1 error (1 failed gate)." in run.summary
    assert "val_rmspe" in run.stderr
    champion = client(sqlite_server.url).get_model_version_by_alias(seeded, "champion")
    assert champion.version == "1"


def executed_commands(output: str) -> list[str]:
    """The workflow commands a GitHub runner would carry out for ``output``: ``::name``
    at a line's start (after spaces) or ``##[name]`` anywhere, none while commands are
    stopped (``::stop-commands::TOKEN`` until ``::TOKEN::``)."""
    stopped, done = "", []
    for line in re.split(r"\r\n|\r|\n", output):
        v2 = re.match(r"::([^\s:]+)[^:]*::(.*)", line.lstrip())
        v1 = re.search(r"##\[([^\s\]]+)", line)
        name = v2[1] if v2 else v1[1] if v1 else None
        if name is None:
            continue
        if stopped:
            stopped = "" if name == stopped else stopped
        elif name == "stop-commands" and v2:
            stopped = v2[2]
        else:
            done.append(line)
    return done


def test_registry_text_cannot_run_a_workflow_command(
    sqlite_server: MlflowServer, name: str, tmp_path: Path
) -> None:
    """A run named ``x\\n::error ...`` and a tag ``##[error]...``: the action's output
    carries out no workflow command but its own matcher; the command runs between
    ``::stop-commands::TOKEN`` and ``::TOKEN::`` with a fresh token each time."""
    c = client(sqlite_server.url)
    exp = c.create_experiment(f"wf-{name}")
    c.create_registered_model(name, tags={"team": "##[error]forged"})
    for run_name in ("ok", "x\n::error title=reconciler::All gates passed\r::warning::w"):
        run = c.create_run(exp, run_name=run_name)
        c.set_terminated(run.info.run_id)
        c.create_model_version(name, "s3://nowhere/model", run.info.run_id)
    c.set_registered_model_alias(name, "champion", "1")
    state = f"models:\n  {name}:\n    tags: {{team: growth}}\n    aliases: {{champion: 2}}\n"
    write_state(tmp_path, state)
    runs = [run_action(tmp_path, sqlite_server.url) for _ in range(2)]
    tokens = []
    for run in runs:
        assert run.code == 0, run.stderr
        assert "::error" in run.stdout and "#\\u0023[error]forged" in run.stdout
        assert executed_commands(run.stdout) == [
            line for line in run.stdout.splitlines() if line.startswith("::add-matcher::")
        ]
        assert executed_commands(run.stderr) == []
        tokens.append(re.findall(r"^::stop-commands::(\w{32})$", run.stdout, re.M))
        assert f"::{tokens[-1][0]}::" in run.stdout.splitlines()
    assert tokens[0] != tokens[1]
    assert executed_commands("a\n  ::error::x\nb ##[warning]y") == [
        "  ::error::x",
        "b ##[warning]y",
    ]


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


STAND_IN = """#!/bin/bash
printf '%s\\n' "$@" > "$CALLS/$(basename "$0")"
"""


@dataclass
class InstallRun:
    """What the action's install steps did with stand-ins for ``uv`` and ``python``."""

    code: int
    stdout: str
    calls: dict[str, list[str]]
    """Each stand-in that was called, with its arguments."""
    setup_uv: dict[str, str] | None
    """The resolved ``with:`` of the setup-uv step, None when the step was skipped."""
    python: Path


def run_install(work: Path, **inputs: str) -> InstallRun:
    """Run the install steps of action.yml like a runner, with ``uv`` and ``python`` on PATH
    replaced by scripts that record their arguments."""
    context = _context({k.replace("_", "-"): v for k, v in inputs.items()})
    bin_dir, calls, output = work / "bin", work / "calls", work / "output.txt"
    for d in (bin_dir, calls):
        d.mkdir(exist_ok=True)
    for tool in ("uv", "python"):
        (bin_dir / tool).write_text(STAND_IN, encoding="utf-8")
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "CALLS": str(calls),
        "GITHUB_OUTPUT": str(output),
    }
    code, stdout, setup_uv = 0, "", None
    for step in ACTION["runs"]["steps"]:
        if "if" in step and not _condition(step["if"], context):
            continue
        if "astral-sh/setup-uv@" in step.get("uses", ""):
            setup_uv = {k: _resolve(v, context) for k, v in step.get("with", {}).items()}
        if not _is_install(step):
            continue
        output.write_text("", encoding="utf-8")
        step_env = {**env, **{k: _resolve(v, context) for k, v in step.get("env", {}).items()}}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=work,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        code, stdout = done.returncode, stdout + done.stdout
        step_out = _read_outputs(output)
        context.update({f"steps.{step['id']}.outputs.{k}": v for k, v in step_out.items()})
        if code:
            break
    recorded = {p.name: p.read_text(encoding="utf-8").splitlines() for p in calls.iterdir()}
    return InstallRun(code, stdout, recorded, setup_uv, bin_dir / "python")


def test_action_installs_with_uv_into_the_jobs_python(tmp_path: Path) -> None:
    """By default setup-uv runs with its cache on, then ``uv pip install`` puts each
    requirement into the Python on PATH; pip is not used."""
    run = run_install(tmp_path, install="registry-reconciler==1.2.3 psycopg[binary]")
    assert run.code == 0, run.stdout
    assert run.calls == {
        "uv": [
            "pip",
            "install",
            "--python",
            str(run.python),
            "--quiet",
            "registry-reconciler==1.2.3",
            "psycopg[binary]",
        ]
    }
    assert run.setup_uv is not None
    assert str(run.setup_uv["enable-cache"]).lower() == "true"
    assert re.fullmatch(r"install-[0-9a-f]{16}", run.setup_uv["cache-suffix"])


def test_action_pip_fallback(tmp_path: Path) -> None:
    """installer=pip: ``python -m pip install`` as before, and setup-uv does not run."""
    run = run_install(tmp_path, install="registry-reconciler==1.2.3", installer="pip")
    assert run.code == 0, run.stdout
    assert run.setup_uv is None
    assert run.calls == {
        "python": [
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "registry-reconciler==1.2.3",
        ]
    }


def test_action_refuses_an_unknown_installer(tmp_path: Path) -> None:
    """installer=conda: the step fails with an annotation and installs nothing."""
    run = run_install(tmp_path, installer="conda")
    assert run.code == 1
    assert "::error::unsupported installer 'conda' (uv or pip)" in run.stdout
    assert run.calls == {}


def test_action_install_input_never_runs_as_shell(tmp_path: Path) -> None:
    """A crafted install input reaches uv as literal words, never as shell code."""
    run = run_install(tmp_path, install="$(touch pwned) `touch pwned2`;touch pwned3")
    assert run.code == 0, run.stdout
    words = ["$(touch", "pwned)", "`touch", "pwned2`;touch", "pwned3"]
    assert run.calls["uv"][5:] == words
    assert not list(tmp_path.glob("pwned*"))


def test_action_skips_every_install_step_when_install_is_empty(tmp_path: Path) -> None:
    """install='': neither setup-uv nor an installer runs (the tool is already on PATH)."""
    run = run_install(tmp_path, install="")
    assert (run.code, run.calls, run.setup_uv) == (0, {}, None)


def test_uv_cache_key_follows_the_install_input(tmp_path: Path) -> None:
    """A new pin gets a new uv cache (saved afresh); the same input reuses the same one."""

    def suffix(spec: str, where: str) -> str:
        run = run_install(tmp_path / where, install=spec)
        assert run.setup_uv is not None
        return run.setup_uv["cache-suffix"]

    for where in ("a", "b", "c"):
        (tmp_path / where).mkdir()
    assert suffix("registry-reconciler==1.0.0", "a") == suffix("registry-reconciler==1.0.0", "b")
    assert suffix("registry-reconciler==1.0.0", "a") != suffix("registry-reconciler==1.1.0", "c")


def test_setup_uv_is_pinned_to_a_release_commit() -> None:
    """setup-uv is referenced by a full commit SHA with the release it is, in action.yml."""
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    pins = re.findall(r"uses: astral-sh/setup-uv@(\S+) # (v\d+\.\d+\.\d+)$", text, re.M)
    assert len(pins) == 1, pins
    assert re.fullmatch(r"[0-9a-f]{40}", pins[0][0])


def test_every_third_party_action_is_pinned_by_commit() -> None:
    """Every ``uses:`` outside this repository names a full commit SHA and its version."""
    files = [ROOT / "action.yml", *sorted((ROOT / ".github" / "workflows").glob("*.yml"))]
    for path in files:
        for ref in re.findall(r"uses: (\S+.*)$", path.read_text(encoding="utf-8"), re.M):
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*", ref), (
                path.name,
                ref,
            )


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
    assert "model\\-00000" in comment and "model\\-02999" not in comment


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


def codeowners(text: str, path: str) -> list[str]:
    """The owners GitHub requires for ``path``: the last matching line wins (anchored
    patterns only, as the example uses: ``/dir/`` covers everything below, ``/file``)."""
    owners: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, *names = line.split()
        assert pattern.startswith("/"), f"unanchored pattern: {pattern}"
        inner = pattern[1:]
        if path.startswith(inner) if inner.endswith("/") else path == inner:
            owners = names
    return owners


def test_codeowners_example_covers_the_state_and_the_workflows() -> None:
    """Set-up step 4 relies on CODEOWNERS review of state/: the example makes every state
    file, production's in particular, and every workflow need an owner's approval."""
    text = (ROOT / "docs" / "CODEOWNERS.example").read_text(encoding="utf-8")
    assert codeowners(text, "state/models.yaml") == ["@acme/ml-platform"]
    assert "@acme/ml-release-managers" in codeowners(text, "state/prod/churn.yaml")
    for path in (".github/workflows/apply.yml", "action.yml", ".github/CODEOWNERS"):
        assert codeowners(text, path) == ["@acme/platform-security"], path
    assert codeowners(text, "README.md") == []
    setup = (ROOT / "docs" / "github-actions.md").read_text(encoding="utf-8")
    assert "docs/CODEOWNERS.example" in setup
