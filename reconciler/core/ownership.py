"""The ownership record: which keys of a model the state has declared (SPEC v2 §2).

Like kubectl's last-applied annotation, apply writes one compact record on the
registered model (tag ``reconciler.managed``) with the keys the state declares. The
plan's three-way rule uses it: a key that is recorded but no longer declared is
removed; a key never declared is left alone. The record holds keys, never values,
and is never diffed itself. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.observed import MANAGED_TAG
from reconciler.state.models import IgnoreSpec, ModelSpec

__all__ = [
    "EMPTY",
    "MANAGED_TAG",
    "TAG_VALUE_LIMIT",
    "Managed",
    "declared",
    "encode",
    "parse",
    "release",
]
TAG_VALUE_LIMIT = 5000
"""Tag values are capped at 5,000 characters on MLflow 2.x servers (100,000 on 3.x)."""
RECORD_FORMAT = 1


@dataclass(frozen=True)
class Managed:
    """The keys of one registered model that the state owns."""

    aliases: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    """Registered-model tag keys."""
    description: bool = False
    stages: frozenset[str] = frozenset()
    """Stage names (Staging, Production) the state assigns."""
    version_tags: Mapping[int, frozenset[str]] = field(default_factory=dict)
    """version -> tag keys managed on it."""
    version_descriptions: frozenset[int] = frozenset()
    """Versions whose description is managed."""

    def union(self, other: Managed) -> Managed:
        """Keys owned by either record (written before removals, so none is forgotten)."""
        versions = {
            n: self.version_tags.get(n, frozenset()) | other.version_tags.get(n, frozenset())
            for n in self.version_tags.keys() | other.version_tags.keys()
        }
        return Managed(
            self.aliases | other.aliases,
            self.tags | other.tags,
            self.description or other.description,
            self.stages | other.stages,
            versions,
            self.version_descriptions | other.version_descriptions,
        )

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data; empty parts are left out to keep it compact."""
        versions: dict[str, dict[str, Any]] = {}
        for number in sorted(self.version_tags.keys() | self.version_descriptions):
            entry: dict[str, Any] = {}
            if self.version_tags.get(number):
                entry["tags"] = sorted(self.version_tags[number])
            if number in self.version_descriptions:
                entry["description"] = True
            if entry:
                versions[str(number)] = entry
        body: dict[str, Any] = {"v": RECORD_FORMAT}
        for key, value in (
            ("aliases", sorted(self.aliases)),
            ("tags", sorted(self.tags)),
            ("description", self.description),
            ("stages", sorted(self.stages)),
            ("versions", versions),
        ):
            if value:
                body[key] = value
        return body


EMPTY = Managed()


def declared(spec: ModelSpec) -> Managed:
    """The keys a model's state declares (what the next record will hold)."""
    return Managed(
        aliases=frozenset(spec.aliases),
        tags=frozenset(spec.tags),
        description=spec.description is not None,
        stages=frozenset(spec.stages),
        version_tags={n: frozenset(v.tags) for n, v in spec.versions.items() if v.tags},
        version_descriptions=frozenset(
            n for n, v in spec.versions.items() if v.description is not None
        ),
    )


def release(owned: Managed, ignore: IgnoreSpec) -> tuple[Managed, list[str]]:
    """The record without the keys ``ignore`` now matches, and one line per released key
    (SPEC §11: dropped from the record, live value left as it is)."""
    if not ignore:
        return owned, []
    aliases = {a for a in owned.aliases if ignore.alias(a)}
    tags = {t for t in owned.tags if ignore.tag(t)}
    version_tags = {
        n: frozenset(k for k in keys if ignore.version_tag(k))
        for n, keys in owned.version_tags.items()
    }
    lines = [f"alias {a}" for a in sorted(aliases)] + [f"tag {t}" for t in sorted(tags)]
    lines += [f"version {n} tag {k}" for n in sorted(version_tags) for k in sorted(version_tags[n])]
    if not lines:
        return owned, []
    kept = {n: keys - version_tags[n] for n, keys in owned.version_tags.items()}
    return (
        Managed(
            owned.aliases - aliases,
            owned.tags - tags,
            owned.description,
            owned.stages,
            {n: keys for n, keys in kept.items() if keys},
            owned.version_descriptions,
        ),
        [
            f"{line} is ignored now: released from the ownership record, its live value is "
            "left as it is"
            for line in lines
        ],
    )


def _strings(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str))


def parse(text: str | None) -> Managed:
    """The record stored in a tag value; absent or unreadable means nothing is owned.

    An unreadable record is treated as absent (nothing removed): the safe reading,
    since removing keys on a guess would be worse than leaving them.
    """
    if not text:
        return EMPTY
    try:
        data = json.loads(text)
    except ValueError:
        return EMPTY
    if not isinstance(data, dict):
        return EMPTY
    version_tags: dict[int, frozenset[str]] = {}
    descriptions: set[int] = set()
    versions = data.get("versions")
    for key, entry in versions.items() if isinstance(versions, dict) else ():
        if not (isinstance(key, str) and key.isdigit() and isinstance(entry, dict)):
            continue
        if tags := _strings(entry.get("tags")):
            version_tags[int(key)] = tags
        if entry.get("description") is True:
            descriptions.add(int(key))
    return Managed(
        aliases=_strings(data.get("aliases")),
        tags=_strings(data.get("tags")),
        description=data.get("description") is True,
        stages=_strings(data.get("stages")),
        version_tags=version_tags,
        version_descriptions=frozenset(descriptions),
    )


def encode(record: Managed) -> tuple[str, tuple[int, ...]]:
    """The compact tag value, and the versions left out to fit ``TAG_VALUE_LIMIT``.

    Aliases, model tags, description and stages always fit (names are short and few);
    when per-version keys do not, the oldest versions are dropped first and the plan
    says which.
    """
    body = record.to_json()
    dropped: list[int] = []
    while True:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        versions = body.get("versions", {})
        if len(text) <= TAG_VALUE_LIMIT or not versions:
            return text, tuple(dropped)
        oldest = min(versions, key=int)
        dropped.append(int(oldest))
        del versions[oldest]
        if not versions:
            del body["versions"]
