"""The benchmark still runs and counts what it claims (its timings are never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^(\S+)\s+(.+?)\s+([\d.]+)s\s+(\d+)\s+([\d.]+)s\s+(\d+)\s+[\d.]+x\s*(.*)$")


def test_bench_smoke_run_counts_requests() -> None:
    """`bench/run_bench.py` on 5 models: plan reads in 2 requests against the naive 3 per
    model; apply writes each alias once, one audit tag per version gaining an alias, and the
    ownership record once per model (its first apply): 2 writes per change from then on."""
    args = ["--n", "5", "--server", "sqlite-w1", "--sweep", "2", "--no-write"]
    done = subprocess.run(
        [sys.executable, "bench/run_bench.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {m[2]: m for line in done.stdout.splitlines() if (m := ROW.match(line))}
    plan = rows["plan, 5 models (no changes)"]
    assert (plan[4], plan[6]) == ("2", "15")
    gates = rows["plan with gates, 5 models"]
    assert gates[7] == "2 run reads" and int(gates[4]) == 4
    apply = rows["apply 10 alias moves"]
    assert apply[7].startswith("10 alias writes in")
    assert "10 audit-tag writes, 5 ownership records" in apply[7]
    # 25 writes; reads: the plan (2 + 2 run reads) and the verification (2).
    assert apply[4] == "31"
    assert apply[6] == "20"  # MlflowClient: a hidden registered-models/get before each write
    naive_audit = rows["apply 10 alias moves vs naive + same audit tags"]
    assert naive_audit[6] == "50"  # the same 25 writes, each after a hidden get
    sweep = rows["apply 10 alias moves, --concurrency 2"]
    # Records unchanged: 10 alias writes + 10 audit tags + 2 reads of 2 requests.
    assert sweep[4] == "24"


def test_reads_bench_smoke_run_counts_requests() -> None:
    """`bench/reads_bench.py --quick` (20 models, one run): plan reads in 2 requests,
    straight and through the connection-per-request proxy, against the naive 3 per model;
    --help and validate do not import mlflow, plan imports it once."""
    done = subprocess.run(
        [sys.executable, "bench/reads_bench.py", "--quick", "--runs", "1", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [(r[0], r[1], r[3], r[5]) for r in rows] == [
        ("| sqlite-w1", "plan, 20 models", "2", "60"),
        ("| sqlite-w1 via proxy", "plan, 20 models", "2", "60"),
    ]
    imports = done.stdout.splitlines()[-1]
    assert "`reconciler --help`" in imports and "(mlflow imported 0x)" in imports
    assert "`reconciler plan`" in imports and "(mlflow imported 1x)" in imports
