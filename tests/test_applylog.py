"""The apply log and the lock (SPEC §12) against real mlflow servers and real git.

Each apply is one run in the apply experiment (a converged one too, with 0 changes); a
live RUNNING run holds the registry; two applies started together: exactly one writes; a
killed apply's lease runs out; the log costs a fixed number of requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write_state
from tests.support.fault_proxy import FaultProxy
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client
from tests.test_faults import FAST_RETRIES, aliases_of, fast_model

RECONCILER = str(Path(sys.executable).parent / "reconciler")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_server(request: pytest.FixtureRequest) -> MlflowServer:
    """The MLflow 3 server with a sqlite and with a PostgreSQL backend."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


def runs_in(url: str, experiment: str) -> list[Any]:
    """The apply runs of ``experiment``, oldest first."""
    c = client(url)
    found = c.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = c.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])
    return list(runs)


def committed_state(cwd: Path, name: str, aliases: dict[str, int]) -> Path:
    """A state file for ``name`` committed in a git repository at ``cwd``; its dir."""
    if not (cwd / ".git").exists():
        init_repo(cwd)
    state = write_state(cwd, f"models:\n  {name}:\n    aliases: {json.dumps(aliases)}\n")
    git(cwd, "add", ".")
    git(cwd, "commit", "-q", "-m", f"{name} {aliases}")
    return state


def registry_writes(proxy: FaultProxy) -> int:
    """Requests that write to the registry (not the apply log's tracking calls)."""
    return sum(
        n
        for key, n in proxy.requests.items()
        if not key.startswith("GET ")
        and ("/registered-models/" in key or "/model-versions/" in key)
    )


def test_apply_is_one_run_and_a_converged_apply_is_recorded_too(
    cli: Cli, name: str, apply_experiment: str
) -> None:
    """One FINISHED run per apply: commit, actor, repository, scope, change count,
    redacted registry, plan.json; a converged apply is a FINISHED run with 0 changes."""
    fast_model(cli.url, name, 2, {"champion": 1})
    state = committed_state(cli.cwd, name, {"champion": 2, "challenger": 1})
    head = git(cli.cwd, "rev-parse", "HEAD").strip()
    result = cli("apply", "--state", str(state), "--yes", env={"GITHUB_ACTOR": "ada-ci"})
    assert result.exit_code == 0, result.output
    (run,) = runs_in(cli.url, apply_experiment)
    assert run.info.status == "FINISHED"
    assert f"Logged as run {run.info.run_id}" in result.stdout
    tags = run.data.tags
    assert tags["reconciler.commit"] == head
    assert tags["reconciler.actor"] == "ada-ci"
    assert tags["reconciler.registry"] == cli.url
    assert json.loads(tags["reconciler.models"]) == [name]
    assert tags["reconciler.repo"].startswith("local:") and tags["reconciler.scope"] == "all"
    assert tags["reconciler.changes"] == "2" and tags["reconciler.apply_id"]
    plan_file = client(cli.url).download_artifacts(run.info.run_id, "plan.json", str(cli.cwd))
    plan = json.loads(Path(plan_file).read_text("utf-8"))
    assert {(c["key"], c["after"]) for c in plan["changes"]} == {("champion", 2), ("challenger", 1)}
    again = cli("apply", "--state", str(state), "--yes", "--model", name)
    assert again.exit_code == 0, again.output
    assert "Converged" in again.stdout and "recorded as verified" in again.stdout
    _, second = runs_in(cli.url, apply_experiment)
    assert second.info.status == "FINISHED" and second.data.tags["reconciler.changes"] == "0"
    assert json.loads(second.data.tags["reconciler.scope"]) == [name]


def test_the_default_experiment_name_and_its_override(
    cli_sqlite: Cli, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without RECONCILER_APPLY_EXPERIMENT the runs go to ``reconciler-applies``."""
    monkeypatch.delenv("RECONCILER_APPLY_EXPERIMENT")
    fast_model(cli_sqlite.url, name, 2, {"champion": 1})
    state = write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n")
    assert cli_sqlite("apply", "--state", str(state), "--yes").exit_code == 0
    runs = runs_in(cli_sqlite.url, "reconciler-applies")
    assert [json.loads(r.data.tags["reconciler.models"]) for r in runs][-1] == [name]


def _count(proxy: FaultProxy, cli: Cli, state: Path, *flags: str) -> int:
    before = sum(proxy.requests.values())
    result = cli("apply", "--state", str(state), "--yes", *flags)
    assert result.exit_code == 0, result.output
    return sum(proxy.requests.values()) - before


def test_the_log_costs_a_few_requests_per_apply_whatever_the_change_count(
    sqlite_server: MlflowServer, tmp_path: Path
) -> None:
    """Requests with the log minus without it: <= 6 per apply (5 once the experiment
    exists), the same for 1 and 40 changes."""
    extra: list[int] = []
    with FaultProxy(sqlite_server.url) as proxy:
        cli = Cli(proxy.url, tmp_path)
        for changes in (1, 40, 1):
            costs = []
            for flags in ((), ("--no-apply-log",)):
                name = f"cost-{changes}-{len(flags)}-{time.monotonic_ns()}"
                fast_model(sqlite_server.url, name, 2, {f"a{i}": 1 for i in range(changes)})
                body = json.dumps({f"a{i}": 2 for i in range(changes)})
                (tmp_path / name).mkdir()
                state = write_state(tmp_path / name, f"models:\n  {name}:\n    aliases: {body}\n")
                costs.append(_count(proxy, cli, state, *flags))
            # the first round creates the experiment; the second finds it
            extra.append(costs[0] - costs[1])
            print(
                f"{changes} change(s): {costs[0]} requests with the log, {costs[1]} without",
                file=sys.stderr,
            )
    print(f"apply log extra requests per apply: {extra}", file=sys.stderr)
    assert extra[1] == extra[2], extra  # 40 changes cost what 1 costs
    assert max(extra) <= 6, extra  # the first also creates the experiment


def _running_run(url: str, experiment: str, actor: str, started: float | None = None) -> str:
    """A RUNNING apply run, as an apply in progress elsewhere leaves it (``started``: when
    it began, in epoch seconds; it never beat since)."""
    c = client(url)
    found = c.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else c.create_experiment(experiment)
    when = int((started if started is not None else time.time()) * 1000)
    tags = {"reconciler.actor": actor, "reconciler.commit": "abc"}
    run = c.create_run(exp_id, start_time=when, tags=tags)
    return str(run.info.run_id)


def test_a_live_apply_holds_the_registry_a_dead_one_is_ended(
    sql_server: MlflowServer, tmp_path: Path, name: str, apply_experiment: str
) -> None:
    """A RUNNING run with a fresh lease: exit 1 before any write, naming run, actor, start
    time; unlock refuses it without --force. A run whose lease ran out is ended KILLED by
    the next apply, which says so and goes ahead."""
    url = sql_server.url
    fast_model(url, name, 2, {"champion": 1})
    state = write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n")
    holder = _running_run(url, apply_experiment, "grace")
    with FaultProxy(url) as proxy:
        held = Cli(proxy.url, tmp_path)("apply", "--state", str(state), "--yes")
    assert held.exit_code == 1
    (line,) = held.stderr.splitlines()
    assert line.startswith("error: another apply holds the registry: ")
    assert f"run {holder} by grace, started 20" in line and "nothing was written" in line
    assert "--lock-timeout" in line
    assert registry_writes(proxy) == 0 and aliases_of(url, name) == {"champion": 1}
    statuses = [r.info.status for r in runs_in(url, apply_experiment)]
    assert statuses == ["RUNNING", "KILLED"]  # the refused apply stood back

    cli = Cli(url, tmp_path)
    refused = cli("unlock", holder)
    assert refused.exit_code == 1 and "is alive" in refused.stderr and "--force" in refused.stderr
    forced = cli("unlock", holder, "--force")
    assert forced.exit_code == 0, forced.output
    assert f"apply run {holder} by grace" in forced.stdout
    again = cli("unlock", holder)
    assert again.exit_code == 1 and "KILLED, not RUNNING" in again.stderr

    dead = _running_run(url, apply_experiment, "lin", started=time.time() - 300)
    went = cli("apply", "--state", str(state), "--yes")
    assert went.exit_code == 0, went.output
    (warning,) = went.stderr.splitlines()
    assert warning.startswith(f"warning: apply run {dead} by lin, started 20")
    assert "sent no heartbeat for 60 s: it was ended KILLED" in warning
    assert aliases_of(url, name) == {"champion": 2}
    assert client(url).get_run(dead).info.status == "KILLED"


def _together(barrier: threading.Barrier, seconds: float) -> Any:
    """A proxy hook for one of two processes "started together": its first registry read
    waits for the other's, so both plan from the same registry state (however unevenly a
    loaded machine starts them); each registry write then takes ``seconds``."""
    arrived = threading.Event()

    def hook(method: str, path: str, writes: int) -> None:
        if method == "GET" and path.endswith("/search") and not arrived.is_set():
            arrived.set()
            barrier.wait()
        if method != "GET" and ("/registered-models/" in path or "/model-versions/" in path):
            time.sleep(seconds)

    return hook


TRIALS = int(os.environ.get("LOCK_TRIALS", "20"))


def test_two_applies_started_together_exactly_one_writes(
    sql_server: MlflowServer, tmp_path: Path, name: str, apply_experiment: str
) -> None:
    """20 trials of two real apply processes started together against one server: exactly
    one writes and exits 0, the other exits 1 with nothing written."""
    url = sql_server.url
    keys = [f"k{i}" for i in range(4)]
    fast_model(url, name, 2, dict.fromkeys(keys, 1))
    outcomes = []
    for trial in range(TRIALS):
        (tmp_path / str(trial)).mkdir()
        started = time.monotonic()
        want = {k: 1 + (trial + 1) % 2 for k in keys}
        state = write_state(
            tmp_path / str(trial), f"models:\n  {name}:\n    aliases: {json.dumps(want)}\n"
        )
        barrier = threading.Barrier(2, timeout=120)
        proxies = [FaultProxy(url, hook=_together(barrier, 0.1)).start() for _ in range(2)]
        env = {**os.environ, **FAST_RETRIES, "NO_COLOR": "1"}
        procs = [
            subprocess.Popen(
                [RECONCILER, "apply", "--yes", "--state", str(state)],
                env={**env, "MLFLOW_TRACKING_URI": p.url},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in proxies
        ]
        done = []
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            done.append((proc.returncode, out, err))
        for proxy in proxies:
            proxy.stop()
        writes = [registry_writes(p) for p in proxies]
        codes = sorted(code for code, _, _ in done)
        assert codes == [0, 1], (trial, done)
        reason = next(e for code, _, e in done if code == 1).split(":", 2)[1].strip()[:30]
        outcomes.append((writes, reason, round(time.monotonic() - started, 1)))
        winner = next(i for i, (code, _, _) in enumerate(done) if code == 0)
        loser = 1 - winner
        assert writes[winner] > 0 and writes[loser] == 0, (trial, writes, done)
        (line,) = done[loser][2].splitlines()
        assert line.startswith("error: another apply"), line
        assert "nothing was written" in line
        assert aliases_of(url, name) == want
    statuses = [r.info.status for r in runs_in(url, apply_experiment)]
    assert statuses.count("FINISHED") == TRIALS and "RUNNING" not in statuses, statuses
    print(f"lock trials: {outcomes}", file=sys.stderr)


def test_an_apply_killed_mid_write_is_waited_out_with_lock_timeout(
    sql_server: MlflowServer, tmp_path: Path, name: str, apply_experiment: str
) -> None:
    """SIGKILL after the first registry write (a lost CI runner): its run stays RUNNING and
    holds the lock until its lease runs out; the next ``apply --lock-timeout 120s`` waits,
    ends it KILLED and converges, with no ``unlock``."""
    url = sql_server.url
    keys = [f"k{i}" for i in range(6)]
    fast_model(url, name, 2, dict.fromkeys(keys, 1))
    want = dict.fromkeys(keys, 2)
    state = write_state(tmp_path, f"models:\n  {name}:\n    aliases: {json.dumps(want)}\n")
    proc: subprocess.Popen[str] | None = None
    fired = threading.Event()

    def hook(method: str, path: str, writes: int) -> None:
        registry = "/registered-models/" in path or "/model-versions/" in path
        if method != "GET" and registry and proc is not None and not fired.is_set():
            fired.set()
            os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.5)

    with FaultProxy(url, hook=hook) as proxy:
        env = {**os.environ, **FAST_RETRIES, "NO_COLOR": "1", "MLFLOW_TRACKING_URI": proxy.url}
        cmd = [RECONCILER, "apply", "--yes", "--concurrency", "1", "--state", str(state)]
        proc = subprocess.Popen(
            cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        proc.communicate(timeout=120)
    assert fired.is_set() and proc.returncode == -signal.SIGKILL
    (dead,) = runs_in(url, apply_experiment)
    assert dead.info.status == "RUNNING"
    cli = Cli(url, tmp_path)
    held = cli("apply", "--state", str(state), "--yes")
    assert held.exit_code == 1 and f"run {dead.info.run_id}" in held.stderr, held.output
    waited = cli("apply", "--state", str(state), "--yes", "--lock-timeout", "120s")
    assert waited.exit_code == 0, waited.output
    assert f"apply run {dead.info.run_id} by " in waited.stderr
    assert "it was ended KILLED" in waited.stderr
    assert aliases_of(url, name) == want
    assert client(url).get_run(dead.info.run_id).info.status == "KILLED"
    converged = cli("apply", "--state", str(state), "--yes")
    assert converged.exit_code == 0 and "No changes" in converged.stdout, converged.output


def test_history_names_the_apply_run_of_every_move(
    sql_server: MlflowServer, tmp_path: Path, name: str, apply_experiment: str
) -> None:
    """Every applied move says when, by whom and in which run; a superseded move that was
    never applied and the latest one not applied yet say so (text and JSON)."""
    cli = Cli(sql_server.url, tmp_path)
    fast_model(sql_server.url, name, 3, {})
    plan: list[tuple[int, bool]] = [(1, True), (2, False), (3, True), (1, True), (2, False)]
    for version, apply in plan:
        state = committed_state(tmp_path, name, {"champion": version})
        if apply:
            result = cli("apply", "--state", str(state), "--yes", env={"GITHUB_ACTOR": "ci-bot"})
            assert result.exit_code == 0, result.output
    runs = [r.info.run_id for r in runs_in(sql_server.url, apply_experiment)]
    assert len(runs) == 3
    moves = json.loads(cli("history", name, "--state", str(state), "--format", "json").stdout)
    assert [m["version"] for m in moves] == [1, 2, 3, 1, 2]
    assert [m["apply"] for m in moves] == [
        "applied",
        "never_applied",
        "applied",
        "applied",
        "not_applied_yet",
    ]
    assert [m["applied"]["run_id"] for m in moves if m["applied"]] == runs
    assert all(m["applied"]["by"] == "ci-bot" for m in moves if m["applied"])
    assert all(m["applied"]["commit"] == m["commit"] for m in moves if m["applied"])
    lines = cli("history", name, "--state", str(state)).stdout.splitlines()
    assert lines[0].endswith(f"by ci-bot, run {runs[0]}]"), lines[0]
    assert lines[1].endswith("[never applied]") and lines[4].endswith("[not applied yet]")
