"""Running the controller: wire the parts, serve HTTP, stop cleanly on SIGTERM.

uvicorn serves the app in the main thread; the controller's rounds run in one worker
thread. SIGTERM (or SIGINT) stops uvicorn, then waits for the worker to finish the
write in progress; the process then exits 0 (uvicorn's own handler would re-raise the
signal after shutdown, so it is replaced).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

from reconciler import api, logged_apply
from reconciler.core.ports import ApplyLog, Registry
from reconciler.errors import RegistryError
from reconciler.logged_apply import LogView
from reconciler.mlflow.connection import default_local_uri, redact, resolve_uri
from reconciler.serve.app import create_app
from reconciler.serve.controller import Controller, Settings
from reconciler.serve.leader import Elector
from reconciler.serve.notify import Notifier

RECENT = 20
"""Latest apply-log runs read each round."""


class _Server(uvicorn.Server):
    """uvicorn, with SIGTERM/SIGINT meaning: stop serving and let ``serve`` return."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_signal = on_signal

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        def handle(sig: int, frame: FrameType | None) -> None:
            self.should_exit = True
            self._on_signal()

        before = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


def log_reader() -> Callable[[Registry, list[str], str, Callable[[str], bool]], LogView]:
    """The apply log's baselines for the declared models (SPEC §17), and whether an apply
    holds the lock now: one search of the log's latest runs per round (two when a model's
    baseline is older than those)."""
    logs: dict[int, ApplyLog] = {}

    def read(
        registry: Registry, models: list[str], repo: str, on_branch: Callable[[str], bool]
    ) -> LogView:
        log = logs.setdefault(id(registry), logged_apply.open_log(registry))
        return logged_apply.read_log(log, models, repo, on_branch)

    return read


def serve(
    settings: Settings,
    tracking_uri: str | None,
    host: str,
    port: int,
    notify: tuple[str, ...] = (),
    secret: str | None = None,
    register_url: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Run until SIGTERM; returns once the worker has finished its last write."""
    uri = resolve_uri(tracking_uri) or default_local_uri()
    notifier = Notifier(notify)

    def connect() -> Registry:
        return api.in_workspace(api.connect(uri), settings.workspace)

    controller = Controller(
        settings, connect, log_reader(), notifier.publish, registry_uri=redact(uri)
    )
    notifier.on_result = lambda result: controller.metrics.notifications.labels(result).inc()
    lease_logs: list[ApplyLog] = []

    def lease_log() -> Any:
        if not lease_logs:
            lease_logs.append(logged_apply.open_log(connect()))
        return lease_logs[0]

    elector = Elector(lease_log, controller.git.repo).start()
    controller.leading = lambda: elector.leading
    if register_url:
        from reconciler.mlflow.webhooks import register_webhook

        assert secret is not None
        try:
            done = register_webhook(uri, register_url, secret)
            say(f"webhook registry-reconciler {done}: {register_url}")
        except RegistryError as exc:  # MLflow 2.x, a file store: resync still works
            say(f"warning: {exc.message}")
    worker = threading.Thread(target=controller.run, name="reconcile", daemon=True)
    worker.start()
    app = create_app(controller, secret)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    say(
        f"reconciler serve: http://{host}:{port}/ watching {redact(uri)} every "
        f"{settings.interval:g} s"
    )
    try:
        _Server(config, controller.stop).run()
    finally:
        controller.stop()
        elector.stop()
        worker.join()
        notifier.close()
    say("reconciler serve: stopped")
