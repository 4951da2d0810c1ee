"""Apply's contract on an in-memory registry: convergence, sets before removals, phases."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.apply import execute, phases
from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion, managed_tags
from reconciler.core.plan import Action, Kind, compute_plan, differences
from reconciler.state.audit import AuditInfo
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import ModelSpec
from tests.support.memory_registry import MemoryRegistry

AUDIT = AuditInfo("2026-01-01T00:00:00+00:00", "tester", "abc123")
VERSIONS = (1, 2, 3, 4)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

alias_names = st.sampled_from(["champion", "challenger", "archived", "shadow", "b-2", "x_y"])
tag_keys = st.sampled_from(["team", "owner", "tier"])
tag_values = st.text(st.characters(codec="utf-8"), max_size=4)
versions = st.sampled_from(VERSIONS)
stage_names = st.sampled_from(["None", "Staging", "Production", "Archived"])


@st.composite
def observed_models(draw: st.DrawFn) -> ObservedModel:
    """A model with versions 1-4, random aliases, stages, tags and descriptions."""
    vs = {
        n: ObservedVersion(
            n,
            stage=draw(stage_names),
            run_id=f"r{n}",
            tags=draw(st.dictionaries(tag_keys, tag_values, max_size=2)),
            description=draw(st.sampled_from(["", "old", "new"])),
        )
        for n in VERSIONS
    }
    return ObservedModel(
        "m",
        aliases=draw(st.dictionaries(alias_names, versions, max_size=4)),
        tags=draw(st.dictionaries(tag_keys, tag_values, max_size=3)),
        description=draw(st.sampled_from(["", "old", "new"])),
        versions=vs,
    )


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A state entry for model ``m`` touching every managed kind."""
    body: dict[str, Any] = {
        "aliases": draw(st.dictionaries(alias_names, versions, max_size=4)),
        "prune": draw(st.booleans()),
        "tags": draw(st.dictionaries(tag_keys, tag_values, max_size=3)),
        "versions": draw(
            st.dictionaries(
                versions,
                st.fixed_dictionaries(
                    {"tags": st.dictionaries(tag_keys, tag_values, max_size=2)},
                    optional={"description": st.sampled_from(["", "old", "new"])},
                ),
                max_size=3,
            )
        ),
    }
    stages = draw(st.lists(versions, max_size=2, unique=True))
    body["stages"] = dict(zip(["Production", "Staging"], stages, strict=False))
    if draw(st.booleans()):
        body["description"] = draw(st.sampled_from(["", "old", "new"]))
    return body


def desired_of(body: dict[str, Any]) -> DesiredState:
    return DesiredState(
        {"m": ModelSpec.model_validate(body)}, {"m": Source("s.yaml", 1)}, ("s.yaml",)
    )


def spec_matching(obs: ObservedModel) -> dict[str, Any]:
    """The state that describes ``obs`` exactly (no stages: several versions may share one)."""
    return {
        "aliases": dict(obs.aliases),
        "prune": True,
        "tags": dict(obs.tags),
        "description": obs.description,
        "versions": {
            n: {"tags": dict(v.tags), "description": v.description} for n, v in obs.versions.items()
        },
    }


@settings(max_examples=EXAMPLES, deadline=None)
@given(obs=observed_models())
def test_plan_of_the_matching_state_is_empty(obs: ObservedModel) -> None:
    """plan(x, x) is empty for a state built from the observed model."""
    plan = compute_plan(desired_of(spec_matching(obs)), ObservedState({"m": obs}))
    assert plan.changes == () and plan.applyable


@settings(max_examples=EXAMPLES, deadline=None)
@given(obs=observed_models(), body=specs())
def test_after_apply_the_next_plan_is_empty(obs: ObservedModel, body: dict[str, Any]) -> None:
    """Executing a plan on the in-memory registry converges it: the next plan has no change."""
    registry = MemoryRegistry(ObservedState({"m": obs}))
    want = desired_of(body)
    plan = compute_plan(want, registry.read(["m"]))
    report = execute(plan, registry, AUDIT)
    assert report.ok and report.applied == list(phases(plan.changes)[0] + phases(plan.changes)[1])
    after = registry.read(["m"])
    assert differences(plan.changes, after) == []
    assert compute_plan(want, after).changes == ()


@settings(max_examples=EXAMPLES, deadline=None)
@given(obs=observed_models(), body=specs())
def test_removals_run_after_every_set(obs: ObservedModel, body: dict[str, Any]) -> None:
    """In the write log no set follows a removal (SPEC §6.2)."""
    registry = MemoryRegistry(ObservedState({"m": obs}))
    execute(compute_plan(desired_of(body), registry.read(["m"])), registry, AUDIT)
    kinds = [c.is_removal for c in registry.writes]
    assert kinds == sorted(kinds)


def _moving_plan() -> tuple[MemoryRegistry, DesiredState]:
    obs = ObservedModel(
        "m",
        aliases={"champion": 1, "old": 2},
        versions={n: ObservedVersion(n, run_id=f"r{n}") for n in VERSIONS},
    )
    return MemoryRegistry(ObservedState({"m": obs})), desired_of(
        {"aliases": {"champion": 3, "challenger": 4}, "prune": True}
    )


def test_a_failed_set_skips_every_removal() -> None:
    """When a write of the set phase fails, no removal runs and the report lists it skipped."""
    registry, want = _moving_plan()
    registry.fail = lambda c: c.key == "challenger"
    plan = compute_plan(want, registry.read(["m"]))
    report = execute(plan, registry, AUDIT)
    assert [c.key for c, _ in report.failed] == ["challenger"]
    assert [(c.key, c.action) for c in report.skipped] == [("old", Action.REMOVE)]
    assert registry.models["m"].aliases == {"champion": 3, "old": 2}
    assert not report.ok


def test_one_audit_tag_per_version_that_gains_an_alias() -> None:
    """Only versions that gain an alias get an audit tag, one each, naming what they gained."""
    registry, want = _moving_plan()
    execute(compute_plan(want, registry.read(["m"])), registry, AUDIT)
    assert [(v, k) for _, v, k, _ in registry.audit] == [
        (3, "reconciler.applied"),
        (4, "reconciler.applied"),
    ]
    bodies = {v: json.loads(value) for _, v, _, value in registry.audit}
    assert bodies[3] == {
        "at": AUDIT.applied_at,
        "by": "tester",
        "commit": "abc123",
        "aliases": ["champion"],
    }
    assert bodies[4]["aliases"] == ["challenger"]
    assert compute_plan(want, registry.read(["m"])).changes == ()


def test_a_failed_removal_leaves_sets_applied() -> None:
    """A failing removal is reported failed while the sets before it stay applied."""
    registry, want = _moving_plan()
    registry.fail = lambda c: c.action is Action.REMOVE
    report = execute(compute_plan(want, registry.read(["m"])), registry, AUDIT)
    assert {c.key for c in report.applied} == {"champion", "challenger"}
    assert [c.kind for c, _ in report.failed] == [Kind.ALIAS] and report.skipped == []


def test_an_empty_tag_value_is_a_value_not_a_removal() -> None:
    """Desired tag '' over 'x' is an update to '' (not a delete) and verifies after apply."""
    obs = ObservedModel("m", tags={"team": "x"}, versions={1: ObservedVersion(1)})
    registry = MemoryRegistry(ObservedState({"m": obs}))
    want = desired_of({"tags": {"team": "", "tier": ""}})
    plan = compute_plan(want, registry.read(["m"]))
    assert [(c.key, c.action) for c in plan.changes] == [
        ("team", Action.UPDATE),
        ("tier", Action.ADD),
    ]
    assert execute(plan, registry, AUDIT).ok
    assert differences(plan.changes, registry.read(["m"])) == []
    assert managed_tags(registry.models["m"].tags) == {"team": "", "tier": ""}


def test_apply_cut_off_after_a_copy_converges_without_a_second_copy() -> None:
    """The alias write after a copy fails; the rerun's plan reuses the copy (one copy ever)."""
    staging = ObservedModel("s", versions={1: ObservedVersion(1, run_id="r1")})
    registry = MemoryRegistry(ObservedState({"s": staging, "m": ObservedModel("m")}))
    want = desired_of({"aliases": {"champion": {"from": "s", "version": 1}}})
    registry.fail = lambda c: c.kind is Kind.ALIAS
    report = execute(compute_plan(want, registry.read(["m", "s"])), registry, AUDIT)
    assert [c.kind for c in report.applied] == [Kind.COPY] and report.failed
    registry.fail = lambda c: False
    rerun = compute_plan(want, registry.read(["m", "s"]))
    assert [(c.kind, c.after) for c in rerun.changes] == [(Kind.ALIAS, 1)]
    assert execute(rerun, registry, AUDIT).ok
    assert registry.copies == [("m", "s", 1)] and registry.models["m"].aliases == {"champion": 1}
