"""The apply log as the record (SPEC §17) against a real mlflow server and real git.

The log is shared: every test here writes to one experiment that two state repositories,
hand edits and forged runs write to as well (a fresh experiment per test would hide
exactly the bugs these tests look for). What each test checks:
- the approval bypass: a converged first apply is a baseline; a merged, unapproved commit
  is never healed toward, a hand move is healed back to the applied value;
- two repositories on one server: each controller heals only its own model;
- forged runs (unsigned with a key, off the tracked branch, dated in the future) steer
  nothing and are reported;
- SIGTERM mid-apply leaves no lock; a network losing 20% of answers converges, no orphan;
- a heal never undoes an apply that finished after the controller read the log;
- ``history`` shows a commit an apply verified with no change as applied.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write_state
from tests.support.fault_proxy import FaultProxy
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client
from tests.support.serve import Receiver, Served, wait_until
from tests.test_faults import FAST_RETRIES, aliases_of, fast_model

RECONCILER = str(Path(sys.executable).parent / "reconciler")
SHARED = "reconciler-applies-shared"
"""One apply log for every test of this file (and both repositories of each)."""
KEY = "test-log-key"


@pytest.fixture(autouse=True)
def shared_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_APPLY_EXPERIMENT", SHARED)
    monkeypatch.delenv("RECONCILER_LOG_KEY", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)


class Repo:
    """A state repository with an ``origin`` remote, declaring one model."""

    def __init__(self, root: Path, url: str, origin: str, name: str, env: dict[str, str]):
        self.root, self.url, self.name, self.env = root, url, name, env
        root.mkdir(parents=True, exist_ok=True)
        init_repo(root)
        git(root, "remote", "add", "origin", origin)

    def declare(self, champion: int, message: str = "", heal: bool = True) -> str:
        body = f"models:\n  {self.name}:\n    aliases: {{champion: {champion}}}\n"
        write_state(self.root, body + f"    self_heal: {str(heal).lower()}\n")
        git(self.root, "add", "state")
        git(self.root, "commit", "-qm", message or f"champion {champion}")
        return git(self.root, "rev-parse", "HEAD").strip()

    def apply(self, *args: str) -> Any:
        result = Cli(self.url, self.root)("apply", "--yes", *args, env=self.env)
        assert result.exit_code == 0, result.output
        return result

    def serve(self, *args: str) -> Served:
        env = {"RECONCILER_APPLY_EXPERIMENT": SHARED, **self.env}
        return Served(
            self.url, self.root, "--state", "state", "--interval", "1", *args, env=env
        ).wait_ready()


def new_repo(tmp_path: Path, url: str, team: str, env: dict[str, str] | None = None) -> Repo:
    name = f"{team}-{uuid.uuid4().hex[:8]}"
    origin = f"https://ci-bot:ghs_secret@github.com/acme/{team}-state.git"
    return Repo(tmp_path / team, url, origin, name, env or {})


def runs_of(url: str) -> list[Any]:
    c = client(url)
    found = c.get_experiment_by_name(SHARED)
    return [] if found is None else list(c.search_runs([found.experiment_id], max_results=1000))


def forge(url: str, tags: dict[str, str], status: str, start_ms: int | None = None) -> str:
    """A run anyone who can write the experiment can make."""
    c = client(url)
    found = c.get_experiment_by_name(SHARED)
    exp = found.experiment_id if found else c.create_experiment(SHARED)
    run = c.create_run(exp, start_time=start_ms or int(time.time() * 1000), tags=tags)
    if status != "RUNNING":
        c.set_terminated(run.info.run_id, status, end_time=start_ms)
    return str(run.info.run_id)


def live(url: str, name: str) -> int:
    return int(client(url).get_registered_model(name).aliases["champion"])


def test_a_merged_unapproved_commit_is_never_healed_toward(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """The registry already matches (after import): the first apply converges and is
    recorded; a promotion is merged, not approved; a hand move is healed back to the
    applied value, never to HEAD; a model never applied is unverified, never healed."""
    url = webhook_server.url
    repo = new_repo(tmp_path, url, "bypass")
    fast_model(url, repo.name, 3, {"champion": 1})
    repo.declare(1)
    converged = repo.apply()
    assert "Converged" in converged.stdout
    mine = [
        r for r in runs_of(url) if r.data.tags.get("reconciler.repo", "").endswith("bypass-state")
    ]
    assert [r.data.tags["reconciler.changes"] for r in mine] == ["0"]
    assert mine[0].data.tags["reconciler.repo"] == "github.com/acme/bypass-state"  # no secret
    repo.declare(2, "promote v2 (waiting for the production approval)")
    with repo.serve() as served:
        wait_until(lambda: served.state_of(repo.name) == "pending", 20)
        client(url).set_registered_model_alias(repo.name, "champion", "3")  # a hand move
        wait_until(lambda: live(url, repo.name) == 1, 20)
        time.sleep(2.5)  # two more rounds: still never HEAD's 2
        assert live(url, repo.name) == 1
        assert served.state_of(repo.name) == "pending"
        assert served.terminate() == 0
    output = served.output()
    assert "healed" not in output or "-> 2" not in output


def test_an_unapplied_model_is_unverified_and_never_healed(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """No FINISHED run of this repository covers the model: unverified, one notification,
    nothing written, however it drifts."""
    url = webhook_server.url
    repo = new_repo(tmp_path, url, "fresh")
    fast_model(url, repo.name, 3, {"champion": 1})
    repo.declare(2)
    receiver = Receiver()
    try:
        with repo.serve("--notify", receiver.url) as served:
            wait_until(lambda: served.state_of(repo.name) == "unverified", 20)
            time.sleep(2.5)
            assert live(url, repo.name) == 1
            assert (
                served.metric("reconciler_model_sync_status", model=repo.name, state="unverified")
                == 1
            )
            wait_until(lambda: receiver.events(repo.name) == ["unverified"], 10)
            assert served.terminate() == 0
    finally:
        receiver.close()


def test_two_repositories_on_one_server_heal_only_their_own_models(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """Team A and team B apply to one server and one log; each controller takes only its
    own repository's runs as baselines and heals its own model."""
    url = webhook_server.url
    a, b = new_repo(tmp_path, url, "team-a"), new_repo(tmp_path, url, "team-b")
    for repo in (a, b):
        fast_model(url, repo.name, 3, {"champion": 1})
        repo.declare(2)
        repo.apply()
    b.declare(3)
    b.apply()  # the newest run in the log is B's, at a commit A's repository lacks
    with a.serve() as served_a, b.serve() as served_b:
        wait_until(lambda: served_a.state_of(a.name) == "synced", 20)
        wait_until(lambda: served_b.state_of(b.name) == "synced", 20)
        client(url).set_registered_model_alias(a.name, "champion", "1")
        client(url).set_registered_model_alias(b.name, "champion", "1")
        wait_until(lambda: live(url, a.name) == 2 and live(url, b.name) == 3, 20)
        assert served_a.model(b.name) is None and served_b.model(a.name) is None
        assert not [e for e in served_a.status()["errors"] if "fetch it" in e]
        assert served_a.terminate() == 0 and served_b.terminate() == 0


def test_forged_runs_steer_nothing_and_are_reported(
    webhook_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RECONCILER_LOG_KEY: a FINISHED run without the signature naming HEAD (merged,
    unapproved) is never a baseline, and is reported; a run naming a pushed branch's
    commit is ignored; a RUNNING and a FAILED run dated tomorrow block nothing."""
    monkeypatch.setenv("RECONCILER_LOG_KEY", KEY)
    url = webhook_server.url
    repo = new_repo(tmp_path, url, "signed", env={"RECONCILER_LOG_KEY": KEY})
    fast_model(url, repo.name, 3, {"champion": 1})
    repo.declare(1)
    repo.apply()
    head = repo.declare(2, "promote v2 (not approved)")
    git(repo.root, "checkout", "-qb", "feature")
    side = repo.declare(3, "an unmerged branch")
    git(repo.root, "checkout", "-q", "main")
    identity = "github.com/acme/signed-state"
    for commit in (head, side):
        forge(
            url,
            {
                "reconciler.repo": identity,
                "reconciler.commit": commit,
                "reconciler.scope": "all",
                "reconciler.actor": "mallory",
            },
            "FINISHED",
        )
    tomorrow = int((time.time() + 86_400) * 1000)
    forge(url, {"reconciler.actor": "mallory"}, "RUNNING", tomorrow)
    forge(url, {"reconciler.actor": "mallory"}, "FAILED", tomorrow)
    receiver = Receiver()
    try:
        with repo.serve("--notify", receiver.url) as served:
            wait_until(lambda: served.state_of(repo.name) == "pending", 20)
            client(url).set_registered_model_alias(repo.name, "champion", "3")
            wait_until(lambda: live(url, repo.name) == 1, 20)  # healed to the signed baseline
            errors = served.status()["errors"]
            assert any("not signed with RECONCILER_LOG_KEY" in e for e in errors), errors
            assert any("dated in the future" in e for e in errors), errors
            wait_until(lambda: "forged" in json.dumps(receiver.bodies), 10)
            assert served.terminate() == 0
    finally:
        receiver.close()
    # the future-dated runs neither hold the lock nor make the plan stale
    done = repo.apply()  # the approval came: HEAD is applied
    assert "dated in the future" in done.stderr and live(url, repo.name) == 2
    # and history credits no move to the forged runs
    moves = json.loads(
        Cli(url, repo.root)("history", repo.name, "--format", "json", env=repo.env).stdout
    )
    assert all((m["applied"] or {}).get("by") != "mallory" for m in moves), moves


def test_sigterm_mid_apply_ends_the_run_failed_and_leaves_no_lock(
    sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """SIGTERM during the first alias write: the write in flight completes, no new one
    starts, exit 1 within seconds, the run FAILED with what it applied; the next apply
    (no --lock-timeout, no unlock) converges."""
    url = sqlite_server.url
    keys = [f"k{i}" for i in range(6)]
    fast_model(url, name, 2, dict.fromkeys(keys, 1))
    init_repo(tmp_path)
    state = write_state(
        tmp_path, f"models:\n  {name}:\n    aliases: {json.dumps(dict.fromkeys(keys, 2))}\n"
    )
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "all to 2")
    proc: subprocess.Popen[str] | None = None
    signalled: list[float] = []

    def hook(method: str, path: str, writes: int) -> None:
        alias_write = method == "POST" and path.endswith("/registered-models/alias")
        if alias_write and proc is not None and not signalled:
            signalled.append(time.monotonic())
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)

    with FaultProxy(url, hook=hook) as proxy:
        env = {**os.environ, **FAST_RETRIES, "NO_COLOR": "1", "MLFLOW_TRACKING_URI": proxy.url}
        cmd = [RECONCILER, "apply", "--yes", "--concurrency", "1", "--state", str(state)]
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = proc.communicate(timeout=120)
        ended = time.monotonic()
    assert signalled and proc.returncode == 1, (out, err)
    assert ended - signalled[0] < 10
    assert "interrupted" in err and "SIGTERM" in err
    mine = [r for r in runs_of(url) if r.data.tags.get("reconciler.models") == json.dumps([name])]
    (run,) = mine
    assert run.info.status == "FAILED"
    result = json.loads(run.data.tags["reconciler.result"])
    assert result["applied"] >= 1 and result["not_applied"] >= 1
    assert 1 <= sum(v == 2 for v in aliases_of(url, name).values()) < len(keys)
    again = Cli(url, tmp_path)("apply", "--yes", "--state", str(state))
    assert again.exit_code == 0, again.output
    assert aliases_of(url, name) == dict.fromkeys(keys, 2)


def test_a_lossy_network_still_converges_with_no_orphan_lock(
    sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """20% of requests fail (503, reset before, or the answer lost after the server acted):
    two applies in a row both converge; no RUNNING run is left, nothing created twice
    stays RUNNING."""
    url = sqlite_server.url
    keys = [f"k{i}" for i in range(5)]
    fast_model(url, name, 3, dict.fromkeys(keys, 1))
    init_repo(tmp_path)
    faults = ("503", "reset", "lost")
    with FaultProxy(url, rate=0.2, seed=7, faults=faults, max_streak=2) as proxy:
        cli = Cli(proxy.url, tmp_path)
        for version in (2, 3):
            want = dict.fromkeys(keys, version)
            state = write_state(tmp_path, f"models:\n  {name}:\n    aliases: {json.dumps(want)}\n")
            git(tmp_path, "add", ".")
            git(tmp_path, "commit", "-qm", f"all to {version}")
            result = cli("apply", "--yes", "--state", str(state), env=FAST_RETRIES)
            assert result.exit_code == 0, result.output
            assert aliases_of(url, name) == want
        print(f"lossy proxy: injected {dict(proxy.injected)}", file=sys.stderr)
        assert proxy.injected["lost"] >= 1
    mine = [r for r in runs_of(url) if r.data.tags.get("reconciler.models") == json.dumps([name])]
    assert "RUNNING" not in [r.info.status for r in mine]
    assert [r.info.status for r in mine].count("FINISHED") == 2


def test_a_heal_never_undoes_an_apply_that_finished_after_it_read_the_log(
    webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """The controller reads the log (baseline: champion 1); while its registry search is
    held, CI applies champion 2 and finishes; the heal that follows finds the new run and
    writes nothing. Deterministic: the apply runs inside the controller's search request,
    twice in a row (1 -> 2, 2 -> 3)."""
    url = webhook_server.url
    repo = new_repo(tmp_path, url, "race")
    fast_model(url, repo.name, 4, {"champion": 1})
    repo.declare(1)
    repo.apply()
    armed = threading.Event()
    applied: list[int] = []

    def hook(method: str, path: str, writes: int) -> None:
        if armed.is_set() and "registered-models/search" in path:
            armed.clear()
            version = live(url, repo.name) + 1
            repo.declare(version, f"promote v{version}")
            repo.apply()
            applied.append(version)

    with FaultProxy(url, hook=hook) as proxy:
        controller = Repo.__new__(Repo)
        controller.__dict__.update(repo.__dict__, url=proxy.url)
        with controller.serve() as served:
            for version in (2, 3):
                wait_until(lambda: served.state_of(repo.name) == "synced", 20)
                armed.set()
                wait_until(lambda v=version: applied == list(range(2, v + 1)), 30)
                wait_until(lambda: served.state_of(repo.name) == "synced", 20)
                assert live(url, repo.name) == version
            assert served.metric("reconciler_heals_total", model=repo.name, result="healed") == 0
            deferred = served.metric("reconciler_heals_total", model=repo.name, result="deferred")
            assert deferred >= 1  # the race was seen, and the heal stood back
            assert served.terminate() == 0


def test_history_shows_a_commit_verified_with_no_change_as_applied(
    sqlite_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """A revert whose state someone had already restored by hand: its apply converged,
    and history still says the revert was applied, by whom and in which run."""
    url = sqlite_server.url
    fast_model(url, name, 2, {"champion": 1})
    init_repo(tmp_path)
    cli = Cli(url, tmp_path)
    for version in (2, 1):
        state = write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: {version}}}\n")
        git(tmp_path, "add", ".")
        git(tmp_path, "commit", "-qm", f"champion {version}")
        if version == 1:
            client(url).set_registered_model_alias(name, "champion", "1")  # by hand first
        result = cli("apply", "--yes", "--state", str(state), env={"GITHUB_ACTOR": "ci-bot"})
        assert result.exit_code == 0, result.output
    moves = json.loads(cli("history", name, "--state", str(state), "--format", "json").stdout)
    assert [m["apply"] for m in moves] == ["applied", "applied"], moves
    assert moves[1]["applied"]["by"] == "ci-bot"
