"""The seed lifecycle against a real server: gates, stages, version metadata, predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reconciler import training
from tests.conftest import Cli, write_state
from tests.support.seed import client, seed_model


def aliases_of(url: str, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client(url).get_registered_model(name).aliases.items()}


def state(cli: Cli, name: str, body: str) -> str:
    return str(write_state(cli.cwd, f"models:\n  {json.dumps(name)}:\n{body}"))


GATED = """    aliases: {{champion: {v}}}
    gates:
      champion:
        - {{metric: val_rmse, max: 0.10}}
        - {{metric: val_rmse, better_than: current, direction: lower}}
"""


def test_passing_gates_are_shown_and_apply_proceeds(cli_sqlite: Cli, name: str) -> None:
    """Both gates pass: the plan shows values and thresholds, apply moves the alias."""
    url = cli_sqlite.url
    seed_model(url, name, [{"val_rmse": 0.09}, {"val_rmse": 0.05}], {"champion": 1})
    path = state(cli_sqlite, name, GATED.format(v=2))
    data = json.loads(cli_sqlite("plan", "--state", path, "--format", "json").stdout)
    assert [(g["rule"], g["threshold"], g["value"], g["passed"]) for g in data["gates"]] == [
        ("max", 0.1, 0.05, True),
        ("better_than", 0.09, 0.05, True),
    ]
    assert cli_sqlite("apply", "--state", path, "--yes").exit_code == 0
    assert aliases_of(url, name) == {"champion": 2}


def test_failed_threshold_blocks_plan_and_apply_writes_nothing(cli: Cli, name: str) -> None:
    """A worse candidate: plan says both failed gates, each once, at the model's line; no write."""
    seed_model(cli.url, name, [{"val_rmse": 0.09}, {"val_rmse": 0.2}], {"champion": 1})
    path = state(cli, name, GATED.format(v=2))
    planned = cli("plan", "--state", path)
    assert planned.exit_code == 1
    assert planned.stderr.strip().splitlines() == [
        f"error: state/models.yaml:2: gate {name}@champion -> version 2: val_rmse = 0.2, "
        "must be <= 0.1",
        f"error: state/models.yaml:2: gate {name}@champion -> version 2: val_rmse = 0.2 "
        "does not beat version 1 (0.09; lower is better)",
        "2 errors",
    ]
    assert cli("apply", "--state", path, "--yes").exit_code == 1
    assert aliases_of(cli.url, name) == {"champion": 1}
    assert "reconciler.applied" not in client(cli.url).get_model_version(name, "2").tags


def test_not_beating_the_current_champion_blocks(cli_sqlite: Cli, name: str) -> None:
    """better_than current fails when the candidate is worse than the holder."""
    seed_model(cli_sqlite.url, name, [{"val_rmse": 0.05}, {"val_rmse": 0.08}], {"champion": 1})
    result = cli_sqlite("plan", "--state", state(cli_sqlite, name, GATED.format(v=2)))
    assert result.exit_code == 1 and "does not beat version 1" in result.stderr


def test_missing_metric_fails_the_gate(cli_sqlite: Cli, name: str) -> None:
    """A candidate whose run lacks the metric fails, naming the metric."""
    seed_model(cli_sqlite.url, name, [{"other": 1.0}])
    result = cli_sqlite("plan", "--state", state(cli_sqlite, name, GATED.format(v=1)))
    assert result.exit_code == 1
    assert "val_rmse is missing on the version's run" in result.stderr


def test_better_than_current_passes_without_a_holder(cli_sqlite: Cli, name: str) -> None:
    """With no current champion, better_than passes and the threshold still applies."""
    seed_model(cli_sqlite.url, name, [{"val_rmse": 0.05}])
    result = cli_sqlite("apply", "--state", state(cli_sqlite, name, GATED.format(v=1)), "--yes")
    assert result.exit_code == 0, result.output
    assert "no current holder to beat: passed" in result.stdout


def test_gates_are_not_checked_when_the_alias_does_not_move(cli_sqlite: Cli, name: str) -> None:
    """A converged alias never fails a gate retroactively."""
    seed_model(cli_sqlite.url, name, [{"val_rmse": 0.5}], {"champion": 1})
    result = cli_sqlite("plan", "--state", state(cli_sqlite, name, GATED.format(v=1)))
    assert result.exit_code == 0 and "gate" not in result.stdout


def test_stage_declaration_archives_previous_production(cli: Cli, name: str) -> None:
    """stages: {Production: 2} promotes v2 and moves the old Production v1 to Archived."""
    seed_model(cli.url, name, [{}, {}, {}])
    c = client(cli.url)
    c.transition_model_version_stage(name, "1", "Production")
    c.transition_model_version_stage(name, "3", "Staging")
    path = state(cli, name, "    stages: {Production: 2}\n")
    planned = cli("plan", "--state", path)
    assert "stages are deprecated" in planned.stdout
    assert cli("apply", "--state", path, "--yes").exit_code == 0
    stages = {v: c.get_model_version(name, str(v)).current_stage for v in (1, 2, 3)}
    assert stages == {1: "Archived", 2: "Production", 3: "Staging"}


def test_version_tags_and_description_are_reconciled(cli: Cli, name: str) -> None:
    """versions: {N: {tags, description}} sets listed keys and leaves others alone."""
    seed_model(cli.url, name, [{}])
    client(cli.url).set_model_version_tag(name, "1", "keep", "me")
    path = state(
        cli,
        name,
        '    versions:\n      1: {tags: {validation_status: approved}, description: "validated"}\n',
    )
    assert cli("apply", "--state", path, "--yes").exit_code == 0
    mv = client(cli.url).get_model_version(name, "1")
    assert mv.description == "validated"
    assert mv.tags["validation_status"] == "approved" and mv.tags["keep"] == "me"


def test_predict_writes_a_prediction_per_row_and_rejects_bad_columns(
    cli_sqlite: Cli, name: str, tmp_path: Path
) -> None:
    """predict scores a CSV by alias; a column mismatch or missing alias is one error line."""
    import lightgbm as lgb

    x = np.random.default_rng(0).normal(size=(60, 3))
    model = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(x, x[:, 0])
    training.log_candidate(model, name, {"val_rmse": 1.0}, tracking_uri=cli_sqlite.url)
    client(cli_sqlite.url).set_registered_model_alias(name, "champion", "1")
    good = tmp_path / "in.csv"
    good.write_text("a,b,c\n1,2,3\n0,0,0\n")
    result = cli_sqlite("predict", name, "--input", str(good), "--output", str(tmp_path / "o.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.csv").read_text().splitlines()[0] == "a,b,c,prediction"
    assert len((tmp_path / "o.csv").read_text().splitlines()) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("a\n1\n")
    wrong = cli_sqlite("predict", name, "--input", str(bad), "--output", str(tmp_path / "x.csv"))
    assert wrong.exit_code == 1 and len(wrong.stderr.strip().splitlines()) == 1
    missing = cli_sqlite(
        "predict",
        name,
        "--alias",
        "nope",
        "--input",
        str(good),
        "--output",
        str(tmp_path / "y.csv"),
    )
    assert missing.exit_code == 1 and "nope" in missing.stderr
