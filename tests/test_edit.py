"""Unit tests of the surgical YAML editor on plain text (no registry, no files unless needed)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import StateError
from reconciler.state.edit import rewrite_aliases, set_aliases

BLOCK = """\
# top comment
version: 1
models:

  # the churn model
  churn:
    aliases:
      champion: 7   # serving
      archived: 5
    tags: {team: growth}

  other:
    aliases: {champion: 1}
"""


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_block_values_replaced_in_place_keeping_comments() -> None:
    """Replacing two block values changes exactly those two lines; comments stay."""
    after = set_aliases(BLOCK, "churn", {"champion": 8, "archived": 7})
    assert changed_lines(BLOCK, after) == [
        "-      champion: 7   # serving",
        "-      archived: 5",
        "+      champion: 8   # serving",
        "+      archived: 7",
    ]
    assert yaml.safe_load(after)["models"]["churn"]["aliases"] == {"champion": 8, "archived": 7}


def test_missing_block_alias_is_inserted_with_sibling_indentation() -> None:
    """A missing alias becomes one new line indented like its siblings."""
    text = "models:\n  m:\n    aliases:\n      champion: 2  # c\n    prune: false\n"
    after = set_aliases(text, "m", {"champion": 3, "archived": 2})
    assert after == (
        "models:\n  m:\n    aliases:\n      champion: 3  # c\n      archived: 2\n    prune: false\n"
    )


def test_flow_mapping_gets_value_replaced_and_entry_appended() -> None:
    """In ``{champion: 1}`` the value is replaced and ``, archived: 1`` appended."""
    after = set_aliases(BLOCK, "other", {"champion": 2, "archived": 1})
    assert "    aliases: {champion: 2, archived: 1}\n" in after
    assert changed_lines(BLOCK, after) == [
        "-    aliases: {champion: 1}",
        "+    aliases: {champion: 2, archived: 1}",
    ]


def test_empty_flow_mapping_and_missing_aliases_key() -> None:
    """``aliases: {}`` and a model without ``aliases`` both get the alias added."""
    assert (
        set_aliases("models:\n  m: {aliases: {}}\n", "m", {"champion": 1})
        == "models:\n  m: {aliases: {champion: 1}}\n"
    )
    text = "models:\n  m:\n    tags:\n      a: b\n\n  n: {}\n"
    after = set_aliases(text, "m", {"champion": 4})
    assert after == (
        "models:\n  m:\n    tags:\n      a: b\n    aliases:\n      champion: 4\n\n  n: {}\n"
    )


def test_quoted_model_names_and_crlf_are_handled() -> None:
    """A model name written quoted is found; CRLF line endings are kept on inserted lines."""
    text = 'models:\r\n  "a b: c":\r\n    aliases:\r\n      champion: 1\r\n'
    after = set_aliases(text, "a b: c", {"champion": 2, "archived": 1})
    assert after == (
        'models:\r\n  "a b: c":\r\n    aliases:\r\n      champion: 2\r\n      archived: 1\r\n'
    )


def test_unknown_model_is_an_error() -> None:
    """Editing a model the file does not declare raises StateError."""
    with pytest.raises(StateError, match="not declared"):
        set_aliases(BLOCK, "nope", {"champion": 1})


def test_rewrite_refuses_to_write_an_unexpected_result(tmp_path: Path) -> None:
    """rewrite_aliases validates the result: a valid edit is written, file otherwise untouched."""
    path = tmp_path / "s.yaml"
    path.write_text(BLOCK, encoding="utf-8")
    rewrite_aliases(path, "churn", {"champion": 9, "archived": 7})
    assert "champion: 9   # serving" in path.read_text(encoding="utf-8")
    assert not list(tmp_path.glob(".*"))


@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_any_promotion_changes_at_most_two_lines(new: int, old: int) -> None:
    """Property: setting champion and archived changes at most two lines of a commented file."""
    after = set_aliases(BLOCK, "churn", {"champion": new, "archived": old})
    assert len([d for d in changed_lines(BLOCK, after) if d.startswith("+")]) <= 2
    assert "# the churn model" in after and "# serving" in after
    assert yaml.safe_load(after)["models"]["churn"]["aliases"] == {"champion": new, "archived": old}
