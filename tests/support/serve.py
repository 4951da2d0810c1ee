"""Run ``reconciler serve`` as a real process, and receive what it sends.

``Served`` starts the controller on a free loopback port and reads its endpoints;
``Receiver`` is a local HTTP server that keeps every JSON body POSTed to it (the
notifications).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.mlflow_server import free_port

SECRET = "test-webhook-secret"
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    # A fixed Fernet key for the test server (encrypts the webhook secret at rest).
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": "lixCmdiFP5PKcf9Lz-GiSOBUymGJaThSnvVh0o2l8aU=",
    # New subscriptions are seen within a second, not the default minute.
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}
"""What an MLflow 3.17 server needs to deliver webhooks to a loopback controller (§16)."""


def wait_until(check: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not true after {timeout} s (last: {last!r})")


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float = 5) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Served:
    """``reconciler serve`` in a subprocess (stop it with ``terminate``)."""

    def __init__(
        self,
        registry: str,
        cwd: Path,
        *args: str,
        env: dict[str, str] | None = None,
        max_files: int | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        command = [
            sys.executable,
            "-c",
            "from reconciler.cli import main; main()",
            "serve",
            "--listen",
            f"127.0.0.1:{self.port}",
            *(arg.replace("{url}", self.url) for arg in args),
        ]
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
            "MLFLOW_TRACKING_URI": registry,
            "RECONCILER_WEBHOOK_SECRET": SECRET,
            **(env or {}),
        }

        def limit() -> None:  # systemd's default soft limit, say
            if max_files is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=limit if max_files is not None else None,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 60) -> Served:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.output()}")
            try:
                return self.status()["last_attempt"] is not None
            except OSError:
                return False

        wait_until(up, timeout, 0.2)
        return self

    def status(self) -> dict[str, Any]:
        code, body = http_get(f"{self.url}/api/status")
        assert code == 200, body
        return json.loads(body)  # type: ignore[no-any-return]

    def metrics_text(self) -> str:
        code, body = http_get(f"{self.url}/metrics")
        assert code == 200, body
        return body.decode()

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics, parsed with prometheus_client's own parser (0 if absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def model(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.status()["models"] if m["name"] == name), None)

    def state_of(self, name: str) -> str | None:
        found = self.model(name)
        return None if found is None else str(found["state"])

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def __enter__(self) -> Served:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def signed_post(
    url: str,
    payload: dict[str, Any],
    secret: str = SECRET,
    *,
    age: float = 0,
    delivery: str | None = None,
) -> int:
    """POST a webhook delivery the way MLflow signs it; ``age`` seconds in the past."""
    import uuid

    from reconciler.serve.webhook import sign

    raw = json.dumps(payload).encode()
    stamp = str(int(time.time() - age))
    delivery = delivery or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": sign(secret, delivery, stamp, raw),
    }
    return http_post(url, raw, headers)


def alias_event(model: str, alias: str = "champion", version: str = "3") -> dict[str, Any]:
    """The payload MLflow sends when an alias is set (facts §16)."""
    return {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "data": {"name": model, "alias": alias, "version": version},
    }


class Receiver:
    """A local HTTP endpoint that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def events(self, model: str) -> list[str]:
        return [b["event"] for b in self.bodies if b["model"] == model]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
