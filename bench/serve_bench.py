"""Benchmark of ``reconciler serve``: detection latency, requests per resync, memory.

Usage:
    .venv/bin/python bench/serve_bench.py --models 1000 --trials 5
    .venv/bin/python bench/serve_bench.py --soak 600 --models 300    # memory over 10 min

It starts a local ``mlflow server`` (sqlite, webhooks enabled as SPEC §16 says), seeds
N models (one version, ``champion`` -> 1), declares them in a git repository, and runs
``reconciler serve`` behind a counting loopback proxy. Measured, never asserted:
- requests one full resync of N models costs (proxy counts over several rounds);
- detection latency: from an alias moved by hand to ``drift`` on /api/status, with a
  resync interval only and with the webhook (``--register-webhook``);
- ``--soak S``: the controller's resident memory (VmRSS) every 30 s over S seconds of
  resyncs at 1 s.
Results are printed as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fault_proxy import FaultProxy  # noqa: E402
from tests.support.gitrepo import git, init_repo  # noqa: E402
from tests.support.mlflow_server import MlflowServer  # noqa: E402
from tests.support.seed import client  # noqa: E402
from tests.support.serve import WEBHOOK_ENV, Served, wait_until  # noqa: E402


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def seed(url: str, n: int) -> list[str]:
    c = client(url)
    exp = c.create_experiment("bench")
    run = c.create_run(exp)
    names = [f"bench-{i:04d}" for i in range(n)]

    def one(name: str) -> None:
        c.create_registered_model(name)
        c.create_model_version(name, source=f"{run.info.artifact_uri}/m", run_id=run.info.run_id)
        c.create_model_version(name, source=f"{run.info.artifact_uri}/m", run_id=run.info.run_id)
        c.set_registered_model_alias(name, "champion", "1")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, names))
    return names


def declare(repo: Path, names: list[str]) -> None:
    repo.mkdir()
    init_repo(repo)
    (repo / "state").mkdir()
    lines = ["models:"] + [f"  {n}:\n    aliases: {{champion: 1}}" for n in names]
    (repo / "state/models.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    git(repo, "add", "state")
    git(repo, "commit", "-qm", "declare")


def rounds(served: Served, kind: str = "resync") -> float:
    return served.metric("reconciler_resyncs_total", kind=kind, result="ok")


def requests_per_resync(served: Served, proxy: FaultProxy, n_rounds: int = 5) -> dict[str, Any]:
    start = rounds(served)
    wait_until(lambda: rounds(served) > start, 120)
    before, first = sum(proxy.requests.values()), rounds(served)
    began = time.monotonic()
    wait_until(lambda: rounds(served) >= first + n_rounds, 600)
    took = time.monotonic() - began
    done = rounds(served) - first
    used = sum(proxy.requests.values()) - before
    # each metrics/status poll is local; the proxy sees only registry requests
    return {
        "requests_per_resync": used / done,
        "seconds_per_round": took / done,
        "by_path": {k: v for k, v in proxy.requests.most_common(6)},
    }


def latency(served: Served, url: str, names: list[str], trials: int) -> list[float]:
    c = client(url)
    found = []
    for name in random.sample(names, trials):
        time.sleep(random.uniform(0.5, 2.0))
        c.set_registered_model_alias(name, "champion", "2")
        moved = time.monotonic()
        wait_until(lambda name=name: served.state_of(name) == "drift", 300, 0.02)
        found.append(round(time.monotonic() - moved, 3))
        c.set_registered_model_alias(name, "champion", "1")
        wait_until(lambda name=name: served.state_of(name) == "synced", 300, 0.05)
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of resyncs at 1 s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        work = Path(tmp)
        server = MlflowServer(f"sqlite:///{work / 'mlflow.db'}", work / "srv", env=WEBHOOK_ENV)
        server.start()
        try:
            t0 = time.monotonic()
            names = seed(server.url, args.models)
            say(step="seeded", models=args.models, seconds=round(time.monotonic() - t0, 1))
            declare(work / "repo", names)
            with FaultProxy(server.url) as proxy:
                if args.soak:
                    soak(proxy, work, args.soak)
                    return
                served = Served(
                    proxy.url, work / "repo", "--state", "state", "--interval", str(args.interval)
                )
                with served.wait_ready(300):
                    say(
                        step="resync",
                        models=args.models,
                        interval=args.interval,
                        **requests_per_resync(served, proxy, 3),
                    )
                    found = latency(served, server.url, names, args.trials)
                    say(
                        step="latency_resync_only",
                        interval=args.interval,
                        seconds=found,
                        mean=round(sum(found) / len(found), 3),
                    )
                    served.terminate()
                served = Served(
                    proxy.url,
                    work / "repo",
                    "--state",
                    "state",
                    "--interval",
                    str(args.interval),
                    "--register-webhook",
                    "{url}/webhook",
                )
                with served.wait_ready(300):
                    time.sleep(2)  # MLFLOW_WEBHOOK_CACHE_TTL
                    found = latency(served, server.url, names, args.trials)
                    say(
                        step="latency_webhook",
                        interval=args.interval,
                        seconds=found,
                        mean=round(sum(found) / len(found), 3),
                    )
                    served.terminate()
        finally:
            server.stop()


def soak(proxy: FaultProxy, work: Path, seconds: float) -> None:
    served = Served(proxy.url, work / "repo", "--state", "state", "--interval", "1")
    with served.wait_ready(300):
        began = time.monotonic()
        while True:
            elapsed = time.monotonic() - began
            say(
                step="soak",
                seconds=round(elapsed),
                rss_kib=rss_kib(served.proc.pid),
                rounds=rounds(served),
            )
            if elapsed >= seconds:
                break
            time.sleep(min(30.0, seconds - elapsed))
        served.terminate()


if __name__ == "__main__":
    main()
