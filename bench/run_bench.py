"""Benchmark: reconciler plan/apply vs a naive MlflowClient loop, side by side in one run.

Usage: .venv/bin/python bench/run_bench.py [--n 300 --n 1000]
Starts a local `mlflow server` (sqlite, --workers 1), seeds N models (2 versions each,
run metrics, 2 aliases), counts HTTP requests by instrumenting requests.Session.send,
prints a table and writes bench/RESULTS.md. Numbers are measured, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
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
_send = requests.Session.send


def _counting_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
    COUNTS[f"{request.method} {request.path_url.split('?')[0]}"] += 1
    return _send(self, request, **kwargs)


requests.Session.send = _counting_send  # type: ignore[method-assign]


def measure(fn: Any) -> tuple[float, int, Any]:
    COUNTS.clear()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, sum(COUNTS.values()), result


def seed(url: str, n: int, prefix: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(url, url)
    exp = c.create_experiment(f"bench-{prefix}")

    def one(i: int) -> str:
        name = f"{prefix}-{i:04d}"
        c.create_registered_model(name)
        for v in (1, 2):
            run = c.create_run(exp)
            c.log_metric(run.info.run_id, "val_rmse", 0.2 / v)
            c.create_model_version(name, source=f"s3://bench/{name}/{v}", run_id=run.info.run_id)
        c.set_registered_model_alias(name, "champion", "1")
        c.set_registered_model_alias(name, "archived", "2")
        return name

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def write_state(path: Path, names: list[str], champion: int, gates: bool) -> Path:
    archived = 3 - champion
    lines = ["models:"]
    for name in names:
        lines += [f"  {name}:", f"    aliases: {{champion: {champion}, archived: {archived}}}"]
        if gates:
            lines += ["    gates:", "      champion:", "        - {metric: val_rmse, max: 1.0}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def naive_read(url: str, names: list[str]) -> dict[str, dict[str, int]]:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(url, url)
    out = {}
    for name in names:
        c.get_registered_model(name)
        out[name] = {
            a: int(c.get_model_version_by_alias(name, a).version) for a in ("champion", "archived")
        }
    return out


def naive_gates(url: str, names: list[str]) -> int:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(url, url)
    for name in names:
        mv = c.get_model_version_by_alias(name, "archived")
        c.get_run(mv.run_id)
    return len(names)


def naive_apply(url: str, names: list[str], champion: int) -> None:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(url, url)
    for name in names:
        c.set_registered_model_alias(name, "champion", str(champion))
        c.set_registered_model_alias(name, "archived", str(3 - champion))


def reconciler_plan(url: str, state: Path) -> Any:
    from reconciler import api

    return api.make_plan(api.validate(state), api.connect(url))


def reconciler_apply(url: str, state: Path) -> Any:
    from reconciler import api

    registry = api.connect(url)
    desired = api.validate(state)
    plan = api.make_plan(desired, registry)
    return api.apply_plan(plan, registry, desired)


def startup() -> tuple[float, float]:
    def median(cmd: list[str]) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    bin_dir = Path(sys.executable).parent
    return median([str(bin_dir / "reconciler"), "--help"]), median(
        [sys.executable, "-c", "import mlflow"]
    )


def run(n: int, url: str, tmp: Path) -> list[tuple[str, float, int, float, int]]:
    names = seed(url, n, f"b{n}")
    rows = []
    state = write_state(tmp / f"plan{n}.yaml", names, 1, gates=False)
    t_r, q_r, plan = measure(lambda: reconciler_plan(url, state))
    assert not plan.changes, "seeded registry should match"
    t_n, q_n, _ = measure(lambda: naive_read(url, names))
    rows.append((f"plan, {n} models (no changes)", t_r, q_r, t_n, q_n))
    gated = write_state(tmp / f"gates{n}.yaml", names, 2, gates=True)
    t_r, q_r, plan = measure(lambda: reconciler_plan(url, gated))
    assert len(plan.gates) == n and plan.applyable
    t_n, q_n, _ = measure(lambda: (naive_read(url, names), naive_gates(url, names)))
    rows.append((f"plan with gates, {n} models", t_r, q_r, t_n, q_n))
    t_r, q_r, outcome = measure(lambda: reconciler_apply(url, gated))
    assert len(outcome.report.applied) == 2 * n
    t_n, q_n, _ = measure(lambda: naive_apply(url, names, 1))
    rows.append((f"apply {2 * n} alias moves (+ audit tags)", t_r, q_r, t_n, q_n))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, action="append")
    args = parser.parse_args()
    sizes = args.n or [300]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        server = MlflowServer(f"sqlite:///{tmp / 'mlflow.db'}", tmp).start()
        try:
            rows = [row for n in sizes for row in run(n, server.url, tmp)]
        finally:
            server.stop()
    help_s, import_s = startup()
    import mlflow

    header = (
        "| measurement | reconciler s | requests | naive s | requests | speed-up |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    table = "\n".join(
        f"| {name} | {t_r:.2f} | {q_r} | {t_n:.2f} | {q_n} | {t_n / t_r:.1f}x |"
        for name, t_r, q_r, t_n, q_n in rows
    )
    machine = (
        f"{platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, mlflow {mlflow.__version__}; server: sqlite, "
        "`--workers 1`, on 127.0.0.1"
    )
    text = (
        f"# Benchmark results\n\nRegenerate: `.venv/bin/python bench/run_bench.py "
        f"{' '.join(f'--n {n}' for n in sizes)}`\n\nMachine: {machine}.\n\n{header}\n{table}\n\n"
        f"Start-up (median of 5): `reconciler --help` {help_s:.2f} s; "
        f"`python -c 'import mlflow'` {import_s:.2f} s.\n\n"
        "Requests are counted by instrumenting `requests.Session.send` in the benchmark "
        "process. The naive plan is `get_registered_model` + `get_model_version_by_alias` "
        "per alias; naive gates add `get_run` per model; naive apply is sequential "
        "`MlflowClient.set_registered_model_alias` (two requests per alias: a hidden "
        "`registered-models/get` plus the write). Reconciler apply includes its read, the "
        "post-apply verification read and 2-3 audit-tag writes per touched version.\n"
    )
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(header)
    print(table)
    print(f"--help {help_s:.2f} s vs import mlflow {import_s:.2f} s")


if __name__ == "__main__":
    main()
