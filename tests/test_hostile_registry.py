"""Hostile registry text on a real ``mlflow server``: someone with nothing but EDIT on a
model's metadata (every training pipeline has it) cannot forge the PR comment, hide a
failed gate or run a workflow command through the plan (SPEC §15).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Cli, write_state
from tests.support.cmark import read, to_html
from tests.support.seed import client
from tests.test_markdown_hostile import HOSTILE, check_page

RUN_NAME = "x\n::error title=reconciler::All gates passed"


def _version(c: Any, name: str, exp: str, run_name: str, columns: list[str], **data: Any) -> None:
    """One version whose run has ``data`` and whose MLmodel has input ``columns``."""
    run = c.create_run(exp, run_name=run_name, tags=data.get("run_tags", {}))
    for key, value in data.get("params", {}).items():
        c.log_param(run.info.run_id, key, value)
    for key, value in data.get("metrics", {}).items():
        c.log_metric(run.info.run_id, key, value)
    c.set_terminated(run.info.run_id)
    logged = c.create_logged_model(exp, source_run_id=run.info.run_id)
    inputs = json.dumps([{"type": "double", "name": col, "required": True} for col in columns])
    mlmodel = {
        "artifact_path": "model",
        "flavors": {},
        "signature": {"inputs": inputs, "outputs": '[{"type": "double", "required": true}]'},
    }
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "MLmodel").write_text(yaml.safe_dump(mlmodel), encoding="utf-8")
        c.log_model_artifacts(logged.model_id, tmp)
    c.create_model_version(
        name,
        f"models:/{logged.model_id}",
        run.info.run_id,
        tags=data.get("version_tags", {}),
        model_id=logged.model_id,
    )


def hostile_model(url: str, name: str) -> None:
    """v1 holds champion; v2, the candidate, carries hostile text in every field."""
    h = HOSTILE
    c = client(url)
    exp = c.create_experiment(f"hostile-{name}")
    c.create_registered_model(name, description=h[0], tags={"team": h[1]})
    _version(c, name, exp, h[2], ["a"], metrics={"auc": 0.8}, params={"depth": h[3]})
    _version(
        c,
        name,
        exp,
        RUN_NAME,
        ["a", h[0], h[4], h[9]],
        metrics={"auc": 0.9, "val loss/x": 0.1},
        params={"depth": h[5], "notes": h[6]},
        run_tags={"lineage.data": h[7], "mlflow.source.git.commit": h[8]},
        version_tags={"validated": h[1], "ok": h[11], "origin": h[12]},
    )
    c.set_registered_model_alias(name, "champion", "1")


STATE = """models:
  {name}:
    description: Clean
    tags: {{team: growth}}
    aliases: {{champion: 2, archived: 1}}
    versions: {{2: {{tags: {{ok: "yes"}}}}}}
    gates:
      champion:
        - {{metric: auc, min: 0.5}}
        - {{signature: compatible}}
        - {{tag: validated, equals: "yes"}}
"""


def test_hostile_registry_text_cannot_forge_the_markdown_plan(
    cli_sqlite: Cli, name: str, cmark: str, tmp_path: Path
) -> None:
    """The markdown plan and the PR comment file of a real hostile model, rendered by
    cmark-gfm: verdict first, both failed gates and both errors shown, no link outside
    the registry, no mention, HTML, comment or bidi control."""
    hostile_model(cli_sqlite.url, name)
    write_state(tmp_path, STATE.format(name=name))
    result = cli_sqlite(
        "plan", "--format", "markdown", "--github", env={"RUNNER_TEMP": str(tmp_path)}
    )
    assert result.exit_code == 1, result.output
    comment = (tmp_path / "reconciler-plan-comment.md").read_text(encoding="utf-8")
    for markdown in (result.stdout, comment):
        html = to_html(markdown, cmark)
        page = read(html)
        check_page(page, html, failed=2, errors=2, registry=cli_sqlite.url)
        assert "previous champion" in markdown  # archived takes v1, it is no candidate


def test_no_output_line_can_start_a_workflow_command(
    cli_sqlite: Cli, name: str, tmp_path: Path
) -> None:
    """A run named ``x\\n::error ...`` and a state file whose name holds a newline: no
    line of the text plan, of its errors or of ``status`` starts a workflow command."""
    hostile_model(cli_sqlite.url, name)
    state = write_state(tmp_path, STATE.format(name=name))
    runs = [
        cli_sqlite("plan"),
        cli_sqlite("status", name),
        cli_sqlite("plan", "--format", "markdown"),
    ]
    (state / "models.yaml").rename(state / "bad\n::error::x.yaml")
    (state / "bad\n::error::x.yaml").write_text("models: [\n", encoding="utf-8")
    runs.append(cli_sqlite("validate"))
    assert runs[0].exit_code == 1 and "x\\n::error" in runs[0].stdout, runs[0].output
    assert runs[-1].exit_code == 1 and "bad\\n::error::x.yaml" in runs[-1].stderr
    for result in runs:
        for line in (result.stdout + "\n" + result.stderr).split("\n"):
            assert not line.lstrip().startswith("::"), line
            assert "##[" not in line and "\r" not in line, line
    assert re.search(r"run \w+ \(x\\n::error", runs[0].stdout)
