"""Evidence for a prompt alias move (SPEC v4 §20): the template diff, not run metrics. Pure.

A prompt version has no run, metrics, params or MLmodel; what a reviewer asks is "what
does the new template say differently?". So the evidence is the two sides (versions,
creation times, UI links), the candidate's own tags, and the unified diff of the two
templates with both commit messages (``prompts.template_diff``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from urllib.parse import quote

from reconciler.core.evidence import Evidence, Side, SignatureCheck, _side
from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.prompts import template_diff
from reconciler.core.resolve import Resolved
from reconciler.state.models import ModelSpec


def _text(version: ObservedVersion) -> tuple[int, str, str]:
    return version.version, version.template or "", version.description


def _page(side: Side, name: str) -> Side:
    """The version's link: the MLflow UI shows a prompt's versions on its prompt page."""
    if side.version_url is None:
        return side
    base = side.version_url.split("/#/", 1)[0]
    url = f"{base}/#/prompts/{quote(name, safe='')}?promptVersion={side.version}"
    return replace(side, version_url=url)


def prompt_evidence(
    spec: ModelSpec,
    obs: ObservedModel,
    observed: ObservedState,
    moving: Mapping[str, Resolved],
    registry: str = "",
) -> Iterator[Evidence]:
    """Evidence for every moving alias of prompt ``obs``, by alias name (``spec`` unused:
    the same signature as ``evidence.for_model``)."""
    del spec
    for alias in sorted(moving):
        target = moving[alias]
        new, old = target.candidate, target.holder
        if new is None:
            continue
        yield Evidence(
            model=obs.name,
            alias=alias,
            before=_page(_side(obs.name, old.version, old, observed, registry), obs.name)
            if old
            else None,
            after=_page(_side(obs.name, new.version, new, observed, registry), obs.name),
            version_tags={
                k: v for k, v in sorted(new.tags.items()) if not k.startswith("reconciler.")
            },
            signature=SignatureCheck("unknown"),
            template=template_diff(_text(old) if old else None, _text(new)),
        )
