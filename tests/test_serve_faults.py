"""The controller under faults, against a real mlflow server and real git repositories.

The registry goes down (a proxy resets every connection), git goes down (the remote
disappears), 1000 signed deliveries arrive within about a second, and SIGTERM lands
while a heal is writing. Each time the controller keeps serving, heals nothing it has not
read completely, runs one round at a time, and exits 0 after the write in progress.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import Cli
from tests.support.fault_proxy import FaultProxy
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client, seed_model
from tests.support.serve import (
    Served,
    alias_event,
    http_get,
    signed_post,
    wait_until,
)
from tests.test_serve import STATE, make_story


def test_registry_down_reports_unknown_keeps_serving_and_heals_once_back(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """While every registry request fails: /healthz 503, models unknown, page served, no
    heal; once the registry answers again the drift made meanwhile is healed."""
    story = make_story(webhook_server.url, tmp_path, heal=True)
    with FaultProxy(webhook_server.url, faults=("reset",), max_streak=None) as proxy:
        served = Served(proxy.url, story.repo, "--state", "state", "--interval", "1", env=story.env)
        with served.wait_ready():
            wait_until(lambda: served.state_of(story.name) == "synced", 20)
            proxy.rate = 1.0  # the registry is down
            wait_until(lambda: served.state_of(story.name) == "unknown", 30)
            assert http_get(f"{served.url}/healthz")[0] == 503
            assert http_get(f"{served.url}/")[0] == 200
            assert served.status()["errors"]
            story.move("champion", 3)  # behind the controller's back, straight to the server
            time.sleep(2)
            assert story.live() == {"champion": 3}
            proxy.rate = 0.0  # back
            wait_until(lambda: story.live() == {"champion": 2}, 40)
            wait_until(lambda: http_get(f"{served.url}/healthz")[0] == 200, 20)
            assert served.terminate() == 0


def test_git_pull_brings_new_commits_and_a_dead_remote_keeps_the_last_good_state(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """--git-pull: a pushed commit shows as pending; with the remote gone the pull failure
    is reported, /healthz says 503, and drift is still healed against the last good state."""
    name = f"m-{uuid.uuid4().hex[:10]}"
    env = {"RECONCILER_APPLY_EXPERIMENT": f"applies-{name}"}
    url = webhook_server.url
    seed_model(url, name, [{}, {}, {}], {"champion": 1})
    origin, work, clone = tmp_path / "origin.git", tmp_path / "work", tmp_path / "clone"
    for folder in (origin, work):
        folder.mkdir()
    git(origin, "init", "-q", "--bare", "-b", "main")
    init_repo(work)
    (work / "state").mkdir()
    (work / "state/models.yaml").write_text(
        STATE.format(name=json.dumps(name), champion=2, heal="true"), encoding="utf-8"
    )
    git(work, "add", "state")
    git(work, "commit", "-qm", "declare")
    git(work, "push", "-q", str(origin), "main")
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert Cli(url, clone)("apply", "--yes", env=env).exit_code == 0
    served = Served(url, clone, "--state", "state", "--interval", "1", "--git-pull", env=env)
    with served.wait_ready():
        wait_until(lambda: served.state_of(name) == "synced", 20)
        (work / "state/models.yaml").write_text(
            STATE.format(name=json.dumps(name), champion=3, heal="true"), encoding="utf-8"
        )
        git(work, "commit", "-qam", "promote v3")
        git(work, "push", "-q", str(origin), "main")
        wait_until(lambda: served.state_of(name) == "pending", 20)
        origin.rename(tmp_path / "gone.git")  # git is down
        wait_until(lambda: any("git pull" in e for e in served.status()["errors"]), 20)
        assert http_get(f"{served.url}/healthz")[0] == 503
        assert served.state_of(name) == "pending"
        client(url).set_registered_model_alias(name, "champion", "1")
        wait_until(lambda: client(url).get_registered_model(name).aliases == {"champion": "2"}, 20)
        (tmp_path / "gone.git").rename(origin)
        wait_until(lambda: http_get(f"{served.url}/healthz")[0] == 200, 20)
        assert served.terminate() == 0


def test_a_flood_of_1000_deliveries_is_bounded(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """1000 signed deliveries in about a second (loopback): every one answered, a handful
    of rounds run (one at a time), the page stays responsive."""
    story = make_story(webhook_server.url, tmp_path, heal=True)
    with Served(
        story.url, story.repo, "--state", "state", "--interval", "60", env=story.env
    ).wait_ready() as served:
        hook = f"{served.url}/webhook"
        event = alias_event(story.name)
        slowest = [0.0]
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                began = time.monotonic()
                assert http_get(f"{served.url}/healthz")[0] == 200
                slowest[0] = max(slowest[0], time.monotonic() - began)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        began = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(lambda _: signed_post(hook, event), range(1000)))
        took = time.monotonic() - began
        stop.set()
        prober.join()
        assert codes == [200] * 1000
        accepted = served.metric("reconciler_webhook_deliveries_total", result="accepted")
        assert accepted == 1000
        time.sleep(1)
        rounds = served.metric("reconciler_resyncs_total", kind="webhook", result="ok")
        print(
            f"1000 deliveries in {took:.2f} s; {rounds:.0f} webhook rounds; "
            f"slowest /healthz {slowest[0] * 1000:.0f} ms"
        )
        assert 1 <= rounds <= 100
        assert served.terminate() == 0


def test_sigterm_mid_heal_finishes_the_write_and_exits_0(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """SIGTERM arrives while the heal's alias write is on the wire: it completes, the
    controller verifies it, writes the audit tag, and exits 0."""
    story = make_story(webhook_server.url, tmp_path, heal=True)
    pid: list[int] = []
    signalled = threading.Event()

    def hook(method: str, path: str, writes: int) -> None:
        if (
            method == "POST"
            and path.endswith("/registered-models/alias")
            and not signalled.is_set()
        ):
            signalled.set()
            os.kill(pid[0], signal.SIGTERM)
            time.sleep(1.5)  # the write is still in flight when the signal lands

    with FaultProxy(webhook_server.url, hook=hook) as proxy:
        served = Served(proxy.url, story.repo, "--state", "state", "--interval", "1", env=story.env)
        pid.append(served.proc.pid)
        with served.wait_ready():
            story.move("champion", 3)
            assert served.proc.wait(60) == 0, served.output()
    assert signalled.is_set()
    assert story.live() == {"champion": 2}
    audit = client(story.url).get_model_version(story.name, "2").tags["reconciler.applied"]
    assert json.loads(audit)["by"] == "reconciler-serve"
    assert "stopped" in served.output()
