"""The controller governs prompts (SPEC v4 §20): a hand-moved prompt alias of a
``self_heal`` prompt is healed, driven by MLflow's ``prompt_alias.*`` webhook (the resync
interval is a minute, so only the webhook can bring it back in the test's time)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import Cli, write_state
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client
from tests.support.serve import Served, wait_until
from tests.test_prompts import V1, V2
from tests.test_serve import no_webhooks as no_webhooks

STATE = "prompts:\n  {name}:\n    aliases: {{production: 2}}\n    self_heal: true\n"


def test_a_drifted_prompt_alias_is_healed_on_its_webhook(
    webhook_server: MlflowServer, tmp_path: Path, no_webhooks: None
) -> None:
    """Apply production -> v2, move it back by hand: the prompt_alias webhook heals it."""
    url, name = webhook_server.url, f"p-{uuid.uuid4().hex[:10]}"
    env = {"RECONCILER_APPLY_EXPERIMENT": f"applies-{name}"}
    c = client(url)
    c.register_prompt(name, V1)
    c.register_prompt(name, V2)
    c.set_prompt_alias(name, "production", 1)
    init_repo(tmp_path)
    write_state(tmp_path, STATE.format(name=name))
    git(tmp_path, "add", "state")
    git(tmp_path, "commit", "-qm", "declare the prompt")
    applied = Cli(url, tmp_path)("apply", "--yes", env=env)
    assert applied.exit_code == 0 and "Logged as run" in applied.output, applied.output

    def live() -> int:
        return int(c.get_prompt_version_by_alias(name, "production").version)

    served = Served(
        url, tmp_path, "--state", "state", "--interval", "60",
        "--register-webhook", "{url}/webhook", env=env,
    )  # fmt: skip
    with served.wait_ready():
        wait_until(lambda: served.state_of(name) == "synced", 20)

        # the server caches subscriptions: a first delivery (a prompt tag, no drift)
        # shows the webhook is live before the alias is moved, with no sleep
        def delivered() -> bool:
            c.set_prompt_tag(name, "probe", uuid.uuid4().hex)
            return served.metric("reconciler_webhook_deliveries_total", result="accepted") >= 1

        wait_until(delivered, 20, 0.5)
        c.set_prompt_alias(name, "production", 1)
        wait_until(lambda: live() == 2, 30, 0.1)
        wait_until(
            lambda: served.metric("reconciler_resyncs_total", kind="webhook", result="ok") >= 1,
            10,
        )
        assert served.metric("reconciler_resyncs_total", kind="resync", result="ok") == 1
        assert served.terminate() == 0
