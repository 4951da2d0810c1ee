"""Benchmark: requests of a plan with evidence for N moved aliases (issue #15).

Usage:  .venv/bin/python bench/evidence_bench.py [--n 100] [--json]

Starts a local ``mlflow server`` (sqlite, --workers 1), registers N models with two
versions each (MLflow 3 logged models holding an MLmodel with a signature, run
metrics and params), puts ``champion`` on v1, declares ``champion: 2`` with a metric
gate and a signature gate, and counts the HTTP requests of one ``plan`` with evidence,
by endpoint. Target: at most 5 requests plus one MLmodel read per version involved.
Numbers are measured, never asserted here (tests/test_evidence_bench.py asserts counts).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support.mlflow_server import MlflowServer  # noqa: E402

COUNTS: Counter[str] = Counter()
_lock = threading.Lock()
_send = requests.Session.send
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"


def _counting_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
    path = request.path_url.split("?")[0]
    path = f"{ARTIFACTS}.../MLmodel" if path.startswith(ARTIFACTS) else path
    with _lock:
        COUNTS[f"{request.method} {path}"] += 1
    return _send(self, request, **kwargs)


requests.Session.send = _counting_send  # type: ignore[method-assign]


def seed(url: str, n: int) -> list[str]:
    """N models x 2 versions with signatures; champion on v1. Returns the model names."""
    from tests.support.models import register_mlmodel
    from tests.support.seed import client

    c = client(url)
    exp = c.create_experiment(f"evidence-bench-{time.time_ns()}")

    def one(i: int) -> str:
        name = f"ev-bench-{i:04d}"
        c.create_registered_model(name)
        for auc in (0.80, 0.85):  # versions 1 and 2
            register_mlmodel(url, name, exp, {"age": "long", "income": "double"}, {"auc": auc})
        c.set_registered_model_alias(name, "champion", "1")
        return name

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


STATE = """\
  {name}:
    aliases: {{champion: 2}}
    gates:
      champion:
        - {{metric: auc, better_than: current, direction: higher}}
        - {{signature: compatible}}
"""


def measure(url: str, names: list[str], folder: Path) -> dict[str, Any]:
    """Count the requests of one plan with evidence (a fresh registry: no warm cache)."""
    from reconciler import api
    from reconciler.render.markdown import render_markdown

    state = folder / "state.yaml"
    state.write_text("models:\n" + "".join(STATE.format(name=n) for n in names))
    desired = api.validate(state)
    registry = api.connect(url)
    COUNTS.clear()
    start = time.perf_counter()
    plan = api.make_plan(desired, registry, with_evidence=True)
    seconds = time.perf_counter() - start
    counts = dict(COUNTS)
    mlmodel = sum(v for k, v in counts.items() if k.startswith("GET " + ARTIFACTS))
    return {
        "moved_aliases": len(plan.evidence),
        "versions_involved": 2 * len(names),
        "requests": sum(counts.values()),
        "mlmodel_reads": mlmodel,
        "other_requests": sum(counts.values()) - mlmodel,
        "by_endpoint": counts,
        "seconds": round(seconds, 2),
        "gates_passed": sum(g.passed for g in plan.gates),
        "signatures": dict(Counter(e.signature.status for e in plan.evidence)),
        "first_failure": next((g.reason for g in plan.gates if not g.passed), ""),
        "markdown_chars": len(render_markdown(plan)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="models (= moved aliases)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work / "server").start()
        try:
            names = seed(server.url, args.n)
            row = measure(server.url, names, work)
        finally:
            server.stop()
    if args.json:
        print(json.dumps(row))
        return 0
    print(f"plan with evidence, {row['moved_aliases']} moved aliases, {row['seconds']} s")
    print(
        f"  {row['requests']} requests = {row['other_requests']} reads + "
        f"{row['mlmodel_reads']} MLmodel reads ({row['versions_involved']} versions involved)"
    )
    for key, count in sorted(row["by_endpoint"].items()):
        print(f"  {count:5d}  {key}")
    print(f"  markdown plan: {row['markdown_chars']:,} characters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
