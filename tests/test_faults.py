"""Fault injection against a real mlflow server: flaky network, dead server, crash mid-apply.

``FAULT_TRIALS`` (default 3) sets the crash trials and ``FAULT_SEED`` the first seed;
``FAULT_REPORT`` names a JSON file that receives one record per trial (used by
``bench/reliability.py`` to write RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Cli, write_state
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer, free_port
from tests.support.seed import client

TRIALS = int(os.environ.get("FAULT_TRIALS", "3"))
FIRST_SEED = int(os.environ.get("FAULT_SEED", "1000"))
REPORT = os.environ.get("FAULT_REPORT")
RECONCILER = str(Path(sys.executable).parent / "reconciler")
FAST_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def aliases_of(url: str, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client(url).get_registered_model(name).aliases.items()}


def fast_model(url: str, name: str, versions: int, aliases: dict[str, int]) -> None:
    """A model with run-less READY versions (no 1 s wait per version as with runs)."""
    c = client(url)
    c.create_registered_model(name)
    for _ in range(versions):
        c.create_model_version(name, source="s3://nowhere/model", await_creation_for=0)
    for alias, version in aliases.items():
        c.set_registered_model_alias(name, alias, str(version))


def many_alias_model(url: str, name: str, updates: int, adds: int, removals: int) -> str:
    """Seed ``name`` (3 versions) and return a prune state body that updates, adds, removes."""
    before = {f"u{i}": 1 for i in range(updates)} | {f"r{i}": 1 for i in range(removals)}
    fast_model(url, name, 3, before | {"keep": 3})
    desired = {"keep": 3, **{f"u{i}": 2 for i in range(updates)}}
    desired |= {f"a{i}": 3 for i in range(adds)}
    return f"  {json.dumps(name)}:\n    prune: true\n    aliases: {json.dumps(desired)}\n"


def desired_aliases(body: str) -> dict[str, int]:
    found = re.search(r"aliases: (\{.*\})", body)
    assert found
    return {k: int(v) for k, v in json.loads(found.group(1)).items()}


def test_flaky_network_apply_converges_and_verifies(url: str, tmp_path: Path, name: str) -> None:
    """At ~20% injected 503s, slow answers and resets, apply of 20 alias changes exits 0."""
    body = many_alias_model(url, name, updates=10, adds=10, removals=0)
    state = str(write_state(tmp_path, "models:\n" + body))
    with FaultProxy(url, rate=0.2, seed=7) as proxy:
        result = Cli(proxy.url, tmp_path)("apply", "--state", state, "--yes", env=FAST_RETRIES)
    assert result.exit_code == 0, result.output
    assert "applied and verified" in result.stdout
    assert sum(proxy.injected.values()) > 0, "the proxy injected no fault"
    assert aliases_of(url, name) == desired_aliases(body)


@pytest.mark.parametrize("how", ["always-503", "closed-port"])
def test_permanently_failing_server_ends_in_one_line(how: str, url: str, tmp_path: Path) -> None:
    """A server that always answers 503 (or a closed port) ends in one stderr line, exit 1."""
    state = str(write_state(tmp_path, "models:\n  some-model:\n    aliases: {champion: 1}\n"))
    if how == "always-503":
        with FaultProxy(url, rate=1.0, faults=("503",), max_streak=None) as proxy:
            result = Cli(proxy.url, tmp_path)("apply", "--state", state, "--yes", env=FAST_RETRIES)
    else:
        dead = f"http://127.0.0.1:{free_port()}"
        result = Cli(dead, tmp_path)("apply", "--state", state, "--yes", env=FAST_RETRIES)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


# --- crash mid-apply -------------------------------------------------------------------


@dataclass
class Trial:
    """One crash trial, as recorded in FAULT_REPORT."""

    seed: int
    mode: str
    kill_after_writes: int
    changes: int
    interrupted_exit: int
    reported_applied: int | None
    rerun_exit: int
    converged: bool
    polls: int
    missing: list[str] = field(default_factory=list)


class Poller(threading.Thread):
    """Reads the aliases over and over; records any moment a must-stay alias is absent."""

    def __init__(self, url: str, required: dict[str, set[str]]) -> None:
        super().__init__(daemon=True)
        self.url, self.required = url, required
        self.polls = 0
        self.missing: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        names = ", ".join(f"'{n}'" for n in self.required)
        c = client(self.url)
        while not self.halt.wait(0.03):
            try:
                models = c.search_registered_models(filter_string=f"name IN ({names})")
            except Exception:  # the server is down right now: nothing observed
                continue
            self.polls += 1
            for rm in models:
                gone = self.required[rm.name] - set(rm.aliases)
                self.missing += [f"{rm.name}:{a}" for a in sorted(gone)]


@pytest.fixture(scope="module")
def crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A server of our own (its own sqlite file), so it can be killed and restarted."""
    work = tmp_path_factory.mktemp("mlflow-crash")
    server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work).start()
    yield server
    server.stop()


def kill_server(server: MlflowServer) -> None:
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    server.proc = None


def mode_of(seed: int) -> str:
    """Which process a trial kills: the server for one seed in three (restarts are slow)."""
    return "server" if seed % 3 == 1 else "reconciler"


def run_trial(server: MlflowServer, tmp_path: Path, seed: int) -> Trial:
    """Seed 50 changes, kill the server or the reconciler at a random write, rerun apply."""
    rng = random.Random(seed)
    mode = mode_of(seed)
    names = [f"crash-{seed}-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    bodies = [many_alias_model(server.url, n, updates=10, adds=12, removals=3) for n in names]
    state = str(write_state(tmp_path, "models:\n" + "".join(bodies)))
    kill_at = rng.randrange(0, 50)
    before = {n: aliases_of(server.url, n) for n in names}
    required = {
        n: set(before[n]) & set(desired_aliases(b)) for n, b in zip(names, bodies, strict=True)
    }
    env = {**os.environ, **FAST_RETRIES, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "NO_COLOR": "1"}
    proc: subprocess.Popen[str] | None = None
    fired = threading.Event()

    def hook(method: str, path: str, writes: int) -> None:
        if method != "GET" and writes > kill_at and not fired.is_set():
            fired.set()
            if mode == "server":
                kill_server(server)
            elif proc is not None:
                proc.kill()

    poller = Poller(server.url, required)
    poller.start()
    with FaultProxy(server.url, hook=hook) as proxy:
        env["MLFLOW_TRACKING_URI"] = proxy.url
        # The apply log's lock is tested in test_applylog; a killed apply would hold it here.
        cmd = [RECONCILER, "apply", "--state", state, "--yes", "--no-apply-log"]
        proc = subprocess.Popen(
            cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdout, stderr = proc.communicate(timeout=120)
        first = proc.returncode
        if server.proc is None:
            server.start()
        proxy.hook = None
        rerun = Cli(proxy.url, tmp_path)(
            "apply", "--state", state, "--yes", "--no-apply-log", env=FAST_RETRIES
        )
    poller.halt.set()
    poller.join()
    applied = re.search(r"apply stopped: (\d+) of 50 changes applied", stderr)
    trial = Trial(
        seed=seed,
        mode=mode,
        kill_after_writes=kill_at,
        changes=50,
        interrupted_exit=first,
        reported_applied=int(applied.group(1)) if applied else None,
        rerun_exit=rerun.exit_code,
        converged=all(
            aliases_of(server.url, n) == desired_aliases(b)
            for n, b in zip(names, bodies, strict=True)
        ),
        polls=poller.polls,
        missing=sorted(set(poller.missing)),
    )
    if mode == "server":
        assert first != 0, stdout
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert applied, stderr
        assert stdout.count("\napplied ") + stdout.startswith("applied ") == trial.reported_applied
        assert "not applied" in stdout or "FAILED" in stdout, stdout
    assert rerun.exit_code == 0, rerun.output
    return trial


def record(trials: list[Trial]) -> None:
    """Merge these trials into FAULT_REPORT (both crash tests write to it)."""
    if not REPORT:
        return
    path = Path(REPORT)
    old = json.loads(path.read_text("utf-8")) if path.exists() else []
    seeds = {t.seed for t in trials}
    merged = [t for t in old if t["seed"] not in seeds] + [asdict(t) for t in trials]
    path.write_text(json.dumps(sorted(merged, key=lambda t: t["seed"]), indent=1), "utf-8")


def crash_trials(server: MlflowServer, tmp_path: Path, mode: str) -> None:
    trials: list[Trial] = []
    for seed in range(FIRST_SEED, FIRST_SEED + TRIALS):
        if mode_of(seed) != mode:
            continue
        (tmp_path / str(seed)).mkdir()
        trials.append(run_trial(server, tmp_path / str(seed), seed))
        record(trials)
    print(json.dumps([asdict(t) for t in trials], indent=1), file=sys.stderr)
    assert all(t.converged for t in trials)
    assert [t.missing for t in trials] == [[] for _ in trials]
    assert all(t.polls > 0 for t in trials)


@pytest.fixture
def poll_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poller must not sit in MLflow's retries while the server is down."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


@pytest.mark.usefixtures("poll_fast")
def test_reconciler_killed_mid_apply_rerun_converges(
    sqlite_server: MlflowServer, tmp_path: Path
) -> None:
    """SIGKILL of the reconciler at a random write: rerun converges, no desired alias gone."""
    crash_trials(sqlite_server, tmp_path, "reconciler")


@pytest.mark.usefixtures("poll_fast")
def test_server_killed_mid_apply_reports_and_rerun_converges(
    crash_server: MlflowServer, tmp_path: Path
) -> None:
    """SIGKILL of the server at a random write: exit 1 naming what was/was not applied; rerun
    after restart converges and no desired alias is ever absent."""
    crash_trials(crash_server, tmp_path, "server")


def test_server_dying_before_verification_lists_what_was_written(
    crash_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """All writes land, then the server dies before the verification read: exit 1, one
    error line saying the writes landed but were not verified, the applied changes listed."""
    fast_model(crash_server.url, name, 2, {"champion": 1})
    state = str(write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: 2, b: 1}}\n"))

    def hook(method: str, path: str, writes: int) -> None:
        if method == "GET" and writes > 0 and crash_server.proc is not None:
            kill_server(crash_server)

    with FaultProxy(crash_server.url, hook=hook) as proxy:
        env = {**os.environ, **FAST_RETRIES, "MLFLOW_TRACKING_URI": proxy.url, "NO_COLOR": "1"}
        done = subprocess.run(
            [RECONCILER, "apply", "--state", state, "--yes", "--no-apply-log"],
            env=env,
            text=True,
            capture_output=True,
            timeout=120,
        )
        crash_server.start()
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert "all 2 changes were written, but the verification read failed" in done.stderr
    assert "applied      " in done.stdout and "champion" in done.stdout, done.stdout
    assert aliases_of(crash_server.url, name) == {"champion": 2, "b": 1}
