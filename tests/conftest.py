"""Shared fixtures: real mlflow servers (sqlite and PostgreSQL backends) and a CLI runner.

Servers start once per test session on free loopback ports. With ``CI=true`` the
PostgreSQL-backed tests fail (never skip) when PostgreSQL is unavailable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.mlflow_server import MlflowServer, create_pg_database, drop_pg_database

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    work = tmp_path_factory.mktemp("mlflow-sqlite")
    server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work).start()
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> MlflowServer:
    """A running mlflow server; tests using it run once per backend."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture
def url(sqlite_server: MlflowServer) -> str:
    """The sqlite-backed server's URL, for tests that need one backend only."""
    return sqlite_server.url


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
