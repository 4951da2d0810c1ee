"""Registered models by search, or one by one when the server is slow at search.

Unit tests drive ``ModelReader`` with a stand-in search whose answer the test releases;
the integration tests put a real server behind a proxy that holds every registered-model
search, and count what reached the server (never how long it took).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.errors import RegistryError
from reconciler.mlflow import modelread
from reconciler.mlflow.modelread import ModelReader, deadline
from reconciler.mlflow.registry import MlflowRegistry
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import seed_model

SEARCH = "/api/2.0/mlflow/registered-models/search"
GET = "/api/2.0/mlflow/registered-models/get"
VERSIONS = "/api/2.0/mlflow/model-versions/search"


@dataclass
class Model:
    name: str


class Page(list[Model]):
    token: str | None = None


@dataclass
class Server:
    """A stand-in registry: ``search`` answers once ``answer`` is set."""

    names: list[str]
    answer: threading.Event = field(default_factory=threading.Event)
    searches: list[tuple[str | None, int, str | None]] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def search(self, where: str | None, max_results: int, token: str | None) -> Page:
        self.searches.append((where, max_results, token))
        self.answer.wait(timeout=10)
        start = int(token or 0)
        page = Page(Model(n) for n in self.names[start : start + max_results])
        if start + max_results < len(self.names):
            page.token = str(start + max_results)
        return page

    def get(self, name: str) -> Model | None:
        with self.lock:
            self.gets.append(name)
        return Model(name) if name in self.names else None


@pytest.fixture(autouse=True)
def short_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow means 0.05 s here, so the tests wait little."""
    monkeypatch.setattr(modelread, "SLOW_FLOOR", 0.05)


def read(reader: ModelReader, wanted: list[str], where: str | None = None) -> list[str]:
    found: list[str] = []
    reader.read(wanted, where, lambda rm: found.append(rm.name), lambda: None)
    return found


def test_deadline_has_a_floor_and_follows_the_version_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first page may take the floor, or three times the version search if longer."""
    monkeypatch.setattr(modelread, "SLOW_FLOOR", 2.0)
    assert deadline(0.01) == 2.0
    assert deadline(1.0) == 3.0


def test_fast_search_reads_by_pages_and_is_remembered() -> None:
    """A search that answers at once: a first page of 100, then pages of 1000, and pages
    of 1000 from the start once it is known to be fast; no gets."""
    server = Server([f"m{i:04d}" for i in range(1500)])
    server.answer.set()
    reader = ModelReader(server.search, server.get, concurrency=4)
    assert sorted(read(reader, server.names)) == server.names
    assert server.searches == [(None, 100, None), (None, 1000, "100"), (None, 1000, "1100")]
    assert server.gets == [] and reader.slow is False
    read(reader, server.names)  # known fast: whole pages from the start
    assert server.searches[3:] == [(None, 1000, None), (None, 1000, "1000")]


def test_slow_search_reads_one_by_one_and_is_remembered() -> None:
    """A search that does not answer in time: every wanted model by a get, each once, and
    the next read does not search at all."""
    server = Server(["a", "b", "c", "d"])
    reader = ModelReader(server.search, server.get, concurrency=2)
    assert sorted(read(reader, ["a", "c", "x"], "name IN ('a', 'c', 'x')")) == ["a", "c"]
    assert reader.slow is True
    assert sorted(server.gets) == ["a", "c", "x"]
    assert len(server.searches) == 1
    server.answer.set()  # the abandoned page lands after the read: nothing is added
    assert sorted(read(reader, ["b"])) == ["b"]
    assert len(server.searches) == 1


def test_a_page_that_lands_during_the_gets_is_used() -> None:
    """The first page answers after the deadline, while the gets are still running: the
    models it holds are not read again, and none is handed over twice."""
    names = [f"m{i:03d}" for i in range(40)]
    server = Server(names)
    gets = 0

    def slow_get(name: str) -> Model | None:
        nonlocal gets
        gets += 1
        if gets == 5:
            server.answer.set()  # the page lands while the gets go on
        time.sleep(0.05)
        return server.get(name)

    reader = ModelReader(server.search, slow_get, concurrency=1)
    found = read(reader, names, "name IN (...)")
    assert sorted(found) == names
    assert len(server.gets) < len(names) / 2


def test_a_failing_get_fails_the_read() -> None:
    """An error on a get is the read's error, not a missing model."""
    server = Server(["a", "b"])

    def failing(name: str) -> Model | None:
        raise RegistryError("registry http://x: boom")

    reader = ModelReader(server.search, failing, concurrency=2)
    with pytest.raises(RegistryError, match="boom"):
        read(reader, ["a", "b"])


def test_a_refused_search_is_the_reads_error() -> None:
    """A search refused at once (an MLflow 2.x server refusing IN) is raised, not
    mistaken for a slow server."""

    def refused(where: str | None, max_results: int, token: str | None) -> Page:
        raise RegistryError("INVALID_PARAMETER_VALUE: supports comparison with a list")

    reader = ModelReader(refused, lambda name: None, concurrency=2)
    with pytest.raises(RegistryError, match="comparison with a list"):
        read(reader, ["a"], "name IN ('a')")
    assert reader.slow is None


@pytest.fixture
def held_searches(sqlite_server: MlflowServer) -> Iterator[FaultProxy]:
    """The sqlite-backed server behind a proxy that holds every registered-model search
    for 6 s: a server slow at search."""

    def hold(method: str, path: str, writes: int) -> None:
        if path == SEARCH:
            time.sleep(6)

    with FaultProxy(sqlite_server.url, hook=hold) as proxy:
        yield proxy


def _observed(url: str, names: list[str]) -> Any:
    return MlflowRegistry(url).read(names)


def test_server_slow_at_search_is_read_model_by_model(
    sqlite_server: MlflowServer, held_searches: FaultProxy, name: str
) -> None:
    """Behind held searches the read gets each model (plus one search and one version
    search), returns what a direct read returns, and a second read gets them again
    without searching."""
    names = [f"{name}-{i}" for i in range(3)]
    for model in names:
        seed_model(sqlite_server.url, model, aliases={"champion": 1})
    direct = _observed(sqlite_server.url, [*names, f"{name}-missing"])
    registry = MlflowRegistry(held_searches.url)
    observed = registry.read([*names, f"{name}-missing"])
    assert observed.digest() == direct.digest()
    assert sorted(observed.models) == names
    assert observed.models[names[0]].aliases == {"champion": 1}
    counts = dict(held_searches.requests)
    assert (counts[f"GET {SEARCH}"], counts[f"GET {GET}"], counts[f"GET {VERSIONS}"]) == (1, 4, 1)
    registry.read(names)
    counts = dict(held_searches.requests)
    assert (counts[f"GET {SEARCH}"], counts[f"GET {GET}"], counts[f"GET {VERSIONS}"]) == (1, 7, 2)


def test_server_fast_at_search_is_read_in_two_requests(
    sqlite_server: MlflowServer, name: str
) -> None:
    """A server that answers searches at once: one models search, one versions search."""
    seed_model(sqlite_server.url, name, aliases={"champion": 1})
    with FaultProxy(sqlite_server.url) as proxy:
        registry = MlflowRegistry(proxy.url)
        assert registry.read([name]).models[name].aliases == {"champion": 1}
        assert sum(proxy.requests.values()) == 2
        assert proxy.requests[f"GET {GET}"] == 0
