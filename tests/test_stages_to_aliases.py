"""From stages to aliases (SPEC §22): `import --stages-as-aliases`, then `apply`.

A real sqlite server: models on `Production`/`Staging` become `champion`/`challenger`
aliases in the imported state; apply sets them and leaves every stage as it was.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import Cli
from tests.support.seed import client, seed_model

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated

MAPPING = "Production=champion,Staging=challenger"


def staged(url: str, name: str) -> None:
    """Three versions: v3 in Production, v2 in Staging, v1 archived to no stage."""
    seed_model(url, name, [{}, {}, {}])
    c = client(url)
    c.transition_model_version_stage(name, "3", "Production")
    c.transition_model_version_stage(name, "2", "Staging")


def test_import_writes_stage_holders_as_aliases_and_apply_sets_them(
    cli_sqlite: Cli, name: str
) -> None:
    """The imported file declares champion: 3, challenger: 2 and no stages; plan shows two
    alias adds; apply sets them; stages stay; the next plan is empty."""
    staged(cli_sqlite.url, name)
    imported = cli_sqlite(
        "import", "--model", name, "--stages-as-aliases", MAPPING, "--out", "state/m.yaml"
    )
    assert imported.exit_code == 0, imported.output
    spec = yaml.safe_load((cli_sqlite.cwd / "state/m.yaml").read_text())["models"][name]
    assert spec["aliases"] == {"challenger": 2, "champion": 3} and "stages" not in spec
    plan = cli_sqlite("plan", "--state", "state", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "+ alias champion: 3" in plan.stdout and "+ alias challenger: 2" in plan.stdout
    assert "Plan: 2 to add, 0 to change, 0 to remove." in plan.stdout
    assert cli_sqlite("apply", "--yes", "--state", "state").exit_code == 0
    model = client(cli_sqlite.url).get_registered_model(name)
    assert model.aliases == {"champion": "3", "challenger": "2"}
    stages = {
        v.version: v.current_stage
        for v in client(cli_sqlite.url).search_model_versions(f"name='{name}'")
    }
    assert stages == {"1": "None", "2": "Staging", "3": "Production"}
    again = cli_sqlite("plan", "--state", "state")
    assert again.exit_code == 0 and "No changes" in again.stdout


def test_an_alias_already_held_elsewhere_is_kept_and_said(cli_sqlite: Cli, name: str) -> None:
    """champion already on v1 while Production is v3: champion stays 1, one warning."""
    staged(cli_sqlite.url, name)
    client(cli_sqlite.url).set_registered_model_alias(name, "champion", "1")
    result = cli_sqlite("import", "--model", name, "--stages-as-aliases", MAPPING)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["models"][name]["aliases"] == {
        "champion": 1,
        "challenger": 2,
    }
    assert f"warning: {name}: alias 'champion' already holds v1 while Production is v3" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("Prod=champion", "write STAGE=ALIAS pairs"),
        ("Production", "write STAGE=ALIAS pairs"),
        ("Production=v1", "reserved by MLflow"),
        ("Production=champion,Staging=champion", "each stage and alias once"),
    ],
)
def test_a_wrong_mapping_is_one_line_before_the_registry_is_asked(
    cli_sqlite: Cli, value: str, said: str
) -> None:
    """A bad STAGE=ALIAS list: exit 1, one error line, before any registry call."""
    result = Cli("http://127.0.0.1:9", cli_sqlite.cwd)("import", "--stages-as-aliases", value)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and said in result.stderr, result.stderr
