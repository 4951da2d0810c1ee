"""The codebase stays ruff- and mypy-clean (the team's standard, enforced in CI), and CI
runs what the README tells a newcomer to run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint_and_format_are_clean() -> None:
    """ruff check and ruff format --check report nothing."""
    lint = run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = run(str(BIN / "ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_mypy_strict_is_clean() -> None:
    """mypy (strict, per pyproject.toml) finds no type errors in the package."""
    done = run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout[-3000:]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """.ci/run's install-and-test line is the README's Quickstart test command, character for
    character (what a newcomer runs is what CI runs)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quickstart.splitlines() if line.startswith("python3 ")]
    tests = [line for line in commands if line.endswith("pytest")]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().splitlines()
    assert len(tests) == 1 and ci[-1] == tests[0]
