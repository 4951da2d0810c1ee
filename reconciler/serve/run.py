"""Running the controller: wire the parts, serve HTTP, stop cleanly on SIGTERM.

uvicorn serves the app in the main thread; the controller's rounds run in one worker
thread. SIGTERM (or SIGINT) stops uvicorn, then waits for the worker to finish the
write in progress; the process then exits 0 (uvicorn's own handler would re-raise the
signal after shutdown, so it is replaced).
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from logging import WARNING
from types import FrameType
from typing import Any

import uvicorn

from reconciler import api, logged_apply
from reconciler.core.ports import ApplyLog, Registry
from reconciler.errors import ReconcilerError, RegistryError
from reconciler.logged_apply import LogView
from reconciler.mlflow.connection import default_local_uri, redact, resolve_uri
from reconciler.serve import guard
from reconciler.serve.app import create_app
from reconciler.serve.controller import Controller, Settings
from reconciler.serve.fleet import Fleet
from reconciler.serve.guard import GuardedH11
from reconciler.serve.history import Histories, Source
from reconciler.serve.leader import Elector
from reconciler.serve.logs import configure, event
from reconciler.serve.metrics import Metrics
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
        log = logs.setdefault(id(registry), logged_apply.open_log(registry, retry_seconds=0))
        return logged_apply.read_log(log, models, repo, on_branch)

    return read


def listen_socket(host: str, port: int) -> socket.socket:
    """The bound listening socket, made before anything starts: a bad host or a port in
    use is a start error (exit 1), not a thread that runs on without its HTTP face."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ReconcilerError(f"--listen {host}:{port}: cannot resolve {host!r} ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        raise ReconcilerError(f"--listen {host}:{port}: cannot listen there ({why})") from None
    sock.set_inheritable(True)
    return sock


def _connector(uri: str, workspace: str | None) -> Callable[[], Registry]:
    def connect() -> Registry:
        return api.in_workspace(api.connect(uri), workspace)

    return connect


def serve(
    settings: Settings,
    workspaces: Sequence[str | None],
    tracking_uri: str | None,
    host: str,
    port: int,
    notify: tuple[str, ...] = (),
    secret: str | None = None,
    register_url: str | None = None,
    log_format: str = "text",
) -> None:
    """Run until SIGTERM; returns once the worker has finished its last write. Raises
    ``ReconcilerError`` when it cannot start (nothing is running then)."""
    uri = resolve_uri(tracking_uri) or default_local_uri()
    sock = listen_socket(host, port)
    configure(log_format, redact(uri))
    notifier = Notifier(notify)

    metrics = Metrics(lambda: [c.snapshot for c in controllers])
    gate = threading.Lock()
    controllers = [
        Controller(
            replace(settings, workspace=ws),
            _connector(uri, ws),
            log_reader(),
            notifier.publish,
            registry_uri=redact(uri),
            metrics=metrics,
            gate=gate,
        )
        for ws in workspaces
    ]
    fleet = Fleet(controllers, metrics)
    notifier.on_result = lambda result: metrics.notifications.labels(result).inc()
    lease_logs: list[ApplyLog] = []

    def lease_log() -> Any:
        """The default workspace's apply log holds the replicas' lease (one per process)."""
        if not lease_logs:
            registry = _connector(uri, workspaces[0])()
            lease_logs.append(logged_apply.open_log(registry, retry_seconds=0))
        return lease_logs[0]

    elector = Elector(lease_log, controllers[0].git.repo).start()
    for controller in controllers:
        controller.leading = lambda: elector.leading
    webhook = "not registered"
    if register_url:
        from reconciler.mlflow.webhooks import register_webhook

        assert secret is not None
        try:
            done = register_webhook(uri, register_url, secret)
            webhook = f"registry-reconciler {done} for {register_url}"
        except RegistryError as exc:  # MLflow 2.x, a file store: resync still works
            webhook = "not registered"
            event("webhook_failed", exc.message, level=WARNING)
    worker = threading.Thread(target=fleet.run, name="reconcile", daemon=True)
    worker.start()
    histories = Histories(
        {
            c.settings.workspace: Source(
                c.settings.state, c.settings.default, c.git.repo, _connector(uri, ws)
            )
            for c, ws in zip(controllers, workspaces, strict=True)
        }
    )
    app = create_app(fleet, secret, histories)
    config = uvicorn.Config(
        app,
        log_level="error",
        access_log=False,
        http=GuardedH11,
        limit_concurrency=guard.MAX_CONNECTIONS + 1,  # the guard keeps below it
        timeout_keep_alive=guard.KEEP_ALIVE,
        backlog=guard.BACKLOG,
        timeout_graceful_shutdown=5,
    )
    event(
        "start",
        f"reconciler serve: http://{host}:{port}/ state {settings.state} "
        f"(workspaces: {', '.join(w or 'default' for w in workspaces)}) watching "
        f"{redact(uri)} every {settings.interval:g} s; webhook {webhook}; "
        f"{len(notify)} notification receiver(s); "
        f"{'leader' if elector.leading else 'standby (another replica leads)'}",
    )
    try:
        _Server(config, fleet.stop).run(sockets=[sock])
    finally:
        fleet.stop()
        elector.stop()
        worker.join()
        notifier.close()
        sock.close()
    event("stop", "reconciler serve: stopped")
