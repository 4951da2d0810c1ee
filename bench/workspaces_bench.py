"""Plan and apply across workspaces: what one more workspace costs (SPEC §14).

Starts a real ``mlflow server`` with workspaces enabled (sqlite, ``--workers 1``),
creates ``team-a`` and ``team-b``, seeds N models in each (the same names in both), and
measures ``plan`` and ``apply`` of N alias moves in each workspace against the same 2N
models in one workspace. Requests are counted by instrumenting ``requests.Session.send``.
Usage: ``.venv/bin/python bench/workspaces_bench.py [N]`` (default 100). Prints a table.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from reconciler import api
from reconciler.core.scopes import split
from tests.support.workspaces import create_workspaces, in_workspace, workspaces_server

COUNT = [0]
_send = requests.Session.send


def _counting(self: requests.Session, request: Any, **kwargs: Any) -> Any:
    COUNT[0] += 1
    return _send(self, request, **kwargs)


requests.Session.send = _counting  # type: ignore[method-assign]


def seed(url: str, workspace: str, names: list[str]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    store = client._get_registry_client().store
    with in_workspace(workspace):
        for name in names:
            store.create_registered_model(name)
            for _ in range(2):
                store.create_model_version(name, source="s3://bench/none")


def state(root: Path, layout: dict[str, list[str]]) -> Path:
    for workspace, names in layout.items():
        body = "".join(f"  {n}:\n    aliases: {{champion: 2}}\n" for n in names)
        folder = root / workspace
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "models.yaml").write_text(
            f"workspace: {workspace}\nmodels:\n{body}", encoding="utf-8"
        )
    return root


def measure(url: str, root: Path) -> list[tuple[str, float, int]]:
    out = []
    desired = api.validate(root)
    registry = api.connect(url)
    for what in ("plan", "apply", "plan after apply"):
        COUNT[0] = 0
        start = time.perf_counter()
        plan = api.make_plan(desired, registry)
        if what == "apply":
            api.apply_plan(plan, registry, desired)
        out.append((what, time.perf_counter() - start, COUNT[0]))
        assert what != "plan after apply" or not plan.changes
    assert len(split(plan)) == len(desired.parts)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = workspaces_server(f"sqlite:///{work / 'mlflow.db'}", work).start()
        try:
            create_workspaces(server.url, "team-a", "team-b", "team-c")
            names = [f"model-{i:04d}" for i in range(n)]
            seed(server.url, "team-a", names)
            seed(server.url, "team-b", names)
            two = [f"model-{i:04d}" for i in range(2 * n)]
            seed(server.url, "team-c", two)
            rows = [
                (f"2 workspaces x {n} models", *m)
                for m in measure(
                    server.url, state(work / "two", {"team-a": names, "team-b": names})
                )
            ]
            rows += [
                (f"1 workspace x {2 * n} models", *m)
                for m in measure(server.url, state(work / "one", {"team-c": two}))
            ]
        finally:
            server.stop()
    print("| layout | step | seconds | requests |\n|---|---|---:|---:|")
    for layout, step, seconds, count in rows:
        print(f"| {layout} | {step} | {seconds:.2f} | {count} |")


if __name__ == "__main__":
    main()
