"""Fast unit tests of the pure core on plain data: loading rules, planning, gates, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.plan import Action, Kind, compute_plan, differences
from reconciler.errors import StateError
from reconciler.render.planfile import from_dict, to_dict
from reconciler.state import yamlsafe
from reconciler.state.load import DesiredState, Source, load_state
from reconciler.state.models import ModelSpec


def desired(**models: dict[str, object]) -> DesiredState:
    specs = {n: ModelSpec.model_validate(body) for n, body in models.items()}
    return DesiredState(specs, {n: Source("s.yaml", 1) for n in specs}, ("s.yaml",))


def observed_model(name: str, aliases: dict[str, int], n: int = 3, **kw: object) -> ObservedModel:
    versions = {v: ObservedVersion(v, run_id=f"r{v}") for v in range(1, n + 1)}
    return ObservedModel(name, aliases=aliases, versions=versions, **kw)  # type: ignore[arg-type]


def load_text(tmp_path: Path, text: str) -> DesiredState:
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    return load_state(tmp_path / "s.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "models:\n  m:\n    alias: {a: 1}\n",
            ":3: m: unknown key 'alias': did you mean 'aliases'?",
        ),
        ("models:\n  m: {}\n  m: {}\n", ":3: duplicate key 'm'"),
        (
            "models:\n  m:\n    aliases: {champion: 0}\n",
            ":3: m.aliases.champion: version numbers start at 1",
        ),
        ("models:\n  m:\n    aliases: {latest: 1}\n", "reserved"),
        ("models:\n  m:\n    aliases: {v2: 1}\n", "reserved"),
        ("models:\n  m:\n    aliases: {'a b': 1}\n", "invalid alias"),
        ("a: &x 1\nb: *x\n", ":1: YAML anchors"),
        ("models: !!python/object:os.system {}\n", ":1: YAML tags are not allowed"),
        (
            "models:\n  m:\n    aliases: {a: 1}\n    gates: {b: [{metric: x, max: 1}]}\n",
            "does not declare",
        ),
        ("- 1\n", "must be a mapping"),
        ("models:\n  m:\n\taliases: {}\n", ":3: invalid YAML"),
    ],
)
def test_invalid_state_is_one_located_error(tmp_path: Path, text: str, message: str) -> None:
    """Each invalid state file gives a StateError naming file and line."""
    with pytest.raises(StateError) as err:
        load_text(tmp_path, text)
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "s.yaml") + ":")


def test_model_declared_in_two_files_names_both(tmp_path: Path) -> None:
    """The same model in two files is an error naming both files."""
    (tmp_path / "a.yaml").write_text("models:\n  m: {}\n")
    (tmp_path / "b.yaml").write_text("\nmodels:\n  m: {}\n")
    with pytest.raises(StateError, match=r"a.yaml:2 and .*b.yaml:3"):
        load_state(tmp_path)


def test_symlink_outside_the_state_directory_is_rejected(tmp_path: Path) -> None:
    """A state file symlinked to a file outside the state directory is refused unread."""
    (tmp_path / "secret.yaml").write_text("models: {}\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / "x.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(StateError, match="outside the state directory"):
        load_state(state)


def test_plan_orders_alias_changes_and_prunes_only_when_asked() -> None:
    """Adds/updates come in alias order; unlisted aliases are removed only with prune."""
    obs = ObservedState({"m": observed_model("m", {"champion": 1, "old": 2})})
    keep = compute_plan(desired(m={"aliases": {"champion": 2, "archived": 1}}), obs)
    assert [(c.key, c.action, c.before, c.after) for c in keep.changes] == [
        ("archived", Action.ADD, None, 1),
        ("champion", Action.UPDATE, 1, 2),
    ]
    pruned = compute_plan(desired(m={"aliases": {"champion": 1}, "prune": True}), obs)
    assert [(c.key, c.action) for c in pruned.changes] == [("old", Action.REMOVE)]


def test_missing_model_version_and_not_ready_are_problems() -> None:
    """Unknown model, missing version and a non-READY version make the plan unappliable."""
    pending = ObservedModel("p", versions={1: ObservedVersion(1, status="PENDING_REGISTRATION")})
    obs = ObservedState({"m": observed_model("m", {}), "p": pending})
    plan = compute_plan(
        desired(m={"aliases": {"a": 9}}, p={"aliases": {"a": 1}}, x={"aliases": {"a": 1}}), obs
    )
    assert not plan.applyable
    assert sorted(p.message for p in plan.problems) == [
        "model 'm' has no version 9",
        "model 'x' does not exist in the registry",
        "version 1 of 'p' is PENDING_REGISTRATION, not READY",
    ]


def test_stage_declaration_archives_the_previous_holder() -> None:
    """Production: 3 moves v3 to Production and the old Production v1 to Archived."""
    versions = {
        1: ObservedVersion(1, stage="Production"),
        2: ObservedVersion(2, stage="Staging"),
        3: ObservedVersion(3),
    }
    obs = ObservedState({"m": ObservedModel("m", versions=versions)})
    plan = compute_plan(desired(m={"stages": {"Production": 3}}), obs)
    assert [(c.version, c.before, c.after, c.is_removal) for c in plan.changes] == [
        (1, "Production", "Archived", True),
        (3, "None", "Production", False),
    ]


@pytest.mark.parametrize(
    ("rule", "value", "current", "passed"),
    [
        ({"max": 0.1}, 0.09, None, True),
        ({"max": 0.1}, 0.2, None, False),
        ({"min": 0.8}, 0.7, None, False),
        ({"better_than": "current", "direction": "lower"}, 0.1, 0.2, True),
        ({"better_than": "current", "direction": "lower"}, 0.3, 0.2, False),
        ({"better_than": "current", "direction": "higher"}, 0.3, 0.2, True),
        ({"max": 0.1}, None, None, False),
    ],
)
def test_gates(
    rule: dict[str, object], value: float | None, current: float | None, passed: bool
) -> None:
    """Gate rules compare the candidate's metric with the bound or the current holder."""
    metrics = {"r2": {} if value is None else {"m": value}, "r1": {"m": current or 0.0}}
    obs = ObservedState({"x": observed_model("x", {"champion": 1} if current else {})}, metrics)
    plan = compute_plan(
        desired(x={"aliases": {"champion": 2}, "gates": {"champion": [{"metric": "m", **rule}]}}),
        obs,
    )
    assert [g.passed for g in plan.gates] == [passed]
    assert plan.applyable is passed


def test_better_than_passes_when_nothing_holds_the_alias() -> None:
    """better_than current passes when no version holds the alias yet."""
    obs = ObservedState({"x": observed_model("x", {})}, {"r2": {"m": 5.0}})
    spec = {
        "aliases": {"champion": 2},
        "gates": {"champion": [{"metric": "m", "better_than": "current", "direction": "lower"}]},
    }
    assert compute_plan(desired(x=spec), obs).applyable


def test_plan_json_round_trips_with_the_spec_keys() -> None:
    """to_dict has SPEC §5's keys and from_dict rebuilds the same changes."""
    obs = ObservedState({"m": observed_model("m", {"champion": 1})})
    plan = compute_plan(desired(m={"aliases": {"champion": 2}}), obs, "http://r")
    data = json.loads(json.dumps(to_dict(plan)))
    assert {
        "format_version",
        "registry",
        "state_digest",
        "observed_digest",
        "changes",
        "gates",
        "summary",
    } <= data.keys()
    assert from_dict(data).changes == plan.changes


aliases = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_\-]{0,8}", fullmatch=True), st.integers(1, 4), max_size=4
)
tags = st.dictionaries(
    st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.text(max_size=5), max_size=3
)


@given(aliases=aliases, tags=tags, prune=st.booleans())
def test_plan_of_a_registry_against_itself_is_empty(
    aliases: dict[str, int], tags: dict[str, str], prune: bool
) -> None:
    """plan(x, x) is empty: a state that describes the registry needs no change."""
    aliases = {a: v for a, v in aliases.items() if a != "latest" and not a[1:].isdigit()}
    obs = ObservedState({"m": observed_model("m", aliases, n=4, tags=tags)})
    plan = compute_plan(desired(m={"aliases": aliases, "tags": tags, "prune": prune}), obs)
    assert plan.changes == () and plan.applyable
    assert differences(plan.changes, obs) == []


def test_validate_never_imports_mlflow(tmp_path: Path) -> None:
    """validate, schema and --help run without importing mlflow (fast start)."""
    (tmp_path / "s.yaml").write_text("models:\n  m:\n    aliases: {champion: 1}\n")
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom reconciler.cli import main\n"
        "for args in (['validate', '--state', 's.yaml'], ['schema'], ['--help']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
        "print('mlflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_kinds_are_the_spec_values() -> None:
    """Change kinds and actions serialise to the strings SPEC §5 names."""
    assert {k.value for k in Kind} == {
        "alias",
        "stage",
        "tag",
        "version_tag",
        "description",
        "version_description",
        "copy",
    }
    assert {a.value for a in Action} == {"add", "update", "remove"}


PARSE_CASES = [
    "version: 1\nmodels:\n  m:\n    aliases: {champion: 2}\n    tags:\n      team: 'x'\n"
    "    gates:\n      champion:\n        - {metric: rmse, max: 0.5}\n",
    "models:\n  m: {}\n  m: {}\n",
    "a: &x 1\nb: *x\n",
    "models: !!python/object/apply:os.system ['true']\n",
    "models:\n  m:\n\taliases: {}\n",
    "models:\n  m\x00: {}\n",
    "[" * 40 + "]" * 40,
    "models:\n  - [1, 2\n",
    "{a: 1, b: [x, {c: null}]}\n",
    "",
]


@pytest.mark.parametrize("text", PARSE_CASES)
def test_libyaml_and_pure_python_loaders_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast libyaml-backed loader yields the same data, lines and errors as the fallback."""

    def outcome() -> object:
        try:
            doc = yamlsafe.parse(text, "s.yaml")
        except StateError as exc:
            return ("error", exc.line, exc.message.split(":")[0])
        return (doc.data, dict(doc.lines))

    assert yamlsafe._Loader is not yamlsafe._StrictLoader, "libyaml loader not in use"
    fast = outcome()
    monkeypatch.setattr(yamlsafe, "_Loader", yamlsafe._StrictLoader)
    assert outcome() == fast
