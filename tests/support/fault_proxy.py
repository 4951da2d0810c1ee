"""A loopback HTTP proxy in front of a real mlflow server that injects faults.

Faults are drawn from a seeded RNG at ``rate``: a 503 answer, a slow answer, or a
connection reset (RST, no response). These happen *before* the request reaches the
server, so a retried write is never applied twice. ``lost`` (opt-in, not in ``FAULTS``)
forwards the request and then resets the connection: the server did it, the client never
hears so (a lossy network; a retried create then creates twice). ``max_streak`` bounds how many
times in a row the same request (method, path, body) is faulted, so a client with more
retries than that always gets through: the injected faults are bounded, not a lottery.

``rewrite`` replaces a request body before forwarding (a transfer corrupted in transit).
``deny`` answers chosen requests 403 "Permission denied" (what MLflow's basic-auth app
says), for permission errors without an auth server. The proxy also counts requests by
``METHOD path``, can call a hook before forwarding
(tests use it to kill things or move aliases at an exact point) and keeps the last
response body per path (tests use it to see what a process read when it verified).
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

FAULTS = ("503", "slow", "reset")
Hook = Callable[[str, str, int], None]
"""Called as ``hook(method, path, writes_so_far)`` before a request is forwarded."""
Rewrite = Callable[[str, str, bytes], bytes]
"""``rewrite(method, path, body)``: the body forwarded instead (a network that corrupts)."""
Deny = Callable[[str, str, bytes], bool]
"""``deny(method, path, body)``: True answers 403 as MLflow's basic-auth app does."""


class FaultProxy:
    """Threaded HTTP proxy on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        upstream: str,
        rate: float = 0.0,
        seed: int = 0,
        faults: tuple[str, ...] = FAULTS,
        slow_seconds: float = 0.3,
        max_streak: int | None = 2,
        hook: Hook | None = None,
        deny: Deny | None = None,
        rewrite: Rewrite | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.rate = rate
        self.faults = faults
        self.slow_seconds = slow_seconds
        self.max_streak = max_streak
        self.hook = hook
        self.rewrite = rewrite
        self.deny = deny
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.writes = 0
        self.last_body: dict[str, bytes] = {}
        self._streaks: dict[tuple[str, str, bytes], int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def draw(self, method: str, path: str, body: bytes) -> str | None:
        """The fault for this request (None: forward it untouched); thread-safe."""
        key = (method, path, body)
        with self.lock:
            self.requests[f"{method} {path}"] += 1
            if method != "GET":
                self.writes += 1
            fault = self.rng.choice(self.faults) if self.rng.random() < self.rate else None
            streak = self._streaks.get(key, 0)
            if fault and self.max_streak is not None and streak >= self.max_streak:
                fault = None
            self._streaks[key] = streak + 1 if fault else 0
            if fault:
                self.injected[fault] += 1
            return fault

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as nginx and other proxies set it: with Nagle's algorithm the
            # body, written after the headers, waits for the client's delayed ACK (~45 ms
            # a request here), a delay no real proxy adds.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test output is the report."""

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                fault = proxy.draw(self.command, path, body)
                if fault == "reset":
                    return self._reset()
                if fault == "503":
                    return self._reply(503, b'{"error_code": "TEMPORARILY_UNAVAILABLE"}')
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                if fault == "lost":
                    with contextlib.suppress(OSError):
                        self._forward(body)
                    return self._reset()
                if proxy.deny is not None and proxy.deny(self.command, path, body):
                    return self._reply(403, b"Permission denied", "text/plain")
                if proxy.rewrite is not None:
                    body = proxy.rewrite(self.command, path, body)
                if proxy.hook is not None:
                    proxy.hook(self.command, path, proxy.writes)
                try:
                    status, data, ctype = self._forward(body)
                except OSError:  # the server is down: behave like it
                    return self._reset()
                if status == 200:
                    with proxy.lock:
                        proxy.last_body[f"{self.command} {path}"] = data
                self._reply(status, data, ctype)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

            def _forward(self, body: bytes) -> tuple[int, bytes, str]:
                up = proxy.upstream
                conn = http.client.HTTPConnection(up.hostname or "", up.port, timeout=60)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection")
                    }
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    return resp.status, data, resp.getheader("Content-Type") or "text/plain"
                finally:
                    conn.close()

            def _reply(self, status: int, data: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                """Abort the connection with an RST, as a crashed peer would."""
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

        return Handler
