"""First-hour traps around the commands (issue 32): each says what happened, in one line.

Against the session's real sqlite ``mlflow server`` where a registry is involved; real git
repositories for ``history``.
"""

from __future__ import annotations

import sys
import threading
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.state.history import alias_history
from tests.conftest import Cli, write_state
from tests.support.gitrepo import git, init_repo
from tests.support.seed import seed_model
from tests.test_authoring import offline


def test_promote_in_a_state_file_suggests_import_not_a_path_under_the_file(
    tmp_path: Path,
) -> None:
    """`--state nover.yaml promote nosuchmodel 1`: the hint never names
    `nover.yaml/nosuchmodel.yaml` (a path under a file)."""
    write_state(tmp_path, "models:\n  m: {aliases: {champion: 1}}\n", "nover.yaml")
    result = offline(tmp_path, "promote", "nosuchmodel", "1", "--state", "state/nover.yaml")
    assert result.exit_code == 1
    assert "nover.yaml/" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: model 'nosuchmodel' is not declared in state/nover.yaml: pass --state if it is "
        "declared elsewhere, or declare it with `reconciler import --model nosuchmodel` (it "
        "prints the YAML to add to state/nover.yaml)"
    ]


def test_promote_check_checks_even_when_the_version_already_holds_the_alias(
    cli_sqlite: Cli, name: str
) -> None:
    """`promote M 3 --check` where 3 already holds champion in the file: the registry is
    still asked (v3 does not exist: an error), and a READY one is said to be checked."""
    seed_model(cli_sqlite.url, name, [{}, {}])
    write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champion: 3}}\n")
    missing = cli_sqlite("promote", name, "3", "--check")
    assert missing.exit_code == 1 and "has no version 3" in missing.stderr
    write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n")
    held = cli_sqlite("promote", name, "2", "--check")
    assert held.exit_code == 0, held.output
    assert "already holds 'champion' (checked: it exists and is READY)" in held.stdout


def test_reapplying_a_saved_plan_says_it_was_already_applied(cli_sqlite: Cli, name: str) -> None:
    """Applying the same saved plan twice: the second says the plan was already applied
    (not that the registry changed "since it was made"), and writes nothing."""
    seed_model(cli_sqlite.url, name, [{}, {}], {"champion": 1})
    state = write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n")
    assert cli_sqlite("plan", "--state", str(state), "--out", "p.json").exit_code == 0
    assert cli_sqlite("apply", "--yes", "p.json").exit_code == 0
    again = cli_sqlite("apply", "--yes", "p.json")
    assert again.exit_code == 1
    assert "this saved plan was already applied" in again.stderr, again.stderr
    assert "since it was made" not in again.stderr


def test_a_copy_value_error_names_from_not_from_(tmp_path: Path) -> None:
    """`{source: a, version: 1}`: the valid keys are `from, version` (what users write)."""
    write_state(tmp_path, "models:\n  m:\n    aliases: {champion: {source: a, version: 1}}\n")
    result = offline(tmp_path, "validate")
    assert result.exit_code == 1
    assert "(valid here: from, version, registry)" in result.stderr
    assert "from_" not in result.stderr


class NotMlflow(BaseHTTPRequestHandler):
    """Answers every request 404 with an HTML page, like a web server at the wrong path."""

    def do_GET(self) -> None:
        body = b"<!DOCTYPE HTML><title>404 Not Found</title>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


def test_a_404_that_is_not_mlflow_is_one_error_without_a_stray_warning(tmp_path: Path) -> None:
    """Plan against `http://host/mlflow` answered 404: one error line, no "read one by one"
    warning before it, and no model read one by one."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotMlflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        write_state(tmp_path, "models:\n  m: {aliases: {champion: 1}}\n")
        url = f"http://127.0.0.1:{server.server_address[1]}/mlflow"
        result = Cli(url, tmp_path)("plan")
    finally:
        server.shutdown()
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "registered-models/search" in lines[0] and "404" in lines[0]


def test_history_reads_old_commits_in_bounded_memory(tmp_path: Path) -> None:
    """A commit holding an 8 MB state file (larger than validate accepts) is never read into
    memory: history of the other file finds its moves with a peak under 2 MB."""
    init_repo(tmp_path)
    write_state(tmp_path, "models:\n  churn:\n    aliases: {champion: 1}\n")
    write_state(tmp_path, "# " + "x" * (8 << 20) + "\n", "huge.yaml")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "Add churn and a huge file")
    write_state(tmp_path, "models:\n  churn:\n    aliases: {champion: 2}\n")
    (tmp_path / "state/huge.yaml").unlink()
    git(tmp_path, "commit", "-qam", "Promote churn 2, drop the huge file")
    tracemalloc.start()
    try:
        moves = alias_history(tmp_path / "state", "churn", "champion")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [m.version for m in moves] == [1, 2]
    assert peak < 2 << 20, peak


@pytest.mark.parametrize(
    ("args", "blocked"),
    [
        (("predict", "m", "--input", "in.csv", "--output", "out.csv"), "pandas"),
        (("demo",), "lightgbm"),
    ],
)
def test_a_command_without_its_extra_names_the_install_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], blocked: str
) -> None:
    """Without the [local] extra (its module made unimportable), predict and demo say which
    extra to install in one line, exit 1, and make nothing (no demo folder)."""
    monkeypatch.setitem(sys.modules, blocked, None)  # find_spec: not installed
    (tmp_path / "in.csv").write_text("a\n1\n", encoding="utf-8")
    result = offline(tmp_path, *args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: `reconciler {args[0]}` needs the [local] extra ({blocked} not installed): "
        "pip install 'registry-reconciler[local]'"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_copy_values_still_validate(tmp_path: Path) -> None:
    """The aliased key names change only the message: `{from: a, version: 1}` is valid."""
    write_state(tmp_path, "models:\n  m:\n    aliases: {champion: {from: a, version: 1}}\n")
    assert offline(tmp_path, "validate").exit_code == 0
