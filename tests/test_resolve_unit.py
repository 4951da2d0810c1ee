"""Unit tests on plain data for the one resolution pass (``core.resolve``) and the runs
and signatures derived from it (``core.fetch``)."""

from __future__ import annotations

from reconciler.core.fetch import needs
from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.plan import compute_plan
from reconciler.core.resolve import Resolution, resolve, resolve_model
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import CopyFrom, ModelSpec


def desired(**models: dict[str, object]) -> DesiredState:
    specs = {n: ModelSpec.model_validate(body) for n, body in models.items()}
    return DesiredState(specs, {n: Source("s.yaml", 1) for n in specs}, ("s.yaml",))


def version(n: int, **kw: object) -> ObservedVersion:
    return ObservedVersion(n, run_id=f"r{n}", source=f"runs:/r{n}/model", **kw)  # type: ignore[arg-type]


def model(name: str, aliases: dict[str, int], *extra: ObservedVersion, n: int = 3) -> ObservedModel:
    versions = {v: version(v) for v in range(1, n + 1)} | {v.version: v for v in extra}
    return ObservedModel(name, aliases=aliases, versions=versions)


def test_a_numbered_alias_resolves_to_its_version_and_holder() -> None:
    """Declared 3, held by 1: target and candidate are version 3, the holder version 1,
    and it moves; a declared alias already in place does not move."""
    obs = model("m", {"champion": 1, "stable": 2})
    got = resolve_model(
        "m", ModelSpec.model_validate({"aliases": {"champion": 3, "stable": 2}}), obs
    )
    champion, stable = got["champion"], got["stable"]
    assert (champion.declared, champion.number, champion.live) == (3, 3, 1)
    assert champion.candidate == obs.versions[3] and champion.holder == obs.versions[1]
    assert champion.moves and champion.copy_of is None and champion.copy_to_make is None
    assert not stable.moves and stable.shown_number == 2


def test_a_missing_version_or_model_has_no_candidate() -> None:
    """A version the registry lacks resolves with no candidate; so does a model that
    does not exist (nothing holds the alias either)."""
    spec = ModelSpec.model_validate({"aliases": {"champion": 9}})
    target = resolve_model("m", spec, model("m", {}))["champion"]
    assert target.number == 9 and target.candidate is None and target.moves
    absent = resolve_model("m", spec, None)["champion"]
    assert absent.candidate is None and absent.live is None and absent.holder is None


def test_a_copy_not_made_yet_is_to_be_made_and_judged_on_its_source() -> None:
    """Until the copy exists there is no target version; the candidate is the source
    version (a copy keeps its run), and the alias moves."""
    observed = ObservedState({"m": model("m", {"champion": 1}), "src": model("src", {}, n=7)})
    spec = {"aliases": {"champion": {"from": "src", "version": 7}}}
    target = resolve(desired(m=spec), observed).of("m")["champion"]
    assert target.number is None and target.moves
    assert target.candidate == observed.models["src"].versions[7]
    assert target.copy_to_make == CopyFrom.model_validate({"from": "src", "version": 7})
    assert target.shown_number == 7 and target.holder == observed.models["m"].versions[1]


def test_an_existing_copy_is_the_target_the_oldest_if_copied_twice() -> None:
    """The version whose source is models:/src/7 is the target (the oldest of two); it
    moves only when the alias is elsewhere."""
    copies = (
        ObservedVersion(4, source="models:/src/7"),
        ObservedVersion(5, source="models:/src/7"),
    )
    observed = ObservedState({"m": model("m", {"champion": 4}, *copies), "src": model("src", {})})
    spec = {"aliases": {"champion": {"from": "src", "version": 7}}}
    target = resolve(desired(m=spec), observed).of("m")["champion"]
    assert target.number == 4 and target.candidate == copies[0]
    assert not target.moves and target.copy_to_make is None


def test_moving_lists_only_aliases_the_plan_sets_in_order() -> None:
    """moving() and all_moving() keep the aliases that change, sorted by model and alias."""
    observed = ObservedState({"a": model("a", {"x": 1}), "b": model("b", {"y": 1})})
    res = resolve(
        desired(b={"aliases": {"y": 2, "z": 1}}, a={"aliases": {"x": 1, "w": 3}}), observed
    )
    assert list(res.moving("a")) == ["w"] and list(res.moving("b")) == ["y", "z"]
    assert [(r.model, r.alias) for r in res.all_moving()] == [("a", "w"), ("b", "y"), ("b", "z")]
    assert Resolution().of("missing") == {}


def test_needs_reads_what_each_gate_rule_requires() -> None:
    """A metric gate reads the runs of candidate and holder, a signature gate their
    sources; an alias that does not move, or has no gates, reads nothing."""
    observed = ObservedState({"m": model("m", {"champion": 1, "shadow": 1}, n=3)})
    want = desired(
        m={
            "aliases": {"champion": 2, "shadow": 3, "stable": 1},
            "gates": {
                "champion": [{"metric": "rmse", "max": 1}],
                "shadow": [{"signature": "compatible"}],
                "stable": [{"metric": "rmse", "max": 1}],
            },
        }
    )
    runs, sources = needs(want, observed, resolve(want, observed))
    assert runs == {"r1", "r2"}
    assert sources == {"runs:/r1/model", "runs:/r3/model"}


def test_needs_with_evidence_adds_both_sides_and_the_trend() -> None:
    """Evidence reads both sides of every move and the runs of the gated metric's
    trend (the newest versions plus the old and new holder)."""
    observed = ObservedState({"m": model("m", {"champion": 1}, n=12)})
    want = desired(
        m={"aliases": {"champion": 12}, "gates": {"champion": [{"metric": "rmse", "max": 1}]}}
    )
    runs, sources = needs(want, observed, resolve(want, observed), evidence=True)
    assert runs == {"r1", *(f"r{n}" for n in range(6, 13))}
    assert sources == {"runs:/r1/model", "runs:/r12/model"}


def test_needs_with_evidence_for_a_model_yet_to_be_copied_reads_only_gate_data() -> None:
    """A model the registry lacks (a copy creates it) gets no extra evidence reads: the
    behaviour before the resolution pass, kept."""
    observed = ObservedState({"src": model("src", {}, n=2)})
    want = desired(m={"aliases": {"champion": {"from": "src", "version": 2}}})
    assert needs(want, observed, resolve(want, observed), evidence=True) == (set(), set())


def test_compute_plan_reads_a_given_resolution() -> None:
    """The plan made from a resolution passed in equals the one it resolves itself."""
    observed = ObservedState({"m": model("m", {"champion": 1}), "src": model("src", {}, n=7)})
    want = desired(
        m={
            "aliases": {"champion": 2, "copy": {"from": "src", "version": 7}},
            "gates": {"champion": [{"tag": "ok", "equals": "yes"}]},
        }
    )
    given = compute_plan(want, observed, "r", evidence=True, resolution=resolve(want, observed))
    assert given == compute_plan(want, observed, "r", evidence=True)
    assert [c.kind.value for c in given.changes] == ["copy", "alias", "alias"]
    assert [g.passed for g in given.gates] == [False]
