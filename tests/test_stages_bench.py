"""The stages-to-aliases benchmark still runs and stays within its request budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_stages_bench_migrates_in_a_few_requests_per_model() -> None:
    """`bench/stages_bench.py --n 5`: import and plan read in a few batched requests, apply
    writes at most 6 per model plus its log, the plan after is empty (2 requests), and the
    naive loop sets each alias once."""
    done = subprocess.run(
        [sys.executable, "bench/stages_bench.py", "--n", "5", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    ours = row["ours"]
    assert ours["import"]["requests"] <= 4 and ours["plan"]["requests"] <= 4, ours
    assert ours["apply"]["requests"] <= 6 * 5 + 10, ours
    assert ours["plan_after"]["requests"] == 2, ours
    naive = row["naive"]["by_endpoint"]
    assert naive["POST /api/2.0/mlflow/registered-models/alias"] == 2 * 5, naive
