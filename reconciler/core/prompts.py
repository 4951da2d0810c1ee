"""Prompts (SPEC v4 §20): what the plan needs to know that a model does not. Pure.

A prompt is a registered model tagged ``mlflow.prompt.is_prompt``; its versions carry
the template in the version tag ``mlflow.prompt.text`` and the commit message as their
description. Everything else (aliases, tags, ownership, apply, verify) is the model path
unchanged. This module holds the two differences: a declared kind must match the
registry's (models and prompts never mix), and the evidence of a prompt alias move is
the unified diff of the two templates, cut at ``DIFF_LINES`` with a line saying so.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"
TEXT_TAG = "mlflow.prompt.text"
RESERVED_VERSION_TAGS = frozenset(
    {
        IS_PROMPT_TAG,
        TEXT_TAG,
        "_mlflow_prompt_type",
        "_mlflow_prompt_response_format",
        "_mlflow_prompt_model_config",
    }
)
"""MLflow's own prompt-version tags: the template and its type, never shown as tags."""
DIFF_LINES = 200
"""Unified-diff lines kept in a plan; the rest is counted in one line."""


def is_prompt(tags: Mapping[str, str]) -> bool:
    """Whether registered-model tags mark a prompt."""
    return str(tags.get(IS_PROMPT_TAG, "")).lower() == "true"


def own_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A prompt's (or prompt version's) own tags, without the template and MLflow's
    markers (``mlflow.prompt.*``, and ``_mlflow_*``: its names where dots are not allowed)."""
    return {
        k: v
        for k, v in tags.items()
        if k not in RESERVED_VERSION_TAGS and not k.startswith("_mlflow")
    }


def by_kind(names: Iterable[str], prompts: Iterable[str]) -> tuple[list[str], list[str]]:
    """(models, prompts) among ``names``: the two reads the registry keeps apart."""
    asked = set(prompts)
    listed = list(names)
    return [n for n in listed if n not in asked], [n for n in listed if n in asked]


def kind_problem(name: str, declared_prompt: bool, observed_prompt: bool) -> str | None:
    """Why a declared name cannot be planned: it is the other kind in the registry."""
    if declared_prompt == observed_prompt:
        return None
    if declared_prompt:
        return f"{name!r} is a registered model, not a prompt: declare it under models:"
    return f"{name!r} is a prompt, not a registered model: declare it under prompts:"


@dataclass(frozen=True)
class TemplateDiff:
    """The template text of the version that holds an alias against the one that gains it."""

    before_version: int | None
    """The holder (None: nothing holds the alias; the diff is from empty)."""
    after_version: int
    before_message: str
    """The holder's commit message ("" when none)."""
    after_message: str
    lines: tuple[str, ...]
    """Unified diff lines (``---``/``+++`` headers first), at most ``DIFF_LINES``."""
    cut: int = 0
    """Lines left out of ``lines`` (0: the diff is whole)."""

    @property
    def same(self) -> bool:
        """True when both versions hold the same text."""
        return not self.lines


def template_diff(
    before: tuple[int, str, str] | None, after: tuple[int, str, str], limit: int = DIFF_LINES
) -> TemplateDiff:
    """The diff between (version, template, commit message) ``before`` and ``after``."""
    old_text = before[1] if before else ""
    old_name = f"v{before[0]}" if before else "(none)"
    full = list(
        difflib.unified_diff(
            old_text.splitlines(),
            after[1].splitlines(),
            fromfile=old_name,
            tofile=f"v{after[0]}",
            lineterm="",
        )
    )
    return TemplateDiff(
        before[0] if before else None,
        after[0],
        before[2] if before else "",
        after[2],
        tuple(full[:limit]),
        max(0, len(full) - limit),
    )
