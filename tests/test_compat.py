"""Server compatibility: the read strategies agree on every server of the matrix, an MLflow
2.x server is recognised from its first refusal (once per registry object), a server too
old for aliases is refused in one line, and prompts are never taken for models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from reconciler.mlflow.compat import Read, choose_read, equals_literal, parse_version, too_old
from reconciler.mlflow.registry import MlflowRegistry
from tests.conftest import Cli, write_state
from tests.support.auth import TokenProxy
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client, seed_model


@pytest.fixture
def requests_sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts every HTTP request this process sends, by ``METHOD path`` (like bench/)."""
    sent: Counter[str] = Counter()
    send = requests.Session.send

    def counting(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        sent[f"{request.method} {request.path_url.split('?')[0]}"] += 1
        return send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", counting)
    yield sent


def seed_rich(url: str, name: str) -> None:
    """Aliases, model and version tags, descriptions and a stage: everything read() reads."""
    seed_model(url, name, [{}, {}, {}], {"champion": 2, "archived": 1})
    c = client(url)
    c.set_registered_model_tag(name, "team", "growth")
    c.update_registered_model(name, "a description")
    c.set_model_version_tag(name, "2", "validation_status", "approved")
    c.update_model_version(name, "3", "a version description")
    c.transition_model_version_stage(name, "2", "Production")


def test_choose_read_learns_and_switches_for_many_names() -> None:
    """IN lists until refused; then one by one for few names, one pass for many."""
    names = [f"m{i}" for i in range(101)]
    assert choose_read(names[:3], None) is Read.IN_LISTS
    assert choose_read(names[:100], True) is Read.IN_LISTS
    assert choose_read(names, None) is Read.EVERYTHING
    assert choose_read(names[:3], False) is Read.ONE_BY_ONE
    assert choose_read(names[:20], False) is Read.ONE_BY_ONE
    assert choose_read(names[:21], False) is Read.EVERYTHING
    assert choose_read(["it's", 'say "hi"', 'it\'s "odd"'], False) is Read.EVERYTHING


def test_equals_literals_take_the_name_verbatim_in_either_quote() -> None:
    """No escapes in ``name = ...``: the other quote mark, or None when both occur."""
    assert equals_literal("a\\b") == "'a\\b'"
    assert equals_literal("it's") == '"it\'s"'
    assert equals_literal('say "hi"') == "'say \"hi\"'"
    assert equals_literal('it\'s "odd"') is None


def test_server_versions_are_parsed_and_pre_alias_servers_named() -> None:
    """'2.22.4' parses; a 2.2 server is too old (no aliases), 2.3 and later are not."""
    assert parse_version("2.22.4\n") == (2, 22, 4)
    assert parse_version("3.0.0rc1") == (3, 0, 0)
    assert parse_version("<html>") is None
    assert too_old("2.2.1") is not None and "2.2.1" in (too_old("2.2.1") or "")
    assert too_old("2.3.0") is None and too_old("3.17.2") is None and too_old("?") is None


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_every_read_strategy_returns_the_same_state(server: MlflowServer, name: str) -> None:
    """One by one, one unfiltered pass and (where the server accepts it) IN lists agree,
    also for names with quotes."""
    names = [name, f"{name}-b", f"{name} it's", f'{name} "it\'s"']
    for model in names:
        seed_rich(server.url, model)
    seed_model(server.url, f"{name}-decoy", [{}])
    registry = MlflowRegistry(server.url)
    wanted = [*names, f"{name}-missing"]
    expected = registry.read(wanted)
    assert sorted(expected.models) == sorted(names)
    assert expected.models[name].aliases == {"champion": 2, "archived": 1}
    assert expected.models[name].versions[2].stage == "Production"
    assert registry.read_by(Read.ONE_BY_ONE, wanted) == expected
    assert registry.read_by(Read.EVERYTHING, wanted) == expected
    if registry.in_lists is not False:
        assert registry.read_by(Read.IN_LISTS, wanted) == expected


def test_mlflow2_server_is_learned_once_per_registry(
    mlflow2_server: MlflowServer, name: str, requests_sent: Counter[str]
) -> None:
    """On 2.22 the first read costs one refused IN search and one /version, later ones not."""
    seed_model(mlflow2_server.url, name, [{}], {"champion": 1})
    registry = MlflowRegistry(mlflow2_server.url)
    requests_sent.clear()
    first = registry.read([name])
    assert first.models[name].aliases == {"champion": 1}
    assert registry.in_lists is False and registry.server_version == mlflow2_server.version()
    # the refused IN search, one /version, then one search of each kind per model (the
    # model and version searches run at once, so both may be sent and refused)
    assert requests_sent["GET /version"] == 1
    assert sum(requests_sent.values()) in (4, 5)
    requests_sent.clear()
    assert registry.read([name]) == first
    assert sum(requests_sent.values()) == 2


def test_mlflow3_read_of_few_models_costs_two_requests(
    sqlite_server: MlflowServer, name: str, requests_sent: Counter[str]
) -> None:
    """On 3.x nothing is probed: two IN-filtered searches, as before 2.x support."""
    seed_model(sqlite_server.url, name, [{}], {"champion": 1})
    registry = MlflowRegistry(sqlite_server.url)
    requests_sent.clear()
    registry.read([name, f"{name}-other"])
    assert sum(requests_sent.values()) == 2 and registry.in_lists is None


def test_server_too_old_for_aliases_is_refused_in_one_line(
    mlflow2_server: MlflowServer, tmp_path: Path, name: str
) -> None:
    """A 2.x server that says it is 2.2.1 (no aliases) fails plan in one line naming it."""
    seed_model(mlflow2_server.url, name, [{}], {"champion": 1})
    with TokenProxy(mlflow2_server.url, None, answers={"/version": "2.2.1"}) as proxy:
        cli = Cli(proxy.url, tmp_path)
        state = write_state(tmp_path, f"models:\n  {name}:\n    aliases: {{champion: 1}}\n")
        result = cli("plan", "--state", str(state))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: the registry at {proxy.url} runs MLflow 2.2.1, which has no registered model "
        "aliases (they need an MLflow server >= 2.3; 2.9.2 and newer are verified)"
    ]


def test_prompts_are_not_imported_as_models(cli_sqlite: Cli, name: str) -> None:
    """MLflow 3 prompts live in the model registry; import writes them under prompts:
    (SPEC v4 §20), never under models:, and plan never takes one for a model."""
    import mlflow

    mlflow.set_tracking_uri(cli_sqlite.url)
    mlflow.genai.register_prompt(name=f"{name}-prompt", template="Hello {{name}}")
    seed_model(cli_sqlite.url, name, [{}], {"champion": 1})
    result = cli_sqlite("import")
    assert result.exit_code == 0, result.output
    body = yaml.safe_load(result.stdout)
    assert name in body["models"] and f"{name}-prompt" not in body["models"]
    assert body["prompts"][f"{name}-prompt"] == {"aliases": {}}
    state = write_state(cli_sqlite.cwd, f"models:\n  {name}-prompt:\n    aliases: {{a: 1}}\n")
    plan = cli_sqlite("plan", "--state", str(state), "--format", "json")
    assert plan.exit_code == 1 and "declare it under prompts:" in plan.stderr, plan.output
