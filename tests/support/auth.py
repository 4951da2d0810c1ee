"""Real authentication in front of a real registry: ``mlflow server --app-name basic-auth``
(MLflow 3 or 2.22) with users and per-model grants, and a bearer-token proxy.

MLflow's own auth app is the one our users run; the token proxy stands in for the
gateways that accept ``MLFLOW_TRACKING_TOKEN`` (MLflow sends ``Authorization: Bearer``).
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import requests

from tests.support.mlflow_server import MlflowServer

ADMIN = ("admin", "admin-Pw-7c1d9e")
"""The auth app's administrator (created on first start from the config file)."""


def basic_auth_server(workdir: Path, python: str) -> MlflowServer:
    """A not yet started basic-auth server: unknown users and models get no permission."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{workdir / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN[0]}\n"
        f"admin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # 3.x: check each password once a minute, not with PBKDF2 on every request (2.x
        # ignores it). Wrong passwords are never cached.
        "auth_cache_ttl_seconds = 60\n",
        encoding="utf-8",
    )
    return MlflowServer(
        f"sqlite:///{workdir / 'mlflow.db'}",
        workdir,
        python=python,
        app_name="basic-auth",
        env={
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            # MLflow 3 refuses to start the auth app without a static CSRF key.
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key",
        },
    )


class Users:
    """Creates users and grants them permissions on registered models, as the admin."""

    def __init__(self, server: MlflowServer) -> None:
        self.url = server.url
        version = requests.get(f"{self.url}/version", auth=ADMIN, timeout=30).text
        self.major = int(version.split(".")[0])

    def _post(self, path: str, body: dict[str, str]) -> None:
        resp = requests.post(f"{self.url}{path}", json=body, auth=ADMIN, timeout=30)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])

    def create(self, username: str, password: str) -> None:
        self._post("/api/2.0/mlflow/users/create", {"username": username, "password": password})

    def grant(self, username: str, model: str, permission: str) -> None:
        """READ, EDIT or MANAGE on one registered model (the API moved in MLflow 3)."""
        if self.major >= 3:
            self._post(
                "/api/3.0/mlflow/users/permissions/grant",
                {
                    "username": username,
                    "resource_type": "registered_model",
                    "resource_id": model,
                    "permission": permission,
                },
            )
        else:
            self._post(
                "/api/2.0/mlflow/registered-models/permissions/create",
                {"name": model, "username": username, "permission": permission},
            )


def grant_experiment(users: Users, username: str, experiment: str, permission: str) -> None:
    """``permission`` on the experiment named ``experiment`` (created by the admin if missing),
    e.g. the apply log's: applies need EDIT there to record themselves."""
    from tests.support.seed import client

    c = client(users.url)  # the admin's credentials are in the environment
    found = c.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else c.create_experiment(experiment)
    if users.major >= 3:
        users._post(
            "/api/3.0/mlflow/users/permissions/grant",
            {
                "username": username,
                "resource_type": "experiment",
                "resource_id": str(exp_id),
                "permission": permission,
            },
        )
    else:
        users._post(
            "/api/2.0/mlflow/experiments/permissions/create",
            {"experiment_id": str(exp_id), "username": username, "permission": permission},
        )


class TokenProxy:
    """Forwards to ``upstream`` only requests carrying ``Authorization: Bearer <token>``;
    anything else gets 401, as a token gateway answers. ``answers`` replaces the upstream's
    answer for some paths (``{"/version": "2.2.1"}`` makes a server look older)."""

    def __init__(self, upstream: str, token: str | None, answers: dict[str, str] | None = None):
        self.upstream = urlsplit(upstream)
        self.token = token
        self.answers = answers or {}
        self.seen: list[str] = []
        """``METHOD path`` of every request that got through."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TokenProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test output is the report."""

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urlsplit(self.path).path
                if proxy.token and self.headers.get("Authorization") != f"Bearer {proxy.token}":
                    error = {"error_code": "UNAUTHENTICATED", "message": "invalid bearer token"}
                    return self._reply(401, json.dumps(error).encode(), "application/json")
                proxy.seen.append(f"{self.command} {path}")
                if path in proxy.answers:
                    return self._reply(200, proxy.answers[path].encode(), "text/plain")
                up = proxy.upstream
                conn = http.client.HTTPConnection(up.hostname or "", up.port, timeout=60)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "authorization")
                    }
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    ctype = resp.getheader("Content-Type") or "text/plain"
                    self._reply(resp.status, data, ctype)
                finally:
                    conn.close()

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

            def _reply(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
