"""Registered models by search; one by one only once the search has demonstrably failed.

Why: a read's requests must not depend on how busy the machine (or a proxy in front of
the server) is. The search is the read (a page of 1000 models per request); it is never
raced against anything, and a page is waited for up to ``PAGE_TIMEOUT`` seconds. Only a
page past that, or a search that fails with a server error (not a refusal, not a server
that cannot be reached: the gets would meet those too), switches the read to
``get_registered_model`` for the models still missing, ``concurrency`` at a time; a page
that lands meanwhile is used, not wasted, and the switch is kept for the reader's later
reads (the verification after apply).

The case it is for is real but narrow: for every model a registered-model search returns,
MLflow computes its latest versions per stage with a window query over the versions,
which a PostgreSQL database without planner statistics (autovacuum off, a fresh import)
runs once per version row of the whole registry: ~17 s for a page of 1000 with 2000
versions, 0.7 s once analyzed (bench/RESULTS.md). A page slower than ``SLOW_PAGE`` is
said once per reader (``warn``), with the fix: ``ANALYZE``. ``mode`` lets an operator pin
the read: ``search`` never falls back, ``get`` never searches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from reconciler.errors import UNREACHABLE, RegistryError, is_refusal
from reconciler.mlflow.compat import refuses_in_lists

MODES = ("auto", "search", "get")
"""``--read-models``: search, falling back to gets on failure (auto); search only; gets only."""
SLOW_PAGE = 5.0
"""A registered-model page slower than this is said once: the database needs ``ANALYZE``."""
PAGE_TIMEOUT = 10.0
"""Seconds a page may take before the read switches to gets (``auto``); generous, so a
busy machine or a proxy never triggers it: an analyzed database answers in ~1 s."""
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
Warn = Callable[[str], None]
"""Says one warning line to the operator."""


class SearchFailed(Exception):
    """The search cannot finish this read: a page past the timeout, or an error."""

    def __init__(self, why: str, late: Future[Page] | None = None) -> None:
        super().__init__(why)
        self.late = late
        """The page still running (it is used if it lands), or None after an error."""


NOT_THE_API = "response body was not in a valid JSON format"
"""MLflow's client on an answer from something that is not a tracking server's API."""
NO_SUCH_ENDPOINT = "error code 404 != 200"
"""MLflow's client on a 404 from a search endpoint: MLflow always has that endpoint, so
whatever answered is not its API (``.../mlflow``, the controller's own port)."""


def fatal(exc: RegistryError) -> bool:
    """Whether a search error ends the read (gets cannot help): a 401/403, a server that
    refuses ``IN`` lists (``compat`` retries another way), a server that is not there, an
    answer that is not MLflow's API at all (a wrong URI: HTML instead of JSON, or a 404)."""
    text = str(exc)
    return (
        is_refusal(text)
        or refuses_in_lists(str(exc.__cause__))
        or UNREACHABLE in text
        or NOT_THE_API in text
        or NO_SUCH_ENDPOINT in text
    )


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


class ModelReader:
    """Reads the wanted registered models by search, or by gets once the search failed."""

    def __init__(
        self,
        search: Search,
        get: Get,
        concurrency: int,
        mode: str = "auto",
        warn: Warn | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"read mode {mode!r} is not one of {', '.join(MODES)}")
        self._search = search
        self._get = get
        self.concurrency = concurrency
        self.mode = mode
        self.by_gets = mode == "get"
        """Whether reads get each model: pinned, or since a search failed."""
        self._warn = warn
        self.warned = False
        """Whether the one warning of this reader has been said."""

    def read(
        self,
        wanted: list[str],
        where: str | None,
        add: Callable[[Any], None],
        versions: Callable[[], None],
    ) -> None:
        """Hand every wanted model found to ``add``; run ``versions()`` alongside.

        ``where`` filters the search to the wanted names (None: every model, paged)."""
        take, close = _once(add)
        with ThreadPoolExecutor(max_workers=self.concurrency + 1) as pool:
            versions_read = pool.submit(versions)
            try:
                if self.by_gets:
                    self._get_each(pool, wanted, take, None)
                else:
                    self._search_all(pool, wanted, where, take)
            finally:
                close()
            versions_read.result()

    def _search_all(
        self,
        pool: ThreadPoolExecutor,
        wanted: list[str],
        where: str | None,
        take: Callable[[Any], bool],
    ) -> None:
        token: str | None = None
        seen: set[str] = set()
        while True:
            try:
                page = self._page(where, token)
            except SearchFailed as failed:
                self.by_gets = True
                self._say(f"{failed}; the models are read one by one from here on")
                self._get_each(pool, [n for n in wanted if n not in seen], take, failed.late)
                return
            for rm in page:
                if take(rm):
                    seen.add(rm.name)
            if not page.token:
                return
            token = page.token

    def _page(self, where: str | None, token: str | None) -> Page:
        """One page, waited for up to ``PAGE_TIMEOUT`` (``search``: as long as it takes)."""
        future = _in_background(lambda: self._search(where, PAGE, token))
        try:
            return _result(future, SLOW_PAGE, self.mode)
        except FutureTimeout:
            then = "" if self.mode == "search" else f"; past {PAGE_TIMEOUT:g} s, one by one"
            self._say(
                f"a registered-model search took more than {SLOW_PAGE:g} s for one page: "
                "the server's database probably lacks planner statistics (MLflow on "
                "PostgreSQL: run ANALYZE on its database, or turn autovacuum on); the "
                f"models are read by search{then} (--read-models)"
            )
        if self.mode == "search":
            return future.result()
        try:
            return _result(future, PAGE_TIMEOUT - SLOW_PAGE, self.mode)
        except FutureTimeout:
            why = f"a registered-model search page took more than {PAGE_TIMEOUT:g} s"
            raise SearchFailed(why, late=future) from None

    def _say(self, text: str) -> None:
        if self._warn is not None and not self.warned:
            self.warned = True
            self._warn(text)

    def _get_each(
        self,
        pool: ThreadPoolExecutor,
        wanted: Iterable[str],
        take: Callable[[Any], bool],
        late: Future[Page] | None,
    ) -> None:
        """Get each wanted model, ``concurrency`` at a time; skip those a late page
        brings if it answers meanwhile (the gets start from the other end). The first
        failing get ends the read: the gets not yet started are cancelled."""
        landed: set[str] = set()

        def on_page(done: Future[Page]) -> None:
            if done.exception() is None:
                for rm in done.result():
                    landed.add(rm.name)
                    take(rm)

        def one(name: str) -> None:
            if name not in landed and (rm := self._get(name)) is not None:
                take(rm)

        if late is not None:
            late.add_done_callback(on_page)
        futures = [pool.submit(one, name) for name in reversed(list(wanted))]
        try:
            for future in futures:
                future.result()
        finally:
            for future in futures:
                future.cancel()


def _result(future: Future[Page], timeout: float, mode: str) -> Page:
    """The page within ``timeout`` seconds; an error is the read's error when it is fatal
    or the mode is pinned to ``search``, else ``SearchFailed``."""
    try:
        return future.result(timeout=timeout)
    except RegistryError as exc:
        if mode == "search" or fatal(exc):
            raise
        raise SearchFailed(f"a registered-model search failed ({exc.message})") from exc


def _once(add: Callable[[Any], None]) -> tuple[Callable[[Any], bool], Callable[[], None]]:
    """``add`` guarded: each model handed over once, from any thread, until closed (a
    late page landing after the read is ignored). ``take`` says whether it was new."""
    lock = threading.Lock()
    handed: set[str] = set()
    open_ = [True]

    def take(rm: Any) -> bool:
        with lock:
            if not open_[0] or rm.name in handed:
                return False
            handed.add(rm.name)
            add(rm)
            return True

    def close() -> None:
        with lock:
            open_[0] = False

    return take, close
