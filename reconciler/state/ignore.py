"""``ignore``: keys the state hands back to pipelines and people (SPEC v3 §11)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

Pattern = Annotated[StrictStr, Field(min_length=1, max_length=255)]
"""An fnmatch pattern (``candidate``, ``shadow-*``, ``pipeline.*``), case-sensitive."""


class IgnoreSpec(BaseModel):
    """Keys the state hands back to pipelines and people: never a change or a note; a key
    the state managed before is released, its live value left as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: list[Pattern] = []
    """Alias names."""
    tags: list[Pattern] = []
    """Registered-model tag keys."""
    version_tags: list[Pattern] = []
    """Model-version tag keys."""

    def merged(self, other: IgnoreSpec) -> IgnoreSpec:
        """Both sets of patterns (a file's ``defaults`` and a model's own)."""
        return IgnoreSpec(
            aliases=list(dict.fromkeys([*self.aliases, *other.aliases])),
            tags=list(dict.fromkeys([*self.tags, *other.tags])),
            version_tags=list(dict.fromkeys([*self.version_tags, *other.version_tags])),
        )

    def __bool__(self) -> bool:
        return bool(self.aliases or self.tags or self.version_tags)

    def alias(self, name: str) -> str | None:
        """The pattern that ignores alias ``name``, or None."""
        return next((p for p in self.aliases if fnmatchcase(name, p)), None)

    def tag(self, key: str) -> str | None:
        return next((p for p in self.tags if fnmatchcase(key, p)), None)

    def version_tag(self, key: str) -> str | None:
        return next((p for p in self.version_tags if fnmatchcase(key, p)), None)
