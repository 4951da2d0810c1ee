"""Someone else writes during apply: verification must catch it, and success must be true.

The tool cannot lock MLflow (there is no locking API), so the guarantee is that an apply
never exits 0 unless the registry matched its desired state when it verified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import Cli, write_state
from tests.support.fault_proxy import FaultProxy
from tests.support.seed import client
from tests.test_faults import FAST_RETRIES, aliases_of, fast_model

RECONCILER = str(Path(sys.executable).parent / "reconciler")
SEARCH = "GET /api/2.0/mlflow/registered-models/search"


def test_out_of_band_move_during_apply_is_named(url: str, tmp_path: Path, name: str) -> None:
    """An alias moved by someone else while apply writes fails verification, naming it."""
    fast_model(url, name, 3, {"champion": 1, "challenger": 2})
    state = str(
        write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: 3, challenger: 2}}\n")
    )
    moved = threading.Event()

    def intruder(method: str, path: str, writes: int) -> None:
        """Before apply's first write reaches the server, someone moves challenger."""
        if method != "GET" and not moved.is_set():
            moved.set()
            client(url).set_registered_model_alias(name, "challenger", "1")

    with FaultProxy(url, hook=intruder) as proxy:
        result = Cli(proxy.url, tmp_path)("apply", "--state", state, "--yes", env=FAST_RETRIES)
    assert moved.is_set()
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: verification failed after apply:")
    assert "challenger" in result.stderr
    assert aliases_of(url, name) == {"champion": 3, "challenger": 1}


def test_two_applies_never_both_claim_a_state_they_did_not_verify(
    url: str, tmp_path: Path, name: str
) -> None:
    """Two applies with opposite desired states, started together: each exit 0 is true."""
    keys = [f"a{i}" for i in range(8)]
    fast_model(url, name, 2, dict.fromkeys(keys, 1))
    wants = {
        "one": {k: 1 + i % 2 for i, k in enumerate(keys)},
        "two": {k: 2 - i % 2 for i, k in enumerate(keys)},
    }
    env = {**os.environ, **FAST_RETRIES, "NO_COLOR": "1"}
    for round_ in range(2):
        proxies, procs = {}, {}
        for who, want in wants.items():
            (tmp_path / f"{who}{round_}").mkdir()
            body = f"models:\n  {name}:\n    aliases: {json.dumps(want)}\n"
            state = write_state(tmp_path / f"{who}{round_}", body)
            proxies[who] = FaultProxy(url, rate=0.3, faults=("slow",), seed=round_).start()
            procs[who] = subprocess.Popen(
                [RECONCILER, "apply", "--yes", "--state", str(state)],
                env={**env, "MLFLOW_TRACKING_URI": proxies[who].url},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        for who, proc in procs.items():
            _, err = proc.communicate(timeout=120)
            proxies[who].stop()
            if proc.returncode == 0:
                # The last registry read this process made is its verification read.
                seen = json.loads(proxies[who].last_body[SEARCH])["registered_models"][0]
                verified = {a["alias"]: int(a["version"]) for a in seen.get("aliases", [])}
                assert verified == wants[who], f"{who} exited 0 but verified {verified}"
            else:
                assert err.startswith("error: "), err
