"""Named registries on plain data: credentials kept apart, env names, the reads routed
to the server a version lives on (SPEC v4 §19)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.core.fetch import by_server, references
from reconciler.core.observed import ObservedModel, ObservedVersion
from reconciler.errors import StateError, StateErrors
from reconciler.mlflow import credentials
from reconciler.state.load import load_state

A: credentials.Key = ("alice", "pw-alice-1", None)
B: credentials.Key = (None, None, "tok-bob-2")


def test_each_call_sees_only_its_own_registrys_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads for two registries never see each other's values; the env is restored."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "process-user")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    seen: list[tuple[credentials.Key, credentials.Key]] = []
    start = threading.Barrier(8)

    def work(key: credentials.Key) -> None:
        start.wait()
        for _ in range(50):
            with credentials.using(key):
                seen.append((key, credentials.current()))

    threads = [threading.Thread(target=work, args=(k,)) for k in [A, B] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 400 and all(want == got for want, got in seen)
    assert credentials.current() == ("process-user", None, None)


def test_names_become_variable_prefixes_and_secrets_are_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prod-eu -> RECONCILER_REGISTRY_PROD_EU_; its password is masked in messages."""
    from reconciler.mlflow.connection import redact_text

    assert credentials.prefix("prod-eu") == "RECONCILER_REGISTRY_PROD_EU_"
    monkeypatch.setenv("RECONCILER_REGISTRY_PROD_EU_URI", "http://prod:5000")
    monkeypatch.setenv("RECONCILER_REGISTRY_PROD_EU_PASSWORD", "s3cret-pw")
    found = credentials.named("prod-eu")
    assert found.uri == "http://prod:5000" and found.key == (None, "s3cret-pw", None)
    assert "s3cret-pw" not in repr(found)
    assert redact_text("refused s3cret-pw") == "refused ***"


def test_state_names_registries_and_cross_server_sources(tmp_path: Path) -> None:
    """Files name their server; the same model name on two servers is two models; copy
    values name the models to read on the source server; a bad name is located."""
    (tmp_path / "a.yaml").write_text(
        "registry: prod\nmodels:\n  churn:\n    aliases:\n"
        "      champion: {from: churn, version: 7, registry: staging}\n",
        encoding="utf-8",
    )
    (tmp_path / "b.yaml").write_text(
        "registry: staging\nmodels:\n  churn:\n    aliases: {champion: 7}\n", encoding="utf-8"
    )
    state = load_state(tmp_path)
    assert state.registries == ("prod", "staging")
    assert references(state) == {"staging": {"churn"}}
    assert state.for_registry("prod").parts[0].registry_at is not None
    (tmp_path / "c.yaml").write_text("registry: Prod!\nmodels: {}\n", encoding="utf-8")
    with pytest.raises(StateErrors) as caught:
        load_state(tmp_path)
    assert "c.yaml:1" in str(caught.value) and "invalid registry name" in str(caught.value)


def test_missing_uri_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RECONCILER_REGISTRY_STAGING_URI: one StateError saying which variable to set."""
    monkeypatch.delenv("RECONCILER_REGISTRY_STAGING_URI", raising=False)
    with pytest.raises(StateError, match="RECONCILER_REGISTRY_STAGING_URI is not set"):
        credentials.named("staging")


def test_runs_of_versions_on_another_server_are_read_there() -> None:
    """A source version's run id and files go to its own server, the rest stay here."""
    foreign = {
        "staging:churn": ObservedModel(
            "churn", versions={7: ObservedVersion(7, run_id="r7", source="s3://b/7")}
        )
    }
    split = by_server(foreign, {"r7", "local"}, {"s3://b/7", "s3://here"})
    assert split == {"staging": ({"r7"}, {"s3://b/7"})}


def test_a_soak_gate_names_a_model_on_another_server_or_the_copys_source() -> None:
    """``in: staging:stg@a`` and, on a copy from staging's stg, ``in: stg@a`` read staging's
    stg; ``in: a`` stays the gated model; a same-server copy stays here."""
    from reconciler.core.soak import soak_key
    from reconciler.state.models import CopyFrom, SoakRule

    across = CopyFrom.model_validate({"from": "stg", "version": 7, "registry": "staging"})
    here = CopyFrom.model_validate({"from": "stg", "version": 7})

    def rule(where: str) -> SoakRule:
        return SoakRule.model_validate({"soak": "1h", "in": where})

    assert soak_key(rule("staging:stg@a"), "prod", 3) == "staging:stg"
    assert soak_key(rule("stg@a"), "prod", across) == "staging:stg"
    assert soak_key(rule("a"), "prod", across) == "prod"
    assert soak_key(rule("stg@a"), "prod", here) == "stg"
    for bad in ("Bad!:stg@a", "staging:@a", "staging:x:y@a"):
        with pytest.raises(ValueError):
            rule(bad)


def test_a_soak_on_another_server_counts_only_that_servers_log(tmp_path: Path) -> None:
    """The gate reads staging's alias and staging's apply log (sets keyed staging:stg);
    a set of a same-named model in this server's own log never counts."""
    from datetime import datetime, timedelta, timezone

    from reconciler.core.observed import AliasSet, ObservedState
    from reconciler.core.resolve import Resolved
    from reconciler.core.soak import check_soak
    from reconciler.state.models import CopyFrom, SoakRule

    copy = CopyFrom.model_validate({"from": "stg", "version": 7, "registry": "staging"})
    target = Resolved("prod", "champion", copy, None, ObservedVersion(7))
    rule = SoakRule.model_validate({"soak": "24h", "in": "stg@champion"})
    held = {"staging:stg": ObservedModel("stg", {"champion": 7})}
    now = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
    then = int((now - timedelta(hours=25)).timestamp() * 1000)
    local = [AliasSet("r-local", "stg", "champion", 7, then)]
    refused = check_soak(target, rule, ObservedState(held), local, now)
    assert "no verified apply set staging:stg@champion to v7" in refused.reason
    there = [AliasSet("r-staging", "staging:stg", "champion", 7, then)]
    assert check_soak(target, rule, ObservedState(held), there, now).passed
    (tmp_path / "p.yaml").write_text(
        "registry: prod\nmodels:\n  churn:\n    aliases: {champion: 3}\n"
        "    gates:\n      champion: [{soak: 1h, in: 'staging:stg@champion'}]\n",
        encoding="utf-8",
    )
    assert references(load_state(tmp_path)) == {"staging": {"stg"}}
