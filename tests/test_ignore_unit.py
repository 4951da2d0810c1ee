"""``ignore`` on plain data (SPEC §11): ignored keys are never changes or notes; a recorded
key that becomes ignored is released from the record, its live value left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.core.apply import execute
from reconciler.core.observed import MANAGED_TAG, ObservedState
from reconciler.core.ownership import parse
from reconciler.core.plan import compute_plan
from reconciler.core.status import alias_sync
from reconciler.errors import StateErrors
from reconciler.state.audit import AuditInfo
from reconciler.state.load import load_state
from tests.support.memory_registry import MemoryRegistry
from tests.test_ownership_unit import desired, model

AUDIT = AuditInfo("2026-01-01T00:00:00+00:00", "tester", "abc123")


def registry(**kwargs: Any) -> MemoryRegistry:
    return MemoryRegistry(ObservedState({"m": model(**kwargs)}))


def test_ignored_aliases_and_tags_are_neither_changes_nor_notes() -> None:
    """A pipeline's candidate and its tags stay invisible, even with prune: true."""
    reg = registry(aliases={"champion": 1, "candidate": 3, "shadow-a": 2}, tags={"pipeline.x": "1"})
    body = {
        "aliases": {"champion": 1},
        "prune": True,
        "ignore": {"aliases": ["candidate", "shadow-*"], "tags": ["pipeline.*"]},
    }
    plan = compute_plan(desired(body), reg.read(["m"]))
    assert plan.changes == () and plan.notes == () and plan.records == ()


def test_a_recorded_key_that_becomes_ignored_is_released_not_removed() -> None:
    """Declared, applied, then ignored: one note per key, the record drops it, and the live
    alias, tag and version tag keep their values."""
    reg = registry(aliases={"champion": 1})
    managed = {
        "aliases": {"champion": 1, "candidate": 2},
        "tags": {"pipeline.run": "a"},
        "versions": {2: {"tags": {"eval.score": "9"}}},
    }
    plan = compute_plan(desired(managed), reg.read(["m"]))
    assert execute(plan, reg, AUDIT).ok
    body = {
        "aliases": {"champion": 1},
        "ignore": {"aliases": ["cand*"], "tags": ["pipeline.*"], "version_tags": ["eval.*"]},
    }
    plan = compute_plan(desired(body), reg.read(["m"]))
    assert plan.changes == ()
    assert [n.message.split(" is ignored now")[0] for n in plan.notes] == [
        "alias candidate",
        "tag pipeline.run",
        "version 2 tag eval.score",
    ]
    assert all("left as it is" in n.message for n in plan.notes)
    assert execute(plan, reg, AUDIT).ok
    after = reg.read(["m"]).models["m"]
    assert after.aliases["candidate"] == 2 and after.tags["pipeline.run"] == "a"
    assert after.versions[2].tags["eval.score"] == "9"
    record = parse(after.tags[MANAGED_TAG])
    assert record.aliases == {"champion"} and not record.tags and not record.version_tags
    again = compute_plan(desired(body), reg.read(["m"]))
    assert again.changes == () and again.notes == () and again.records == ()


def test_declaring_an_ignored_key_is_a_validate_error_at_its_line(tmp_path: Path) -> None:
    """A key both declared and ignored (by the model or the file's defaults) is an error at
    the declaring line; the defaults are merged into each model's ignore."""
    (tmp_path / "m.yaml").write_text(
        "defaults:\n"
        "  ignore: {aliases: ['shadow-*'], version_tags: ['eval.*']}\n"
        "models:\n"
        "  a:\n"
        "    aliases:\n"
        "      champion: 1\n"
        "      shadow-1: 2\n"
        "    tags: {pipeline.run: x}\n"
        "    versions:\n"
        "      2:\n"
        "        tags: {eval.auc: '0.9'}\n"
        "    ignore: {tags: ['pipeline.*']}\n"
        "  b:\n"
        "    aliases: {champion: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(StateErrors) as caught:
        load_state(tmp_path)
    lines = caught.value.error_lines()
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in lines] == ["7", "8", "11"]
    assert "alias 'shadow-1' is declared but also ignored (pattern 'shadow-*')" in lines[0]
    assert "tag 'pipeline.run'" in lines[1] and "version 2 tag 'eval.auc'" in lines[2]
    (tmp_path / "m.yaml").write_text(
        "defaults:\n  ignore: {aliases: [candidate]}\n"
        "models:\n  b:\n    aliases: {champion: 1}\n    ignore: {aliases: ['shadow-*']}\n",
        encoding="utf-8",
    )
    spec = load_state(tmp_path).models["b"]
    assert spec.ignore.aliases == ["candidate", "shadow-*"]


def test_status_calls_an_ignored_alias_ignored() -> None:
    """status: an alias the state hands back is `ignored`, not `unmanaged`."""
    obs = model(aliases={"champion": 1, "candidate": 3, "other": 2})
    spec = desired({"aliases": {"champion": 1}, "ignore": {"aliases": ["candidate"]}}).models["m"]
    assert alias_sync(obs, spec) == {
        1: {"champion": "synced"},
        2: {"other": "unmanaged"},
        3: {"candidate": "ignored"},
    }
