"""The three-way rule on plain data: declared keys are set, recorded-but-undeclared keys
are removed, never-declared keys are left alone (SPEC v2 §2 ownership)."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.apply import execute
from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.ownership import MANAGED_TAG, TAG_VALUE_LIMIT, Managed, declared, encode, parse
from reconciler.core.plan import Action, Kind, Plan, compute_plan
from reconciler.state.audit import AuditInfo
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import ModelSpec
from tests.support.memory_registry import MemoryRegistry

AUDIT = AuditInfo("2026-01-01T00:00:00+00:00", "tester", "abc123")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
VERSIONS = (1, 2, 3, 4)


def desired(body: dict[str, Any]) -> DesiredState:
    return DesiredState({"m": ModelSpec.model_validate(body)}, {"m": Source("s.yaml", 3)}, ("s",))


def model(**kwargs: Any) -> ObservedModel:
    versions = {n: ObservedVersion(n, run_id=f"r{n}") for n in VERSIONS}
    return ObservedModel("m", versions=kwargs.pop("versions", versions), **kwargs)


def apply(registry: MemoryRegistry, body: dict[str, Any]) -> Plan:
    plan = compute_plan(desired(body), registry.read(["m"]))
    assert execute(plan, registry, AUDIT).ok
    return plan


def test_record_format_is_compact_sorted_json() -> None:
    """The record lists declared keys only, sorted, with empty parts left out."""
    spec = ModelSpec.model_validate(
        {
            "aliases": {"champion": 2, "archived": 1},
            "tags": {"team": "growth"},
            "description": "d",
            "versions": {2: {"tags": {"validation_status": "approved"}}, 1: {"description": ""}},
            "stages": {"Production": 2},
        }
    )
    text, dropped = encode(declared(spec))
    assert dropped == ()
    assert json.loads(text) == {
        "v": 1,
        "aliases": ["archived", "champion"],
        "tags": ["team"],
        "description": True,
        "stages": ["Production"],
        "versions": {"1": {"description": True}, "2": {"tags": ["validation_status"]}},
    }
    assert " " not in text and parse(text) == declared(spec)


def test_unreadable_record_owns_nothing() -> None:
    """A record that is not our JSON is read as absent: nothing is removed on a guess."""
    for text in (None, "", "not json", "[1]", '{"aliases": "champion"}'):
        assert parse(text) == Managed()


def test_recorded_but_undeclared_keys_are_removed() -> None:
    """Alias, tag, description, stage and version keys the record owns but the state dropped."""
    record = json.dumps(
        {
            "aliases": ["champion", "archived"],
            "tags": ["team"],
            "description": True,
            "stages": ["Production"],
            "versions": {"2": {"tags": ["validated"], "description": True}},
        }
    )
    versions = {n: ObservedVersion(n) for n in VERSIONS}
    versions[2] = ObservedVersion(2, stage="Production", tags={"validated": "y"}, description="x")
    obs = model(
        aliases={"champion": 2, "archived": 1},
        tags={"team": "g", MANAGED_TAG: record},
        description="d",
        versions=versions,
    )
    plan = compute_plan(desired({"aliases": {"champion": 2}}), ObservedState({"m": obs}))
    assert [(c.kind, c.key, c.action, c.after) for c in plan.changes] == [
        (Kind.ALIAS, "archived", Action.REMOVE, None),
        (Kind.STAGE, "2", Action.REMOVE, "None"),
        (Kind.DESCRIPTION, "description", Action.REMOVE, ""),
        (Kind.TAG, "team", Action.REMOVE, None),
        (Kind.VERSION_DESCRIPTION, "description", Action.REMOVE, ""),
        (Kind.VERSION_TAG, "validated", Action.REMOVE, None),
    ]
    assert [json.loads(r.value) for r in plan.records] == [{"v": 1, "aliases": ["champion"]}]
    assert [r.after_removals for r in plan.records] == [True]


def test_never_declared_keys_are_left_alone_and_noted() -> None:
    """Without a record (a v1 registry) nothing undeclared is removed; plan notes each key."""
    obs = model(
        aliases={"champion": 1, "candidate": 3},
        tags={"owner": "ada", "mlflow.x": "1"},
        versions={1: ObservedVersion(1), 3: ObservedVersion(3, stage="Staging")},
    )
    plan = compute_plan(desired({"aliases": {"champion": 1}}), ObservedState({"m": obs}))
    assert plan.changes == () and plan.records == ()
    assert [n.message for n in plan.notes] == [
        "alias candidate (version 3) is not managed by the state; left alone",
        "tag owner is not managed by the state; left alone",
        "version 3 is in Staging, which the state does not manage",
    ]


def test_record_claims_new_keys_before_and_releases_removed_keys_after() -> None:
    """Adding and dropping keys in one apply: union first, declared keys after removals."""
    registry = MemoryRegistry(ObservedState({"m": model()}))
    apply(registry, {"aliases": {"champion": 1, "archived": 2}})
    plan = apply(registry, {"aliases": {"champion": 1, "challenger": 3}})
    assert [(json.loads(r.value)["aliases"], r.after_removals) for r in plan.records] == [
        (["archived", "challenger", "champion"], False),
        (["challenger", "champion"], True),
    ]
    assert registry.models["m"].aliases == {"champion": 1, "challenger": 3}


def test_unchanged_key_set_writes_no_record() -> None:
    """A promotion that only moves declared aliases rewrites no record (0 extra requests)."""
    registry = MemoryRegistry(ObservedState({"m": model()}))
    apply(registry, {"aliases": {"champion": 1, "archived": 2}})
    registry.records.clear()
    plan = apply(registry, {"aliases": {"champion": 3, "archived": 1}})
    assert len(plan.changes) == 2 and plan.records == () and registry.records == []


def test_oversized_record_drops_oldest_versions_and_says_so() -> None:
    """Per-version keys past the tag-value limit are dropped oldest first, and noted."""
    keys = {f"k{i:04d}-{'x' * 40}": "v" for i in range(60)}
    spec = ModelSpec.model_validate({"versions": {n: {"tags": keys} for n in VERSIONS}})
    text, dropped = encode(declared(spec))
    assert len(text) <= TAG_VALUE_LIMIT and dropped and dropped[0] == 1
    plan = compute_plan(desired(spec.model_dump()), ObservedState({"m": model()}))
    assert any("are not recorded" in n.message for n in plan.notes)


# --- Property: revert to any earlier state and apply = the registry that state gave. ---

STATE_ALIASES = st.sampled_from(["champion", "archived", "challenger"])
STATE_TAGS = st.sampled_from(["team", "tier"])
values = st.sampled_from(["a", "b", ""])
VERSION_NUMBERS = st.sampled_from(VERSIONS)


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    """A state for model ``m`` over keys disjoint from the pre-existing (unmanaged) ones."""
    body: dict[str, Any] = {
        "aliases": draw(st.dictionaries(STATE_ALIASES, VERSION_NUMBERS, max_size=3)),
        "tags": draw(st.dictionaries(STATE_TAGS, values, max_size=2)),
        "versions": draw(
            st.dictionaries(
                VERSION_NUMBERS,
                st.fixed_dictionaries(
                    {"tags": st.dictionaries(STATE_TAGS, values, max_size=2)},
                    optional={"description": st.sampled_from(["x", "y"])},
                ),
                max_size=2,
            )
        ),
    }
    stages = draw(st.lists(VERSION_NUMBERS, max_size=2, unique=True))
    body["stages"] = dict(zip(["Production", "Staging"], stages, strict=False))
    if draw(st.booleans()):
        body["description"] = draw(st.sampled_from(["x", "y"]))
    return body


def managed_view(registry: MemoryRegistry) -> dict[str, Any]:
    """The registry restricted to keys a state may declare (stages: in one or not)."""
    m = registry.models["m"]
    pick = {"team", "tier"}
    names = {"champion", "archived", "challenger"}
    return {
        "aliases": {a: v for a, v in m.aliases.items() if a in names},
        "tags": {k: v for k, v in m.tags.items() if k in pick},
        "description": m.description,
        "versions": {
            n: (
                v.stage if v.stage in ("Staging", "Production") else "-",
                {k: t for k, t in v.tags.items() if k in pick},
                v.description,
            )
            for n, v in m.versions.items()
        },
    }


@settings(max_examples=EXAMPLES, deadline=None)
@given(sequence=st.lists(states(), min_size=1, max_size=4), data=st.data())
def test_revert_to_any_applied_state_restores_its_registry(
    sequence: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Apply S1..Sn, then apply S(k) again: managed keys equal what applying S(k) gave;
    keys set outside the state (alias candidate, tag owner) survive throughout."""
    start = model(aliases={"candidate": 4}, tags={"owner": "ada"})
    registry = MemoryRegistry(ObservedState({"m": start}))
    after: list[dict[str, Any]] = []
    for body in sequence:
        apply(registry, body)
        after.append(managed_view(registry))
    k = data.draw(st.integers(0, len(sequence) - 1))
    apply(registry, sequence[k])
    assert managed_view(registry) == after[k]
    assert registry.models["m"].aliases["candidate"] == 4
    assert registry.models["m"].tags["owner"] == "ada"
    assert compute_plan(desired(sequence[k]), registry.read(["m"])).changes == ()
