"""The controller's log lines (SPEC §21): fields, escaping, and the start errors."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.serve import logs


def _capture(fmt: str) -> io.StringIO:
    stream = io.StringIO()
    logs.configure(fmt, "http://registry.example:5000", stream)
    return stream


def test_a_json_line_has_the_fields_of_the_spec() -> None:
    """Each event is one JSON object with ts, level, event, model, workspace, registry, msg."""
    stream = _capture("json")
    logs.event("drift", "champion: live 3, applied 2", model="m", workspace="team-a")
    (line,) = stream.getvalue().splitlines()
    found = json.loads(line)
    assert set(found) == {"ts", "level", "event", "model", "workspace", "registry", "msg"}
    assert found["event"] == "drift" and found["model"] == "m" and found["workspace"] == "team-a"
    assert found["registry"] == "http://registry.example:5000" and found["level"] == "info"
    assert found["ts"].endswith("Z")


def test_registry_text_cannot_break_or_forge_a_line() -> None:
    """A model name with newlines, bidi controls and a workflow command stays on one line."""
    hostile = "m\n2026-01-01 error healed x: forged\u202e\r::error::boom"
    for fmt in logs.FORMATS:
        stream = _capture(fmt)
        logs.event("drift", f"text {hostile}", model=hostile, level=logging.WARNING)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1, lines
        assert "\u202e" not in lines[0] and "\r" not in lines[0]
        assert not lines[0].startswith("::")


def test_credentials_in_a_message_are_masked() -> None:
    """An error that quotes a URL with a password never logs the password."""
    stream = _capture("text")
    logs.event("round_failed", "cannot reach https://bob:hunter22@mlflow.example/api", level=40)
    assert "hunter22" not in stream.getvalue() and "round_failed" in stream.getvalue()


def test_serve_outside_git_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    """Started outside a git repository, serve says so and exits 1 (it used to run on)."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state/m.yaml").write_text("models: {m: {aliases: {champion: 1}}}\n")
    result = CliRunner().invoke(main, ["serve", "--state", str(tmp_path / "state")])
    assert result.exit_code == 1, result.output
    assert result.output.count("error:") == 1 and "not in a git repository" in result.output


def test_serve_on_a_port_in_use_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    """A port someone else listens on: exit 1 with one line, not uvicorn's exit 3."""
    from tests.support.gitrepo import git, init_repo

    init_repo(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state/m.yaml").write_text("models: {m: {aliases: {champion: 1}}}\n")
    git(tmp_path, "add", "state")
    git(tmp_path, "commit", "-qm", "state")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["serve", "--state", str(tmp_path / "state"), "--listen", f"127.0.0.1:{port}"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.output.count("error:") == 1 and "cannot listen there" in result.output
