"""Sending notifications (``--notify URL``, repeatable) without holding up a round.

Two kinds of URL (SPEC §21): plain ``http(s)://`` receivers get the JSON body of §13;
any other URL is a service URL of apprise (``slack://``, ``msteams://``, ``mailto://``,
``ntfy://``, ... a well-kept library that knows each service's API) and gets the body's
plain ``text``. Every URL is checked at start (``check_urls``): a bad one is a start
error, not a sender that dies later.

Each receiver has its own bounded queue and sender thread (a lane): a slow, dead or
broken receiver delays and silences nothing but its own messages, a burst beyond the
queue is dropped and counted, and any exception in a send is counted as a failure and
logged, never the end of the thread. Each POST has a short timeout and one retry.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import ReconcilerError
from reconciler.serve.logs import event

TIMEOUT = 5.0
QUEUE = 1000
TITLE = "registry-reconciler"


def shown(url: str) -> str:
    """A notification URL as logs and pages may show it: scheme and host only (service
    URLs and webhook paths carry tokens)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "(unparsable URL)"
    return f"{parts.scheme}://{host}/..." if parts.scheme else "(no scheme)"


def _http_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        return str(exc)
    return None if parts.hostname else "no host"


def _service(url: str) -> Any:
    """The apprise object for one service URL, or None when apprise does not know it."""
    import apprise

    logging.getLogger("apprise").addHandler(logging.NullHandler())
    logging.getLogger("apprise").propagate = False  # its lines would break JSON logs
    found = apprise.Apprise()
    return found if found.add(url) else None


def check_urls(urls: tuple[str, ...]) -> None:
    """Refuse any URL that could not be sent to (raises ``ReconcilerError``)."""
    for url in urls:
        if url.startswith(("http://", "https://")):
            problem = _http_problem(url)
            if problem:
                raise ReconcilerError(f"--notify {shown(url)}: not a usable URL ({problem})")
            continue
        try:
            known = _service(url) is not None
        except ModuleNotFoundError:
            raise ReconcilerError(
                "--notify service URLs need apprise: pip install 'registry-reconciler[serve]'"
            ) from None
        if not known:
            raise ReconcilerError(
                f"--notify {shown(url)}: is not an http(s) URL nor a notification service "
                "URL apprise knows (https://github.com/caronc/apprise/wiki)"
            )


def _post(url: str, body: dict[str, Any]) -> str | None:
    """POST the JSON body; None when it was taken, else why not."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    reason = "no answer"
    for _ in range(2):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
                if 200 <= resp.status < 300:
                    return None
                reason = f"HTTP {resp.status}"
        except OSError as exc:
            reason = type(exc).__name__
    return reason


def _send(url: str, body: dict[str, Any]) -> str | None:
    if url.startswith(("http://", "https://")):
        return _post(url, body)
    service = _service(url)
    if service is None:
        return "not a service URL apprise knows"
    done = service.notify(body=str(body.get("text", "")), title=TITLE, body_format="text")
    return None if done else "the service refused it or did not answer"


class _Lane:
    """One receiver: its queue and its sender thread."""

    def __init__(
        self,
        url: str,
        report: Callable[[str, str, str | None], None],
        send: Callable[[str, dict[str, Any]], str | None],
    ) -> None:
        self.url = url
        self._send = send
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE)
        self._report = report
        self.thread = threading.Thread(target=self._drain, name="notify", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                reason = self._send(self.url, item)
            except Exception as exc:  # a broken receiver must not end this thread
                reason = f"{type(exc).__name__}: {exc}"
            self._report(self.url, "sent" if reason is None else "failed", reason)


class Notifier:
    """Sends each body to every receiver; ``counts`` says how that went."""

    def __init__(
        self,
        urls: tuple[str, ...],
        send: Callable[[str, dict[str, Any]], str | None] = _send,
    ) -> None:
        self.urls = urls
        self.counts: Counter[str] = Counter()
        self.on_result: Callable[[str], None] = lambda result: None
        """Called with ``sent``, ``failed`` or ``dropped`` (the metrics count them)."""
        self.errors: list[str] = []
        """The last few delivery failures (URLs shown without tokens), for the status page."""
        self._lock = threading.Lock()
        self._lanes = [_Lane(url, self._result, send) for url in urls]

    def publish(self, body: dict[str, Any]) -> None:
        for lane in self._lanes:
            try:
                lane.queue.put_nowait(body)
            except queue.Full:
                self._result(lane.url, "dropped", "queue full")

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to ``timeout`` per receiver), then stop."""
        for lane in self._lanes:
            try:
                lane.queue.put(None, timeout=timeout)
            except queue.Full:
                continue
        for lane in self._lanes:
            lane.thread.join(timeout)

    def _result(self, url: str, result: str, reason: str | None) -> None:
        line = f"notification to {shown(url)} {result} ({reason})"
        with self._lock:
            self.counts[result] += 1
            if result != "sent":
                self.errors = [*self.errors[-4:], line]
        self.on_result(result)
        if result != "sent":
            event("notify_failed", line, level=logging.WARNING)
