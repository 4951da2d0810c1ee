"""Exact GitOps against a real mlflow server and real git: any `git revert` + apply
restores what the commit changed, and keys set outside the state survive (SPEC v2 §2)."""

from __future__ import annotations

import json
import re

from tests.conftest import Cli
from tests.support.gitrepo import git, init_repo
from tests.support.seed import client, seed_model


def aliases_of(url: str, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client(url).get_registered_model(name).aliases.items()}


def user_tags(url: str, name: str) -> dict[str, str]:
    tags = client(url).get_registered_model(name).tags
    return {k: v for k, v in tags.items() if not k.startswith("reconciler.")}


def commit_state(cli: Cli, text: str, message: str) -> str:
    """Write the state file, commit it, and return the commit id."""
    path = cli.cwd / "state" / "models.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(cli.cwd, "add", "state")
    git(cli.cwd, "commit", "-q", "-m", message)
    return git(cli.cwd, "rev-parse", "HEAD").strip()


def apply_ok(cli: Cli) -> str:
    done = cli("apply", "--yes")
    assert done.exit_code == 0, done.output
    return done.stdout


def test_revert_of_a_promotion_removes_the_alias_it_introduced(cli: Cli, name: str) -> None:
    """import -> promote (adds `archived`) -> apply -> git revert -> apply: `archived` is gone;
    a pipeline's `candidate` alias and a hand-set tag survive, and plan notes them."""
    init_repo(cli.cwd)
    seed_model(cli.url, name, [{}, {}, {}], {"champion": 1})
    imported = cli("import", "--model", name, "--out", "state/models.yaml")
    assert imported.exit_code == 0, imported.output
    git(cli.cwd, "add", "state")
    git(cli.cwd, "commit", "-q", "-m", "Import")
    assert "No changes" in apply_ok(cli)

    assert cli("promote", name, "2").exit_code == 0
    git(cli.cwd, "commit", "-qam", "Promote v2")
    apply_ok(cli)
    assert aliases_of(cli.url, name) == {"champion": 2, "archived": 1}
    record = json.loads(client(cli.url).get_registered_model(name).tags["reconciler.managed"])
    assert record == {"v": 1, "aliases": ["archived", "champion"]}

    c = client(cli.url)
    c.set_registered_model_alias(name, "candidate", "3")  # a training pipeline
    c.set_registered_model_tag(name, "owner", "ada")  # a person, by hand
    git(cli.cwd, "revert", "--no-edit", "HEAD")
    planned = cli("plan")
    assert "- alias archived: 1 (removed)" in planned.stdout, planned.output
    assert "note: alias candidate (version 3) is not managed by the state" in planned.stdout
    assert "note: tag owner is not managed by the state" in planned.stdout
    apply_ok(cli)
    assert aliases_of(cli.url, name) == {"champion": 1, "candidate": 3}
    assert user_tags(cli.url, name) == {"owner": "ada"}
    assert cli("plan", "--detailed-exitcode").exit_code == 0


def test_revert_of_added_tags_removes_them(cli: Cli, name: str) -> None:
    """A commit that adds a model tag and a version tag, reverted and applied, removes both."""
    init_repo(cli.cwd)
    seed_model(cli.url, name, [{}, {}], {"champion": 2})
    base = f"models:\n  {name}:\n    aliases: {{champion: 2}}\n"
    commit_state(cli, base, "Declare")
    apply_ok(cli)
    tagged = base + (
        "    tags: {team: growth}\n    versions:\n      2: {tags: {validation_status: approved}}\n"
    )
    commit_state(cli, tagged, "Tag it")
    apply_ok(cli)
    assert user_tags(cli.url, name) == {"team": "growth"}
    git(cli.cwd, "revert", "--no-edit", "HEAD")
    out = apply_ok(cli)
    assert "- tag team" in out and "- version 2 tag validation_status" in out
    assert user_tags(cli.url, name) == {}
    assert "validation_status" not in client(cli.url).get_model_version(name, "2").tags


def test_dropping_an_alias_line_removes_the_alias(cli: Cli, name: str) -> None:
    """An alias applied from the state and then deleted from it is removed (prune is off)."""
    init_repo(cli.cwd)
    seed_model(cli.url, name, [{}, {}])
    commit_state(cli, f"models:\n  {name}:\n    aliases: {{champion: 1, challenger: 2}}\n", "a")
    apply_ok(cli)
    client(cli.url).set_registered_model_alias(name, "shadow", "2")
    commit_state(cli, f"models:\n  {name}:\n    aliases: {{champion: 1}}\n", "drop challenger")
    apply_ok(cli)
    assert aliases_of(cli.url, name) == {"champion": 1, "shadow": 2}


def test_audit_tag_names_the_commit_and_marks_a_dirty_tree(cli: Cli, name: str) -> None:
    """One reconciler.applied tag per version gaining an alias; dirty state: -dirty + warning."""
    init_repo(cli.cwd)
    seed_model(cli.url, name, [{}, {}, {}])
    head = commit_state(cli, f"models:\n  {name}:\n    aliases: {{champion: 1}}\n", "one")
    apply_ok(cli)
    tags = client(cli.url).get_model_version(name, "1").tags
    audit = json.loads(tags["reconciler.applied"])
    assert audit["commit"] == head and audit["aliases"] == ["champion"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", audit["at"])
    assert not any(k.startswith("reconciler.") and k != "reconciler.applied" for k in tags)

    (cli.cwd / "state/models.yaml").write_text(
        f"models:\n  {name}:\n    aliases: {{champion: 2, archived: 1}}\n", encoding="utf-8"
    )
    done = cli("apply", "--yes")
    assert done.exit_code == 0, done.output
    assert "uncommitted changes" in done.stderr and f"{head}-dirty" in done.stderr
    second = json.loads(client(cli.url).get_model_version(name, "2").tags["reconciler.applied"])
    assert second["commit"] == f"{head}-dirty"
    first = json.loads(client(cli.url).get_model_version(name, "1").tags["reconciler.applied"])
    assert first["aliases"] == ["archived"]


def test_status_says_synced_drift_and_unmanaged(cli: Cli, name: str) -> None:
    """status marks declared aliases synced or drift, others unmanaged; created has seconds."""
    seed_model(cli.url, name, [{}, {}, {}], {"champion": 1, "archived": 2, "candidate": 3})
    state = cli.cwd / "state"
    state.mkdir()
    (state / "m.yaml").write_text(
        f"models:\n  {name}:\n    aliases: {{champion: 1, archived: 1}}\n", encoding="utf-8"
    )
    data = json.loads(cli("status", name, "--format", "json").stdout)
    sync = {r["version"]: r["sync"] for r in data}
    assert sync == {  # a drifting alias on one row only: where it is live
        3: {"candidate": "unmanaged"},
        2: {"archived": "drift"},
        1: {"champion": "synced"},
    }
    assert {r["version"]: r["wanted"] for r in data}[2] == {"archived": 1}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created"]) for r in data)
    text = cli("status", name).stdout
    assert "candidate(unmanaged)" in text and "champion(synced)" in text
    assert text.count("archived(") == 1 and "archived(drift, state: v1)" in text


def test_history_joins_the_audit_record_of_each_apply(cli: Cli, name: str) -> None:
    """history shows, next to the git commit, when and by whom it was applied."""
    init_repo(cli.cwd)
    seed_model(cli.url, name, [{}, {}])
    commit_state(cli, f"models:\n  {name}:\n    aliases: {{champion: 1}}\n", "one")
    apply_ok(cli)
    head = commit_state(cli, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n", "two")
    apply_ok(cli)
    moves = json.loads(cli("history", name, "--format", "json").stdout)
    assert [m["version"] for m in moves] == [1, 2]
    assert moves[1]["applied"]["commit"] == head and moves[1]["applied"]["by"]
    text = cli("history", name).stdout
    assert "[applied " in text.splitlines()[-1]
