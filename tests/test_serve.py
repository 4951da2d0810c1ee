"""``reconciler serve`` against a real mlflow server and a real git repository.

Each test runs the controller as a process with a 1 s interval, moves an alias by hand
with MLflow's client, and watches what the controller does: heal (self_heal), report
(no self_heal), never apply a merged but unapplied commit, and notify once per new
condition. Each test logs its applies in an apply-log experiment of its own
(``RECONCILER_APPLY_EXPERIMENT``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli, write_state
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client, seed_model
from tests.support.serve import Receiver, Served, wait_until

STATE = """\
models:
  {name}:
    aliases:
      champion: {champion}
    self_heal: {heal}
"""


@dataclass
class Story:
    """A model declared, committed, applied and logged as applied."""

    url: str
    repo: Path
    name: str
    commit: str
    env: dict[str, str]

    def write(self, champion: int, heal: bool = True) -> None:
        text = STATE.format(name=json.dumps(self.name), champion=champion, heal=str(heal).lower())
        write_state(self.repo, text)

    def commit_all(self, message: str) -> str:
        git(self.repo, "commit", "-qam", message)
        return git(self.repo, "rev-parse", "HEAD").strip()

    def serve(self, *args: str) -> Served:
        served = Served(
            self.url, self.repo, "--state", "state", "--interval", "1", *args, env=self.env
        )
        return served.wait_ready()

    def live(self) -> dict[str, int]:
        found = client(self.url).get_registered_model(self.name).aliases
        return {a: int(v) for a, v in found.items()}

    def move(self, alias: str, version: int) -> None:
        client(self.url).set_registered_model_alias(self.name, alias, str(version))


def make_story(url: str, tmp_path: Path, heal: bool) -> Story:
    name = f"m-{uuid.uuid4().hex[:10]}"
    env = {"RECONCILER_APPLY_EXPERIMENT": f"applies-{name}"}
    seed_model(url, name, [{}, {}, {}], {"champion": 1})
    init_repo(tmp_path)
    story = Story(url, tmp_path, name, "", env)
    story.write(2, heal)
    git(tmp_path, "add", "state")
    story.commit = story.commit_all("declare")
    applied = Cli(url, tmp_path)("apply", "--yes", env=env)  # logged: the last applied commit
    assert applied.exit_code == 0 and "Logged as run" in applied.output, applied.output
    return story


@pytest.fixture
def story(webhook_server: MlflowServer, tmp_path: Path) -> Story:
    return make_story(webhook_server.url, tmp_path, heal=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_drift_is_healed_within_the_interval(story: Story) -> None:
    """A hand-moved alias of a self_heal model is back within a couple of 1 s intervals."""
    with story.serve() as served:
        wait_until(lambda: served.state_of(story.name) == "synced", 10)
        story.move("champion", 3)
        moved = time.monotonic()
        wait_until(lambda: story.live() == {"champion": 2}, 10, 0.05)
        took = time.monotonic() - moved
        c = client(story.url)
        experiment = c.get_experiment_by_name(story.env["RECONCILER_APPLY_EXPERIMENT"])

        def newest() -> object:
            [run] = c.search_runs(
                [experiment.experiment_id], max_results=1, order_by=["attributes.start_time DESC"]
            )
            return run.info.status == "FINISHED" and run

        logged = wait_until(newest, 10)
        assert logged.data.tags["reconciler.actor"] == "reconciler-serve"
        assert logged.data.tags["reconciler.commit"] == story.commit  # the applied one, not HEAD
        # the audit tag is written after the alias, before the run ends FINISHED
        audit = json.loads(c.get_model_version(story.name, "2").tags["reconciler.applied"])
        assert audit["by"] == "reconciler-serve" and audit["commit"] == story.commit

        def events() -> list[str]:
            return [e["event"] for e in served.status()["events"] if e["model"] == story.name]

        wait_until(lambda: events() == ["healed"], 10)
        assert served.state_of(story.name) == "synced"
        assert served.terminate() == 0
    assert took < 5, took


def test_without_self_heal_drift_is_reported_once_and_left_alone(
    webhook_server: MlflowServer, tmp_path: Path, receiver: Receiver
) -> None:
    """No self_heal: drift shows on /api/status and notifies once; the registry is untouched."""
    story = make_story(webhook_server.url, tmp_path, heal=False)
    with story.serve("--notify", receiver.url) as served:
        wait_until(lambda: served.state_of(story.name) == "synced", 10)
        story.move("champion", 3)
        wait_until(lambda: served.state_of(story.name) == "drift", 10)
        row = served.model(story.name)["aliases"][0]
        assert row == {
            "alias": "champion",
            "declared": "2",
            "live": "3",
            "applied": "2",
            "state": "drift",
        }
        time.sleep(3)  # three more resyncs
        assert story.live() == {"champion": 3}
        story.move("champion", 2)
        wait_until(lambda: receiver.events(story.name) == ["drift", "synced"], 10)
        drift = next(b for b in receiver.bodies if b["event"] == "drift")
        assert drift["model"] == story.name and drift["workspace"] is None
        assert drift["changes"][0]["key"] == "champion" and story.name in drift["text"]
        assert "\n" not in drift["text"]
        assert served.terminate() == 0


def test_a_merged_but_unapplied_commit_is_pending_and_never_applied(
    story: Story, receiver: Receiver
) -> None:
    """HEAD moves champion to 3 but was never applied: pending; a drift heals to 2, not 3."""
    story.write(3)
    story.commit_all("promote v3 (not applied)")
    with story.serve("--notify", receiver.url) as served:
        wait_until(lambda: served.state_of(story.name) == "pending", 10)
        row = served.model(story.name)["aliases"][0]
        assert (row["declared"], row["live"], row["applied"]) == ("3", "2", "2")
        time.sleep(2.5)
        assert story.live() == {"champion": 2}
        story.move("champion", 1)
        wait_until(
            lambda: served.state_of(story.name) == "pending" and story.live() == {"champion": 2}, 10
        )
        assert served.status()["applied_commit"] == story.commit
        wait_until(lambda: receiver.events(story.name) == ["pending", "healed"], 10)
        assert served.terminate() == 0
    assert story.live() == {"champion": 2}


def test_auto_sync_applies_the_pending_commit(story: Story) -> None:
    """With --auto-sync the merged commit is applied (and then counts as applied here)."""
    story.write(3)
    story.commit_all("promote v3")
    with story.serve("--auto-sync") as served:
        wait_until(lambda: story.live() == {"champion": 3}, 10)
        assert served.terminate() == 0


@pytest.fixture
def no_webhooks(webhook_server: MlflowServer) -> Iterator[None]:
    """Delete every webhook afterwards: a webhook to a stopped controller slows later writes."""
    yield
    c = client(webhook_server.url)
    for hook in c.list_webhooks():
        c.delete_webhook(hook.webhook_id)


def test_a_webhook_heals_long_before_the_next_resync(story: Story, no_webhooks: None) -> None:
    """--register-webhook: a hand-made move is undone in seconds with a 60 s resync interval."""
    served = Served(
        story.url,
        story.repo,
        "--state",
        "state",
        "--interval",
        "60",
        "--register-webhook",
        "{url}/webhook",
        env=story.env,
    )
    with served.wait_ready():
        assert "webhook registry-reconciler created for" in served.output()
        [hook] = client(story.url).list_webhooks()
        assert hook.name == "registry-reconciler" and hook.url == f"{served.url}/webhook"
        time.sleep(2)  # the server caches subscriptions for MLFLOW_WEBHOOK_CACHE_TTL (1 s here)
        story.move("champion", 3)
        moved = time.monotonic()
        wait_until(lambda: story.live() == {"champion": 2}, 20, 0.05)
        took = time.monotonic() - moved
        assert served.metric("reconciler_webhook_deliveries_total", result="accepted") >= 1
        wait_until(
            lambda: served.metric("reconciler_resyncs_total", kind="webhook", result="ok") >= 1,
            10,
        )
        assert served.metric("reconciler_resyncs_total", kind="resync", result="ok") == 1
        assert served.terminate() == 0
    print(f"webhook-driven heal took {took:.2f} s")
    assert took < 10


def test_bad_stale_and_replayed_deliveries_are_refused(story: Story) -> None:
    """Unsigned and wrongly signed: 401; stale: 400; oversized: 413; a replay asks for no
    second round."""
    from tests.support.serve import alias_event, http_post, signed_post

    with story.serve("--interval", "60") as served:
        hook = f"{served.url}/webhook"
        event = alias_event(story.name)
        raw = json.dumps(event).encode()
        assert http_post(hook, raw, {"Content-Type": "application/json"}) == 401
        assert signed_post(hook, event, secret="not-the-secret") == 401
        assert signed_post(hook, event, age=301) == 400
        assert http_post(hook, b"{" * 100_000, {"Content-Type": "application/json"}) == 413
        assert signed_post(hook, alias_event("not-declared")) == 200
        assert signed_post(hook, event, delivery="once") == 200
        rounds = lambda: served.metric("reconciler_resyncs_total", kind="webhook", result="ok")  # noqa: E731
        wait_until(lambda: rounds() == 1, 10)
        assert signed_post(hook, event, delivery="once") == 200
        time.sleep(1)
        assert rounds() == 1
        counted = {
            result: served.metric("reconciler_webhook_deliveries_total", result=result)
            for result in (
                "unsigned delivery",
                "bad signature",
                "stale delivery",
                "model not declared",
                "accepted",
                "repeated delivery ignored",
            )
        }
        assert counted == dict.fromkeys(counted, 1.0)
        assert served.terminate() == 0


@pytest.mark.mlflow2
def test_a_server_without_webhooks_works_with_resync_only(
    mlflow2_server: MlflowServer, tmp_path: Path
) -> None:
    """MLflow 2.22 has no webhooks: --register-webhook warns, and resync still heals."""
    story = make_story(mlflow2_server.url, tmp_path, heal=True)
    served = Served(
        story.url,
        story.repo,
        "--state",
        "state",
        "--interval",
        "1",
        "--register-webhook",
        "{url}/webhook",
        env=story.env,
    )
    with served.wait_ready():
        assert "warning webhook_failed: cannot register the webhook" in served.output()
        story.move("champion", 3)
        wait_until(lambda: story.live() == {"champion": 2}, 20)
        assert served.terminate() == 0


def test_nothing_is_healed_while_an_apply_holds_the_lock(story: Story) -> None:
    """A RUNNING apply run in the log (CI applying right now): drift is reported, not
    healed, until that apply ends."""
    c = client(story.url)
    experiment = c.get_experiment_by_name(story.env["RECONCILER_APPLY_EXPERIMENT"])
    running = c.create_run(experiment.experiment_id, tags={"reconciler.actor": "ci"})
    with story.serve() as served:
        story.move("champion", 3)
        wait_until(lambda: served.state_of(story.name) == "drift", 10)
        assert any("apply is in progress" in e for e in served.status()["errors"])
        time.sleep(2)
        assert story.live() == {"champion": 3}
        c.set_terminated(running.info.run_id, "KILLED")
        wait_until(lambda: story.live() == {"champion": 2}, 10)
        assert served.terminate() == 0
