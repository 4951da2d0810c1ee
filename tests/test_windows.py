"""Promotion windows and soak gates against a real mlflow server (SPEC v4 §18)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Cli, write_state
from tests.support.seed import client, seed_model

ALWAYS_DENY = '{deny: "* * * * *", duration: 1h, reason: "release freeze"}'


def closed_allow() -> str:
    """An allow window that opens 12 hours from now for one hour: closed now."""
    opens = datetime.now(timezone.utc) + timedelta(hours=12)
    return f'{{allow: "{opens.minute} {opens.hour} * * *", duration: 1h}}'


def state(a: str, b: str, va: int, vb: int, windows: str) -> str:
    return (
        f"models:\n  {a}:\n    aliases: {{champion: {va}}}\n    windows:\n      - {windows}\n"
        f"  {b}:\n    aliases: {{champion: {vb}}}\n"
    )


def apply_runs(url: str, experiment: str) -> list[dict[str, str]]:
    c = client(url)
    found = c.get_experiment_by_name(experiment)
    runs = c.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"])
    return [dict(r.data.tags) | {"status": r.info.status, "run_id": r.info.run_id} for r in runs]


def champion(url: str, model: str) -> int | None:
    value = client(url).get_registered_model(model).aliases.get("champion")
    return None if value is None else int(value)


def test_deny_window_holds_and_override_records_reason(
    cli_sqlite: Cli, name: str, apply_experiment: str
) -> None:
    """plan shows the block (text, JSON); apply holds it and applies the rest, exit 1; the
    override applies it and records its reason on the apply run."""
    url, frozen, free = cli_sqlite.url, f"{name}-a", f"{name}-b"
    seed_model(url, frozen, [{}, {}], {"champion": 1})
    seed_model(url, free, [{}, {}], {"champion": 1})
    write_state(cli_sqlite.cwd, state(frozen, free, 2, 2, ALWAYS_DENY))
    planned = cli_sqlite("plan")
    assert planned.exit_code == 0, planned.output
    assert 'blocked: deny "* * * * *" for 1h (release freeze), which never closes' in planned.stdout
    data = json.loads(cli_sqlite("plan", "--format", "json").stdout)
    held = [c["blocked"] for c in data["changes"] if c["model"] == frozen]
    assert held and held[0]["window"] == 'deny "* * * * *" for 1h'
    assert held[0]["reason"] == "release freeze" and held[0]["until"].endswith("Z")
    assert all("blocked" not in c for c in data["changes"] if c["model"] == free)

    applied = cli_sqlite("apply", "--yes")
    assert applied.exit_code == 1, applied.output
    assert f"held         {frozen}: deny" in applied.stdout
    assert "1 model(s) held by a promotion window" in applied.stderr
    assert (champion(url, frozen), champion(url, free)) == (1, 2)

    forced = cli_sqlite("apply", "--yes", "--override-window", "hotfix INC-42")
    assert forced.exit_code == 0, forced.output
    assert champion(url, frozen) == 2
    runs = apply_runs(url, apply_experiment)
    assert runs[0]["reconciler.override"] == "hotfix INC-42"
    assert runs[0]["status"] == "FINISHED"
    assert "reconciler.override" not in runs[1]
    assert json.loads(runs[0]["reconciler.aliases"]) == {f"{frozen}@champion": 2}


def test_closed_allow_window_blocks(cli_sqlite: Cli, name: str) -> None:
    """A model whose only allow window is closed now is held; nothing is written to it."""
    url, gated, free = cli_sqlite.url, f"{name}-a", f"{name}-b"
    seed_model(url, gated, [{}, {}], {"champion": 1})
    seed_model(url, free, [{}], {"champion": 1})
    write_state(cli_sqlite.cwd, state(gated, free, 2, 1, closed_allow()))
    applied = cli_sqlite("apply", "--yes")
    assert applied.exit_code == 1, applied.output
    assert f"held         {gated}: allow" in applied.stdout
    assert champion(url, gated) == 1
    md = cli_sqlite("plan", "--format", "markdown").stdout
    assert "Held by a promotion window" in md


def soak_state(staging: str, prod: str, staging_version: int, soak: str) -> str:
    return (
        f"models:\n  {staging}:\n    aliases: {{champion: {staging_version}}}\n"
        f"  {prod}:\n    aliases:\n      champion: {{from: {staging}, version: 2}}\n"
        f"    gates:\n      champion:\n        - {{soak: {soak}, in: {staging}@champion}}\n"
    )


def test_soak_gate_fails_then_passes(cli_sqlite: Cli, name: str, apply_experiment: str) -> None:
    """No apply set it: fails; set by an apply: fails with how long of how long; once the
    soak time has passed (a shorter soak stands in for waiting), it passes and applies."""
    url, staging, prod = cli_sqlite.url, f"{name}-staging", f"{name}-prod"
    seed_model(url, staging, [{}, {}], {"champion": 2})
    write_state(cli_sqlite.cwd, soak_state(staging, prod, 2, "24h"))
    never = cli_sqlite("plan")
    assert never.exit_code == 1
    assert f"no verified apply set {staging}@champion to v2" in never.stderr

    client(url).set_registered_model_alias(staging, "champion", "1")
    first = cli_sqlite("apply", "--yes", "--model", staging)  # staging v2 by a logged apply
    assert first.exit_code == 0, first.output
    young = cli_sqlite("plan")
    assert young.exit_code == 1
    assert f"{staging} v2 has held champion for " in young.stderr
    assert "of 24h (since " in young.stderr and ", run " in young.stderr

    # time goes by: the staging apply ended two days ago
    run = apply_runs(url, apply_experiment)[0]
    assert json.loads(run["reconciler.aliases"]) == {f"{staging}@champion": 2}
    two_days = int((datetime.now(timezone.utc) - timedelta(days=2)).timestamp() * 1000)
    client(url).set_terminated(run["run_id"], "FINISHED", end_time=two_days)
    done = cli_sqlite("apply", "--yes")
    assert done.exit_code == 0, done.output
    assert "champion -> version 2: soak held 2d, needs 1d: passed" in done.stdout
    assert champion(url, prod) == 1

    client(url).set_registered_model_alias(staging, "champion", "1")  # moved away by hand
    text = soak_state(staging, prod, 1, "24h").replace("version: 2", "version: 1")
    write_state(cli_sqlite.cwd, text)
    back = cli_sqlite("plan")
    assert back.exit_code == 1
    assert f"no verified apply set {staging}@champion to v1" in back.stderr


def test_auto_sync_waits_for_the_window_and_a_heal_does_not(cli_sqlite: Cli, name: str) -> None:
    """serve's restore: a new commit (auto-sync) is held by a deny window; a heal of the
    last applied state goes through it."""
    from reconciler import api
    from reconciler.serve.heal import restore

    url, model = cli_sqlite.url, f"{name}-a"
    seed_model(url, model, [{}, {}], {"champion": 1})
    path = write_state(cli_sqlite.cwd, state(model, f"{name}-b", 2, 1, ALWAYS_DENY))
    desired = api.validate(path / "models.yaml", (model,)).parts[0]
    registry = api.connect(url)
    repo, seen = "local:test", frozenset[str]()
    held = restore(registry, desired, model, "abc123", repo, seen, windows=True)
    assert (held.result, champion(url, model)) == ("held", 1)
    assert "release freeze" in held.detail and held.changes and not held.run_id
    healed = restore(registry, desired, model, "abc123", repo, seen)
    assert (healed.result, champion(url, model)) == ("healed", 2) and healed.run_id


def test_with_a_key_a_moved_end_time_or_forged_run_soaks_nothing(
    cli_sqlite: Cli, name: str, apply_experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RECONCILER_LOG_KEY set: moving a verified apply's end two days back (what anyone
    who can write the experiment can do) breaks its seal, and an unsigned run claiming the
    alias was set long ago does not count either: the soak gate finds no apply."""
    monkeypatch.setenv("RECONCILER_LOG_KEY", "soak-key")
    url, staging, prod = cli_sqlite.url, f"{name}-staging", f"{name}-prod"
    seed_model(url, staging, [{}, {}], {"champion": 1})
    write_state(cli_sqlite.cwd, soak_state(staging, prod, 2, "24h"))
    first = cli_sqlite("apply", "--yes", "--model", staging)
    assert first.exit_code == 0, first.output
    young = cli_sqlite("plan")
    assert f"{staging} v2 has held champion for " in young.stderr  # sealed: it counts
    run = apply_runs(url, apply_experiment)[0]
    two_days = int((datetime.now(timezone.utc) - timedelta(days=2)).timestamp() * 1000)
    client(url).set_terminated(run["run_id"], "FINISHED", end_time=two_days)
    c = client(url)
    exp = c.get_experiment_by_name(apply_experiment).experiment_id
    forged = c.create_run(
        exp,
        start_time=two_days,
        tags={"reconciler.aliases": json.dumps({f"{staging}@champion": 2})},
    )
    c.set_terminated(forged.info.run_id, "FINISHED", end_time=two_days)
    moved = cli_sqlite("plan")
    assert moved.exit_code == 1, moved.output
    assert f"no verified apply set {staging}@champion to v2" in moved.stderr
