"""What the registry holds, as plain frozen data (the shell reads it, the core diffs it).

Tags under the ``reconciler.`` prefix are the tool's own (audit trail, ownership record):
they are kept here for ``status`` and planning but never diffed; only the ownership
record is part of the observed digest, because the plan depends on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_MODELS_URI = re.compile(r"^models:/([^/@]+)/(\d+)$")
AUDIT_PREFIX = "reconciler."
MANAGED_TAG = "reconciler.managed"
"""The ownership record; never diffed, but plans depend on it, so it is in the digest."""


def managed_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags without the tool's own audit tags."""
    return {k: v for k, v in tags.items() if not k.startswith(AUDIT_PREFIX)}


@dataclass(frozen=True)
class ObservedVersion:
    """One model version as the registry reports it."""

    version: int
    status: str = "READY"
    """READY, PENDING_REGISTRATION or FAILED_REGISTRATION."""
    stage: str = "None"
    """None, Staging, Production or Archived."""
    run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    created_at: int = 0
    """Creation time in epoch milliseconds (shown by ``status``, not diffed)."""
    source: str = ""
    """Where the version's files come from; ``models:/MODEL/N`` for a copy."""
    template: str | None = None
    """A prompt version's template text (None: a model version), SPEC v4 §20."""

    @property
    def copied_from(self) -> tuple[str, int] | None:
        """(model, version) this version was copied from, when it is a copy."""
        found = _MODELS_URI.match(self.source)
        return (found.group(1), int(found.group(2))) if found else None


@dataclass(frozen=True)
class ObservedRun:
    """The run behind a version: what evidence shows next to its metrics."""

    run_id: str
    experiment_id: str = ""
    name: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """One input or output of a model signature."""

    name: str
    """The column name; ``#0``, ``#1``... for unnamed tensor inputs."""
    type: str
    """e.g. ``double``, ``string``, ``tensor float64 [-1, 3]``."""
    required: bool = True


@dataclass(frozen=True)
class ObservedSignature:
    """A version's model signature as its MLmodel file declares it."""

    inputs: tuple[Column, ...] | None = None
    outputs: tuple[Column, ...] | None = None
    found: bool = False
    """True when the MLmodel was read and declares a signature."""
    error: str = ""
    """Why the MLmodel could not be read (empty when it was)."""


@dataclass(frozen=True)
class ObservedModel:
    """One registered model with its aliases and versions."""

    name: str
    aliases: Mapping[str, int] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    versions: Mapping[int, ObservedVersion] = field(default_factory=dict)
    prompt: bool = False
    """True for an MLflow 3 prompt (SPEC v4 §20); models and prompts never mix."""

    def holder(self, alias: str) -> ObservedVersion | None:
        """The version that holds ``alias`` now, if any."""
        number = self.aliases.get(alias)
        return None if number is None else self.versions.get(number)


@dataclass(frozen=True)
class AliasSet:
    """One alias that one finished apply set."""

    run_id: str
    model: str
    alias: str
    version: int
    finished_ms: int
    """When that apply ended (verified), ms since the epoch."""
    trusted: bool = True
    """False when the run's signature does not check out (then it never counts)."""


@dataclass(frozen=True)
class ObservedState:
    """The registry's answer for the models a plan covers; absent names do not exist."""

    models: Mapping[str, ObservedModel]
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """run id -> run metrics, for the runs that gates need."""
    runs: Mapping[str, ObservedRun] = field(default_factory=dict)
    """run id -> the run (params, tags, experiment), for evidence."""
    signatures: Mapping[str, ObservedSignature] = field(default_factory=dict)
    """version source -> its signature, for evidence and signature gates."""
    alias_sets: tuple[AliasSet, ...] = ()
    """What the apply log says finished applies set, for soak gates (SPEC v4 §18)."""

    def digest(self, names: Iterable[str] | None = None) -> str:
        """Hash of everything a plan of ``names`` (default: all) depends on, to detect a
        stale saved plan. Copy sources read alongside are not part of it: what matters is
        whether the copy exists in the target model, which is."""
        keep = None if names is None else set(names)
        body = {
            name: {
                "aliases": dict(sorted(m.aliases.items())),
                "tags": dict(sorted(managed_tags(m.tags).items())),
                "record": m.tags.get(MANAGED_TAG),
                "description": m.description,
                "versions": {
                    str(v.version): [
                        v.status,
                        v.stage,
                        dict(sorted(managed_tags(v.tags).items())),
                        v.description,
                        v.source,
                    ]
                    for v in sorted(m.versions.values(), key=lambda v: v.version)
                },
            }
            for name, m in sorted(self.models.items())
            if keep is None or name in keep
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()
