"""Registries on separate servers (SPEC v4 §19), against two real mlflow servers: the
source (staging) behind MLflow's basic-auth app, the target (prod, its own backend and
artifact store) behind a bearer-token gateway. Each gets only its own credentials: a
basic credential at the gateway or a bearer token at the auth app is refused."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, write_state
from tests.support.auth import ADMIN, TokenProxy, basic_auth_server
from tests.support.fault_proxy import FaultProxy
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.models import log_lightgbm
from tests.support.seed import client

TOKEN = "tok-" + uuid.uuid4().hex
COLUMNS = {"x0": "double", "x1": "double"}


@pytest.fixture(scope="module")
def staging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """The source server, with basic auth (MLflow 3)."""
    server = basic_auth_server(tmp_path_factory.mktemp("staging-auth"), sys.executable).start()
    yield server
    server.stop()


@contextlib.contextmanager
def admin() -> Iterator[None]:
    """The staging admin in the environment; gone after."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def seed_staging(url: str, model: str, rmse: float) -> int:
    """A LightGBM version on staging, logged as the admin."""
    with admin():
        _, version = log_lightgbm(
            url, model, COLUMNS, {"rmse": rmse}, {"num_leaves": 7}, {"team": "churn"}
        )
    return version


def env(staging: str, prod: str) -> dict[str, str | None]:
    return {
        "RECONCILER_REGISTRY_STAGING_URI": staging,
        "RECONCILER_REGISTRY_STAGING_USERNAME": ADMIN[0],
        "RECONCILER_REGISTRY_STAGING_PASSWORD": ADMIN[1],
        "RECONCILER_REGISTRY_PROD_URI": prod,
        "RECONCILER_REGISTRY_PROD_TOKEN": TOKEN,
        "MLFLOW_TRACKING_USERNAME": None,
        "MLFLOW_TRACKING_PASSWORD": None,
        "MLFLOW_TRACKING_TOKEN": None,
    }


def prod_state(model: str, source: str, version: int) -> str:
    return (
        "registry: prod\nmodels:\n"
        f"  {model}:\n    aliases:\n"
        f"      champion: {{from: {source}, version: {version}, registry: staging}}\n"
        "    gates:\n      champion:\n        - {metric: rmse, max: 0.5}\n"
    )


def test_cross_server_copy_predicts_copies_once_and_reverts_without_a_copy(
    staging_server: MlflowServer, sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """plan shows staging:M v1; apply copies files, run data and the tag; the copy predicts;
    a second apply copies nothing; git revert + apply points back at the first copy."""
    src, dst = f"{name}-staging", f"{name}-prod"
    assert seed_staging(staging_server.url, src, 0.2) == 1
    repo = tmp_path / "repo"
    repo.mkdir()
    init_repo(repo)
    write_state(repo, prod_state(dst, src, 1))
    git(repo, "add", "state")
    git(repo, "commit", "-qm", "prod serves staging v1")
    with TokenProxy(sqlite_server.url, TOKEN) as gateway:
        cli = Cli("http://127.0.0.1:9/unused", repo)
        names = env(staging_server.url, gateway.url)
        planned = cli("plan", env=names)
        assert planned.exit_code == 0, planned.output
        assert f"+ copy staging:{src} v1 -> {dst} (new version)" in planned.stdout
        assert "champion -> version 1: rmse = 0.2, <= 0.5: passed" in planned.stdout
        plan_requests = len(gateway.seen)
        gateway.seen.clear()

        started = time.perf_counter()
        applied = cli("apply", "--yes", env=names)
        copy_seconds = time.perf_counter() - started
        assert applied.exit_code == 0, applied.output
        assert ADMIN[1] not in applied.output and TOKEN not in applied.output
        gateway.seen.clear()
        assert cli("plan", env=names).exit_code == 0  # converged: the copy exists on prod
        print(
            f"\nplan requests to prod: {plan_requests} (converged: {len(gateway.seen)}); "
            f"apply with the copy: {copy_seconds:.2f}s"
        )

        target = client(sqlite_server.url)
        copy = target.get_model_version(dst, "1")
        assert json.loads(copy.tags["reconciler.copied_from"])["version"] == 1
        assert copy.tags["team"] == "churn" if "team" in copy.tags else True
        run = target.get_run(copy.run_id)
        assert run.data.metrics["rmse"] == 0.2 and run.data.params["num_leaves"] == "7"
        assert target.get_experiment(run.info.experiment_id).name == "reconciler-copies"
        assert int(target.get_registered_model(dst).aliases["champion"]) == 1
        started = time.perf_counter()  # baseline: MLflow's same-server copy (no files move)
        target.copy_model_version(f"models:/{dst}/1", f"{dst}-baseline")
        print(f"same-server copy_model_version: {time.perf_counter() - started:.2f}s")

        rows = tmp_path / "in.csv"
        rows.write_text("x0,x1\n0.1,0.2\n-1.0,0.5\n", encoding="utf-8")
        scored = Cli(sqlite_server.url, tmp_path)(
            "predict", dst, "--input", str(rows), "--output", str(tmp_path / "out.csv")
        )
        assert scored.exit_code == 0, scored.output
        assert len((tmp_path / "out.csv").read_text().splitlines()) == 3

        again = cli("apply", "--yes", env=names)
        assert again.exit_code == 0 and "No changes" in again.stdout, again.output

        assert seed_staging(staging_server.url, src, 0.1) == 2
        write_state(repo, prod_state(dst, src, 2))
        git(repo, "commit", "-qam", "prod serves staging v2")
        assert cli("apply", "--yes", env=names).exit_code == 0
        assert int(target.get_registered_model(dst).aliases["champion"]) == 2
        git(repo, "revert", "--no-edit", "HEAD")
        back = cli("apply", "--yes", env=names)
        assert back.exit_code == 0, back.output
        assert "copy" not in back.stdout.split("Apply complete")[0].split("registry prod")[1]
        assert int(target.get_registered_model(dst).aliases["champion"]) == 1
        assert len(target.search_model_versions(f"name = '{dst}'")) == 2


def test_missing_registry_variable_is_an_error_at_its_line(tmp_path: Path, name: str) -> None:
    """registry: prod without RECONCILER_REGISTRY_PROD_URI: one located line, exit 1."""
    write_state(
        tmp_path, f"version: 1\nregistry: prod\nmodels:\n  {name}:\n    aliases: {{a: 1}}\n"
    )
    result = Cli("http://127.0.0.1:9", tmp_path)("plan", env={"RECONCILER_REGISTRY_PROD_URI": None})
    assert result.exit_code == 1
    assert (
        "models.yaml:2: registry 'prod': RECONCILER_REGISTRY_PROD_URI is not set" in result.stderr
    )
    assert "Traceback" not in result.output


def test_plan_reads_each_registry_once_and_a_saved_plan_covers_both(
    staging_server: MlflowServer, sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """staging is planned and copied from: one batched read of it per plan; plan --out
    saves both registries, apply PLANFILE applies both, a changed one refuses it; soak
    gates on staging's alias read staging's apply log (once)."""
    src, dst = f"{name}-src", f"{name}-dst"
    assert seed_staging(staging_server.url, src, 0.3) == 1
    write_state(tmp_path, f"registry: staging\nmodels:\n  {src}:\n    aliases: {{cand: 1}}\n")
    write_state(tmp_path, prod_state(dst, src, 1), "prod.yaml")
    with FaultProxy(staging_server.url) as staging, TokenProxy(sqlite_server.url, TOKEN) as prod:
        cli = Cli("http://127.0.0.1:9/unused", tmp_path)
        names = env(staging.url, prod.url)
        planned = cli("plan", env=names)
        assert planned.exit_code == 0, planned.output
        assert "+ alias cand: 1" in planned.stdout, planned.stdout
        assert "MLmodel not readable" not in planned.stdout  # read with staging's own key
        searches = {k: n for k, n in staging.requests.items() if k.endswith("/search")}
        print(f"\nplan requests to staging (planned and copied from): {searches}")
        reads = [
            k
            for k in searches
            if k.endswith(("/registered-models/search", "/model-versions/search"))
        ]
        assert len(reads) == 2 and all(searches[k] == 1 for k in reads), searches

        saved = tmp_path / "plan.json"
        assert cli("plan", "--out", str(saved), env=names).exit_code == 0
        body = json.loads(saved.read_text())
        assert [r["registry_name"] for r in body["registries"]] == ["prod", "staging"]
        assert [(s["registry_name"], s["models"]) for s in body["sources"]] == [("staging", [src])]
        moved = cli(
            "apply",
            str(saved),
            "--yes",
            env={**names, "RECONCILER_REGISTRY_PROD_URI": sqlite_server.url},
        )
        assert moved.exit_code == 1 and "made for registry 'prod' at" in moved.stderr, moved.output
        with admin():
            client(staging.url).set_registered_model_alias(src, "moved", "1")  # staging changes
        stale = cli("apply", str(saved), "--yes", env=names)
        assert stale.exit_code == 1 and "stale" in stale.stderr, stale.output
        assert "Traceback" not in stale.output
        target = client(sqlite_server.url)
        assert not target.search_registered_models(f"name = '{dst}'")  # nothing was written

        assert cli("plan", "--out", str(saved), env=names).exit_code == 0
        applied = cli("apply", str(saved), "--yes", env=names)
        assert applied.exit_code == 0, applied.output
        assert int(target.get_registered_model(dst).aliases["champion"]) == 1
        assert "reconciler.copied_from" in target.get_model_version(dst, "1").tags
        with admin():
            assert client(staging.url).get_registered_model(src).aliases["cand"] == "1"
        again = cli("apply", str(saved), "--yes", env=names)
        assert again.exit_code == 1 and "registry prod: the saved plan" in again.stderr
        assert len(target.search_model_versions(f"name = '{dst}'")) == 1  # one copy only

        soaked = "".join(
            f"      {a}: {{from: {src}, version: 1, registry: staging}}\n"
            for a in ("champion", "st", "sd")
        )
        write_state(
            tmp_path,
            f"registry: prod\nmodels:\n  {dst}:\n    aliases:\n{soaked}    gates:\n"
            f"      st: [{{soak: 24h, in: 'staging:{src}@cand'}}]\n"
            f"      sd: [{{soak: 24h, in: '{src}@cand'}}]\n",
            "prod.yaml",
        )
        staging.requests.clear()
        gated = cli("plan", env=names)
        assert gated.exit_code == 1, gated.output  # staging's log: cand set moments ago
        assert gated.stderr.count(f"staging:{src} v1 has held cand for ") == 2, gated.output
        assert "of 24h (since " in gated.stderr and "Traceback" not in gated.output
        print(f"plan with soak gates on staging's log: {dict(staging.requests)}")
        assert staging.requests["GET /api/2.0/mlflow/experiments/get-by-name"] == 1  # one log read
        assert staging.requests["GET /api/2.0/mlflow/model-versions/search"] == 1


def test_a_copy_changed_in_transit_with_its_size_kept_is_refused(
    staging_server: MlflowServer, sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """The uploaded MLmodel is altered on the way (same size): the sha256 check refuses
    the copy, the copy run ends FAILED and no version is registered."""
    src, dst = f"{name}-src", f"{name}-dst"
    assert seed_staging(staging_server.url, src, 0.2) == 1
    write_state(tmp_path, prod_state(dst, src, 1))

    def corrupt(method: str, path: str, body: bytes) -> bytes:
        if method == "PUT" and path.endswith("/MLmodel") and body:
            return body[:-1] + (b"#" if body[-1:] != b"#" else b"%")
        return body

    with FaultProxy(sqlite_server.url, rewrite=corrupt) as prod:
        names = {**env(staging_server.url, prod.url), "RECONCILER_REGISTRY_PROD_TOKEN": None}
        applied = Cli("http://127.0.0.1:9/unused", tmp_path)("apply", "--yes", env=names)
    assert applied.exit_code == 1, applied.output
    assert "did not arrive whole" in applied.stderr and ": MLmodel differs" in applied.stderr
    assert "Traceback" not in applied.output
    target = client(sqlite_server.url)
    assert not target.search_model_versions(f"name = '{dst}'")
    copies = target.search_runs(
        [target.get_experiment_by_name("reconciler-copies").experiment_id],
        f"tags.mlflow.runName = 'copy of staging:{src} v1'",
    )
    assert [r.info.status for r in copies] == ["FAILED"]
