"""Controller replicas (SPEC §21) against a real mlflow server: one leader through a
lease in the apply log; only it heals and notifies; the standby takes over within two
leases of the leader's death (SIGKILL: no goodbye)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client
from tests.support.serve import Receiver, wait_until
from tests.test_faults import fast_model
from tests.test_record import SHARED, new_repo
from tests.test_record import shared_log as shared_log  # autouse: the same shared apply log


def test_two_replicas_one_leader_and_failover(webhook_server: MlflowServer, tmp_path: Path) -> None:
    """Two controllers of one repository: one leads; a hand move is healed once and
    notified once; the leader killed, the standby leads within 120 s and heals."""
    url = webhook_server.url
    repo = new_repo(tmp_path, url, "replicas")
    fast_model(url, repo.name, 3, {"champion": 1})
    repo.declare(2)
    repo.apply()
    receiver = Receiver()
    try:
        with (
            repo.serve("--notify", receiver.url) as one,
            repo.serve("--notify", receiver.url) as two,
        ):
            wait_until(
                lambda: [one.status()["leader"], two.status()["leader"]].count(True) == 1, 60
            )
            leader, standby = (one, two) if one.status()["leader"] else (two, one)
            assert standby.status()["leader"] is False
            client(url).set_registered_model_alias(repo.name, "champion", "3")
            try:
                wait_until(lambda: receiver.events(repo.name).count("healed") == 1, 30)
            except AssertionError:
                raise AssertionError((leader.status(), standby.status(), receiver.bodies)) from None
            time.sleep(3)  # a few more rounds of both: still one heal, one notification
            assert receiver.events(repo.name).count("healed") == 1
            assert standby.metric("reconciler_heals_total", model=repo.name, result="healed") == 0
            leader.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            wait_until(lambda: standby.status()["leader"] is True, 130, every=1)
            took = time.monotonic() - killed
            assert took < 120, took
            client(url).set_registered_model_alias(repo.name, "champion", "1")
            wait_until(lambda: receiver.events(repo.name).count("healed") == 2, 30)
            assert standby.terminate() == 0
        print(f"failover after SIGKILL of the leader: {took:.1f} s (experiment {SHARED})")
    finally:
        receiver.close()
