"""The authoring commands through the CLI: promote, rollback, import, status, history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import Cli, write_state
from tests.support.gitrepo import git, init_repo
from tests.support.seed import client, seed_model

STATE = """\
# yaml-language-server: $schema=../schema/state.schema.json
# Churn model: promote with `reconciler promote`.
version: 1
models:
  churn:
    aliases:
      champion: 2   # serving since Monday
      archived: 1

    description: 'Churn model'
    tags: {team: growth}
  "quoted model":
    aliases: {champion: 1}
"""


def offline(cwd: Path, *args: str) -> Result:
    """Run the CLI in ``cwd`` with no registry configured at all."""
    from reconciler.cli import main

    old = Path.cwd()
    os.chdir(cwd)
    try:
        env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "NO_COLOR": "1"}
        return CliRunner().invoke(main, list(args), env=env)
    finally:
        os.chdir(old)


def test_promote_moves_alias_and_archives_previous_holder_in_two_lines(tmp_path: Path) -> None:
    """promote rewrites only the two alias values; comments, quoting and blank lines stay."""
    write_state(tmp_path, STATE)
    result = offline(tmp_path, "promote", "churn", "3")
    assert result.exit_code == 0, result.output
    assert "champion: 2 -> 3, archived: 1 -> 2" in result.stdout
    after = (tmp_path / "state/models.yaml").read_text(encoding="utf-8")
    assert after == STATE.replace("champion: 2   #", "champion: 3   #").replace(
        "archived: 1", "archived: 2"
    )


def test_promote_inserts_archive_alias_in_flow_mapping(tmp_path: Path) -> None:
    """A flow mapping without ``archived`` gets ``, archived: N`` on the same line."""
    write_state(tmp_path, STATE)
    assert offline(tmp_path, "promote", "quoted model", "2").exit_code == 0
    text = (tmp_path / "state/models.yaml").read_text(encoding="utf-8")
    assert '  "quoted model":\n    aliases: {champion: 2, archived: 1}\n' in text


def test_promote_is_a_no_op_when_version_already_holds_alias(tmp_path: Path) -> None:
    """Promoting the current champion changes nothing and says so."""
    write_state(tmp_path, STATE)
    result = offline(tmp_path, "promote", "churn", "2")
    assert result.exit_code == 0 and "already holds 'champion'" in result.stdout
    assert (tmp_path / "state/models.yaml").read_text(encoding="utf-8") == STATE


def test_promote_unknown_model_fails_and_leaves_file_untouched(tmp_path: Path) -> None:
    """An undeclared model is one error line, exit 1, no edit."""
    write_state(tmp_path, STATE)
    result = offline(tmp_path, "promote", "nope", "3")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model 'nope' is not declared")
    assert (tmp_path / "state/models.yaml").read_text(encoding="utf-8") == STATE


def test_rollback_swaps_alias_and_archive_alias(tmp_path: Path) -> None:
    """rollback swaps champion and archived in place."""
    write_state(tmp_path, STATE)
    result = offline(tmp_path, "rollback", "churn")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "state/models.yaml").read_text(encoding="utf-8")
    assert "      champion: 1   # serving since Monday\n      archived: 2\n" in text


def test_rollback_without_archive_alias_is_an_error(tmp_path: Path) -> None:
    """No archive alias: exit 1 naming the file, file untouched."""
    write_state(tmp_path, STATE)
    result = offline(tmp_path, "rollback", "quoted model")
    assert result.exit_code == 1
    assert "error: state/models.yaml:" in result.stderr and "no 'archived' alias" in result.stderr
    assert (tmp_path / "state/models.yaml").read_text(encoding="utf-8") == STATE


def test_promote_and_rollback_do_not_import_mlflow(tmp_path: Path) -> None:
    """The offline authoring commands never pay for (or need) the mlflow import."""
    write_state(tmp_path, STATE)
    code = (
        "import sys; from reconciler.cli import main\n"
        "for args in (['promote', 'churn', '3'], ['rollback', 'churn'],\n"
        "             ['history', 'churn']):\n"
        "    try: main(args)\n"
        "    except SystemExit: pass\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_promote_check_refuses_a_missing_version(cli_sqlite: Cli, name: str) -> None:
    """--check asks the registry: a version that does not exist is an error, file untouched."""
    seed_model(cli_sqlite.url, name, [{}, {}])
    text = f"models:\n  {json.dumps(name)}:\n    aliases: {{champion: 1}}\n"
    write_state(cli_sqlite.cwd, text)
    bad = cli_sqlite("promote", name, "5", "--check")
    assert bad.exit_code == 1 and "has no version 5" in bad.stderr
    assert (cli_sqlite.cwd / "state/models.yaml").read_text(encoding="utf-8") == text
    good = cli_sqlite("promote", name, "2", "--check")
    assert good.exit_code == 0, good.output


def seed_rich(url: str, name: str) -> None:
    """A model with aliases, tags, a description, version metadata and a stage."""
    seed_model(url, name, [{"auc": 0.8}, {"auc": 0.9}, {}], {"champion": 2, "archived": 1})
    c = client(url)
    c.update_registered_model(name, "line one: with colon\nline two")
    c.set_registered_model_tag(name, "team", "growth")
    c.set_registered_model_tag(name, "01", "true")
    c.set_registered_model_tag(name, "reconciler.applied", "x")
    c.set_model_version_tag(name, "2", "validation_status", "approved")
    c.update_model_version(name, "1", "# not a comment")
    c.transition_model_version_stage(name, "2", "Production")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_import_round_trip_plan_shows_no_changes(cli: Cli, name: str) -> None:
    """import writes state from the registry; plan right after reports no changes."""
    names = [name, f"{name} with: colon?", f"- {name}", "true-" + name[2:], f"#{name}é"]
    names = [n.replace(":", "") for n in names]  # ':' is not allowed in MLflow names
    for n in names:
        seed_rich(cli.url, n)
    args = [a for n in names for a in ("--model", n)]
    result = cli("import", *args, "--out", "state/imported.yaml")
    assert result.exit_code == 0, result.output
    text = (cli.cwd / "state/imported.yaml").read_text(encoding="utf-8")
    assert "reconciler.applied" not in text and "Production: 2" in text
    plan = cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No changes" in plan.stdout
    again = cli("import", *args, "--out", "state/imported.yaml")
    assert again.exit_code == 1 and "--force" in again.stderr
    assert cli("import", *args, "--out", "state/imported.yaml", "--force").exit_code == 0


def test_import_all_models_to_stdout_includes_every_model(cli_sqlite: Cli, name: str) -> None:
    """Without --model, import pages through every registered model."""
    seed_model(cli_sqlite.url, name, [{}], {"champion": 1})
    result = cli_sqlite("import")
    assert result.exit_code == 0, result.output
    assert f"  {name}:\n    aliases:\n      champion: 1\n" in result.stdout


def test_import_refuses_models_declared_in_another_state_file(cli_sqlite: Cli, name: str) -> None:
    """Importing into state/ a model another file declares is an error naming that file."""
    seed_model(cli_sqlite.url, name, [{}], {"champion": 1})
    write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{champion: 1}}\n", "a.yaml")
    result = cli_sqlite("import", "--model", name, "--out", "state/b.yaml")
    assert result.exit_code == 1
    assert f"model '{name}' is already declared in state/a.yaml:2" in result.stderr
    assert not (cli_sqlite.cwd / "state/b.yaml").exists()


def test_status_lists_versions_with_aliases_and_metrics(cli: Cli, name: str) -> None:
    """status shows one row per version with aliases, stage, run id and metrics (text, json)."""
    runs = seed_model(cli.url, name, [{"auc": 0.81}, {"auc": 0.93}], {"champion": 2})
    data = json.loads(cli("status", name, "--format", "json").stdout)
    assert [(r["version"], r["aliases"], r["run_id"], r["metrics"]) for r in data] == [
        (2, ["champion"], runs[1], {"auc": 0.93}),
        (1, [], runs[0], {"auc": 0.81}),
    ]
    assert data[0]["status"] == "READY" and data[0]["stage"] == "None"
    text = cli("status", name)
    assert text.exit_code == 0 and "champion" in text.stdout and "auc=0.93" in text.stdout
    missing = cli("status", name + "-missing")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose history moves churn's champion 1 -> 2 -> 3 on known dates."""
    init_repo(tmp_path)
    write_state(tmp_path, "models:\n  churn:\n    aliases: {champion: 1}\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "Add churn", date="2026-01-10T09:00:00+00:00")
    for version, day in ((2, "2026-01-20"), (3, "2026-02-05")):
        assert offline(tmp_path, "promote", "churn", str(version)).exit_code == 0
        git(tmp_path, "commit", "-qam", f"Promote churn {version}", date=f"{day}T12:00:00+00:00")
    write_state(tmp_path, "models:\n  other: {}\n", "other.yaml")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "Unrelated", date="2026-02-06T12:00:00+00:00")
    return tmp_path


def test_history_lists_each_commit_that_moved_the_alias(repo: Path) -> None:
    """history names the commit, author and version of every champion move, oldest first."""
    result = offline(repo, "history", "churn", "--format", "json")
    assert result.exit_code == 0, result.output
    moves = json.loads(result.stdout)
    assert [(m["version"], m["previous"], m["subject"], m["author"]) for m in moves] == [
        (1, None, "Add churn", "Ada"),
        (2, 1, "Promote churn 2", "Ada"),
        (3, 2, "Promote churn 3", "Ada"),
    ]
    text = offline(repo, "history", "churn").stdout
    assert "champion -> 3 (was 2)  Promote churn 3" in text
    archived = json.loads(
        offline(repo, "history", "churn", "--alias", "archived", "--format", "json").stdout
    )
    assert [m["version"] for m in archived] == [1, 2]


def test_history_at_date_answers_which_version_held_the_alias(repo: Path) -> None:
    """--at DATE gives the version that held the alias at the end of that day."""
    assert (
        "version 2 held 'champion' at 2026-01-31"
        in offline(repo, "history", "churn", "--at", "2026-01-31").stdout
    )
    assert "version 1 held" in offline(repo, "history", "churn", "--at", "2026-01-19").stdout
    assert "no version held" in offline(repo, "history", "churn", "--at", "2025-12-01").stdout
    bad = offline(repo, "history", "churn", "--at", "yesterday")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: --at 'yesterday'")


def test_history_outside_a_git_repository_is_one_error_line(tmp_path: Path) -> None:
    """No git repository: one error line, exit 1, no traceback."""
    write_state(tmp_path, STATE)
    result = offline(tmp_path, "history", "churn")
    assert result.exit_code == 1 and result.stderr.startswith("error: git log:")
