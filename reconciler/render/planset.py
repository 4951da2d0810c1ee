"""A plan over several registries (SPEC v4 §19) as JSON: the saved-plan format too.

Each registry's plan is the one-registry plan (``planfile``) under its ``registry_name``
(None: the ``--tracking-uri`` one), with its own URI and observed digests; ``sources``
names every registry copied from, its URI and the digest of the source models read
there. ``apply PLANFILE`` refuses the file when any of these differs, so a saved plan's
identity covers every registry it read, not only the ones it writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.plantypes import Plan
from reconciler.errors import PlanError
from reconciler.render.planfile import FORMAT_VERSION, from_dict, to_dict


@dataclass(frozen=True)
class SourceRead:
    """A registry copied from, as the plan read it."""

    name: str
    """The registry's name (``registry: NAME``)."""
    registry: str
    """Its URI, credentials redacted (the saved plan's identity)."""
    models: tuple[str, ...]
    """The source models read there."""
    observed_digest: str
    """Their digest when planned: a moved or deleted source version makes the plan stale."""


@dataclass(frozen=True)
class PlanSet:
    """One plan per registry, in name order (None first), and what the copies read."""

    plans: tuple[tuple[str | None, Plan], ...]
    sources: tuple[SourceRead, ...] = ()


def to_dict_set(plans: PlanSet) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "registries": [{"registry_name": n, **to_dict(p)} for n, p in plans.plans],
        "sources": [
            {
                "registry_name": s.name,
                "registry": s.registry,
                "models": list(s.models),
                "observed_digest": s.observed_digest,
            }
            for s in plans.sources
        ],
    }


def to_json_set(plans: PlanSet) -> str:
    return json.dumps(to_dict_set(plans), indent=2) + "\n"


def _name(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise PlanError(f"plan file: registry_name {value!r} is not a string")


def from_dict_set(data: dict[str, Any]) -> PlanSet:
    """The plans of a saved file over several registries; a malformed one is one line."""
    try:
        plans = tuple((_name(d["registry_name"]), from_dict(d)) for d in data["registries"])
        sources = tuple(
            SourceRead(
                str(s["registry_name"]),
                str(s["registry"]),
                tuple(str(m) for m in s["models"]),
                str(s["observed_digest"]),
            )
            for s in data.get("sources", ())
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"plan file: not a plan over several registries ({exc})") from None
    return PlanSet(plans, sources)


def read_any(path: Path) -> Plan | PlanSet:
    """A saved plan: one registry's, or several registries' (it has ``registries``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"cannot read plan file: {exc.strerror}", file=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"plan file is not valid JSON: {exc}", file=str(path)) from None
    if isinstance(data, dict) and "registries" in data:
        return from_dict_set(data)
    return from_dict(data)
