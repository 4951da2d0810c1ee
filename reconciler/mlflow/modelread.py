"""Registered models by search while the server answers searches quickly, else one by one.

Why: for every model a registered-model search returns, MLflow also computes its latest
versions per stage, with a window query over the versions. On a PostgreSQL database
whose planner has no statistics (autovacuum off, or a fresh import) that query is run
once per version row of the whole registry: a page costs 4.6 s with 2000 versions, and
grows with their square, whatever the page size; a primary-key ``get_registered_model``
costs 20 ms (EXPLAIN ANALYZE in bench/RESULTS.md). Which read is faster belongs to the
server at hand, so it is measured, never inferred from a backend name: the first search
page runs alongside the version search of the same read, and if it has not answered
within ``SLOW_FACTOR`` times that search (and at least ``SLOW_FLOOR`` seconds), the
models still missing are read one by one, ``concurrency`` at a time. A page that answers
meanwhile is used, not wasted. The verdict is kept for the reader's later reads (the
verification after apply).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

SLOW_FLOOR = 2.0
"""Seconds the first page may always take: a search on a cold or busy server is not
taken for a slow one (a false verdict costs a get per model)."""
SLOW_FACTOR = 3.0
"""The first page is slow past this many times the version search of the same read."""
FIRST_PAGE = 100
"""An unfiltered read asks for this many models first: on a slow server the page costs
about the same as one of 1000, and on a fast one it is one request more."""
PAGE = 1000
"""MLflow's largest registered-model page."""


class Page(Protocol):
    """One page of an MLflow search (``PagedList``)."""

    token: str | None

    def __iter__(self) -> Any: ...


Search = Callable[[str | None, int, str | None], Page]
"""``(filter, max_results, page_token)`` -> one page of registered models."""
Get = Callable[[str], Any]
"""A registered model by name, or None when there is none."""


def deadline(versions_seconds: float) -> float:
    """Seconds after which the first page counts as slow."""
    return max(SLOW_FLOOR, SLOW_FACTOR * versions_seconds)


def _in_background(fn: Callable[[], Page]) -> Future[Page]:
    """``fn()`` on a daemon thread: a search left running never delays the exit."""
    future: Future[Page] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def _timed(fn: Callable[[], None]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


class ModelReader:
    """Reads the wanted registered models with the search or with parallel gets,
    whichever the server answers faster."""

    def __init__(self, search: Search, get: Get, concurrency: int) -> None:
        self._search = search
        self._get = get
        self.concurrency = concurrency
        self.slow: bool | None = None
        """Whether this server answers registered-model searches slowly; None until a
        read has measured it."""

    def read(
        self,
        wanted: list[str],
        where: str | None,
        add: Callable[[Any], None],
        versions: Callable[[], None],
    ) -> None:
        """Hand every wanted model found to ``add``; run ``versions()`` alongside.

        ``where`` filters the search to the wanted names (None: every model, paged)."""
        with ThreadPoolExecutor(max_workers=self.concurrency + 1) as pool:
            started = time.monotonic()
            versions_read = pool.submit(_timed, versions)
            if self.slow:
                self._get_each(pool, wanted, add, None)
                versions_read.result()
                return
            size = PAGE if where or self.slow is False else FIRST_PAGE
            first = _in_background(lambda: self._search(where, size, None))
            wait = deadline(versions_read.result()) - (time.monotonic() - started)
            try:
                page = first.result(timeout=None if self.slow is False else max(0.0, wait))
            except FutureTimeout:
                self.slow = True
                self._get_each(pool, wanted, add, first)
                return
        self.slow = False
        self._pages(page, where, add)

    def _pages(self, page: Page, where: str | None, add: Callable[[Any], None]) -> None:
        while True:
            for rm in page:
                add(rm)
            if not page.token:
                return
            page = self._search(where, PAGE, page.token)

    def _get_each(
        self,
        pool: ThreadPoolExecutor,
        wanted: Iterable[str],
        add: Callable[[Any], None],
        first: Future[Page] | None,
    ) -> None:
        """Get each wanted model, ``concurrency`` at a time; skip those the first page
        brings if it answers meanwhile (the gets start from the other end)."""
        lock = threading.Lock()
        seen: set[str] = set()
        open_ = True

        def take(rm: Any) -> None:
            with lock:
                if open_ and rm.name not in seen:
                    seen.add(rm.name)
                    add(rm)

        def landed(done: Future[Page]) -> None:
            if done.exception() is None:
                for rm in done.result():
                    take(rm)

        def one(name: str) -> None:
            if name not in seen:
                rm = self._get(name)
                if rm is not None:
                    take(rm)

        if first is not None:
            first.add_done_callback(landed)
        try:
            for future in [pool.submit(one, name) for name in reversed(list(wanted))]:
                future.result()
        finally:
            with lock:
                open_ = False
