"""``ignore`` and ``import --exclude-*`` against a real mlflow server (SPEC §11): keys
handed back to a pipeline stay invisible; a key the state managed is released, not removed.
"""

from __future__ import annotations

import json

import yaml

from tests.conftest import Cli, write_state
from tests.support.seed import client
from tests.test_faults import aliases_of, fast_model


def test_import_excluding_a_pipeline_alias_then_plan_shows_nothing(cli: Cli, name: str) -> None:
    """import --exclude-alias/--exclude-tag leaves those keys out and writes the patterns
    into ignore; plan right after and after the pipeline moves them: no changes, no notes."""
    fast_model(cli.url, name, 3, {"champion": 1, "candidate": 2})
    c = client(cli.url)
    c.set_registered_model_tag(name, "pipeline.run", "r1")
    c.set_registered_model_tag(name, "team", "growth")
    c.set_model_version_tag(name, "2", "pipeline.score", "0.9")
    hinted = cli("import", "--model", name)
    assert hinted.exit_code == 0, hinted.output
    (hint,) = [line for line in hinted.stderr.splitlines() if line.startswith("hint:")]
    assert f"alias 'candidate' of {name!r} looks set by a pipeline" in hint
    assert "--exclude-alias candidate" in hint
    out = cli.cwd / "state" / "m.yaml"
    result = cli(
        "import",
        "--model",
        name,
        "--exclude-alias",
        "cand*",
        "--exclude-tag",
        "pipeline.*",
        "--out",
        str(out),
        "--state",
        str(cli.cwd / "state"),
    )
    assert result.exit_code == 0, result.output
    assert "hint:" not in result.stderr
    text = out.read_text("utf-8")
    assert "candidate" not in text and "pipeline.run" not in text and "pipeline.score" not in text
    assert "team: growth" in text
    assert yaml.safe_load(text)["defaults"] == {
        "ignore": {"aliases": ["cand*"], "tags": ["pipeline.*"], "version_tags": ["pipeline.*"]}
    }
    plan = cli("plan", "--state", str(out.parent), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    c.set_registered_model_alias(name, "candidate", "3")
    c.set_registered_model_tag(name, "pipeline.run", "r2")
    later = cli("plan", "--state", str(out.parent), "--detailed-exitcode")
    assert later.exit_code == 0, later.output
    assert "candidate" not in later.output and "pipeline" not in later.output


def test_ignoring_a_key_the_state_managed_releases_it_and_keeps_its_value(
    cli: Cli, name: str
) -> None:
    """Declared candidate, applied; then ignored: plan says it is released (a note, not a
    change), apply drops it from reconciler.managed and leaves the alias where it is."""
    fast_model(cli.url, name, 3, {"champion": 1})
    body = f"models:\n  {name}:\n    aliases: {{champion: 1, candidate: 2}}\n"
    state = str(write_state(cli.cwd, body))
    assert cli("apply", "--state", state, "--yes").exit_code == 0
    body = (
        f"models:\n  {name}:\n    aliases: {{champion: 1}}\n    ignore: {{aliases: [candidate]}}\n"
    )
    write_state(cli.cwd, body)
    plan = cli("plan", "--state", state, "--format", "json")
    data = json.loads(plan.stdout)
    assert data["changes"] == []
    (note,) = [n["message"] for n in data["notes"]]
    assert note.startswith("alias candidate is ignored now: released from the ownership record")
    applied = cli("apply", "--state", state, "--yes")
    assert applied.exit_code == 0, applied.output
    managed = json.loads(client(cli.url).get_registered_model(name).tags["reconciler.managed"])
    assert managed["aliases"] == ["champion"]
    assert aliases_of(cli.url, name) == {"champion": 1, "candidate": 2}
    client(cli.url).set_registered_model_alias(name, "candidate", "3")
    after = cli("plan", "--state", state, "--detailed-exitcode")
    assert after.exit_code == 0 and "candidate" not in after.stdout, after.output


def test_validate_names_the_line_of_a_declared_ignored_key(cli_sqlite: Cli) -> None:
    """validate: a declared key that an ignore pattern matches is an error at its line."""
    body = "models:\n  m:\n    aliases:\n      champion: 1\n      candidate: 2\n"
    state = write_state(cli_sqlite.cwd, body + "    ignore: {aliases: ['cand*']}\n")
    result = cli_sqlite("validate", "--state", str(state))
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: state/models.yaml:5: alias 'candidate' is declared but also")
