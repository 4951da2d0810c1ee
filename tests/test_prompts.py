"""Prompts on a real ``mlflow server`` (SPEC v4 §20, issue 31's done-when): two prompt
versions, a promotion planned (the template diff in markdown rendered by cmark-gfm, hostile
template text shown literally), applied (``mlflow.genai.load_prompt`` returns the new
version), reverted exactly; ``import`` round-trips models and prompts separately; reads
of 100 prompts take the same few requests as models'; an MLflow 2.22 server is refused in
one line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cli, write_state
from tests.support.cmark import read, to_html
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client, seed_model

HOSTILE_LINE = "</details><script>x</script> [ok](https://evil.example) @octocat ```"
V1 = "You are a support agent.\nAnswer {{question}} politely."
V2 = f"You are a support agent.\nAnswer {{{{question}}}} briefly.\n{HOSTILE_LINE}"


def register(url: str, name: str) -> Any:
    """Two versions of prompt ``name``; ``production`` on v1."""
    c = client(url)
    c.register_prompt(name, V1, commit_message="first draft", tags={"reviewed": "true"})
    c.register_prompt(name, V2, commit_message="shorter", tags={"reviewed": "true"})
    c.set_prompt_alias(name, "production", 1)
    return c


def state_text(name: str, version: int) -> str:
    return (
        f"prompts:\n  {name}:\n    aliases: {{production: {version}}}\n"
        '    gates:\n      production:\n        - {tag: reviewed, equals: "true"}\n'
    )


def load_prompt(url: str, name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What an LLM application loads; MLflow's registry URI (a global and the
    ``MLFLOW_REGISTRY_URI`` variable it sets) is put back afterwards."""
    import mlflow
    from mlflow.tracking._model_registry import utils

    monkeypatch.setattr(utils, "_registry_uri", utils._registry_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", url)
    mlflow.set_registry_uri(url)
    return mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)


def live(url: str, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The prompt's aliases and tags without the tool's own ``reconciler.`` tags."""
    # MlflowClient hides prompts from get_registered_model; its store does not
    found = client(url)._get_registry_client().store.get_registered_model(name)
    tags = {k: v for k, v in found.tags.items() if not k.startswith("reconciler.")}
    return dict(found.aliases), tags


def test_prompt_promotion_is_planned_applied_and_reverted_exactly(
    cli_sqlite: Cli, name: str, cmark: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The done-when story: plan (diff in markdown, literal), apply, load_prompt, revert."""
    url = cli_sqlite.url
    register(url, name)
    before = live(url, name)
    state = write_state(cli_sqlite.cwd, state_text(name, 2))
    planned = cli_sqlite("plan", "--state", str(state), "--format", "markdown")
    assert planned.exit_code == 0, planned.output
    page = read(to_html(planned.stdout, cmark))
    code = "".join(page.code)
    assert f"+{HOSTILE_LINE}" in code and "-Answer {{question}} politely." in code
    assert "script" not in page.tags and page.links  # the version pages, nothing else
    assert all(link.startswith(f"{url}/#/prompts/{name}?promptVersion=") for link in page.links)
    assert "first draft" in code and "shorter" in code  # both commit messages
    text = cli_sqlite("plan", "--state", str(state))
    assert f"prompt {name}" in text.stdout and "~ alias production: 1 -> 2" in text.stdout

    applied = cli_sqlite("apply", "--state", str(state), "--yes")
    assert applied.exit_code == 0, applied.output
    assert load_prompt(url, name, monkeypatch).version == 2
    again = cli_sqlite("plan", "--state", str(state), "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    write_state(cli_sqlite.cwd, state_text(name, 1))
    reverted = cli_sqlite("apply", "--state", str(state), "--yes")
    assert reverted.exit_code == 0, reverted.output
    assert load_prompt(url, name, monkeypatch).version == 1
    assert live(url, name) == before


def test_import_round_trips_models_and_prompts_separately(cli_sqlite: Cli, name: str) -> None:
    """``import`` writes the model under models: and the prompt under prompts:, and a plan
    right after shows no changes."""
    url = cli_sqlite.url
    register(url, f"{name}-prompt")
    seed_model(url, f"{name}-model", aliases={"champion": 1})
    out = cli_sqlite.cwd / "state" / "imported.yaml"
    done = cli_sqlite(
        "import", "--model", f"{name}-model", "--model", f"{name}-prompt", "--out", str(out)
    )
    assert done.exit_code == 0, done.output
    assert "1 model(s) and 1 prompt(s)" in done.stderr
    body = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert body["models"] == {f"{name}-model": {"aliases": {"champion": 1}}}
    imported = {"aliases": {"production": 1}, "tags": {"reviewed": "true"}}
    assert body["prompts"] == {f"{name}-prompt": imported}
    plan = cli_sqlite("plan", "--state", str(out.parent), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output


def test_status_and_a_wrong_kind_find_prompts_by_name(cli_sqlite: Cli, name: str) -> None:
    """``status NAME`` shows a prompt's versions; a prompt under models: is one error."""
    register(cli_sqlite.url, name)
    state = write_state(cli_sqlite.cwd, state_text(name, 1))
    shown = cli_sqlite("status", name, "--state", str(state))
    assert shown.exit_code == 0, shown.output
    assert "production" in shown.stdout and "synced" in shown.stdout
    write_state(cli_sqlite.cwd, f"models:\n  {name}:\n    aliases: {{production: 2}}\n")
    wrong = cli_sqlite("plan", "--state", str(state))
    assert wrong.exit_code == 1
    assert "is a prompt, not a registered model: declare it under prompts:" in wrong.stderr


SEARCH = "GET /api/2.0/mlflow/registered-models/search"
VERSIONS = "GET /api/2.0/mlflow/model-versions/search"


def test_100_prompts_are_read_in_the_same_few_requests_as_models(
    sqlite_server: MlflowServer, name: str, tmp_path: Path
) -> None:
    """Planning 100 prompts: one registered-model search and one version search, no
    per-prompt request; the naive loop (one load per alias) takes 100."""
    c = client(sqlite_server.url)
    names = [f"{name}-{i:03d}" for i in range(100)]
    for prompt in names:
        c.register_prompt(prompt, V1)
        c.set_prompt_alias(prompt, "production", 1)
    text = "prompts:\n" + "".join(f"  {p}:\n    aliases: {{production: 1}}\n" for p in names)
    state = write_state(tmp_path, text)
    with FaultProxy(sqlite_server.url) as proxy:
        result = Cli(proxy.url, tmp_path)("plan", "--state", str(state))
        ours = Counter(proxy.requests)
    assert result.exit_code == 0 and "No changes" in result.stdout, result.output
    assert (ours[SEARCH], ours[VERSIONS], sum(ours.values())) == (1, 1, 2), ours
    with FaultProxy(sqlite_server.url) as proxy:
        for prompt in names:  # the naive baseline: what an alias-by-alias check costs
            client(proxy.url).get_prompt_version_by_alias(prompt, "production")
        naive = sum(Counter(proxy.requests).values())
    assert naive >= 100, naive
    print(f"100 prompts: plan {sum(ours.values())} requests; naive by-alias loop {naive}")


@pytest.mark.mlflow2
def test_a_server_without_the_prompt_registry_is_one_error_line(
    mlflow2_server: MlflowServer, name: str, tmp_path: Path
) -> None:
    """An MLflow 2.22 server: one error line naming what is needed, exit 1."""
    state = write_state(tmp_path, state_text(name, 1))
    result = Cli(mlflow2_server.url, tmp_path)("plan", "--state", str(state))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no prompt registry" in lines[0], result.stderr
    assert "MLflow server >= 3.0" in lines[0] and "Traceback" not in result.output
