"""The saved plan over several registries (render/planset.py), on plain data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.observed import ObservedState
from reconciler.core.plan import compute_plan
from reconciler.errors import PlanError
from reconciler.render.planset import PlanSet, SourceRead, read_any, to_json_set
from tests.test_core_unit import desired, observed_model


def two_registries() -> PlanSet:
    obs = ObservedState({"m": observed_model("m", {"champion": 1})})
    prod = compute_plan(desired(m={"aliases": {"champion": 2}}), obs, "http://prod")
    staging = compute_plan(desired(m={"aliases": {"champion": 3}}), obs, "http://staging")
    return PlanSet(
        (("prod", prod), ("staging", staging)),
        (SourceRead("staging", "http://staging", ("m",), obs.digest(["m"])),),
    )


def test_a_saved_plan_set_reads_back_with_every_registry_and_source(tmp_path: Path) -> None:
    """Each registry's URI, digests and changes, and each source, survive the file."""
    plans = two_registries()
    path = tmp_path / "plan.json"
    path.write_text(to_json_set(plans), encoding="utf-8")
    back = read_any(path)
    assert isinstance(back, PlanSet)
    assert [(n, p.registry, p.observed_digest) for n, p in back.plans] == [
        (n, p.registry, p.observed_digest) for n, p in plans.plans
    ]
    assert [p.changes for _, p in back.plans] == [p.changes for _, p in plans.plans]
    assert back.sources == plans.sources


@pytest.mark.parametrize(
    "forge",
    [
        lambda d: d["registries"][0].update(registry_name=7),
        lambda d: d["sources"][0].pop("observed_digest"),
        lambda d: d.update(registries="prod"),
        lambda d: d["registries"][1].update(format_version=99),
    ],
)
def test_a_forged_plan_set_is_one_plan_error(tmp_path: Path, forge: object) -> None:
    """A hand-edited file is refused with one line, never a traceback."""
    data = json.loads(to_json_set(two_registries()))
    forge(data)  # type: ignore[operator]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanError):
        read_any(path)
