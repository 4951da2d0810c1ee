"""The training API and the demo, against real registries (a server and a local sqlite file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from reconciler import training
from tests.support.gitrepo import git
from tests.support.seed import client


def _model(trees: int) -> object:
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 3))
    return lgb.LGBMRegressor(n_estimators=trees, verbose=-1).fit(x, x[:, 0] * 3)


def test_log_candidate_registers_a_ready_version_with_metrics_and_lineage(
    url: str, name: str
) -> None:
    """log_candidate returns (run_id, version); champion_info and list_versions read it back."""
    run_id, version = training.log_candidate(
        _model(5),
        name,
        {"val_rmse": 0.5},
        params={"trees": 5},
        tags={"team": "growth"},
        data_version="2026-11-01",
        tracking_uri=url,
    )
    assert version == 1
    from tests.support.seed import client

    client(url).set_registered_model_alias(name, "champion", "1")
    info = training.champion_info(name, tracking_uri=url)
    assert info["version"] == 1 and info["run_id"] == run_id
    assert info["metrics"] == {"val_rmse": 0.5}
    run = client(url).get_run(run_id)
    assert run.data.tags["lineage.data_version"] == "2026-11-01"
    assert run.data.params == {"trees": "5"}
    listed = training.list_versions(name, tracking_uri=url)
    assert [(v["version"], v["aliases"], v["status"]) for v in listed] == [
        (1, ["champion"], "READY")
    ]


def test_loaded_champion_predicts(url: str, name: str) -> None:
    """load(name) returns the champion as a model whose predict gives one value per row."""
    training.log_candidate(_model(3), name, {"val_rmse": 1.0}, tracking_uri=url)
    from tests.support.seed import client

    client(url).set_registered_model_alias(name, "champion", "1")
    predictions = training.load(name, tracking_uri=url).predict(np.zeros((4, 3)))
    assert len(predictions) == 4


def test_demo_runs_green_from_an_empty_directory(tmp_path: Path) -> None:
    """`reconciler demo` in a fresh directory exits 0 and leaves version 3 as champion."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", "from reconciler.cli import main; main()", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "The gate blocks it" in done.stdout and "must be <= 20" in done.stderr
    assert "Creating initial MLflow database tables" not in done.stderr
    assert "already exists" not in done.stdout + done.stderr
    root = Path(__file__).resolve().parent.parent
    ignored = subprocess.run(["git", "check-ignore", "-q", "reconciler-demo/mlflow.db"], cwd=root)
    assert ignored.returncode == 0, "the demo's work dir is not in .gitignore"
    uri = f"sqlite:///{tmp_path / 'reconciler-demo' / 'mlflow.db'}"
    assert training.champion_info("demo-regressor", tracking_uri=uri)["version"] == 3
    folder = tmp_path / "reconciler-demo"
    subjects = git(folder, "log", "--format=%s").splitlines()
    assert sum(s.startswith("Revert") for s in subjects) == 3, subjects
    assert "$ git revert --no-edit HEAD" in done.stdout
    modeline = (folder / "state/models.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert modeline == "# yaml-language-server: $schema=../state.schema.json"
    assert json.loads((folder / "state.schema.json").read_text())["title"]
    ignored = done.stdout.split("the pipeline's move is neither a change")[1].split("\n== ")[0]
    assert "candidate" not in ignored.split("$ reconciler plan")[1] and "No changes" in ignored
    history = done.stdout.split("$ reconciler history")[1].split("\n== ")[0].splitlines()[1:]
    moves = [line for line in history if "champion ->" in line]
    assert len(moves) == 6 and all(", run " in line for line in moves), history
    assert not (tmp_path / "mlruns").exists()  # plan.json files stay in the demo folder
    prompts = done.stdout.split("the evidence is the template diff")[1].split("\n== ")[0]
    assert "prompt support-reply" in prompts and "+You support AcmeDB users." in prompts
    assert client(uri).get_prompt_version_by_alias("support-reply", "production").version == 2


def test_training_calls_do_not_redirect_the_callers_mlflow(url: str, name: str) -> None:
    """After a call with tracking_uri=, MLflow's global URIs and env vars are as before."""
    before = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    training.log_candidate(_model(2), name, {"val_rmse": 1.0}, tracking_uri=url)
    after = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    assert after == before
