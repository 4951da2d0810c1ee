"""Errors in state files (issue 12, point 1): all of them, located, sorted, said once,
each saying what to write. Offline: `validate` makes no registry call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.state.explain import suggest, valid_keys

THREE_TYPOS = """models:
  churn:
    alias: {champion: 1}
    tags:
      priority: 3
    descripton: "x"
"""


def validate(cwd: Path, *args: str) -> Result:
    """Run `reconciler validate` from ``cwd`` as a user would."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["validate", *args], env={"NO_COLOR": "1"})
    finally:
        os.chdir(old)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_one_run_reports_every_error_of_every_file_sorted_with_a_count(tmp_path: Path) -> None:
    """Three typos in one file, a broken file and a cross-file duplicate: one run says all."""
    write(tmp_path / "state" / "a.yaml", THREE_TYPOS)
    write(tmp_path / "state" / "b.yaml", "models:\n  x: [\n")
    write(tmp_path / "state" / "c.yaml", "models:\n  fraud: {}\n")
    write(tmp_path / "state" / "d.yaml", "\nmodels:\n  fraud: {aliases: {champion: 2}}\n")
    result = validate(tmp_path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: state/a.yaml:3: churn: unknown key 'alias': did you mean 'aliases'?",
        'error: state/a.yaml:5: churn.tags.priority: tag values are strings: write "3"',
        "error: state/a.yaml:6: churn: unknown key 'descripton': did you mean 'description'?",
        "error: state/b.yaml:3: invalid YAML: did not find expected node content",
        "error: state/d.yaml:3: model 'fraud' is declared in two files: state/c.yaml:2 "
        "and state/d.yaml:3",
        "5 errors in 3 files",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "models:\n  m:\n    aliases: {champion: '1'}\n",
            "state/s.yaml:3: m.aliases.champion: a version number, not a string: write 1",
        ),
        (
            "models:\n  m:\n    aliases: {champion: 2.0}\n",
            "m.aliases.champion: a version number is a whole number: write 2",
        ),
        (
            "models:\n  m:\n    tags: {ok: yes}\n",
            'state/s.yaml:3: m.tags.ok: tag values are strings: write "yes"',
        ),
        (
            "models:\n  churn:\n",
            "state/s.yaml:2: churn: model 'churn' has an empty body: declare what to manage "
            "(e.g. aliases: {champion: 1}), or write 'churn: {}' to manage nothing yet",
        ),
        (
            "models:\n  m:\n    stages: {Prod: 1}\n",
            "unknown stage 'Prod': did you mean 'Production'?",
        ),
        ("models:\n  m:\n    prune: 'yes'\n", "m.prune: must be true or false (no quotes)"),
        (
            "models:\n  m:\n    aliases: {a: 1}\n    gates:\n      a:\n"
            "        - {metric: auc, min: '0.8'}\n",
            "state/s.yaml:6: m.gates.a.0.min: must be a number, not a string: write 0.8",
        ),
        ("models:\n  m:\n    aliases: {a: 0}\n", "m.aliases.a: version numbers start at 1, not 0"),
        ("modles: {}\n", "state/s.yaml:1: unknown key 'modles': did you mean 'models'?"),
        ("version: 2\n", "state/s.yaml:1: version: must be 1, not 2"),
        ("models:\n", "'models' is empty: list models under it, or write 'models: {}'"),
        ("models:\n  m:\n    zzz: 1\n", "unknown key 'zzz' (valid here: aliases, prune,"),
    ],
)
def test_type_and_key_errors_say_what_to_write(tmp_path: Path, body: str, expected: str) -> None:
    """Each mistake is one located line that names the fix, not pydantic's wording."""
    write(tmp_path / "state" / "s.yaml", body)
    result = validate(tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Input should" not in result.stderr and "instance of" not in result.stderr


def test_duplicate_keys_and_schema_errors_of_one_file_come_together(tmp_path: Path) -> None:
    """A duplicate key does not hide the schema errors around it (and vice versa)."""
    write(
        tmp_path / "state" / "s.yaml",
        "models:\n  m: {aliases: {a: 1}}\n  m: {}\n  n:\n    alias: {}\n",
    )
    result = validate(tmp_path)
    assert result.stderr.splitlines() == [
        "error: state/s.yaml:3: duplicate key 'm' (first defined on line 2)",
        "error: state/s.yaml:5: n: unknown key 'alias': did you mean 'aliases'?",
        "2 errors in 1 file",
    ]


def test_a_single_error_has_no_count_line(tmp_path: Path) -> None:
    """One error is one line: the count appears only when there are several."""
    write(tmp_path / "state" / "s.yaml", "models:\n  m:\n    alias: {}\n")
    result = validate(tmp_path)
    assert (
        result.stderr == "error: state/s.yaml:3: m: unknown key 'alias': did you mean 'aliases'?\n"
    )


def test_valid_keys_come_from_the_state_models() -> None:
    """The keys suggested at each place are the fields of the model that lives there."""
    assert "aliases" in valid_keys(("models", "m"))
    assert valid_keys(("models", "m", "stages")) == ["Staging", "Production"]
    assert set(valid_keys(("models", "m", "gates", "a", 0))) >= {"metric", "min", "max"}
    assert set(valid_keys(("models", "m", "versions", "7"))) == {"tags", "description"}
    assert valid_keys(("models", "m", "tags")) == []


def test_suggest_prefers_case_then_prefix_then_similarity() -> None:
    """Suggestions: a case slip, an unfinished word, a typo; nothing for a stranger."""
    assert suggest("Aliases", ["aliases", "tags"]) == "aliases"
    assert suggest("Prod", ["Staging", "Production"]) == "Production"
    assert suggest("descripton", ["description", "tags"]) == "description"
    assert suggest("zzz", ["aliases", "tags"]) is None
