"""Benchmark: N slow clients (connections that never finish their headers) against the
controller's HTTP face, beside plain uvicorn with its defaults (how ``serve`` ran
before issue 29), both under a 1024 open-file limit (systemd's default soft limit).

Usage:
    .venv/bin/python bench/slow_clients_bench.py --clients 1000

For each server: its open files while the clients hold their connections, and /healthz
answered / asked with the slowest answer. Printed as JSON lines; measured, not asserted
(the assertions live in tests/test_serve_ops.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.gitrepo import git, init_repo  # noqa: E402
from tests.support.mlflow_server import MlflowServer, free_port  # noqa: E402
from tests.support.seed import seed_model  # noqa: E402
from tests.support.serve import Served, wait_until  # noqa: E402

PLAIN = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
async def ok(request): return PlainTextResponse("ok")
uvicorn.run(Starlette(routes=[Route("/healthz", ok)]), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="critical")
"""


def limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def probe(url: str, n: int = 20) -> dict[str, object]:
    answered, slowest, last = 0, 0.0, ""
    for _ in range(n):
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                answered += resp.status == 200
        except OSError as exc:
            last = repr(exc)[:200]
        slowest = max(slowest, time.monotonic() - began)
    found: dict[str, object] = {"healthz_ok": f"{answered}/{n}", "slowest_s": round(slowest, 3)}
    return found | ({"last_error": last} if last else {})


def flood(pid: int, port: int, clients: int) -> dict[str, object]:
    held = []
    for _ in range(clients):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        except OSError:
            break
    time.sleep(1)  # let the server accept what it will
    found = {"opened": len(held), "server_open_files": len(os.listdir(f"/proc/{pid}/fd"))}
    found |= probe(f"http://127.0.0.1:{port}/healthz")
    for sock in held:
        sock.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()
    port = free_port()
    plain = subprocess.Popen([sys.executable, "-c", PLAIN, str(port)], preexec_fn=limit)
    try:
        wait_until(lambda: probe(f"http://127.0.0.1:{port}/healthz", 1)["healthz_ok"] == "1/1", 30)
        print(
            json.dumps(
                {"server": "plain uvicorn (defaults)", **flood(plain.pid, port, args.clients)}
            )
        )
    finally:
        plain.kill()
        plain.wait()
    with tempfile.TemporaryDirectory(prefix="slow-bench-") as tmp:
        work = Path(tmp)
        server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work / "srv").start()
        try:
            seed_model(server.url, "bench", [{}], {"champion": 1})
            repo = work / "repo"
            repo.mkdir()
            init_repo(repo)
            (repo / "state").mkdir()
            (repo / "state/m.yaml").write_text("models: {bench: {aliases: {champion: 1}}}\n")
            git(repo, "add", "state")
            git(repo, "commit", "-qm", "declare")
            with Served(
                server.url, repo, "--state", "state", "--interval", "1", max_files=1024
            ) as served:
                served.wait_ready()
                found = flood(served.proc.pid, served.port, args.clients)
                print(json.dumps({"server": "reconciler serve (guarded)", **found}))
                served.terminate()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
