"""Benchmark: migrate N models from stages to aliases, reconciler vs a naive loop (issue 32).

Usage:  .venv/bin/python bench/stages_bench.py [--n 1000] [--json]

Two fresh sqlite ``mlflow server``s (``--workers 1``), each seeded straight into its SQL
store (tests/support/bulk_seed.py) with N models: v2 in ``Production``, v1 in ``Staging``,
no aliases. One is migrated with the tool, the other with a naive ``MlflowClient`` loop;
every request is counted by a proxy in front of each server.

- reconciler: ``import --stages-as-aliases Production=champion,Staging=challenger`` (one
  state file), ``plan``, ``apply --yes`` (each alias set, the audit tag of each version
  that gains one, the ownership record, the apply log), then a ``plan`` that must be empty.
- naive: page through ``search_registered_models``; per model ``get_latest_versions`` for
  both stages and one ``set_registered_model_alias`` per stage holder. No audit, no
  verification, no record.

10,000 models: ``--n 10000`` (seeding takes seconds; the naive loop ~20 min and the apply
~30 min on a 2-core machine: run it where nothing else runs). Numbers are printed, never
asserted here; tests/test_stages_to_aliases.py checks the behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Cli  # noqa: E402
from tests.support.bulk_seed import bulk_seed  # noqa: E402
from tests.support.fault_proxy import FaultProxy  # noqa: E402
from tests.support.mlflow_server import MlflowServer  # noqa: E402

STAGES = {2: "Production", 1: "Staging"}
MAPPING = "Production=champion,Staging=challenger"


def seeded(work: Path, n: int) -> MlflowServer:
    uri = f"sqlite:///{work / 'mlflow.db'}"
    bulk_seed(uri, [f"staged-{i:05d}" for i in range(n)], aliases={}, stages=STAGES)
    return MlflowServer(uri, work).start()


def step(cli: Cli, proxy: FaultProxy, *args: str, expect: int = 0) -> dict[str, Any]:
    before = sum(proxy.requests.values())
    start = time.perf_counter()
    result = cli(*args)
    seconds = time.perf_counter() - start
    if result.exit_code != expect:
        raise SystemExit(f"{args[0]} exited {result.exit_code}: {result.output[-2000:]}")
    return {"seconds": round(seconds, 2), "requests": sum(proxy.requests.values()) - before}


def ours(work: Path, n: int) -> dict[str, Any]:
    server = seeded(work, n)
    try:
        with FaultProxy(server.url) as proxy:
            cli = Cli(proxy.url, work)
            out = "state/models.yaml"
            row = {
                "import": step(cli, proxy, "import", "--stages-as-aliases", MAPPING, "--out", out),
                "plan": step(
                    cli, proxy, "plan", "--state", "state", "--detailed-exitcode", expect=2
                ),
                "apply": step(cli, proxy, "apply", "--yes", "--state", "state"),
                "plan_after": step(cli, proxy, "plan", "--state", "state"),
            }
            row["by_endpoint"] = dict(Counter(proxy.requests).most_common(8))
    finally:
        server.stop()
    row["total_seconds"] = round(sum(v["seconds"] for k, v in row.items() if k != "by_endpoint"), 2)
    row["total_requests"] = sum(
        v["requests"] for k, v in row.items() if isinstance(v, dict) and "requests" in v
    )
    return row


def naive(work: Path, n: int) -> dict[str, Any]:
    from mlflow import MlflowClient

    server = seeded(work, n)
    try:
        with FaultProxy(server.url) as proxy:
            client = MlflowClient(proxy.url)
            start = time.perf_counter()
            token = None
            while True:
                page = client.search_registered_models(max_results=1000, page_token=token)
                for model in page:
                    for version in client.get_latest_versions(model.name, list(STAGES.values())):
                        alias = (
                            "champion" if version.current_stage == "Production" else "challenger"
                        )
                        client.set_registered_model_alias(model.name, alias, version.version)
                token = page.token
                if not token:
                    break
            seconds = time.perf_counter() - start
            return {
                "seconds": round(seconds, 2),
                "requests": sum(proxy.requests.values()),
                "by_endpoint": dict(Counter(proxy.requests).most_common(8)),
            }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="models to migrate")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ours").mkdir()
        (Path(tmp) / "naive").mkdir()
        row = {"n": args.n, "ours": ours(Path(tmp) / "ours", args.n)}
        row["naive"] = naive(Path(tmp) / "naive", args.n)
    if args.json:
        print(json.dumps(row))
        return 0
    o, v = row["ours"], row["naive"]
    print(f"{args.n} models from stages to aliases ({2 * args.n} aliases)")
    for key in ("import", "plan", "apply", "plan_after"):
        print(f"  reconciler {key:10s} {o[key]['seconds']:8.2f} s {o[key]['requests']:7d} requests")
    print(f"  reconciler total      {o['total_seconds']:8.2f} s {o['total_requests']:7d} requests")
    print(f"  naive loop            {v['seconds']:8.2f} s {v['requests']:7d} requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
