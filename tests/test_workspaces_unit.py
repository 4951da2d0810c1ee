"""Workspaces on plain data (SPEC §14): loading, digests, combining and splitting plans,
the saved-plan identity, and renderings. No server."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.plan import Plan, compute_plan
from reconciler.core.scopes import check_workspace_of, combine, for_display, split
from reconciler.errors import PlanError, StateErrors
from reconciler.render.escape import markdown_text
from reconciler.render.markdown import render_markdown
from reconciler.render.planfile import from_dict, to_dict
from reconciler.render.text import render_text
from reconciler.state.load import load_state
from reconciler.state.scope import StateSet


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def two_teams(root: Path) -> StateSet:
    write(
        root, "team-a/m.yaml", "workspace: team-a\nmodels:\n  churn:\n    aliases: {champion: 1}\n"
    )
    write(
        root, "team-b/m.yaml", "workspace: team-b\nmodels:\n  churn:\n    aliases: {champion: 2}\n"
    )
    write(root, "shared.yaml", "models:\n  other:\n    aliases: {champion: 1}\n")
    return load_state(root)


def observed(*names: str) -> ObservedState:
    versions = {n: ObservedVersion(n, run_id=f"r{n}") for n in (1, 2)}
    return ObservedState({n: ObservedModel(n, versions=versions) for n in names})


def test_same_name_in_two_workspaces_is_two_models(tmp_path: Path) -> None:
    """Two files declaring `churn` in team-a and team-b load as two parts, no duplicate."""
    desired = two_teams(tmp_path)
    assert desired.workspaces == (None, "team-a", "team-b")
    assert [sorted(p.models) for p in desired.parts] == [["other"], ["churn"], ["churn"]]
    a = desired.part("team-a")
    assert a is not None and a.named_at is not None
    assert (a.named_at.file.endswith("team-a/m.yaml"), a.named_at.line) == (True, 1)


def test_default_workspace_places_files_without_one(tmp_path: Path) -> None:
    """--workspace / MLFLOW_WORKSPACE is the workspace of files without `workspace:`, and a
    name declared there and in a file naming the same workspace is a duplicate."""
    desired = load_state(two_teams(tmp_path) and tmp_path, "team-a")
    assert desired.workspaces == ("team-a", "team-b")
    write(tmp_path, "dup.yaml", "models:\n  churn:\n    aliases: {champion: 2}\n")
    with pytest.raises(StateErrors) as caught:
        load_state(tmp_path, "team-a")
    assert "declared in two files" in caught.value.message
    assert caught.value.message.endswith("(workspace team-a)")
    load_state(tmp_path)  # without the default it is another model: valid


def test_explicit_default_workspace_is_the_unnamed_one(tmp_path: Path) -> None:
    """`workspace: default` and no workspace mean the same server workspace."""
    write(tmp_path, "a.yaml", "workspace: default\nmodels:\n  m:\n    aliases: {c: 1}\n")
    write(tmp_path, "b.yaml", "models:\n  m:\n    aliases: {c: 1}\n")
    with pytest.raises(StateErrors, match="declared in two files"):
        load_state(tmp_path)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Team_A", "is not a valid workspace name"),
        ("a", "names are 2 to 63 characters"),
        ("api", "is reserved by MLflow"),
        ("-a", "is not a valid workspace name"),
    ],
)
def test_invalid_workspace_is_an_error_at_its_line(tmp_path: Path, name: str, why: str) -> None:
    """MLflow's name rule is checked offline, at the `workspace:` line."""
    write(tmp_path, "s.yaml", f"version: 1\nworkspace: '{name}'\nmodels: {{}}\n")
    with pytest.raises(StateErrors) as caught:
        load_state(tmp_path)
    assert caught.value.line == 2 and why in caught.value.message


def test_digests_include_the_workspace(tmp_path: Path) -> None:
    """The same declarations in another workspace digest differently; none named: as before."""
    write(tmp_path, "s.yaml", "models:\n  m:\n    aliases: {c: 1}\n")
    plain = load_state(tmp_path)
    assert plain.digest() == plain.parts[0].digest()
    assert load_state(tmp_path, "team-a").digest() != plain.digest()
    assert load_state(tmp_path, "team-a").digest() != load_state(tmp_path, "team-b").digest()


def plan_of(
    desired: StateSet, registry: str = "http://r"
) -> tuple[list[tuple[str | None, Plan]], Plan]:
    parts = [(p.workspace, compute_plan(p, observed(*p.models), registry)) for p in desired.parts]
    return parts, combine(parts, desired.default)


def test_combine_stamps_and_split_gives_each_workspace_its_own(tmp_path: Path) -> None:
    """Every change carries its workspace; split returns exactly each part's changes."""
    parts, plan = plan_of(two_teams(tmp_path))
    assert [(c.workspace, c.model, c.after) for c in plan.changes] == [
        (None, "other", 1),
        ("team-a", "churn", 1),
        ("team-b", "churn", 2),
    ]
    back = split(plan)
    assert [ws for ws, _ in back] == [None, "team-a", "team-b"]
    for (_ws, original), (_, again) in zip(parts, back, strict=True):
        assert [dataclasses.replace(c, workspace=None) for c in again.changes] == list(
            original.changes
        )
        assert again.observed_digest == original.observed_digest


def test_saved_plan_round_trips_its_workspaces(tmp_path: Path) -> None:
    """JSON carries `workspace` on every change and the scopes; loading gives the same split."""
    _, plan = plan_of(two_teams(tmp_path))
    data = json.loads(json.dumps(to_dict(plan)))
    assert all("workspace" in c for c in data["changes"])
    loaded = from_dict(data)
    assert loaded.scopes == plan.scopes and loaded.changes == plan.changes
    data["workspaces"] = data["workspaces"][:1]
    with pytest.raises(PlanError, match="workspace 'team-a', which its workspaces do not list"):
        from_dict(data)
    data["changes"][0]["workspace"] = "Not Valid"
    with pytest.raises(PlanError):
        from_dict(data)


def test_saved_plan_identity_includes_the_default_workspace(tmp_path: Path) -> None:
    """A plan made under MLFLOW_WORKSPACE=team-a is refused under team-b or the default."""
    write(tmp_path, "s.yaml", "models:\n  m:\n    aliases: {c: 1}\n")
    _, plan = plan_of(load_state(tmp_path, "team-a"))
    check_workspace_of(plan, "team-a")
    with pytest.raises(PlanError, match="made for workspace team-a, not workspace team-b"):
        check_workspace_of(plan, "team-b")
    with pytest.raises(PlanError, match="not the default workspace"):
        check_workspace_of(plan, None)


def test_renderings_name_the_workspace_only_when_it_matters(tmp_path: Path) -> None:
    """One default workspace: no workspace shown; several (or a named one): `ws/model`."""
    write(tmp_path / "one", "s.yaml", "models:\n  churn:\n    aliases: {c: 1}\n")
    _, single = plan_of(load_state(tmp_path / "one"))
    assert "Workspaces" not in render_text(single) and "model churn" in render_text(single)
    _, multi = plan_of(two_teams(tmp_path / "many"))
    text = render_text(multi)
    assert "Workspaces: default, team-a, team-b" in text
    assert "model default/other" in text and "model team-b/churn" in text
    markdown = render_markdown(multi)
    assert f"| `+` | {markdown_text('team-a/churn')} `" in markdown  # escaped like every name
    assert for_display(for_display(multi)) == for_display(multi)


def test_history_follows_the_model_of_one_workspace(tmp_path: Path) -> None:
    """`history` of a name declared in two workspaces follows the one asked for, in git."""
    from click.testing import CliRunner

    from reconciler.cli import main
    from tests.support.gitrepo import git, init_repo

    init_repo(tmp_path)
    two_teams(tmp_path / "state")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "both teams", date="2026-01-01T00:00:00Z")
    write(
        tmp_path / "state",
        "team-b/m.yaml",
        "workspace: team-b\nmodels:\n  churn:\n    aliases: {champion: 5}\n",
    )
    git(tmp_path, "commit", "-qam", "team-b moves", date="2026-01-02T00:00:00Z")

    def history(*args: str) -> list[object]:
        result = CliRunner().invoke(
            main,
            ["history", "churn", "--state", str(tmp_path / "state"), "--format", "json", *args],
            env={"MLFLOW_TRACKING_URI": "", "MLFLOW_REGISTRY_URI": ""},
        )
        assert result.exit_code == 0, result.output
        return [(m["version"], m["subject"]) for m in json.loads(result.stdout)]

    assert history("--workspace", "team-a") == [(1, "both teams")]
    assert history("--workspace", "team-b") == [(2, "both teams"), (5, "team-b moves")]
    ambiguous = CliRunner().invoke(main, ["history", "churn", "--state", str(tmp_path / "state")])
    assert ambiguous.exit_code == 1
    assert "declared in several workspaces (team-a, team-b); pass --workspace" in ambiguous.output


def test_ui_links_keep_their_workspace_and_queries_stay_masked() -> None:
    """A `?workspace=` inside a UI link's fragment is shown; a URI's real query is not."""
    from reconciler.mlflow.connection import redact_text

    link = "http://r:5000/#/models/churn/versions/2?workspace=team-a"
    assert redact_text(f"see {link}") == f"see {link}"
    assert redact_text("http://r:5000/api?token=s3cret#x") == "http://r:5000/api?***"
