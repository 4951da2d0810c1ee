"""The GitOps story end to end: a real git repository, a real mlflow server, the CLI.

Promote by commit, apply, roll back with ``git revert``, apply; then drift made by hand
is reported by ``plan --detailed-exitcode`` and undone by ``apply``.
"""

from __future__ import annotations

import json

from tests.conftest import Cli, write_state
from tests.support.gitrepo import git, init_repo
from tests.support.seed import client, seed_model

STATE = """\
# Desired state. Promote with `reconciler promote`, review, merge, apply.
version: 1
models:
  {name}:
    aliases:
      champion: 2   # current
      archived: 1

    description: "story model"
"""


def aliases_of(url: str, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client(url).get_registered_model(name).aliases.items()}


def test_promote_commit_apply_revert_apply_and_drift_repair(cli: Cli, name: str) -> None:
    """Promotion and its git revert both reach the registry; hand-made drift is found and undone."""
    repo = cli.cwd
    init_repo(repo)
    seed_model(cli.url, name, [{}, {}, {}])
    write_state(repo, STATE.format(name=json.dumps(name)))
    git(repo, "add", "state")
    git(repo, "commit", "-q", "-m", "Declare the model")
    first = cli("apply", "--yes")
    assert first.exit_code == 0, first.output
    assert aliases_of(cli.url, name) == {"champion": 2, "archived": 1}

    promoted = cli("promote", name, "3")
    assert promoted.exit_code == 0, promoted.output
    assert git(repo, "diff", "--numstat").split() == ["2", "2", "state/models.yaml"]
    assert "# Desired state." in (repo / "state/models.yaml").read_text(encoding="utf-8")
    git(repo, "commit", "-qam", f"Promote {name} v3")
    applied = cli("apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert aliases_of(cli.url, name) == {"champion": 3, "archived": 2}
    head = git(repo, "rev-parse", "HEAD").strip()
    audit = json.loads(client(cli.url).get_model_version(name, "3").tags["reconciler.applied"])
    assert audit["commit"] == head and audit["aliases"] == ["champion"]

    git(repo, "revert", "--no-edit", "HEAD")
    assert cli("apply", "--yes").exit_code == 0
    assert aliases_of(cli.url, name) == {"champion": 2, "archived": 1}
    moves = json.loads(cli("history", name, "--format", "json").stdout)
    assert [m["version"] for m in moves] == [2, 3, 2]

    client(cli.url).set_registered_model_alias(name, "champion", "3")  # out of band
    drift = cli("plan", "--detailed-exitcode")
    assert drift.exit_code == 2, drift.output
    assert "champion: 3 -> 2" in drift.stdout and name in drift.stdout
    assert cli("apply", "--yes").exit_code == 0
    assert aliases_of(cli.url, name) == {"champion": 2, "archived": 1}
    assert cli("plan", "--detailed-exitcode").exit_code == 0
