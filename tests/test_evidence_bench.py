"""The evidence benchmark still runs and stays within its request budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_plan_with_evidence_reads_in_5_requests_plus_one_mlmodel_per_version() -> None:
    """`bench/evidence_bench.py` on 5 moved aliases: 5 batched reads (models, versions,
    experiments, runs, logged models) plus exactly one MLmodel read per version involved,
    and every signature is read and compared."""
    done = subprocess.run(
        [sys.executable, "bench/evidence_bench.py", "--n", "5", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["moved_aliases"] == 5
    assert row["other_requests"] <= 5, row["by_endpoint"]
    assert row["mlmodel_reads"] == row["versions_involved"] == 10
    assert row["signatures"] == {"same": 5} and row["gates_passed"] == 10
