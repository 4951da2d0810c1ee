"""A plan reads what it shows (SPEC §22): 200 models with 400 alias changes.

Models are seeded straight into the server's SQL store (tests/support/bulk_seed.py) with
sources the server serves (``mlflow-artifacts:/``), so every MLmodel read for evidence is
a request the counting proxy sees. Request counts are asserted, never wall times.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write_state
from tests.support.bulk_seed import bulk_seed
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer

MODELS = 200
ARTIFACTS = "GET /api/2.0/mlflow-artifacts/artifacts/"


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowServer, Path]]:
    """200 models (champion -> 1, archived -> 2) and a state that swaps both aliases on
    every one: 400 alias changes."""
    work = tmp_path_factory.mktemp("bulk-evidence")
    names = [f"bulk-{i:04d}" for i in range(MODELS)]
    bulk_seed(f"sqlite:///{work / 'mlflow.db'}", names, "mlflow-artifacts:/bulk/{name}/{version}")
    server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work).start()
    body = "".join(f"  {n}:\n    aliases: {{champion: 2, archived: 1}}\n" for n in names)
    state = write_state(work, "models:\n" + body)
    yield server, state
    server.stop()


def plan(server: MlflowServer, state: Path, *args: str) -> tuple[Counter[str], Any]:
    with FaultProxy(server.url) as proxy:
        result = Cli(proxy.url, state.parent)("plan", "--state", str(state), *args)
        return Counter(proxy.requests), result


def split(requests: Counter[str]) -> tuple[int, int]:
    """(MLmodel reads, every other request)."""
    mlmodel = sum(n for key, n in requests.items() if key.startswith(ARTIFACTS))
    return mlmodel, sum(requests.values()) - mlmodel


def test_400_changes_without_evidence_plan_in_at_most_10_requests(
    bulk_server: tuple[MlflowServer, Path],
) -> None:
    """`--evidence 0`: 400 alias changes are planned in <= 10 requests, no MLmodel read,
    and the omission is said once (main: one MLmodel read per version, 400 more)."""
    requests, result = plan(*bulk_server, "--evidence", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    assert split(requests)[0] == 0 and sum(requests.values()) <= 10, requests
    changes = json.loads(result.stdout)["changes"]
    assert len(changes) == 400 and all(c["evidence"] is None for c in changes)


def test_default_evidence_reads_only_the_50_changes_it_shows(
    bulk_server: tuple[MlflowServer, Path],
) -> None:
    """The default (50): MLmodel reads only for the versions of the 50 moves shown (25
    models, two versions each), every other read batched (<= 10); said once."""
    requests, result = plan(*bulk_server)
    assert result.exit_code == 0, result.output
    mlmodel, other = split(requests)
    assert mlmodel == 50 and other <= 10, requests
    said = [line for line in result.stdout.splitlines() if "evidence shown for" in line]
    assert said == [
        "evidence shown for 50 of 400 changes (`plan --evidence all` reads and shows every one)"
    ]


def test_evidence_all_reads_every_version(bulk_server: tuple[MlflowServer, Path]) -> None:
    """`--evidence all` is the old behaviour: one MLmodel read per version involved, and
    no omission to mention."""
    requests, result = plan(*bulk_server, "--evidence", "all", "--format", "json")
    assert result.exit_code == 0, result.output
    assert split(requests)[0] == 2 * MODELS, requests
    assert all("evidence" not in c for c in json.loads(result.stdout)["changes"])


def test_a_wrong_evidence_value_is_one_line_before_any_request(
    bulk_server: tuple[MlflowServer, Path],
) -> None:
    """`--evidence lots`: one usage line naming the accepted values, nothing read."""
    requests, result = plan(*bulk_server, "--evidence", "lots")
    assert result.exit_code == 1 and "`all`" in result.output, result.output
    assert sum(requests.values()) == 0
