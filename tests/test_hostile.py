"""Hostile input to `validate`: never a traceback, always one `error:` line and exit 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
VALID = """version: 1
models:
  churn:
    aliases: {champion: 7, archived: 5}
    prune: false
    description: "Churn"
    tags: {team: growth}
    versions:
      7: {tags: {ok: "yes"}}
    stages: {Production: 7}
    gates:
      champion:
        - {metric: auc, min: 0.8}
"""


def validate(path: Path) -> Result:
    return CliRunner().invoke(main, ["validate", "--state", str(path)], catch_exceptions=True)


def assert_clean(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1)
    if result.exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "Traceback" not in result.output


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=300))
def test_random_text_is_accepted_or_rejected_cleanly(tmp_path: Path, text: str) -> None:
    """Arbitrary text never crashes validate."""
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="replace")
    assert_clean(validate(path))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    position=st.integers(0, len(VALID) - 1),
    insert=st.text(min_size=1, max_size=6),
    delete=st.integers(0, 5),
)
def test_mutations_of_a_valid_file_are_handled_cleanly(
    tmp_path: Path, position: int, insert: str, delete: int
) -> None:
    """Small edits anywhere in a valid file give exit 0 or one error line."""
    path = tmp_path / "s.yaml"
    path.write_text(VALID[:position] + insert + VALID[position + delete :], encoding="utf-8")
    assert_clean(validate(path))


def test_the_valid_file_is_valid(tmp_path: Path) -> None:
    """The base of the mutations is itself valid (so mutations test something)."""
    (tmp_path / "s.yaml").write_text(VALID)
    assert validate(tmp_path / "s.yaml").exit_code == 0


BOMB = "a: &a ['x','x']\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BOMB.encode(), "anchors"),
        (b"models: !!python/object/apply:os.system ['true']\n", "tags are not allowed"),
        (b"models:\n  m:\n    aliases: {a: 1}\n  \xff\xfe: 1\n", "not valid UTF-8"),
        (b"models:\n  m:\n\taliases: {}\n", "invalid YAML"),
        (b"models:\n  m\x00: {}\n", "invalid YAML"),
        (b"models:\n  m:\n    aliases: {a: 99999999999999999999999}\n", "less than or equal"),
        (("x:\n" + "".join("  " * i + "- \n" for i in range(1, 200))).encode(), "nesting"),
        (b"[" * 10_000 + b"]" * 10_000, "nesting"),
        (b"models:\n  'a/b': {}\n", "cannot contain"),
        (b"---\nmodels: {}\n---\nmodels: {}\n", "invalid YAML"),
    ],
)
def test_named_hostile_files_are_rejected_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """YAML bombs, custom tags, bad bytes, tabs, NUL, huge ints, deep nesting are refused."""
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    result = validate(path)
    assert_clean(result)
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_a_100_mb_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Files over 1 MiB are refused by size."""
    path = tmp_path / "s.yaml"
    with open(path, "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    result = validate(path)
    assert result.exit_code == 1 and "limited to 1 MiB" in result.stderr


def test_bom_and_odd_names_are_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM and names with quotes, backslashes, unicode and % _ load fine."""
    body = {"models": {'it\'s "q"': {}, "back\\slash": {}, "ünï-çødé": {}, "50%_off": {}}}
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(body, allow_unicode=True).encode())
    result = validate(path)
    assert result.exit_code == 0 and "4 model(s)" in result.stdout


def test_symlinked_directory_outside_state_is_refused(tmp_path: Path) -> None:
    """A directory symlink inside state/ that leaves it is refused before reading."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text("models: {}\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / "link").symlink_to(outside)
    result = validate(state)
    assert result.exit_code == 1 and "outside the state directory" in result.stderr
