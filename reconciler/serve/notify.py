"""Sending notifications (``--notify URL``, repeatable) without holding up a round.

Bodies go onto a bounded queue that one sender thread drains: a slow or dead receiver
delays nothing but its own messages, and a burst beyond the queue is dropped and
counted rather than growing memory. Each POST has a short timeout and one retry.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from logging import WARNING
from typing import Any

from reconciler.mlflow.connection import redact
from reconciler.serve.logs import event

TIMEOUT = 5.0
QUEUE = 1000


class Notifier:
    """POSTs each body as JSON to every URL; ``counts`` says how that went."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self.counts: Counter[str] = Counter()
        self.on_result: Callable[[str], None] = lambda result: None
        """Called with ``sent``, ``failed`` or ``dropped`` (the metrics count them)."""
        self.errors: list[str] = []
        """The last few delivery failures (URLs redacted), for the status page."""
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE)
        self._thread = threading.Thread(target=self._drain, name="notify", daemon=True)
        if urls:
            self._thread.start()

    def publish(self, body: dict[str, Any]) -> None:
        if not self.urls:
            return
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._count("dropped")

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to ``timeout``), then stop."""
        if self.urls:
            self._queue.put(None)
            self._thread.join(timeout)

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            data = json.dumps(item).encode()
            for url in self.urls:
                self._count("sent" if self._post(url, data) else "failed")

    def _count(self, result: str) -> None:
        self.counts[result] += 1
        self.on_result(result)

    def _post(self, url: str, data: bytes) -> bool:
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        for _ in range(2):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
                    if 200 <= resp.status < 300:
                        return True
            except OSError as exc:
                reason = f"{type(exc).__name__}"
            else:
                reason = "HTTP status"
        line = f"notification to {redact(url)} failed ({reason})"
        self.errors = [*self.errors[-4:], line]
        event("notify_failed", line, level=WARNING)
        return False
