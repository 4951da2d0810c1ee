"""``reconciler serve`` as an operator runs it (SPEC §21), as a real process against a
real mlflow server: JSON log lines, malformed deliveries, slow connections, SIGTERM.

One controller process per test, a 1 s interval; each test makes its own model and
apply-log experiment on the session's webhook server.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client
from tests.support.serve import SECRET, Receiver, Served, http_get, http_post, wait_until
from tests.support.workspaces import (
    aliases_in,
    create_workspaces,
    in_workspace,
    seed_in,
    workspaces_server,
)
from tests.test_serve import make_story


def _lines(served: Served) -> list[dict[str, object]]:
    found = []
    for line in served.output().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def _ready(page: str) -> str | None:
    """A model page once its alias history is computed."""
    return page if 'data-ready="yes"' in page else None


def _raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(data)
    return sock


def test_a_hand_move_is_one_json_line_and_bad_deliveries_are_4xx(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """--log-format json: start, a hand move (drift), refused deliveries (reason, never the
    secret) and stop are JSON lines; a non-ASCII signature, a nan timestamp and a client
    hanging up mid-body are 4xx with no traceback; the drift reaches a plain JSON receiver
    and an apprise service URL (json://) although a third receiver is dead; SIGTERM exits 0."""
    story = make_story(webhook_server.url, tmp_path, heal=False)
    receiver = Receiver()
    service = receiver.url.replace("http://", "json://")
    with Served(
        story.url,
        story.repo,
        "--state",
        "state",
        "--interval",
        "1",
        "--log-format",
        "json",
        "--notify",
        "http://127.0.0.1:1/dead",
        "--notify",
        receiver.url,
        "--notify",
        service,
        env=story.env,
    ).wait_ready() as served:
        wait_until(lambda: served.state_of(story.name) == "synced", 10)
        story.move("champion", 3)
        wait_until(lambda: any(e["event"] == "drift" for e in _lines(served)), 10)
        url = f"{served.url}/webhook"
        stamp = str(int(time.time()))
        from reconciler.serve.webhook import sign

        headers = {"X-MLflow-Delivery-Id": "d1", "X-MLflow-Timestamp": "nan"}
        headers["X-MLflow-Signature"] = sign(SECRET, "d1", "nan", b"{}")
        assert http_post(url, b"{}", headers) == 400
        hostile = (
            f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            f"X-MLflow-Delivery-Id: d2\r\nX-MLflow-Timestamp: {stamp}\r\n"
            "X-MLflow-Signature: v1,\xe9\xe9\r\n\r\n{}"
        ).encode("latin-1")
        with _raw(served.port, hostile) as sock:
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
        hang_up = b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        _raw(served.port, hang_up).close()
        wait_until(
            lambda: (
                served.metric("reconciler_webhook_deliveries_total", result="client hung up") == 1
            ),
            10,
        )
        wait_until(lambda: len(receiver.bodies) >= 2, 20)
        assert served.terminate() == 0
    receiver.close()
    plain_body = next(b for b in receiver.bodies if "event" in b)
    apprised = next(b for b in receiver.bodies if "message" in b)
    assert plain_body["event"] == "drift" and plain_body["model"] == story.name
    assert apprised["message"] == plain_body["text"]
    assert "champion: live 3, applied 2" in plain_body["text"]
    lines = _lines(served)
    events = [line["event"] for line in lines]
    assert events[0] == "start" and events[-1] == "stop", events
    assert {"ts", "level", "event", "model", "workspace", "registry", "msg"} <= set(lines[0])
    drift = next(line for line in lines if line["event"] == "drift")
    assert drift["model"] == story.name and "champion" in str(drift["msg"])
    assert drift["level"] == "warning" and drift["registry"] == story.url
    refused = [str(line["msg"]) for line in lines if line["event"] == "delivery_refused"]
    assert len(refused) == 3 and any("hung up" in r for r in refused), refused
    failed = [str(line["msg"]) for line in lines if line["event"] == "notify_failed"]
    assert failed and all("127.0.0.1/..." in f for f in failed), failed
    assert any("not finite" in r for r in refused) and any("ASCII" in r for r in refused)
    output = served.output()
    assert SECRET not in output and "Traceback" not in output
    assert all(line.startswith("{") for line in output.splitlines() if line.strip()), output


def test_1000_slow_connections_are_bounded_and_healthz_answers(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """1000 clients that open a connection and never finish their headers, under a 1024
    file limit: the controller keeps its open files bounded and /healthz answers 200."""
    story = make_story(webhook_server.url, tmp_path, heal=True)
    served = Served(
        story.url, story.repo, "--state", "state", "--interval", "1", env=story.env, max_files=1024
    )
    slow: list[socket.socket] = []
    with served.wait_ready():
        wait_until(lambda: http_get(f"{served.url}/healthz")[0] == 200, 10)
        try:
            for _ in range(1000):
                slow.append(_raw(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n"))
            for _ in range(5):
                assert http_get(f"{served.url}/healthz")[0] == 200
            files = len(os.listdir(f"/proc/{served.proc.pid}/fd"))
            assert files < 400, files  # ~200 kept connections, the rest closed
            story.move("champion", 3)  # and the loop still heals (git, registry sockets)
            wait_until(lambda: story.live() == {"champion": 2}, 20)
            wait_until(lambda: served.state_of(story.name) == "synced", 20)
            # no round failed for want of file descriptors while the flood was accepted
            assert served.metric("reconciler_resyncs_total", result="failed") == 0
            assert http_get(f"{served.url}/healthz")[0] == 200
        finally:
            for sock in slow:
                sock.close()
        assert served.terminate() == 0
    assert "Too many open files" not in served.output()


@pytest.fixture(scope="module")
def ws_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A workspaces-enabled sqlite server with ``team-a`` and ``team-b``."""
    work = tmp_path_factory.mktemp("serve-ws")
    server = workspaces_server(f"sqlite:///{work / 'mlflow.db'}", work).start()
    create_workspaces(server.url, "team-a", "team-b")
    yield server.url
    server.stop()


def test_one_process_serves_two_workspaces(ws_url: str, tmp_path: Path) -> None:
    """One controller for every workspace the state names: the same model name in team-a
    and team-b, each healed in its own workspace; --workspace limits it to one."""
    name = f"m-{uuid.uuid4().hex[:8]}"
    env = {"RECONCILER_APPLY_EXPERIMENT": f"applies-{name}"}
    init_repo(tmp_path)
    for ws, champion in (("team-a", 1), ("team-b", 2)):
        seed_in(ws_url, ws, name, [{}, {}, {}], {"champion": champion})
        folder = tmp_path / "state" / ws
        folder.mkdir(parents=True)
        (folder / "models.yaml").write_text(
            f"workspace: {ws}\nmodels:\n  {name}:\n    aliases:\n      champion: {champion}\n"
            "    self_heal: true\n",
            encoding="utf-8",
        )
    git(tmp_path, "add", "state")
    git(tmp_path, "commit", "-qm", "declare")
    for ws in ("team-a", "team-b"):  # each team's apply is logged in its workspace
        done = Cli(ws_url, tmp_path)("apply", "--yes", "--state", f"state/{ws}", env=env)
        assert done.exit_code == 0, done.output
    served = Served(ws_url, tmp_path, "--state", "state", "--interval", "1", env=env)
    with served.wait_ready():

        def states() -> list[tuple[str, str, str]]:
            return [(m["workspace"], m["name"], m["state"]) for m in served.status()["models"]]

        wait_until(lambda: states() == [("team-a", name, "synced"), ("team-b", name, "synced")], 20)
        with in_workspace("team-b"):
            client(ws_url).set_registered_model_alias(name, "champion", "3")
        wait_until(lambda: aliases_in(ws_url, "team-b", name) == {"champion": 2}, 20)
        assert aliases_in(ws_url, "team-a", name) == {"champion": 1}
        status = served.status()
        assert [w["workspace"] for w in status["workspaces"]] == ["team-a", "team-b"]
        wait_until(lambda: served.metric("reconciler_heals_total", result="healed") == 1, 10)
        page = http_get(served.url)[1].decode()
        assert f"team-a/{name}" in page and f"team-b/{name}" in page
        runs = {}
        for ws in ("team-a", "team-b"):  # each model page reads its own workspace's log
            url = f"{served.url}/models/{name}?workspace={ws}"
            found = wait_until(lambda u=url: _ready(http_get(u)[1].decode()), 30)
            [runs[ws]] = re.findall(r'data-run="([0-9a-f]+)"', found)
        assert runs["team-a"] != runs["team-b"]
        assert served.terminate() == 0
    assert "workspaces: team-a, team-b" in served.output()
    only = Served(
        ws_url, tmp_path, "--state", "state", "--interval", "1", "--workspace", "team-a", env=env
    )
    with only.wait_ready():
        wait_until(lambda: len(only.status()["models"]) == 1, 20)
        assert only.status()["models"][0]["workspace"] == "team-a"
        assert only.terminate() == 0
