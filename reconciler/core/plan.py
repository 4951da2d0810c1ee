"""The plan: a pure diff of desired against observed state (no I/O, no mlflow import).

A plan is an immutable, deterministically ordered list of changes plus the gate
results and the problems that make it unappliable. ``apply`` carries out exactly
these changes and never re-diffs on its own.
"""

from __future__ import annotations

from reconciler.core import evidence as evidence_of
from reconciler.core.diff import plan_model, record_writes
from reconciler.core.evidence import Evidence
from reconciler.core.fetch import evidence_moves
from reconciler.core.gates import GateResult, evaluate_gates
from reconciler.core.observed import ObservedModel, ObservedState
from reconciler.core.ownership import MANAGED_TAG, TAG_VALUE_LIMIT, release
from reconciler.core.ownership import parse as parse_record
from reconciler.core.plantypes import (
    BLANK_IS_ABSENT,
    Action,
    Change,
    EvidenceGap,
    Kind,
    Note,
    Plan,
    Problem,
    RecordWrite,
)
from reconciler.core.problems import copy_problems, unmanaged_notes, version_problems
from reconciler.core.protect import protect_problems, typo_notes
from reconciler.core.resolve import Resolution, copy_sources, resolve
from reconciler.core.verify import current_value, differences, record_differences
from reconciler.state.load import DesiredState

__all__ = [
    "BLANK_IS_ABSENT",
    "Action",
    "Change",
    "Kind",
    "Note",
    "Plan",
    "Problem",
    "RecordWrite",
    "compute_plan",
    "current_value",
    "differences",
    "plan_model",
    "record_differences",
    "record_writes",
    "unmanaged_notes",
]


def compute_plan(
    desired: DesiredState,
    observed: ObservedState,
    registry: str = "",
    evidence: bool = False,
    resolution: Resolution | None = None,
    evidence_limit: int | None = None,
) -> Plan:
    """Diff every desired model against the registry; a pure function of its inputs.

    With ``evidence``, each alias move (the first ``evidence_limit``; None: all) carries
    the comparison a reviewer needs; the others are listed as omitted. The
    declared aliases are resolved once (``resolution``: already resolved against these
    models); the diff, the problems, the gates and the evidence all read that result.
    """
    resolution = resolution or resolve(desired, observed)
    shown = set(evidence_moves(resolution, observed, evidence_limit)) if evidence else set()
    omitted = tuple(
        EvidenceGap(m, a)
        for m, a in evidence_moves(resolution, observed)
        if evidence and (m, a) not in shown
    )
    found: list[Evidence] = []
    changes: list[Change] = []
    problems: list[Problem] = []
    gates: list[GateResult] = []
    notes: list[Note] = []
    records: list[RecordWrite] = []
    for name in sorted(desired.models):
        spec, src = desired.models[name], desired.sources[name]
        obs = observed.models.get(name)
        if obs is None and not copy_sources(spec):
            problems.append(
                Problem(name, f"model {name!r} does not exist in the registry", src.file, src.line)
            )
            continue
        obs = obs or ObservedModel(name)  # a copy creates it
        resolved, moving = resolution.of(name), resolution.moving(name)
        problems.extend(copy_problems(name, resolved, observed, src))
        problems.extend(version_problems(name, spec, obs, src))
        current = parse_record(obs.tags.get(MANAGED_TAG))
        owned, released = release(current, spec.ignore)
        model_changes = list(plan_model(name, spec, obs, owned, resolved))
        changes.extend(model_changes)
        problems.extend(protect_problems(name, spec, obs, model_changes, src))
        notes.extend(typo_notes(name, spec, obs))
        # a version that does not exist is one error (its problem), not one per gate
        checkable = {a: r for a, r in moving.items() if r.candidate is not None}
        gates.extend(evaluate_gates(spec, checkable, observed.metrics, observed.signatures))
        if evidence:
            chosen = {a: r for a, r in moving.items() if (name, a) in shown}
            found.extend(evidence_of.for_model(spec, obs, observed, chosen, registry))
        notes.extend(unmanaged_notes(name, spec, obs, owned))
        notes.extend(Note(name, line) for line in released)
        if model_changes or released:
            model_records = list(record_writes(name, spec, owned, current))
            records.extend(model_records)
            dropped = sorted({d for r in model_records for d in r.dropped})
            if dropped:
                notes.append(
                    Note(
                        name,
                        f"the ownership record would exceed {TAG_VALUE_LIMIT} characters: keys "
                        f"of versions {', '.join(map(str, dropped))} are not recorded, so a "
                        "later revert will not remove them",
                    )
                )
    return Plan(
        registry=registry,
        state_digest=desired.digest(),
        observed_digest=observed.digest(desired.models),
        models=tuple(sorted(desired.models)),
        changes=tuple(changes),
        gates=tuple(gates),
        problems=tuple(problems),
        sources={n: f"{s.file}:{s.line}" for n, s in desired.sources.items()},
        notes=tuple(notes),
        records=tuple(records),
        evidence=tuple(found),
        evidence_omitted=omitted,
    )
