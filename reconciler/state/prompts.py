"""The ``prompts:`` section (SPEC v4 §20): MLflow 3 prompt-registry aliases in git.

A prompt is a second kind of governed object, not a special case: ``load`` turns each
``PromptSpec`` into the same ``ModelSpec`` the plan, apply and verify already handle
(``models.from_prompt``) and marks its ``Source`` as a prompt, so reads, messages,
``import`` and status keep the two kinds apart. What a prompt cannot have (version
metadata, stages, copies, metric or signature gates: a prompt version has no run and no
MLmodel) is not in its schema, so ``validate`` says so at the line.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictBool, model_validator

from reconciler.state.gaterules import TagRule
from reconciler.state.ignore import IgnoreSpec
from reconciler.state.names import AliasName, Tags, VersionNumber
from reconciler.state.windows import Window


class PromptSpec(BaseModel):
    """Everything the state declares for one prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: dict[AliasName, VersionNumber] = {}
    """alias -> prompt version number; these are managed."""
    prune: StrictBool = False
    """When true, aliases on the prompt that are not listed are removed."""
    tags: Tags = {}
    """Prompt tags; only the listed keys are managed (``mlflow.*`` are MLflow's own)."""
    gates: dict[AliasName, list[TagRule]] = {}
    """alias -> ``{tag: KEY, equals: VALUE}`` conditions on the version gaining it."""
    self_heal: StrictBool = False
    """``reconciler serve`` restores this prompt's last applied aliases when they drift."""
    ignore: IgnoreSpec = IgnoreSpec()
    """Keys left to others (fnmatch patterns); merged with the file's ``defaults``."""
    windows: list[Window] = []
    """When changes may be applied (SPEC v4 §18), after the file's ``defaults``."""
    protect: list[AliasName] | None = None
    """Aliases a plan may not remove (None: the file's ``defaults``, else ``[champion]``)."""

    @model_validator(mode="after")
    def _gates_guard_declared_aliases(self) -> PromptSpec:
        for alias in self.gates:
            if alias not in self.aliases:
                raise ValueError(f"gates name alias {alias!r}, which 'aliases' does not declare")
        return self
