"""Golden files pin the rendered plan: text, markdown and JSON (REGEN_GOLDEN=1 rewrites)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core.evidence import Evidence, MetricRow, ParamRow, Side, SignatureCheck, Trend
from reconciler.core.gates import GateResult
from reconciler.core.plan import Action, Change, Kind, Note, Plan, Problem, RecordWrite
from reconciler.render.markdown import render_markdown
from reconciler.render.planfile import to_json
from reconciler.render.text import render_text

GOLDEN = Path(__file__).parent / "golden"
PLAN = Plan(
    registry="http://127.0.0.1:5000",
    state_digest="sha256:" + "a" * 64,
    observed_digest="sha256:" + "b" * 64,
    models=("churn-classifier", "fraud"),
    changes=(
        Change("churn-classifier", Kind.ALIAS, "archived", Action.ADD, None, 5),
        Change("churn-classifier", Kind.ALIAS, "champion", Action.UPDATE, 5, 7),
        Change("churn-classifier", Kind.ALIAS, "old", Action.REMOVE, 3, None),
        Change("churn-classifier", Kind.STAGE, "7", Action.UPDATE, "None", "Production", 7),
        Change("churn-classifier", Kind.TAG, "team", Action.ADD, None, "growth"),
        Change("churn-classifier", Kind.VERSION_TAG, "validated", Action.UPDATE, "no", "yes", 7),
        Change("fraud", Kind.DESCRIPTION, "description", Action.UPDATE, "old | text", "new"),
    ),
    gates=(
        GateResult("churn-classifier", "champion", 7, "val_rmspe", "max", 0.1, 0.0978, True),
        GateResult(
            "churn-classifier",
            "champion",
            7,
            "val_rmspe",
            "better_than",
            0.12,
            0.0978,
            True,
            current_version=5,
        ),
        GateResult(
            "churn-classifier",
            "champion",
            7,
            None,
            "signature",
            None,
            None,
            False,
            "gate churn-classifier@champion -> version 7: signature differs from version 5: "
            "`age`: long -> double; column `zip` added (string)",
            current_version=5,
            changes=("`age`: long -> double", "column `zip` added (string)"),
        ),
        GateResult(
            "churn-classifier",
            "champion",
            7,
            None,
            "tag",
            None,
            None,
            True,
            tag="validation_status",
            expected="approved",
            actual="approved",
        ),
    ),
    problems=(Problem("fraud", "model 'fraud' has no version 9", "state/fraud.yaml", 4),),
    sources={"churn-classifier": "state/churn.yaml:3", "fraud": "state/fraud.yaml:2"},
    notes=(Note("churn-classifier", "alias candidate (version 8) is not managed by the state"),),
    records=(RecordWrite("churn-classifier", '{"aliases":["archived","champion"],"v":1}', False),),
    evidence=(
        Evidence(
            model="churn-classifier",
            alias="archived",
            before=None,
            after=Side(5, "5" * 32, "lgbm-100", None, None, "2026-11-01T09:00:00Z"),
            metrics=(MetricRow("val_rmspe", None, 0.12),),
            signature=SignatureCheck("new", after="2 inputs, 1 output"),
        ),
        Evidence(
            model="churn-classifier",
            alias="champion",
            before=Side(
                5,
                "5" * 32,
                "lgbm-100",
                "http://127.0.0.1:5000/#/experiments/1/runs/" + "5" * 32,
                "http://127.0.0.1:5000/#/models/churn-classifier/versions/5",
                "2026-11-01T09:00:00Z",
            ),
            after=Side(
                7,
                "7" * 32,
                "lgbm-300",
                "http://127.0.0.1:5000/#/experiments/1/runs/" + "7" * 32,
                "http://127.0.0.1:5000/#/models/churn-classifier/versions/7",
                "2026-11-20T14:30:00Z",
            ),
            metrics=(
                MetricRow("val_rmspe", 0.12, 0.0978, "lower"),
                *(MetricRow(f"m{i}", float(i), float(i) + 0.5) for i in range(7)),
            ),
            params=(ParamRow("n_estimators", "100", "300"), ParamRow("zip_features", None, "on")),
            lineage={"lineage.data_version": "2026-11", "lineage.git_commit": "abc1234"},
            version_tags={"validation_status": "approved"},
            signature=SignatureCheck(
                "changed",
                ("`age`: long -> double", "column `zip` added (string)"),
                "2 inputs, 1 output",
                "3 inputs, 1 output",
            ),
            trend=Trend("val_rmspe", ((4, 0.13), (5, 0.12), (6, 0.15), (7, 0.0978)), 5, 7),
        ),
    ),
)


@pytest.mark.parametrize(
    ("filename", "render"),
    [
        ("plan.txt", lambda: render_text(PLAN)),
        ("plan.md", lambda: render_markdown(PLAN)),
        ("plan.json", lambda: to_json(PLAN)),
    ],
)
def test_rendered_plan_matches_golden_file(filename: str, render: object) -> None:
    """The rendering of a fixed plan is byte-for-byte the checked-in golden file."""
    text = render()  # type: ignore[operator]
    path = GOLDEN / filename
    if os.environ.get("REGEN_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
