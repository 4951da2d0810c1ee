"""The controller's loop never dies quietly, and reads desired state only from git objects.

In-process ``Controller`` over real git repositories and the in-memory registry: a
planted exception fails one round (logged, counted) and the next round is healthy; an
absolute symlink in a commit fails rounds, not the loop; an uncommitted or
half-checked-out working tree is never served; a failed fetch keeps the last good commit.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

from reconciler.core.applylog.baseline import Baselines
from reconciler.core.applylog.record import FINISHED, ApplyRecord
from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.ports import Registry
from reconciler.logged_apply import LogView
from reconciler.serve import logs
from reconciler.serve.controller import Controller, Settings
from reconciler.serve.gitsource import GitSource
from reconciler.serve.status import alive
from tests.support.gitrepo import git, init_repo
from tests.support.memory_registry import MemoryRegistry
from tests.support.serve import wait_until

STATE = "models:\n  m:\n    aliases:\n      champion: {v}\n"


def _repo(path: Path, champion: int = 1) -> str:
    init_repo(path)
    (path / "state").mkdir()
    (path / "state/m.yaml").write_text(STATE.format(v=champion), encoding="utf-8")
    git(path, "add", "state")
    git(path, "commit", "-qm", "declare")
    return git(path, "rev-parse", "HEAD").strip()


def _registry() -> MemoryRegistry:
    versions = {n: ObservedVersion(n, run_id=f"r{n}") for n in (1, 2, 3)}
    return MemoryRegistry(
        ObservedState({"m": ObservedModel("m", {"champion": 1}, {}, "", versions)})
    )


def _controller(repo: Path, read_log: object, **settings: object) -> Controller:
    registry = _registry()

    def connect() -> Registry:
        return registry  # type: ignore[return-value]

    config = Settings(state=repo / "state", interval=0.2, **settings)  # type: ignore[arg-type]
    return Controller(config, connect, read_log, registry_uri="memory://")  # type: ignore[arg-type]


def _view(commit: str) -> LogView:
    """The apply log as the controller reads it: model ``m`` verified at ``commit``."""
    run = ApplyRecord("r1", FINISHED, 1, 2, "ci", commit)
    return LogView(Baselines({"m": run}), None, frozenset({"r1"}))


def _reader(commit: str) -> object:
    return lambda registry, models, repo, on_branch: _view(commit)


def _sample(controller: Controller, name: str) -> float:
    return controller.metrics.registry.get_sample_value(name) or 0.0


def test_a_planted_exception_fails_one_round_and_the_next_is_healthy(tmp_path: Path) -> None:
    """An unexpected exception in a round is logged and counted; the loop runs on."""
    commit = _repo(tmp_path)
    calls: list[int] = []

    def read_log(registry: Registry, *args: object) -> LogView:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("planted bug")
        return _view(commit)

    stream = io.StringIO()
    logs.configure("json", "memory://", stream)
    controller = _controller(tmp_path, read_log)
    worker = threading.Thread(target=controller.run)
    worker.start()
    try:
        wait_until(lambda: len(calls) >= 2 and controller.snapshot.healthy, 20, 0.02)
    finally:
        controller.stop()
        worker.join()
    assert _sample(controller, "reconciler_round_exceptions_total") == 1
    failed = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [line for line in failed if line["event"] == "round_failed"]
    assert len(failed) == 1 and "RuntimeError" in failed[0]["msg"], failed
    assert "planted bug" in failed[0]["msg"] and failed[0]["level"] == "error"
    assert [m.state.value for m in controller.snapshot.models] == ["synced"]


def test_an_absolute_symlink_in_a_commit_fails_rounds_not_the_loop(tmp_path: Path) -> None:
    """A commit whose state holds an absolute symlink: the round fails naming the commit;
    once a later commit removes it, the next round is healthy."""
    commit = _repo(tmp_path)
    (tmp_path / "state/evil.yaml").symlink_to("/etc/passwd")
    git(tmp_path, "add", "state")
    git(tmp_path, "commit", "-qm", "planted symlink")
    bad = git(tmp_path, "rev-parse", "HEAD").strip()
    controller = _controller(tmp_path, _reader(bad))
    assert controller.reconcile(None) is False
    assert any(bad[:12] in e for e in controller.snapshot.errors), controller.snapshot.errors
    git(tmp_path, "rm", "-q", "state/evil.yaml")
    git(tmp_path, "commit", "-qm", "remove it")
    controller._log_reader = _reader(commit)  # type: ignore[assignment]
    assert controller.reconcile(None) is True, controller.snapshot.errors
    assert [m.state.value for m in controller.snapshot.models] == ["synced"]


def test_a_half_checked_out_tree_is_never_served(tmp_path: Path) -> None:
    """What the working tree says (a partial checkout, an edit) is not the desired state:
    the committed state is."""
    commit = _repo(tmp_path)
    (tmp_path / "state/m.yaml").write_text(STATE.format(v=3)[:20], encoding="utf-8")  # torn
    (tmp_path / "state/half.yaml").write_text("models: {other: {aliases: {x: 9", encoding="utf-8")
    controller = _controller(tmp_path, _reader(commit))
    assert controller.reconcile(None) is True, controller.snapshot.errors
    assert [(m.name, m.state.value) for m in controller.snapshot.models] == [("m", "synced")]


def test_a_failed_fetch_keeps_serving_the_last_fetched_commit(tmp_path: Path) -> None:
    """--git-pull: a fetch that fails (remote gone, disk full) changes nothing served;
    a fetch that works serves the upstream commit from git objects, tree untouched."""
    work, origin, clone = tmp_path / "work", tmp_path / "origin.git", tmp_path / "clone"
    work.mkdir()
    first = _repo(work)
    git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    source = GitSource(clone / "state")
    (work / "state/m.yaml").write_text(STATE.format(v=2), encoding="utf-8")
    git(work, "commit", "-qam", "promote")
    git(work, "push", "-q", str(origin), "main")
    source.pull()
    second = git(work, "rev-parse", "HEAD").strip()
    assert source.head() == second != first
    assert source.load_head().parts[0].models["m"].aliases == {"champion": 2}
    assert "champion: 1" in (clone / "state/m.yaml").read_text()  # the tree is not touched
    origin.rename(tmp_path / "gone.git")
    try:
        source.pull()
    except Exception as exc:
        assert "git pull (fetch) failed" in str(exc)
    else:
        raise AssertionError("a fetch from a missing remote succeeded")
    assert source.head() == second


def test_health_needs_a_successful_round_within_three_intervals() -> None:
    """A loop that stopped succeeding (or running) turns /healthz 503 after 3 intervals."""
    from reconciler.serve.status import Snapshot

    snap = Snapshot(registry="x", healthy=True, last_success=1000.0)
    assert alive(snap, 1000.0 + 2.9, 1.0)
    assert not alive(snap, 1000.0 + 3.1, 1.0)
    assert not alive(Snapshot(registry="x", healthy=False, last_success=1000.0), 1000.5, 1.0)
    assert not alive(Snapshot(registry="x"), 0.0, 1.0)


def test_two_workspaces_merge_into_one_view_and_share_one_gate(tmp_path: Path) -> None:
    """The fleet's snapshot holds both workspaces' models with their workspace; healthy
    only when both are; a webhook ask reaches every workspace declaring the model."""
    from reconciler.serve.fleet import Fleet, merged
    from reconciler.serve.metrics import Metrics
    from reconciler.serve.status import Snapshot, to_json

    commit = _repo(tmp_path)
    gate = threading.Lock()
    controllers: list[Controller] = []
    metrics = Metrics(lambda: [c.snapshot for c in controllers])
    for ws in ("team-a", "team-b"):
        controller = _controller(tmp_path, _reader(commit), workspace=ws)
        controller._gate = gate
        controllers.append(controller)
    fleet = Fleet(controllers, metrics)
    good = Snapshot(registry="r", workspace="team-a", healthy=True, last_success=5.0)
    bad = Snapshot(registry="r", workspace="team-b", healthy=False, last_success=3.0)
    view = merged([good, bad])
    assert not view.healthy and view.last_success == 3.0
    assert [w["workspace"] for w in to_json(view)["workspaces"]] == ["team-a", "team-b"]
    controllers[0]._known = frozenset({"m"})
    controllers[1]._known = frozenset({"m"})
    assert fleet.ask("m") and all("m" in c._asked for c in controllers)
    assert not fleet.ask("other")
