"""First-hour traps in the state files themselves (issue 32): offline, one located line.

Version numbers are plain decimal integers; a FIFO named ``*.yaml`` is refused without
blocking; a tab in YAML says "tab".
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from click.testing import Result

from tests.test_errors_state import validate, write


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("017", "017 has a leading zero (YAML 1.1 reads it as octal): write 17"),
        ("1:0:0", "'1:0:0' is not a plain decimal integer"),
        ("0x7", "'0x7' is not a plain decimal integer"),
        ("1_0", "'1_0' is not a plain decimal integer"),
        ("9" * 5000, "a 5000-digit number is too large (at most 19 digits)"),
    ],
)
def test_a_version_in_a_yaml_1_1_number_form_is_an_error_at_its_line(
    tmp_path: Path, value: str, expected: str
) -> None:
    """`champion: 017` (and 1:0:0, 0x7, 1_0, 5000 digits) is an error at its line, never
    a silently different version or an unexpected ValueError."""
    write(tmp_path / "state/m.yaml", f"models:\n  m:\n    aliases: {{champion: {value}}}\n")
    result = validate(tmp_path)
    assert result.exit_code == 1
    line = result.stderr.splitlines()[0]
    assert line.startswith("error: state/m.yaml:3: ") and expected in line, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("key", ["017", "1_0", "0x7"])
def test_a_version_key_in_another_number_form_is_an_error_at_its_line(
    tmp_path: Path, key: str
) -> None:
    """`versions: {017: ...}` names no version 17: an error at the key's line."""
    body = f"models:\n  m:\n    versions:\n      {key}: {{tags: {{a: b}}}}\n"
    write(tmp_path / "state/m.yaml", body)
    result = validate(tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: state/m.yaml:4: m.versions: version '{key}': ")


def test_plain_versions_still_validate(tmp_path: Path) -> None:
    """The fix refuses number forms, not numbers: 7, 10 and 0 thresholds are fine."""
    body = (
        "models:\n  m:\n    aliases: {champion: 7, archived: 10}\n"
        "    versions:\n      7: {tags: {a: b}}\n"
        "    gates:\n      champion:\n        - {metric: x, min: 0}\n"
    )
    write(tmp_path / "state/m.yaml", body)
    assert validate(tmp_path).exit_code == 0


def run_with_deadline(cwd: Path, *args: str) -> Result:
    """``validate`` in a thread; if it blocks on the FIFO, a writer opens and closes the
    FIFO so the test ends (and fails) instead of hanging."""
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(validate(cwd, *args)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():
        os.close(os.open(cwd / "state/pipe.yaml", os.O_WRONLY))
        worker.join()
        pytest.fail("validate blocked on a FIFO")
    return results[0]


@pytest.mark.parametrize("target", [(), ("--state", "state/pipe.yaml")])
def test_a_fifo_named_yaml_is_refused_without_blocking(
    tmp_path: Path, target: tuple[str, ...]
) -> None:
    """A FIFO named `*.yaml` (in the directory, or as --state): one located line, exit 1."""
    write(tmp_path / "state/m.yaml", "models:\n  m: {aliases: {champion: 1}}\n")
    os.mkfifo(tmp_path / "state/pipe.yaml")
    result = run_with_deadline(tmp_path, *target)
    assert result.exit_code == 1
    assert "error: state/pipe.yaml: not a regular file (a FIFO, device or socket)" in (
        result.stderr
    )


def test_a_tab_in_yaml_says_tab(tmp_path: Path) -> None:
    """A tab where YAML wants indentation: the message names the tab and the fix."""
    write(tmp_path / "state/m.yaml", "models:\n  m:\n\taliases: {champion: 7}\n")
    result = validate(tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: state/m.yaml:3: invalid YAML: a tab character")
    assert "YAML indents with spaces, never tabs" in result.stderr
