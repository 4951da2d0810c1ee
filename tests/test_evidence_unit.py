"""Evidence, signatures and the new gate shapes on plain data (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.api import observe
from reconciler.core.evidence import Evidence, MetricRow, ParamRow, Side, SignatureCheck, Trend
from reconciler.core.gates import GateResult
from reconciler.core.observed import (
    Column,
    ObservedModel,
    ObservedRun,
    ObservedSignature,
    ObservedState,
    ObservedVersion,
)
from reconciler.core.plan import Action, Change, Kind, Plan, compute_plan
from reconciler.core.signature import differences, parse_mlmodel
from reconciler.render.evidence import sparkline
from reconciler.render.github import COMMENT_LIMIT, Report
from reconciler.render.markdown import render_markdown
from reconciler.render.planfile import from_dict, to_dict
from reconciler.render.text import render_text
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import ModelSpec, StateFile
from tests.support.memory_registry import MemoryRegistry

MLMODEL = """\
flavors: {}
signature:
  inputs: '[{"type": "long", "name": "age", "required": true}, {"type": "double", "name":
    "income", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
  params: null
"""


def sig(**columns: str) -> ObservedSignature:
    return ObservedSignature(
        tuple(Column(n, t) for n, t in columns.items()), (Column("#0", "double"),), True
    )


def test_mlmodel_signature_is_parsed_into_columns() -> None:
    """An MLmodel's JSON-in-YAML signature becomes named input columns and a tensor output."""
    parsed = parse_mlmodel(MLMODEL)
    assert parsed.found and parsed.inputs == (Column("age", "long"), Column("income", "double"))
    assert parsed.outputs == (Column("#0", "tensor float64 [-1]"),)
    assert not parse_mlmodel("flavors: {}\n").found
    assert parse_mlmodel("signature: {inputs: '[not json'}").error


def test_signature_differences_name_each_column() -> None:
    """Added, removed and retyped columns read as the sentences reviewers see."""
    before = sig(age="long", income="double")
    after = sig(age="double", zip="string")
    assert differences(before, after) == (
        "`age`: long -> double",
        "`income` removed",
        "column `zip` added (string)",
    )
    assert differences(before, before) == ()
    out = ObservedSignature(before.inputs, (Column("#0", "long"),), True)
    assert differences(before, out) == ("output `#0`: double -> long",)


def test_a_signature_that_changes_most_columns_is_not_same() -> None:
    """Three columns added to a one-column signature are three differences, not none
    (DeepDiff reports a mostly changed mapping as one value unless told not to)."""
    assert differences(sig(a="long"), sig(a="long", b="long", c="long", d="long")) == (
        "column `b` added (long)",
        "column `c` added (long)",
        "column `d` added (long)",
    )
    assert len(differences(sig(a="long", b="long"), sig(x="long", y="long"))) == 4


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"metric": "x", "mx": 1}, "m.gates.champion.0: unknown key 'mx'"),
        ({"signature": "yes"}, "m.gates.champion.0.signature: must be 'compatible', not"),
        ({"tag": "a"}, "m.gates.champion.0: missing key equals"),
        ({"tag": "a", "equals": "b", "x": 1}, "m.gates.champion.0: unknown key 'x'"),
        ({"foo": 1}, "m.gates.champion.0: a gate is {metric: NAME"),
    ],
)
def test_gate_shapes_reject_unknown_keys_with_a_plain_path(
    tmp_path: Path, gate: dict[str, object], message: str
) -> None:
    """Each gate shape forbids unknown keys; errors name the YAML path, not the union tag."""
    from reconciler.errors import StateError
    from reconciler.state.load import load_state

    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"models": {"m": {"aliases": {"champion": 1}, "gates": {}}}}))
    data = {"models": {"m": {"aliases": {"champion": 1}, "gates": {"champion": [gate]}}}}
    path.write_text(json.dumps(data))
    with pytest.raises(StateError) as info:
        load_state(path)
    assert message in str(info.value)


def test_schema_offers_the_four_gate_shapes() -> None:
    """The JSON Schema lists metric, signature, tag and soak gates as alternatives."""
    schema = StateFile.model_json_schema()
    gates = schema["$defs"]["ModelSpec"]["properties"]["gates"]["additionalProperties"]
    shapes = {ref["$ref"].rsplit("/", 1)[-1] for ref in gates["items"]["oneOf"]}
    assert shapes == {"MetricRule", "SignatureRule", "TagRule", "SoakRule"}
    assert schema["$defs"]["TagRule"]["additionalProperties"] is False


def desired(**models: dict[str, object]) -> DesiredState:
    return DesiredState(
        {n: ModelSpec.model_validate(s) for n, s in models.items()},
        {n: Source("s.yaml", 1) for n in models},
        ("s.yaml",),
    )


def observed_model(sources: dict[int, str]) -> ObservedModel:
    versions = {
        n: ObservedVersion(n, run_id=f"r{n}", source=src, tags={"ok": "yes" if n < 3 else "no"})
        for n, src in sources.items()
    }
    return ObservedModel("m", {"champion": 1}, versions=versions)


def test_observe_reads_runs_and_signatures_only_for_versions_involved() -> None:
    """With evidence, one run read covers both sides and the trend; MLmodels are read for
    the candidate and the current holder only."""
    obs = ObservedState({"m": observed_model({1: "s1", 2: "s2", 3: "s3"})})
    registry = MemoryRegistry(obs)
    registry.signature_data = {"s1": sig(a="long"), "s2": sig(a="long")}
    asked: list[set[str]] = []
    read = registry.signatures
    registry.signatures = lambda sources: asked.append(set(sources)) or read(sources)  # type: ignore[method-assign]
    spec = {"aliases": {"champion": 2}, "gates": {"champion": [{"signature": "compatible"}]}}
    observe(desired(m=spec), registry, with_evidence=True)
    assert asked == [{"s1", "s2"}]


def test_signature_and_tag_gates_decide_the_plan() -> None:
    """Equal signatures pass, a changed one fails, and the tag gate checks the candidate."""
    obs = ObservedState(
        {"m": observed_model({1: "s1", 2: "s2", 3: "s3"})},
        signatures={"s1": sig(a="long"), "s2": sig(a="long"), "s3": sig(a="double")},
    )
    gates = [{"signature": "compatible"}, {"tag": "ok", "equals": "yes"}]
    ok = compute_plan(desired(m={"aliases": {"champion": 2}, "gates": {"champion": gates}}), obs)
    assert [g.passed for g in ok.gates] == [True, True]
    bad = compute_plan(desired(m={"aliases": {"champion": 3}, "gates": {"champion": gates}}), obs)
    assert [g.passed for g in bad.gates] == [False, False]
    assert bad.gates[0].changes == ("`a`: long -> double",)
    assert bad.gates[1].reason.endswith("tag ok is 'no', must be 'yes'")


def test_evidence_compares_metrics_params_and_tags_of_both_versions() -> None:
    """Evidence has both runs' metrics with the gate's direction, differing params only,
    the candidate's lineage without mlflow.* tags, and UI links for an http registry."""
    runs = {
        "r1": ObservedRun("r1", "4", "old", {"auc": 0.8}, {"lr": "0.1", "trees": "5"}, {}),
        "r2": ObservedRun(
            "r2",
            "4",
            "new",
            {"auc": 0.9, "loss": 0.1},
            {"lr": "0.1", "trees": "9"},
            {"lineage.git_commit": "abc", "mlflow.user": "me"},
        ),
    }
    obs = ObservedState(
        {"m": observed_model({1: "s1", 2: "s2"})},
        {k: r.metrics for k, r in runs.items()},
        runs,
        {"s1": sig(a="long"), "s2": sig(a="long")},
    )
    spec = {
        "aliases": {"champion": 2},
        "gates": {"champion": [{"metric": "auc", "min": 0.5}]},
    }
    plan = compute_plan(desired(m=spec), obs, "https://mlflow.example", evidence=True)
    (ev,) = plan.evidence
    assert [(m.name, m.better, m.improved) for m in ev.metrics] == [
        ("auc", "higher", True),
        ("loss", None, None),
    ]
    assert ev.params == (ParamRow("trees", "5", "9"),)
    assert ev.lineage == {"lineage.git_commit": "abc"}
    assert ev.after.run_url == "https://mlflow.example/#/experiments/4/runs/r2"
    assert ev.after.version_url == "https://mlflow.example/#/models/m/versions/2"
    assert ev.signature.status == "same"
    assert ev.trend == Trend("auc", ((1, 0.8), (2, 0.9)), 1, 2)
    assert from_dict(json.loads(json.dumps(to_dict(plan)))).changes == plan.changes


def test_saved_plan_without_evidence_still_loads() -> None:
    """A plan saved before evidence existed (no `evidence` key) loads as before."""
    plan = compute_plan(desired(m={"aliases": {"champion": 2}}), ObservedState({}), "http://r")
    data = to_dict(plan)
    del data["evidence"]
    assert from_dict(data).evidence == ()


def big_plan(moves: int) -> Plan:
    """A plan moving ``moves`` aliases, each with long evidence and two gates."""
    changes, gates, evidence = [], [], []
    url = "https://mlflow.example.com/#/experiments/123456789/runs/"
    for i in range(moves):
        model = f"team-{i:03d}-churn"
        changes.append(Change(model, Kind.ALIAS, "champion", Action.UPDATE, 41, 42))
        gates.append(GateResult(model, "champion", 42, "val_auc", "min", 0.8, 0.9, True))
        gates.append(GateResult(model, "champion", 42, None, "signature", None, None, True))
        evidence.append(
            Evidence(
                model,
                "champion",
                Side(41, "a" * 32, "run-41", url + "a" * 32, url, "2026-11-01T00:00:00Z"),
                Side(42, "b" * 32, "run-42", url + "b" * 32, url, "2026-11-02T00:00:00Z"),
                tuple(MetricRow(f"metric_{k:02d}", 0.5, 0.6, "higher") for k in range(30)),
                tuple(ParamRow(f"param_{k:02d}", "1", "2") for k in range(30)),
                {f"lineage.tag_{k}": "x" * 40 for k in range(10)},
                {"validation_status": "approved"},
                SignatureCheck(
                    "changed", tuple(f"column `c{k}` added (string)" for k in range(20))
                ),
                Trend("metric_00", tuple((n, 0.5 + n / 100) for n in range(35, 43)), 41, 42),
            )
        )
    return Plan(
        "https://mlflow.example.com",
        "sha256:a",
        "sha256:b",
        tuple(sorted({c.model for c in changes})),
        tuple(changes),
        tuple(gates),
        evidence=tuple(evidence),
    )


def test_markdown_with_200_moved_aliases_stays_under_githubs_comment_limit(
    tmp_path: Path,
) -> None:
    """200 moves with long evidence: the markdown and the PR comment file stay under 65,536
    characters, every change and gate is kept, and the cut evidence is said, not lost."""
    plan = big_plan(200)
    markdown = render_markdown(plan)
    assert len(markdown) < COMMENT_LIMIT
    assert markdown.count("| `~` |") == 200 and markdown.count("| passed |") == 400
    assert "more alias moves is left out" in markdown
    top = markdown.split("Registry:")[0]  # the verdict and the counts come first
    assert "**All 400 gates passed.**" in top and "**Plan: 0 to add, 200 to change" in top
    assert "_and 24 more metrics, 24 more params (all in the JSON plan)_" in markdown
    assert markdown.count("<details><summary><b>team-") == 1
    assert markdown.count("- **team\\-") > 100
    report = Report("plan", True, {"RUNNER_TEMP": str(tmp_path)})
    report.plan(plan)
    comment = report.comment_path.read_text(encoding="utf-8")
    assert len(comment) < COMMENT_LIMIT and "Truncated" not in comment
    full = report.summary_path.read_text(encoding="utf-8")
    assert full.count("<details><summary><b>team-") == 200
    assert len(json.loads(json.dumps(to_dict(plan)))["evidence"][0]["metrics"]) == 30


def test_text_evidence_is_bounded_per_alias() -> None:
    """The text block shows 3 metrics and 3 params per move, then "and K more"."""
    text = render_text(big_plan(1))
    assert "(and 27 more metrics)" in text and "(and 27 more params)" in text
    assert text.count("metric_0") == 3 + 1  # three shown, plus the trend line


def test_sparkline_scales_between_lowest_and_highest() -> None:
    """The lowest value is the lowest tick and the highest the highest."""
    assert sparkline([1.0, 5.0, 3.0]) == "▁█▅"
    assert sparkline([2.0, 2.0]) == "▁▁"
