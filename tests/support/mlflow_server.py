"""Start a real ``mlflow server`` on 127.0.0.1 (sqlite or PostgreSQL backend).

Shared by the test suite and ``bench/``; the command line here is the one
``deploy/docker-compose.yml`` mirrors. The server may run from another interpreter (an
MLflow 2.x virtualenv, see ``mlflow2.py``) and as another app (``basic-auth``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

PG_ADMIN_DSN = os.environ.get("RECONCILER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(
    backend_uri: str,
    artifacts: str,
    port: int,
    workers: int | None = 1,
    python: str = sys.executable,
    app_name: str | None = None,
) -> list[str]:
    cmd = [
        python,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        artifacts,
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if app_name is not None:
        cmd += ["--app-name", app_name]
    return cmd


class MlflowServer:
    """A real tracking server process; ``url`` is its base URL once started."""

    def __init__(
        self,
        backend_uri: str,
        workdir: Path,
        workers: int | None = 1,
        python: str = sys.executable,
        app_name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.backend_uri = backend_uri
        self.workdir = workdir
        self.workers = workers
        self.python = python
        """The interpreter whose mlflow serves (another virtualenv for MLflow 2.x)."""
        self.app_name = app_name
        """``mlflow server --app-name`` (``basic-auth``), or None for the plain server."""
        self.env = env or {}
        """Extra environment for the server process (auth config, admin password)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> MlflowServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"server-{self.port}.log", "ab")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        # The registry needs no background job runner (it spawns a dozen huey workers;
        # 3.x only, a 2.x server ignores it).
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        env.update(self.env)
        command = server_command(
            self.backend_uri,
            str(self.workdir / "artifacts"),
            self.port,
            self.workers,
            self.python,
            self.app_name,
        )
        self.proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server not ready after {timeout} s; see {log.name}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.proc = None

    def version(self) -> str:
        """What the running server says its MLflow version is (``GET /version``)."""
        with urllib.request.urlopen(f"{self.url}/version", timeout=5) as resp:
            return str(resp.read().decode().strip())


def create_pg_database(prefix: str = "reconciler_test") -> str:
    """A fresh PostgreSQL database; returns its SQLAlchemy URI (psycopg driver)."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_pg_database(uri: str) -> None:
    import psycopg

    name = uri.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
