"""Promotion across environments: an alias declared as a copy of another model's version,
against a real mlflow server and real git (SPEC v2 §2 copies, §4 promote --from)."""

from __future__ import annotations

import json

from tests.conftest import Cli, write_state
from tests.support.gitrepo import git, init_repo
from tests.support.seed import client, seed_model


def prod_state(prod: str, staging: str, version: int, gate: str = "") -> str:
    return (
        f"models:\n  {prod}:\n    aliases:\n"
        f"      champion: {{from: {staging}, version: {version}}}\n{gate}"
    )


def versions_of(url: str, name: str) -> dict[int, str]:
    """version -> source of every version of ``name``."""
    found = client(url).search_model_versions(f"name = '{name}'")
    return {int(v.version): v.source for v in found}


def champion(url: str, name: str) -> int:
    return int(client(url).get_registered_model(name).aliases["champion"])


def test_copy_is_made_once_and_the_alias_points_at_it(cli: Cli, name: str) -> None:
    """plan shows copy + alias; apply creates the model and copies once; reapply copies nothing."""
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(cli.url, staging, [{"auc": 0.8}, {"auc": 0.9}])
    write_state(cli.cwd, prod_state(prod, staging, 2))
    planned = cli("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert f"+ copy {staging} v2 -> {prod} (new version)" in planned.stdout
    assert f"+ alias champion: the copy of {staging} v2" in planned.stdout
    data = json.loads(cli("plan", "--format", "json").stdout)
    assert [(c["kind"], c["key"], c["after"]) for c in data["changes"]] == [
        ("copy", f"{staging}/2", f"models:/{staging}/2"),
        ("alias", "champion", {"from": staging, "version": 2}),
    ]
    applied = cli("apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert versions_of(cli.url, prod) == {1: f"models:/{staging}/2"}
    assert champion(cli.url, prod) == 1
    run_ids = {client(cli.url).get_model_version(n, "1").run_id for n in (prod,)}
    assert run_ids == {client(cli.url).get_model_version(staging, "2").run_id}
    again = cli("apply", "--yes")
    assert again.exit_code == 0 and "No changes" in again.stdout
    assert len(versions_of(cli.url, prod)) == 1


def test_failed_gate_copies_nothing(cli_sqlite: Cli, name: str) -> None:
    """A gate on the copy alias reads the source run; failing it writes nothing at all."""
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(cli_sqlite.url, staging, [{"auc": 0.6}])
    gate = "    gates:\n      champion:\n        - {metric: auc, min: 0.8}\n"
    write_state(cli_sqlite.cwd, prod_state(prod, staging, 1, gate))
    planned = cli_sqlite("plan")
    assert planned.exit_code == 1
    assert "auc = 0.6, must be >= 0.8" in planned.stderr
    assert cli_sqlite("apply", "--yes").exit_code == 1
    assert client(cli_sqlite.url).search_registered_models(f"name = '{prod}'") == []


def test_revert_points_back_at_the_existing_copy(cli_sqlite: Cli, name: str) -> None:
    """promote --from (alias resolved now), apply, git revert, apply: no second copy of v1."""
    url, repo = cli_sqlite.url, cli_sqlite.cwd
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(url, staging, [{}, {}], {"champion": 1})
    init_repo(repo)
    write_state(repo, prod_state(prod, staging, 1))
    git(repo, "add", "state")
    git(repo, "commit", "-qm", "prod serves staging v1")
    assert cli_sqlite("apply", "--yes").exit_code == 0
    client(url).set_registered_model_alias(staging, "champion", "2")

    promoted = cli_sqlite("promote", prod, "--from", f"{staging}@champion")
    assert promoted.exit_code == 0, promoted.output
    diff = git(repo, "diff", "-U0").splitlines()
    assert [d for d in diff if d.startswith(("+ ", "- "))] == [
        f"-      champion: {{from: {staging}, version: 1}}",
        f"+      champion: {{from: {staging}, version: 2}}",
        f"+      archived: {{from: {staging}, version: 1}}",
    ]
    git(repo, "commit", "-qam", "promote")
    assert cli_sqlite("apply", "--yes").exit_code == 0
    assert champion(url, prod) == 2
    git(repo, "revert", "--no-edit", "HEAD")
    reverted = cli_sqlite("apply", "--yes")
    assert reverted.exit_code == 0, reverted.output
    assert "copy" not in reverted.stdout.replace("the copy of", "")
    assert champion(url, prod) == 1
    assert versions_of(url, prod) == {1: f"models:/{staging}/1", 2: f"models:/{staging}/2"}
    assert "archived" not in client(url).get_registered_model(prod).aliases


def test_copy_left_without_its_alias_is_reused(cli_sqlite: Cli, name: str) -> None:
    """The state an apply cut off between copy and alias leaves: the rerun sets the alias on
    the existing copy and copies nothing."""
    url = cli_sqlite.url
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(url, staging, [{}, {}])
    client(url).copy_model_version(f"models:/{staging}/2", prod)  # the copy landed, then a crash
    write_state(cli_sqlite.cwd, prod_state(prod, staging, 2))
    planned = cli_sqlite("plan")
    assert "+ copy" not in planned.stdout and "+ alias champion: 1" in planned.stdout
    assert cli_sqlite("apply", "--yes").exit_code == 0
    assert versions_of(url, prod) == {1: f"models:/{staging}/2"} and champion(url, prod) == 1


def test_import_writes_copies_and_round_trips(cli_sqlite: Cli, name: str) -> None:
    """import writes {from, version} for a copied version; plan right after has no changes;
    status shows where each copy came from."""
    url = cli_sqlite.url
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(url, staging, [{}, {}])
    write_state(cli_sqlite.cwd, prod_state(prod, staging, 2))
    assert cli_sqlite("apply", "--yes").exit_code == 0
    (cli_sqlite.cwd / "state/models.yaml").unlink()
    imported = cli_sqlite("import", "--model", prod, "--out", "state/prod.yaml")
    assert imported.exit_code == 0, imported.output
    text = (cli_sqlite.cwd / "state/prod.yaml").read_text(encoding="utf-8")
    assert f"from: {staging}" in text and "version: 2" in text
    assert cli_sqlite("plan", "--detailed-exitcode").exit_code == 0
    rows = json.loads(cli_sqlite("status", prod, "--format", "json").stdout)
    assert [(r["version"], r["copy_of"]) for r in rows] == [(1, f"{staging}/2")]


def test_missing_copy_source_is_a_located_plan_error(cli_sqlite: Cli, name: str) -> None:
    """A copy from a model or version that does not exist: exit 1, file:line, nothing written."""
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(cli_sqlite.url, staging, [{}])
    write_state(cli_sqlite.cwd, prod_state(prod, staging, 5))
    planned = cli_sqlite("plan")
    assert planned.exit_code == 1
    assert f"state/models.yaml:4: copy source '{staging}' has no version 5" in planned.stderr
    write_state(cli_sqlite.cwd, prod_state(prod, staging + "-gone", 1))
    planned = cli_sqlite("apply", "--yes")
    assert planned.exit_code == 1 and "does not exist" in planned.stderr
    assert client(cli_sqlite.url).search_registered_models(f"name = '{prod}'") == []


def test_saved_plan_with_a_copy_applies_or_is_refused_when_stale(
    cli_sqlite: Cli, name: str
) -> None:
    """A saved plan with a copy applies; one made before someone copied by hand is stale."""
    url = cli_sqlite.url
    staging, prod = f"{name}-staging", f"{name}-prod"
    seed_model(url, staging, [{}, {}])
    seed_model(url, prod, [{}])
    write_state(cli_sqlite.cwd, prod_state(prod, staging, 1))
    assert cli_sqlite("plan", "--out", "p.json").exit_code == 0
    assert cli_sqlite("apply", "--yes", "p.json").exit_code == 0
    assert champion(url, prod) == 2
    write_state(cli_sqlite.cwd, prod_state(prod, staging, 2))
    assert cli_sqlite("plan", "--out", "q.json").exit_code == 0
    client(url).copy_model_version(f"models:/{staging}/2", prod)
    stale = cli_sqlite("apply", "--yes", "q.json")
    assert stale.exit_code == 1 and "stale" in stale.stderr
    assert len(versions_of(url, prod)) == 3
