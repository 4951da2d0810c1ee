"""A plan's request count does not depend on the machine it runs on (issue #24).

Real servers, a proxy that opens one upstream connection per request (what an ingress in
front of MLflow often does) and counts what it forwards; models seeded straight into the
server's SQL store (tests/support/bulk_seed.py). Request counts are asserted, never
wall times: through the proxy, on a machine kept busy by two CPU-bound processes, at
1000 models on an analyzed PostgreSQL, at 10,000 models. Where the search is made to
fail (a proxy holding it past the timeout), the read gets each model, and says why once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.mlflow import modelread
from tests.conftest import IN_CI, Cli, write_state
from tests.support.bulk_seed import bulk_seed, state_text
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer, create_pg_database, drop_pg_database
from tests.support.seed import seed_model

SEARCH = "GET /api/2.0/mlflow/registered-models/search"
GET = "GET /api/2.0/mlflow/registered-models/get"
VERSIONS = "GET /api/2.0/mlflow/model-versions/search"
RUNS = 5
BUSY_SECONDS = 600
"""The CPU-bound processes stop by themselves after this long, whatever happens."""
BUSY = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n" + (
    "while time.monotonic() < end:\n    pass\n"
)


def names_of(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


@pytest.fixture(scope="module")
def seeded_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MlflowServer, list[str]]]:
    """A sqlite server (``--workers 1``) holding exactly the models of ``request.param``."""
    count: int = request.param
    work = tmp_path_factory.mktemp(f"mlflow-{count}")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    names = names_of(count, f"r{count}")
    bulk_seed(uri, names)
    server = MlflowServer(uri, work).start()
    yield server, names
    server.stop()


def plan_requests(url: str, state: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``plan`` through a counting proxy: (requests by endpoint, the CLI result)."""
    with FaultProxy(url) as proxy:
        result = Cli(proxy.url, state.parent)("plan", "--state", str(state), *args, env=env)
        return Counter(proxy.requests), result


def assert_no_changes(result: Any) -> None:
    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two CPU-bound processes (each stops by itself after BUSY_SECONDS)."""
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY, str(BUSY_SECONDS)]) for _ in range(2)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def five_plans(server: MlflowServer, names: list[str], tmp_path: Path) -> list[int]:
    state = write_state(tmp_path, state_text(names))
    counts = []
    for _ in range(RUNS):
        requests, result = plan_requests(server.url, state)
        assert_no_changes(result)
        assert requests[GET] == 0, requests
        counts.append(sum(requests.values()))
    return counts


@pytest.mark.parametrize("seeded_server", [200], indirect=True)
def test_200_models_through_a_proxy_same_few_requests_every_time(
    seeded_server: tuple[MlflowServer, list[str]], tmp_path: Path
) -> None:
    """200 models through a connection-per-request proxy: the same <= 10 requests in 5
    plans out of 5, none of them a per-model get."""
    counts = five_plans(*seeded_server, tmp_path)
    assert counts == [counts[0]] * RUNS and counts[0] <= 10, counts


@pytest.mark.parametrize("seeded_server", [200], indirect=True)
def test_200_models_on_a_busy_machine_same_few_requests_every_time(
    seeded_server: tuple[MlflowServer, list[str]], tmp_path: Path, busy_machine: None
) -> None:
    """The same while two CPU-bound processes keep the machine busy: 5 out of 5."""
    counts = five_plans(*seeded_server, tmp_path)
    assert counts == [counts[0]] * RUNS and counts[0] <= 10, counts


@pytest.mark.parametrize("seeded_server", [10_000], indirect=True)
def test_10000_models_in_a_few_requests(
    seeded_server: tuple[MlflowServer, list[str]], tmp_path: Path
) -> None:
    """10,000 models: pages of 1000 models and 10000 versions, <= 30 requests in all."""
    server, names = seeded_server
    requests, result = plan_requests(server.url, write_state(tmp_path, state_text(names)))
    assert_no_changes(result)
    assert requests[GET] == 0 and sum(requests.values()) <= 30, requests
    assert requests[SEARCH] >= 10  # every page of the registry was read


@pytest.fixture
def analyzed_postgres(tmp_path: Path) -> Iterator[tuple[MlflowServer, list[str]]]:
    """A PostgreSQL-backed server with mlflow's default workers, 1000 models, and the
    planner statistics a production PostgreSQL's autovacuum keeps (``ANALYZE``)."""
    try:
        import psycopg

        uri = create_pg_database("reads")
    except Exception as exc:  # psycopg missing or PostgreSQL down
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    server = None
    try:
        names = names_of(1000, "pg")
        bulk_seed(uri, names)
        dsn = uri.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ANALYZE")
        server = MlflowServer(uri, tmp_path / "server", workers=None).start()
        yield server, names
    finally:
        if server is not None:
            server.stop()
        drop_pg_database(uri)


@pytest.mark.postgres
def test_1000_models_on_an_analyzed_postgresql_in_a_few_requests(
    analyzed_postgres: tuple[MlflowServer, list[str]], tmp_path: Path
) -> None:
    """1000 models, PostgreSQL after ANALYZE, default workers: <= 10 requests, no gets."""
    server, names = analyzed_postgres
    requests, result = plan_requests(server.url, write_state(tmp_path, state_text(names)))
    assert_no_changes(result)
    assert requests[GET] == 0 and sum(requests.values()) <= 10, requests


@pytest.fixture
def held_searches(sqlite_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The session's sqlite server behind a proxy that holds every registered-model
    search for 4 s, while a page counts as slow after 0.5 s and failed after 1.5 s."""
    monkeypatch.setattr(modelread, "SLOW_PAGE", 0.5)
    monkeypatch.setattr(modelread, "PAGE_TIMEOUT", 1.5)

    def hold(method: str, path: str, writes: int) -> None:
        if f"{method} {path}" == SEARCH:
            time.sleep(4)

    with FaultProxy(sqlite_server.url, hook=hold) as proxy:
        yield proxy


def three_models(url: str, prefix: str, tmp_path: Path) -> Path:
    names = names_of(3, prefix)
    for model in names:
        seed_model(url, model, aliases={"champion": 1, "archived": 2})
    return write_state(tmp_path, state_text(names))


def test_a_search_past_the_timeout_reads_model_by_model_and_says_why_once(
    sqlite_server: MlflowServer, held_searches: FaultProxy, tmp_path: Path, name: str
) -> None:
    """Held searches: plan gets each model (one search, one get per model, one version
    search), finds no changes, and says once on stderr what to do (ANALYZE)."""
    state = three_models(sqlite_server.url, name, tmp_path)
    result = Cli(held_searches.url, tmp_path)("plan", "--state", str(state))
    assert_no_changes(result)
    requests = held_searches.requests
    assert (requests[SEARCH], requests[GET], requests[VERSIONS]) == (1, 3, 1)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "run ANALYZE" in warnings[0], result.stderr
    assert "one by one" in warnings[0]


def test_read_models_search_waits_for_the_search(
    sqlite_server: MlflowServer, held_searches: FaultProxy, tmp_path: Path, name: str
) -> None:
    """RECONCILER_READ_MODELS=search: the held search is waited for, no get is made, and
    the slow page is still said once."""
    state = three_models(sqlite_server.url, name, tmp_path)
    cli = Cli(held_searches.url, tmp_path)
    result = cli("plan", "--state", str(state), env={"RECONCILER_READ_MODELS": "search"})
    assert_no_changes(result)
    requests = held_searches.requests
    assert (requests[SEARCH], requests[GET], requests[VERSIONS]) == (1, 0, 1)
    assert result.stderr.count("warning:") == 1 and "ANALYZE" in result.stderr


def test_read_models_get_never_searches(
    sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """plan --read-models get: one get per declared model, no registered-model search."""
    state = three_models(sqlite_server.url, name, tmp_path)
    requests, result = plan_requests(sqlite_server.url, state, "--read-models", "get")
    assert_no_changes(result)
    assert (requests[SEARCH], requests[GET], requests[VERSIONS]) == (0, 3, 1)
    assert "warning" not in result.stderr
