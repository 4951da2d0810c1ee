"""Benchmark: reconciler plan/apply vs a naive MlflowClient loop, side by side in one run.

Usage (the documented command; ~45 min here):
    .venv/bin/python bench/run_bench.py
Quick look:  .venv/bin/python bench/run_bench.py --n 50 --server sqlite-w1 --no-write

For each server configuration in SERVERS (sqlite with ``--workers 1``, sqlite and
PostgreSQL with mlflow's default workers, PostgreSQL behind a 25 ms proxy) it starts a
local ``mlflow server``, seeds N models per size (2 versions each, run metrics, 2
aliases), counts HTTP requests by instrumenting ``requests.Session.send``, prints a
table and writes bench/RESULTS.md.
Numbers are measured, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support.mlflow_server import (  # noqa: E402
    MlflowServer,
    create_pg_database,
    drop_pg_database,
)

# label: (backend, mlflow server --workers (None: its default), added latency per request)
SERVERS: dict[str, tuple[str, int | None, float]] = {
    "sqlite-w1": ("sqlite", 1, 0.0),
    "sqlite": ("sqlite", None, 0.0),
    "postgresql": ("postgresql", None, 0.0),
    # A registry across a network (CI runner -> hosted MLflow): every request pays 25 ms.
    "postgresql+25ms": ("postgresql", None, 0.025),
}
PROXY = """
import sys, time
sys.path.insert(0, sys.argv[3])
from tests.support.fault_proxy import FaultProxy
proxy = FaultProxy(sys.argv[1], rate=1.0, faults=("slow",), slow_seconds=float(sys.argv[2]),
                   max_streak=None).start()
print(proxy.url, flush=True)
time.sleep(1e9)
"""
# RESULTS.md keeps everything from this line on (the hand-written reading of the figures).
MARKER = "<!-- hand-written below: kept when the table above is regenerated -->"
RESULTS_JSON = ROOT / "bench" / "results.json"
ALIAS_PATH = "/api/2.0/mlflow/registered-models/alias"
MODEL_GET_PATH = "/api/2.0/mlflow/registered-models/get"

COUNTS: Counter[str] = Counter()
SPANS: dict[str, list[tuple[float, float]]] = {}
_lock = threading.Lock()
_send = requests.Session.send


def _counting_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
    """Count a request when it starts (one the reconciler left running, such as a slow
    search it stopped waiting for, counts where it was made, not where it ends)."""
    key = f"{request.method} {request.path_url.split('?')[0]}"
    with _lock:
        COUNTS[key] += 1
        spans = SPANS.setdefault(key, [])
    start = time.perf_counter()
    try:
        return _send(self, request, **kwargs)
    finally:
        with _lock:
            spans.append((start, time.perf_counter()))


requests.Session.send = _counting_send  # type: ignore[method-assign]


@dataclass
class Row:
    """One side-by-side measurement."""

    server: str
    name: str
    ours_s: float
    ours_requests: int
    naive_s: float
    naive_requests: int
    note: str = ""
    measured: str = ""

    @property
    def ratio(self) -> float:
        return self.naive_s / self.ours_s


def measure(fn: Callable[[], Any]) -> tuple[float, int, Any]:
    COUNTS.clear()
    SPANS.clear()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, sum(COUNTS.values()), result


def span(method_path: str) -> float:
    """Seconds from the first to the last request to one endpoint in the last measure()."""
    spans = SPANS.get(method_path, [])
    return max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0


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
            c.create_model_version(
                name, f"s3://bench/{name}/{v}", run.info.run_id, await_creation_for=0
            )
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


def naive_apply(
    url: str, names: list[str], champion: int, audit: bool = False, record: bool = False
) -> None:
    """Sequential alias moves. ``audit``: also what SPEC §6.4 asks of apply, the same way
    (MlflowClient): one ``reconciler.applied`` tag per version gaining an alias and, with
    ``record``, the model's ownership record (written when its declared keys change)."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(url, url)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
    moves = {"champion": str(champion), "archived": str(3 - champion)}
    for name in names:
        for alias, version in moves.items():
            c.set_registered_model_alias(name, alias, version)
        if record:
            keys = json.dumps({"aliases": sorted(moves)}, separators=(",", ":"))
            c.set_registered_model_tag(name, "reconciler.managed", keys)
        if audit:
            for alias, version in moves.items():
                body = {"at": stamp, "by": "bench", "commit": "0", "aliases": [alias]}
                c.set_model_version_tag(name, version, "reconciler.applied", json.dumps(body))


def reconciler_plan(url: str, state: Path) -> Any:
    from reconciler import api

    return api.make_plan(api.validate(state), api.connect(url))


def reconciler_apply(url: str, state: Path, concurrency: int) -> Any:
    from reconciler import api

    registry = api.connect(url, concurrency)
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


def timed_apply(url: str, state: Path, concurrency: int, moves: int) -> tuple[float, int, float]:
    """Wall time, requests and alias-write phase time of one reconciler apply."""
    t_r, q_r, outcome = measure(lambda: reconciler_apply(url, state, concurrency))
    assert outcome.report.ok and len(outcome.report.applied) == moves
    return t_r, q_r, span(f"POST {ALIAS_PATH}")


def run(
    server: str,
    n: int,
    url: str,
    tmp: Path,
    concurrency: int,
    levels: list[int],
    backend: str,
    analyze: bool,
) -> list[Row]:
    """All rows for N models; the slow parts (sweep, naive+audit baseline) at N <= 300 only;
    with ``analyze`` (PostgreSQL, the last size) the plan again after ``ANALYZE``."""
    small = n <= 300
    names = seed(url, n, f"b{n}")
    rows = []
    state = write_state(tmp / f"plan{n}.yaml", names, 1, gates=False)
    t_r, q_r, plan = measure(lambda: reconciler_plan(url, state))
    assert not plan.changes, "seeded registry should match"
    note = models_read()
    t_n, q_n, _ = measure(lambda: naive_read(url, names))
    rows.append(Row(server, f"plan, {n} models (no changes)", t_r, q_r, t_n, q_n, note))
    gated = write_state(tmp / f"gates{n}.yaml", names, 2, gates=True)
    t_r, q_r, plan = measure(lambda: reconciler_plan(url, gated))
    assert len(plan.gates) == n and plan.applyable
    run_reads = sum(v for k, v in COUNTS.items() if "runs/search" in k or "experiments" in k)
    note = ", ".join(filter(None, [f"{run_reads} run reads", models_read()]))
    t_n, q_n, _ = measure(lambda: (naive_read(url, names), naive_gates(url, names)))
    rows.append(Row(server, f"plan with gates, {n} models", t_r, q_r, t_n, q_n, note))
    t_r, q_r, alias_s = timed_apply(url, gated, concurrency, 2 * n)
    alias_q = COUNTS[f"POST {ALIAS_PATH}"]
    tag_q = sum(v for k, v in COUNTS.items() if k.endswith("model-versions/set-tag"))
    record_q = sum(v for k, v in COUNTS.items() if k.endswith("registered-models/set-tag"))
    note = (
        f"{alias_q} alias writes in {alias_s:.2f} s, {tag_q} audit-tag writes, "
        f"{record_q} ownership records, {q_r / (2 * n):.2f} requests per change"
    )
    t_n, q_n, _ = measure(lambda: naive_apply(url, names, 1))
    rows.append(Row(server, f"apply {2 * n} alias moves", t_r, q_r, t_n, q_n, note))
    if small:  # 10 sequential requests per model: the slowest row
        t_na, q_na, _ = measure(lambda: naive_apply(url, names, 2, audit=True, record=True))
        name = f"apply {2 * n} alias moves vs naive + same audit tags"
        rows.append(Row(server, name, t_r, q_r, t_na, q_na))
    rows.append(
        Row(
            server,
            f"alias writes only, {2 * n} moves",
            alias_s,
            alias_q,
            t_n,
            q_n,
            "(ours: the write phase)",
        )
    )
    if small and levels:
        rows += sweep(server, names, url, tmp, levels)
    if analyze:
        rows.append(analyzed(server, backend, url, state, rows[0]))
    return rows


def models_read() -> str:
    """How the last measured read got the registered models (the reconciler picks the
    faster of search and per-model gets from the first page's timing)."""
    gets = COUNTS[f"GET {MODEL_GET_PATH}"]
    return f"models one by one: {gets} gets (search slow)" if gets else ""


def analyzed(server: str, backend: str, url: str, state: Path, naive: Row) -> Row:
    """The plan again once PostgreSQL has planner statistics (``ANALYZE``, what autovacuum
    does on a default PostgreSQL; the test database runs without it), against the naive
    loop measured above on the same server."""
    import psycopg

    dsn = backend.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    t_r, q_r, _ = measure(lambda: reconciler_plan(url, state))  # the same read, whatever it finds
    n = naive.name.split()[1]
    name = f"plan, {n} models, database analyzed"
    note = models_read() or "naive: the plan row above"
    return Row(server, name, t_r, q_r, naive.naive_s, naive.naive_requests, note)


@contextmanager
def started(label: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """The URL of a fresh server for ``label`` (sqlite file or a new PostgreSQL database)
    and its backend store URI."""
    kind, workers, latency = SERVERS[label]
    backend = f"sqlite:///{tmp / 'mlflow.db'}" if kind == "sqlite" else create_pg_database("bench")
    server = MlflowServer(backend, tmp, workers=workers).start()
    proxy = None
    try:
        if latency:
            # Its own process, so the proxy's threads do not share the client's GIL.
            cmd = [sys.executable, "-c", PROXY, server.url, str(latency), str(ROOT)]
            proxy = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            assert proxy.stdout is not None
            yield proxy.stdout.readline().strip(), backend
        else:
            yield server.url, backend
    finally:
        if proxy is not None:
            proxy.kill()
            proxy.wait()
        server.stop()
        if kind == "postgresql":
            drop_pg_database(backend)


def sweep(label: str, names: list[str], url: str, tmp: Path, levels: list[int]) -> list[Row]:
    """The same 2N alias moves at each --concurrency level, against the naive loop."""
    t_n, q_n, _ = measure(lambda: naive_apply(url, names, 1))
    rows = []
    for i, level in enumerate(levels):
        state = write_state(tmp / f"sweep{level}.yaml", names, 2 - i % 2, gates=False)
        t_r, q_r, alias_s = timed_apply(url, state, level, 2 * len(names))
        name = f"apply {2 * len(names)} alias moves, --concurrency {level}"
        note = f"alias writes {alias_s:.2f} s, {q_r / (2 * len(names)):.2f} requests per change"
        rows.append(Row(label, name, t_r, q_r, t_n, q_n, note))
    return rows


def merge(rows: list[Row]) -> list[Row]:
    """This run's rows over those kept in results.json (same server and measurement)."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fresh = [dataclasses.replace(r, measured=r.measured or when) for r in rows]
    old = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else []
    done = {(r.server, r.name) for r in fresh}
    kept = [Row(**r) for r in old if (r["server"], r["name"]) not in done]
    order = list(SERVERS)
    merged = sorted(kept + fresh, key=lambda r: order.index(r.server))  # stable within one
    RESULTS_JSON.write_text(json.dumps([dataclasses.asdict(r) for r in merged], indent=1) + "\n")
    return merged


def render(rows: list[Row], args: argparse.Namespace, help_s: float, import_s: float) -> str:
    import mlflow

    header = (
        "| server | measurement | reconciler s | requests | naive s | requests | speed-up "
        "| notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---|"
    )
    newest = {r.server: max(x.measured for x in rows if x.server == r.server) for r in rows}

    def note(r: Row) -> str:
        older = "" if r.measured == newest[r.server] else f"measured {r.measured}"
        return "; ".join(filter(None, [r.note, older]))

    table = "\n".join(
        f"| {r.server} | {r.name} | {r.ours_s:.2f} | {r.ours_requests} | {r.naive_s:.2f} "
        f"| {r.naive_requests} | {r.ratio:.1f}x | {note(r)} |"
        for r in rows
    )
    runs: dict[str, list[str]] = {}
    for r in rows:  # a server's rows may come from several runs (--server, --n)
        if r.measured not in runs.setdefault(r.server, []):
            runs[r.server].append(r.measured)
    when = "; ".join(f"{server} {' and '.join(at)}" for server, at in runs.items())
    machine = (
        f"{platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, mlflow {mlflow.__version__}; servers on 127.0.0.1 "
        "(sqlite-w1 = sqlite `--workers 1`; sqlite / postgresql = mlflow's default "
        "workers; postgresql+25ms = the same behind a loopback proxy that delays every "
        "request by 25 ms, a registry across a network); reconciler apply "
        f"`--concurrency {args.concurrency}` unless the row says otherwise"
    )
    return (
        "# Benchmark results\n\nRegenerate: `.venv/bin/python bench/run_bench.py` (all "
        "servers, N = 300 and 1000; `--server X` re-measures one server and keeps the other "
        f"rows, which live in bench/results.json). Measured: {when}.\n\n"
        f"Machine: {machine}.\n\n{header}\n{table}\n\n"
        f"Start-up (median of 5): `reconciler --help` {help_s:.2f} s; "
        f"`python -c 'import mlflow'` {import_s:.2f} s.\n\n"
        "Requests are counted by instrumenting `requests.Session.send` in the benchmark "
        "process. The naive plan is `get_registered_model` + `get_model_version_by_alias` "
        "per alias; naive gates add `get_run` per model; naive apply is sequential "
        "`MlflowClient.set_registered_model_alias` (two requests per alias: a hidden "
        "`registered-models/get` plus the write); 'naive + same audit tags' also writes, "
        "the same way, what SPEC §6.4 asks of apply: one `reconciler.applied` tag per version "
        "gaining an alias and the model's `reconciler.managed` ownership record. Reconciler "
        "apply includes its read, the post-apply verification read, one audit tag per "
        "version gaining an alias and the ownership record where the declared keys change "
        "(the first apply of each model; the sweep's applies write none); 'alias writes only' "
        "times its write phase alone "
        "(first to last alias request).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="models per size (300, 1000)")
    parser.add_argument("--server", action="append", choices=sorted(SERVERS))
    parser.add_argument("--concurrency", type=int, default=8, help="reconciler apply threads")
    parser.add_argument(
        "--sweep", default="1,2,4,8,16", help="apply --concurrency levels to try (N <= 300)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    import mlflow  # noqa: F401  (it configures its logger on import; quiet it afterwards)

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # per-version "waiting" lines
    rows: list[Row] = []
    sizes = args.n or [300, 1000]
    levels = [int(x) for x in args.sweep.split(",") if x]
    for label in args.server or list(SERVERS):
        with (
            tempfile.TemporaryDirectory() as tmpdir,
            started(label, Path(tmpdir)) as (
                url,
                backend,
            ),
        ):
            for n in sizes:
                analyze = backend.startswith("postgresql") and n == sizes[-1]
                new = run(label, n, url, Path(tmpdir), args.concurrency, levels, backend, analyze)
                for r in new:
                    print(
                        f"{r.server:15} {r.name:52} {r.ours_s:7.2f}s {r.ours_requests:6} "
                        f"{r.naive_s:7.2f}s {r.naive_requests:6} {r.ratio:6.1f}x {r.note}",
                        flush=True,
                    )
                rows += new
    help_s, import_s = startup()
    print(f"--help {help_s:.2f} s vs import mlflow {import_s:.2f} s")
    if not args.no_write:
        text = render(merge(rows), args, help_s, import_s)
        path = ROOT / "bench" / "RESULTS.md"
        old = path.read_text() if path.exists() else ""
        keep = old[old.index(MARKER) :] if MARKER in old else f"{MARKER}\n"
        path.write_text(text + "\n" + keep)


if __name__ == "__main__":
    main()
