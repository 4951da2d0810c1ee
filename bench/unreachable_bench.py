"""Benchmark: how long apply takes to give up once the registry stops answering (issue 21).

Usage:  .venv/bin/python bench/unreachable_bench.py [--writes 60] [--json]

Starts a local ``mlflow server`` (sqlite), seeds a model whose state moves ``--writes``
aliases, and runs ``reconciler apply --yes`` through a proxy that resets every request
after the third write (a server that died mid-apply). Reports the seconds until apply
exits and the alias write requests it sent. Measured, never asserted here
(tests/test_first_hour.py asserts the request bound).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Cli, write_state  # noqa: E402
from tests.support.fault_proxy import FaultProxy  # noqa: E402
from tests.support.mlflow_server import MlflowServer  # noqa: E402
from tests.test_faults import many_alias_model  # noqa: E402


def measure(writes: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work).start()
        try:
            body = many_alias_model(server.url, "bench-unreachable", writes, 0, 0)
            state = write_state(work, f"models:\n{body}")

            def die(method: str, path: str, count: int) -> None:
                if path.endswith("/alias") and proxy.requests[f"{method} {path}"] >= 3:
                    proxy.rate = 1.0  # after three alias writes (the apply log's come first)

            with FaultProxy(server.url, faults=("reset",), max_streak=None, hook=die) as proxy:
                start = time.monotonic()
                result = Cli(proxy.url, work)("apply", "--state", str(state), "--yes")
                seconds = time.monotonic() - start
            sent = sum(n for key, n in proxy.requests.items() if key.endswith("/alias"))
        finally:
            server.stop()
    return {"writes": writes, "exit": result.exit_code, "seconds": round(seconds, 1), "sent": sent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    found = measure(args.writes)
    if args.json:
        print(json.dumps(found))
    else:
        print(
            f"{found['writes']} pending alias writes, server gone after 3: apply exited "
            f"{found['exit']} after {found['seconds']} s, {found['sent']} alias requests sent"
        )


if __name__ == "__main__":
    main()
