"""Unit tests on plain data for what ``status`` and ``import`` compute below the CLI:
sync states, key metrics, status rows/table/trend, and the imported state YAML."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core.observed import MANAGED_TAG, ObservedModel, ObservedState, ObservedVersion
from reconciler.core.ownership import Managed, encode
from reconciler.core.plan import compute_plan
from reconciler.core.status import alias_sync, key_metrics, run_ids
from reconciler.render import status as view
from reconciler.render.statefile import render
from reconciler.state.load import DesiredState, Source, load_state
from reconciler.state.models import CopyFrom, ModelSpec


def spec(body: dict[str, object]) -> ModelSpec:
    return ModelSpec.model_validate(body)


def desired_of(models: dict[str, dict[str, object]]) -> DesiredState:
    specs = {n: ModelSpec.model_validate(body) for n, body in models.items()}
    return DesiredState(specs, {n: Source("s.yaml", 1) for n in specs}, ("s.yaml",))


def model(aliases: dict[str, int], n: int = 3, **kw: object) -> ObservedModel:
    versions = {v: ObservedVersion(v, run_id=f"r{v}", created_at=v * 1000) for v in range(1, n + 1)}
    return ObservedModel("m", aliases=aliases, versions=versions, **kw)  # type: ignore[arg-type]


def test_alias_sync_marks_synced_drift_and_unmanaged() -> None:
    """A declared alias on its version is synced; declared elsewhere is drift on both the
    live and the declared version; an undeclared, unowned alias is unmanaged."""
    live = model({"champion": 1, "challenger": 2, "shadow": 3})
    sync = alias_sync(live, spec({"aliases": {"champion": 1, "challenger": 3}}))
    assert sync == {
        1: {"champion": "synced"},
        2: {"challenger": "drift"},
        3: {"challenger": "drift", "shadow": "unmanaged"},
    }


def test_alias_sync_owned_or_pruned_undeclared_alias_is_drift() -> None:
    """An alias recorded as owned but no longer declared is drift (plan removes it); with
    prune every undeclared alias is."""
    record, _ = encode(Managed(aliases=frozenset({"old"})))
    live = model({"old": 1, "other": 2}, tags={MANAGED_TAG: record})
    assert alias_sync(live, spec({"aliases": {}})) == {
        1: {"old": "drift"},
        2: {"other": "unmanaged"},
    }
    assert alias_sync(live, spec({"aliases": {}, "prune": True})) == {
        1: {"old": "drift"},
        2: {"other": "drift"},
    }


def test_alias_sync_follows_a_declared_copy() -> None:
    """A copy declared as {from, version} is synced on the copy that exists; a copy not
    made yet marks nothing but the live alias as drift."""
    copy = ObservedVersion(4, source="models:/src/7")
    live = model({"champion": 4, "challenger": 1})
    live = ObservedModel("m", live.aliases, versions={**live.versions, 4: copy})
    declared = spec(
        {
            "aliases": {
                "champion": {"from": "src", "version": 7},
                "challenger": {"from": "src", "version": 8},
            }
        }
    )
    assert alias_sync(live, declared) == {1: {"challenger": "drift"}, 4: {"champion": "synced"}}


def test_alias_sync_without_a_state_leaves_every_alias_unmanaged() -> None:
    """status MODEL outside the state: nothing is declared, nothing is owned."""
    assert alias_sync(model({"a": 1}), None) == {1: {"a": "unmanaged"}}


def test_key_metrics_named_first_then_gate_metrics_once() -> None:
    """--metric wins; else the gates' metrics in order, each once; else none (all)."""
    gated = spec(
        {
            "aliases": {"a": 1, "b": 1},
            "gates": {
                "a": [{"metric": "rmse", "max": 1}, {"metric": "mae", "max": 2}],
                "b": [{"metric": "rmse", "max": 3}, {"signature": "compatible"}],
            },
        }
    )
    assert key_metrics(gated, ("f1",)) == ["f1"]
    assert key_metrics(gated) == ["rmse", "mae"]
    assert key_metrics(spec({"aliases": {"a": 1}})) == []
    assert key_metrics(None) == []


def test_rows_table_and_trend_from_plain_data() -> None:
    """Rows are newest first with sync states and only the key metrics; the table
    aligns them; the trend line marks the alias holders."""
    observed = ObservedState({"m": model({"champion": 2}, n=2)})
    assert run_ids(observed) == ["r1", "r2"]
    metrics = {"r1": {"rmse": 2.0, "loss": 9.0}, "r2": {"rmse": 1.5}}
    keys = {"m": ["rmse"]}
    desired = desired_of({"m": {"aliases": {"champion": 2}}})
    data = view.rows(observed, metrics, keys, desired)
    assert [r["version"] for r in data] == [2, 1]
    assert data[0]["sync"] == {"champion": "synced"} and data[0]["metrics"] == {"rmse": 1.5}
    assert data[1]["created"] == "1970-01-01T00:00:01Z" and data[1]["copy_of"] is None
    json.dumps(data)  # the JSON output is the rows as they are
    table = view.table(data).splitlines()
    header = "MODEL VERSION ALIASES STAGE STATUS CREATED (UTC) RUN ID COPY OF METRICS"
    assert " ".join(table[0].split()) == header
    assert table[1].split() == [
        "m", "2", "champion(synced)", "None", "READY", "1970-01-01T00:00:02Z", "r2", "-",
        "rmse=1.5",
    ]  # fmt: skip
    assert view.series(data, keys) == "m rmse: v1 2, v2 1.5 [champion]  █▁\n"
    assert view.text(data, keys).endswith("\n\nm rmse: v1 2, v2 1.5 [champion]  █▁\n")
    assert view.series(data, {"m": ["loss"]}) == ""  # one point is no trend


def test_imported_state_plans_no_changes(tmp_path: Path) -> None:
    """import's YAML declares exactly what the registry holds: the plan after is empty;
    audit and mlflow. tags are left out; a copy is declared as {from, version}."""
    versions = {
        1: ObservedVersion(1, tags={"team": "a", "reconciler.applied_by": "x"}, stage="Staging"),
        2: ObservedVersion(2, description="best", source="models:/src/5"),
    }
    live = ObservedModel(
        "m",
        aliases={"champion": 2, "backup": 1},
        tags={"owner": "ml", "mlflow.x": "y"},
        description="d",
        versions=versions,
    )
    observed = ObservedState(
        {"m": live, "src": ObservedModel("src", versions={5: ObservedVersion(5)})}
    )
    text, warnings = render(ObservedState({"m": live}), "http://reg")
    assert warnings == [] and text.startswith("# Imported from http://reg")
    assert "reconciler.applied_by" not in text and "mlflow.x" not in text
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    desired = load_state(tmp_path / "s.yaml")
    champion = desired.models["m"].aliases["champion"]
    assert isinstance(champion, CopyFrom) and champion.label() == "src v5"
    assert compute_plan(desired, observed).changes == ()


def test_imported_state_warns_about_a_shared_stage() -> None:
    """Two versions in Production cannot be declared: the stage is left out, with a warning."""
    versions = {n: ObservedVersion(n, stage="Production") for n in (1, 2)}
    text, warnings = render(ObservedState({"m": ObservedModel("m", versions=versions)}), "r")
    assert warnings == ["m: versions [1, 2] are all in Production; Production is left unmanaged"]
    assert "stages" not in text
