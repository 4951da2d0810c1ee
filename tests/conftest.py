"""Shared fixtures: real mlflow servers and a CLI runner.

The ``server`` matrix: MLflow 3 with sqlite and PostgreSQL backends, and an MLflow 2.22
server (sqlite) from a virtualenv the tests build (``tests/support/mlflow2.py``). Servers
start once per test session on free loopback ports. With ``CI=true`` the PostgreSQL and
MLflow 2 tests fail (never skip) when their server cannot be had.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.cmark import cmark_binary
from tests.support.mlflow2 import mlflow2_python
from tests.support.mlflow_server import MlflowServer, create_pg_database, drop_pg_database

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def cmark() -> str:
    """GitHub's markdown renderer, cmark-gfm (the setup installs it when missing)."""
    return cmark_binary()


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    work = tmp_path_factory.mktemp("mlflow-sqlite")
    server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A sqlite-backed server that delivers webhooks to loopback URLs (SPEC §16)."""
    from tests.support.serve import WEBHOOK_ENV

    work = tmp_path_factory.mktemp("mlflow-webhooks")
    server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work, env=WEBHOOK_ENV).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    try:
        uri = create_pg_database()
    except Exception as exc:  # psycopg missing or PostgreSQL down
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    work = tmp_path_factory.mktemp("mlflow-pg")
    server = MlflowServer(uri, work).start()
    yield server
    server.stop()
    drop_pg_database(uri)


def require_mlflow2_python() -> str:
    """The MLflow 2.22 virtualenv's interpreter; fails in CI, skips elsewhere, if unbuildable."""
    try:
        return mlflow2_python()
    except Exception as exc:  # no uv, no index, a broken build
        if IN_CI:
            pytest.fail(f"the MLflow 2.22 server is required in CI: {exc}")
        pytest.skip(f"MLflow 2.22 server environment not available: {exc}")


@pytest.fixture(scope="session")
def mlflow2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """An MLflow 2.22 server (sqlite backend) from its own virtualenv."""
    python = require_mlflow2_python()
    work = tmp_path_factory.mktemp("mlflow2-sqlite")
    server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work, python=python).start()
    yield server
    server.stop()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mlflow2", marks=pytest.mark.mlflow2),
    ]
)
def server(request: pytest.FixtureRequest) -> MlflowServer:
    """A running mlflow server; tests using it run once per server and backend."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture
def url(sqlite_server: MlflowServer) -> str:
    """The sqlite-backed server's URL, for tests that need one backend only."""
    return sqlite_server.url


@pytest.fixture(autouse=True)
def apply_experiment(monkeypatch: pytest.MonkeyPatch) -> str:
    """An apply-log experiment of this test's own: a lock one test leaves behind (a killed
    apply's RUNNING run) never blocks another test sharing the server."""
    experiment = f"reconciler-applies-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("RECONCILER_APPLY_EXPERIMENT", experiment)
    return experiment


@pytest.fixture
def name() -> str:
    """A model name no other test uses."""
    return f"m-{uuid.uuid4().hex[:10]}"


@dataclass
class Cli:
    """Runs ``reconciler`` in-process against one registry, from a working directory."""

    url: str
    cwd: Path

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        from reconciler.cli import main

        runner = CliRunner()
        full_env = {"MLFLOW_TRACKING_URI": self.url, "NO_COLOR": "1", **(env or {})}
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            return runner.invoke(main, list(args), env=full_env, catch_exceptions=False)
        finally:
            os.chdir(old)


@pytest.fixture
def cli(server: MlflowServer, tmp_path: Path) -> Cli:
    """The CLI against the parametrized server (sqlite and PostgreSQL)."""
    return Cli(server.url, tmp_path)


@pytest.fixture
def cli_sqlite(sqlite_server: MlflowServer, tmp_path: Path) -> Cli:
    """The CLI against the sqlite-backed server only."""
    return Cli(sqlite_server.url, tmp_path)


def write_state(directory: Path, text: str, filename: str = "models.yaml") -> Path:
    """Write a state file under ``directory/state`` and return the state directory."""
    state = directory / "state"
    state.mkdir(exist_ok=True)
    (state / filename).write_text(text, encoding="utf-8")
    return state
