"""Evidence and the signature and tag gates, against a real server with real logged models.

One model is logged once for the module (plans never write): v1 and v2 share a
signature, v3 changes it, v4 has none, v5 lacks the approval tag. ``champion`` is on v1.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli, write_state
from tests.support.mlflow_server import MlflowServer
from tests.support.models import log_lightgbm
from tests.support.seed import client

APPROVED = {"validation_status": "approved"}
BASE = {"age": "long", "income": "double"}


@dataclass(frozen=True)
class Promo:
    """The logged model: its name and the run id of each version."""

    name: str
    runs: dict[int, str]


@pytest.fixture(scope="module")
def promo(sqlite_server: MlflowServer) -> Promo:
    """Five real LightGBM versions of one model; champion on v1."""
    url, name = sqlite_server.url, f"ev-{uuid.uuid4().hex[:8]}"
    specs = [
        (BASE, 0.80, {"trees": "5", "lr": "0.1"}, {"lineage.data_version": "2026-10"}, APPROVED),
        (BASE, 0.85, {"trees": "10", "lr": "0.1"}, {"lineage.data_version": "2026-11"}, APPROVED),
        ({"age": "double", "zip": "string"}, 0.9, {"trees": "10"}, {}, APPROVED),
        (None, 0.9, {"trees": "10"}, {}, APPROVED),
        (BASE, 0.9, {"trees": "10"}, {}, {"validation_status": "pending"}),
    ]
    runs = {}
    for columns, auc, params, tags, vtags in specs:
        run_id, version = log_lightgbm(
            url, name, columns, {"val_auc": auc, "val_loss": 1 - auc}, params, tags, vtags
        )
        runs[version] = run_id
    client(url).set_registered_model_alias(name, "champion", "1")
    return Promo(name, runs)


def plan(cli: Cli, promo: Promo, version: int, gates: str, *args: str) -> tuple[int, str]:
    state = (
        f"models:\n  {promo.name}:\n    aliases: {{champion: {version}}}\n"
        f"    gates:\n      champion:\n{gates}"
    )
    result = cli("plan", "--state", str(write_state(cli.cwd, state)), *args)
    return result.exit_code, result.stdout + result.stderr


ALL_GATES = (
    "        - {metric: val_auc, better_than: current, direction: higher}\n"
    "        - {signature: compatible}\n"
    "        - {tag: validation_status, equals: approved}\n"
)


def test_text_plan_shows_the_evidence_under_the_alias_change(cli_sqlite: Cli, promo: Promo) -> None:
    """The text plan shows runs, metrics with delta and direction, differing params,
    lineage, the signature comparison, the trend and the run's UI link under the change."""
    code, out = plan(cli_sqlite, promo, 2, ALL_GATES)
    assert code == 0, out
    r1, r2 = promo.runs[1][:8], promo.runs[2][:8]
    assert "~ alias champion: 1 -> 2" in out
    assert re.search(rf"runs +v1 run {r1} \(.+\) -> v2 run {r2} \(.+\)", out)
    assert "val_auc 0.8 -> 0.85 (+0.05, better)" in out
    assert "params     trees 5 -> 10" in out and "lr " not in out
    assert "lineage    lineage.data_version=2026-11" in out
    assert "signature  same (2 inputs, 1 output)" in out
    assert re.search(r"trend +val_auc: v1 0.8, v2 0.85, .*\(now v1, new v2\)", out)
    exp = client(cli_sqlite.url).get_run(promo.runs[2]).info.experiment_id
    assert f"run page   {cli_sqlite.url}/#/experiments/{exp}/runs/{promo.runs[2]}" in out
    assert "gate champion -> version 2: signature compatible with version 1: same: passed" in out
    assert 'tag validation_status = "approved", must be "approved": passed' in out


def test_markdown_plan_has_a_table_and_a_chart_per_moved_alias(
    cli_sqlite: Cli, promo: Promo
) -> None:
    """The markdown plan has a table with both versions, linked runs, metric deltas,
    differing params, the signature row, lineage and a Mermaid chart of the gated metric."""
    code, out = plan(cli_sqlite, promo, 2, ALL_GATES, "--format", "markdown")
    assert code == 0, out
    base = f"{cli_sqlite.url}/#/models/{promo.name}/versions"
    assert f"| | [v1]({base}/1) (now) | [v2]({base}/2) (candidate) | change |" in out
    assert f"[`{promo.runs[2][:8]}`]({cli_sqlite.url}/#/experiments/" in out
    assert "| `val_auc` (higher is better) | 0.8 | 0.85 | +0.05, better |" in out
    assert "| param `trees` | `5` | `10` | |" in out  # registry text: in code spans
    assert "| signature | 2 inputs\\, 1 output | 2 inputs\\, 1 output | same |" in out
    assert "`lineage.data_version`=`2026-11`" in out and "`validation_status`=`approved`" in out
    assert '```mermaid\nxychart-beta\n  title "val_auc by version"' in out
    assert 'x-axis ["v1 now", "v2 new", "v3", "v4", "v5"]' in out


def test_json_plan_carries_the_full_evidence(cli_sqlite: Cli, promo: Promo) -> None:
    """`plan --format json` has an `evidence` entry with every metric, param, tag and the
    signature comparison; gates say rule signature/tag with their details."""
    code, out = plan(cli_sqlite, promo, 2, ALL_GATES, "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    (ev,) = data["evidence"]
    assert (ev["model"], ev["alias"]) == (promo.name, "champion")
    assert (ev["before"]["version"], ev["after"]["version"]) == (1, 2)
    assert (ev["before"]["run_id"], ev["after"]["run_id"]) == (promo.runs[1], promo.runs[2])
    assert ev["after"]["created"].endswith("Z")
    metrics = {m["name"]: m for m in ev["metrics"]}
    assert metrics["val_auc"]["better"] == "higher" and metrics["val_auc"]["improved"] is True
    assert metrics["val_loss"]["delta"] == pytest.approx(-0.05)
    assert ev["params"] == [{"name": "trees", "before": "5", "after": "10"}]
    assert ev["lineage"]["lineage.data_version"] == "2026-11"
    assert ev["version_tags"] == APPROVED
    assert ev["signature"]["status"] == "same"
    assert [p["version"] for p in ev["trend"]["points"]] == [1, 2, 3, 4, 5]
    rules = {g["rule"]: g for g in data["gates"]}
    assert rules["signature"]["metric"] is None and rules["signature"]["changes"] == []
    assert rules["tag"]["tag"] == "validation_status" and rules["tag"]["actual"] == "approved"


def test_breaking_signature_fails_the_gate_naming_each_column(
    cli_sqlite: Cli, promo: Promo
) -> None:
    """v3 retypes `age`, adds `zip` and drops `income`: the gate fails and says each."""
    code, out = plan(cli_sqlite, promo, 3, "        - {signature: compatible}\n")
    assert code == 1
    for words in ("column `zip` added (string)", "`age`: long -> double", "`income` removed"):
        assert words in out
    assert f"gate {promo.name}@champion -> version 3: signature differs from version 1" in out


def test_missing_signature_fails_with_a_hint(cli_sqlite: Cli, promo: Promo) -> None:
    """A candidate logged without a signature fails the gate and says how to log one."""
    code, out = plan(cli_sqlite, promo, 4, "        - {signature: compatible}\n")
    assert code == 1
    assert "signature is missing on the version" in out and "infer_signature" in out
    assert "signature  the candidate has none" in out


def test_tag_gate_fails_when_the_version_is_not_approved(cli_sqlite: Cli, promo: Promo) -> None:
    """v5 carries validation_status=pending: the tag gate fails with both values."""
    code, out = plan(cli_sqlite, promo, 5, "        - {tag: validation_status, equals: approved}\n")
    assert code == 1
    assert (
        f"gate {promo.name}@champion -> version 5: tag validation_status is 'pending', "
        "must be 'approved'"
    ) in out


def test_signature_gate_passes_when_nothing_holds_the_alias(cli_sqlite: Cli, promo: Promo) -> None:
    """A new alias has no current holder to compare with: the signature gate passes."""
    state = (
        f"models:\n  {promo.name}:\n    aliases: {{champion: 1, challenger: 3}}\n"
        "    gates:\n      challenger:\n        - {signature: compatible}\n"
    )
    result = cli_sqlite("plan", "--state", str(write_state(cli_sqlite.cwd, state)))
    assert result.exit_code == 0, result.stdout
    assert "signature compatible: no current holder: passed" in result.stdout
    assert "signature  2 inputs, 1 output (nothing holds the alias now)" in result.stdout


def test_saved_plan_with_evidence_applies(cli_sqlite: Cli, name: str, tmp_path: Path) -> None:
    """A plan saved with evidence is applied as usual (evidence never blocks apply)."""
    log_lightgbm(cli_sqlite.url, name, BASE, {"val_auc": 0.8})
    log_lightgbm(cli_sqlite.url, name, BASE, {"val_auc": 0.9})
    client(cli_sqlite.url).set_registered_model_alias(name, "champion", "1")
    state = write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: 2}}\n")
    saved = tmp_path / "plan.json"
    assert cli_sqlite("plan", "--state", str(state), "--out", str(saved)).exit_code == 0
    assert json.loads(saved.read_text())["evidence"][0]["after"]["version"] == 2
    result = cli_sqlite("apply", "--state", str(state), "--yes", str(saved))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert client(cli_sqlite.url).get_model_version_by_alias(name, "champion").version == "2"


def test_status_shows_the_gated_metric_across_versions(cli_sqlite: Cli, promo: Promo) -> None:
    """`status` prints the gated metric of each version as one series with a sparkline,
    the alias holder marked."""
    state = (
        f"models:\n  {promo.name}:\n    aliases: {{champion: 1}}\n"
        "    gates:\n      champion:\n        - {metric: val_auc, min: 0.5}\n"
    )
    result = cli_sqlite("status", promo.name, "--state", str(write_state(cli_sqlite.cwd, state)))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert re.search(
        rf"^{promo.name} val_auc: v1 0.8 \[champion\], v2 0.85, v3 0.9, v4 0.9, v5 0.9"
        r"  [▁-█]{5}$",
        result.stdout,
        re.MULTILINE,
    )
