"""A virtualenv with an MLflow 2.22 server in it, built by the tests themselves.

The test matrix runs the CLI (with its own MLflow 3 client) against an MLflow 2.22.4
server, which cannot share the test environment. The virtualenv is built with ``uv`` from
``requirements/mlflow-2.22.4.txt`` (``mlflow==2.22.4`` needs ``sqlalchemy<2.1``;
``flask-wtf`` is its ``auth`` extra), once per machine: it lives under
``~/.cache/registry-reconciler`` (``RECONCILER_TEST_CACHE`` overrides) and is rebuilt when
it is missing, broken, or was built from other pins. Building it from an empty uv cache
took 9.5 s here (a local package mirror; expect more over a real network).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

MLFLOW2_VERSION = "2.22.4"
PINS = Path(__file__).resolve().parents[2] / "requirements" / f"mlflow-{MLFLOW2_VERSION}.txt"
CACHE = Path(
    os.environ.get("RECONCILER_TEST_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "registry-reconciler"
)


def _uv() -> list[str]:
    """``uv`` from the test environment (a dev dependency), else from PATH."""
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is needed to build the MLflow 2 server environment")
    return [found]


def _stamp() -> str:
    """What the virtualenv was built from: the pins and the base interpreter."""
    digest = hashlib.sha256(PINS.read_bytes())
    digest.update(sys.base_prefix.encode())
    return digest.hexdigest()


def _works(venv: Path) -> bool:
    python = venv / "bin" / "python"
    stamp = venv / ".built-from"
    if not python.exists() or not stamp.exists() or stamp.read_text() != _stamp():
        return False
    probe = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('mlflow'))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return probe.returncode == 0 and probe.stdout.strip() == MLFLOW2_VERSION


def mlflow2_python(cache: Path = CACHE) -> str:
    """The interpreter of the MLflow 2.22 virtualenv, building it first when needed."""
    venv = cache / f"mlflow-{MLFLOW2_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"mlflow-{MLFLOW2_VERSION}.lock", "w") as lock:  # one builder at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _works(venv):
            shutil.rmtree(venv, ignore_errors=True)
            base = Path(sys.base_prefix) / "bin" / "python3"
            python = str(base if base.exists() else sys.executable)
            _run([*_uv(), "venv", "--quiet", "--python", python, str(venv)])
            _run([*_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                  "-r", str(PINS)])  # fmt: skip
            (venv / ".built-from").write_text(_stamp())  # last: a half-built venv has none
            if not _works(venv):
                raise RuntimeError(f"the MLflow {MLFLOW2_VERSION} environment at {venv} is broken")
    return str(venv / "bin" / "python")


# Variables that would bend the server environment's resolution towards our own venv's pins
# (.ci/run exports the constraints for the package under test, SQLAlchemy 2.1 among them,
# which MLflow 2.22 cannot use). The server environment is built from its own pins only.
FOREIGN_PINS = (
    "UV_CONSTRAINT",
    "PIP_CONSTRAINT",
    "UV_OVERRIDE",
    "UV_BUILD_CONSTRAINT",
    "PIP_REQUIREMENT",
    "UV_REQUIRE_HASHES",
    "VIRTUAL_ENV",
)


def clean_env() -> dict[str, str]:
    """The environment for building an auxiliary server venv: ours less the foreign pins."""
    return {key: value for key, value in os.environ.items() if key not in FOREIGN_PINS}


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=clean_env())
    if done.returncode != 0:
        raise RuntimeError(
            f"building the MLflow {MLFLOW2_VERSION} server environment failed: "
            f"{' '.join(command)}\n{done.stderr[-3000:]}"
        )
