"""Registered models by search; one by one only once the search has failed.

Unit tests drive ``ModelReader`` with a stand-in search whose answer the test releases
or delays; tests/test_read_counts.py counts what a real server receives.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.errors import RegistryError
from reconciler.mlflow import modelread
from reconciler.mlflow.modelread import ModelReader


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
    delay: float | None = None
    """Answer every search after this many seconds (instead of waiting for ``answer``)."""
    fail_from: int | None = None
    """Pages starting at this offset or later fail with a server error."""

    def search(self, where: str | None, max_results: int, token: str | None) -> Page:
        self.searches.append((where, max_results, token))
        if self.delay is not None:
            time.sleep(self.delay)
        else:
            self.answer.wait(timeout=10)
        start = int(token or 0)
        if self.fail_from is not None and start >= self.fail_from:
            cause = Exception("500 INTERNAL_ERROR")
            raise RegistryError("registry http://x: 500 INTERNAL_ERROR") from cause
        page = Page(Model(n) for n in self.names[start : start + max_results])
        if start + max_results < len(self.names):
            page.token = str(start + max_results)
        return page

    def get(self, name: str) -> Model | None:
        with self.lock:
            self.gets.append(name)
        return Model(name) if name in self.names else None


@pytest.fixture(autouse=True)
def short_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow means 0.1 s and failed 0.3 s here, so the tests wait little."""
    monkeypatch.setattr(modelread, "SLOW_PAGE", 0.1)
    monkeypatch.setattr(modelread, "PAGE_TIMEOUT", 0.3)


def read(reader: ModelReader, wanted: list[str], where: str | None = None) -> list[str]:
    found: list[str] = []
    reader.read(wanted, where, lambda rm: found.append(rm.name), lambda: None)
    return found


def reader_for(server: Server, mode: str = "auto", concurrency: int = 4) -> Any:
    warnings: list[str] = []
    reader = ModelReader(server.search, server.get, concurrency, mode, warnings.append)
    return reader, warnings


def test_search_reads_whole_pages_and_never_gets() -> None:
    """A search that answers: pages of 1000 from the start, no gets, no warning."""
    server = Server([f"m{i:04d}" for i in range(1500)])
    server.answer.set()
    reader, warnings = reader_for(server)
    assert sorted(read(reader, server.names)) == server.names
    assert server.searches == [(None, 1000, None), (None, 1000, "1000")]
    assert server.gets == [] and warnings == [] and not reader.by_gets


def test_a_slow_page_within_the_timeout_is_waited_for_and_said_once() -> None:
    """A page slower than SLOW_PAGE but within PAGE_TIMEOUT: still read by search (no
    gets), and one warning naming ANALYZE, however many reads and pages."""
    server = Server([f"m{i:04d}" for i in range(1500)], delay=0.15)
    reader, warnings = reader_for(server)
    for _ in range(2):
        assert sorted(read(reader, server.names)) == server.names
    assert len(server.searches) == 4 and server.gets == []
    assert len(warnings) == 1 and "ANALYZE" in warnings[0]


def test_a_page_past_the_timeout_switches_to_gets_for_good() -> None:
    """A page that does not answer within PAGE_TIMEOUT: every wanted model by a get,
    each once, one warning; the next read does not search at all."""
    server = Server(["a", "b", "c", "d"])
    reader, warnings = reader_for(server, concurrency=2)
    assert sorted(read(reader, ["a", "c", "x"], "name IN ('a', 'c', 'x')")) == ["a", "c"]
    assert reader.by_gets and sorted(server.gets) == ["a", "c", "x"]
    assert len(server.searches) == 1
    assert len(warnings) == 1 and "ANALYZE" in warnings[0]
    server.answer.set()  # the abandoned page lands after the read: nothing is added
    assert sorted(read(reader, ["b"])) == ["b"]
    assert len(server.searches) == 1 and len(warnings) == 1


def test_a_page_that_lands_during_the_gets_is_used() -> None:
    """The page answers after the timeout, while the gets are still running: the models
    it holds are not read again, and none is handed over twice."""
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


def test_a_later_page_that_fails_gets_only_the_missing_models() -> None:
    """The first page answers, the second fails with a server error: the read gets only
    the wanted models the first page did not bring."""
    names = [f"m{i:04d}" for i in range(1200)]
    server = Server(names, fail_from=1000)
    server.answer.set()
    reader, warnings = reader_for(server)
    wanted = ["m0001", "m0999", "m1000", "m1199", "nope"]
    assert sorted(n for n in read(reader, wanted) if n in wanted) == wanted[:4]
    assert sorted(server.gets) == ["m1000", "m1199", "nope"]
    assert len(warnings) == 1 and "search failed (registry http://x: 500" in warnings[0]


def test_a_failing_get_fails_the_read_and_stops_the_others() -> None:
    """An error on a get is the read's error, not a missing model, and the gets not yet
    started are not made."""
    server = Server([f"m{i:03d}" for i in range(100)])
    calls: list[str] = []

    def failing(name: str) -> Model | None:
        calls.append(name)
        raise RegistryError("registry http://x: boom")

    reader = ModelReader(server.search, failing, concurrency=2, mode="get")
    with pytest.raises(RegistryError, match="boom"):
        read(reader, server.names)
    assert len(calls) < 10


@pytest.mark.parametrize(
    "message",
    [
        "INVALID_PARAMETER_VALUE: supports comparison with a list",
        "permission denied for 'bob' on the registry at http://x (HTTP 403)",
        "cannot reach the registry at http://x (connection refused)",
        "cannot reach the registry at http://x (no answer after retries)",
    ],
)
def test_a_search_error_the_gets_cannot_help_is_the_reads_error(message: str) -> None:
    """A search refused at once (2.x refusing IN, 401/403, nobody listening) is raised,
    not read around with gets."""

    def refused(where: str | None, max_results: int, token: str | None) -> Page:
        raise RegistryError(message) from Exception(message)

    gets: list[str] = []
    reader = ModelReader(refused, gets.append, concurrency=2)
    with pytest.raises(RegistryError, match=message.split()[0]):
        read(reader, ["a"], "name IN ('a')")
    assert not reader.by_gets and gets == []


def test_search_mode_waits_past_the_timeout_and_never_gets() -> None:
    """--read-models search: a page past the timeout is waited for; an error is raised."""
    server = Server(["a", "b"], delay=0.5)
    reader, warnings = reader_for(server, mode="search")
    assert sorted(read(reader, ["a", "b"])) == ["a", "b"]
    assert server.gets == [] and len(warnings) == 1
    failing = Server(["a"], fail_from=0)
    failing.answer.set()
    with pytest.raises(RegistryError, match="500"):
        read(reader_for(failing, mode="search")[0], ["a"])
    assert failing.gets == []


def test_get_mode_never_searches() -> None:
    """--read-models get: one get per wanted model, no search, no warning."""
    server = Server(["a", "b"])
    reader, warnings = reader_for(server, mode="get")
    assert sorted(read(reader, ["a", "b", "c"])) == ["a", "b"]
    assert server.searches == [] and sorted(server.gets) == ["a", "b", "c"]
    assert warnings == []


def test_an_unknown_mode_is_refused() -> None:
    """A mode outside auto/search/get is a programming error, caught at construction."""
    with pytest.raises(ValueError, match="auto, search, get"):
        ModelReader(Server([]).search, Server([]).get, 1, mode="fast")
