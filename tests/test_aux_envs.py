"""Auxiliary server environments are built from their own pins, never from CI's constraints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import mlflow2

CI_CONSTRAINTS = Path(__file__).resolve().parents[1] / "requirements" / "ci-constraints.txt"


def test_clean_env_drops_constraint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build environment keeps PATH and the rest, but no constraint that pins our venv."""
    monkeypatch.setenv("UV_CONSTRAINT", str(CI_CONSTRAINTS))
    monkeypatch.setenv("PIP_CONSTRAINT", str(CI_CONSTRAINTS))
    env = mlflow2.clean_env()
    assert "UV_CONSTRAINT" not in env and "PIP_CONSTRAINT" not in env
    assert env["PATH"]


@pytest.mark.mlflow2
def test_mlflow2_env_builds_into_empty_cache_under_ci_constraints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CI's constraints exported (SQLAlchemy 2.1), a fresh 2.22 venv still builds and runs."""
    assert "SQLAlchemy==2.1" in CI_CONSTRAINTS.read_text()  # the conflict this guards against
    monkeypatch.setenv("UV_CONSTRAINT", str(CI_CONSTRAINTS))
    monkeypatch.setenv("PIP_CONSTRAINT", str(CI_CONSTRAINTS))
    python = mlflow2.mlflow2_python(cache=tmp_path / "cache")
    assert python.startswith(str(tmp_path))
    script = "import mlflow, sqlalchemy; print(mlflow.__version__, sqlalchemy.__version__)"
    probe = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    mlflow_version, sqlalchemy_version = probe.stdout.split()
    assert mlflow_version == mlflow2.MLFLOW2_VERSION
    assert sqlalchemy_version.startswith("2.0.")
