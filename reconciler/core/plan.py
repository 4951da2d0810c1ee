"""The plan: a pure diff of desired against observed state (no I/O, no mlflow import).

A plan is an immutable, deterministically ordered list of changes plus the gate
results and the problems that make it unappliable. ``apply`` carries out exactly
these changes and never re-diffs on its own.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.core import evidence as evidence_of
from reconciler.core.diff import plan_model, record_writes
from reconciler.core.evidence import Evidence
from reconciler.core.fetch import evidence_moves
from reconciler.core.gates import GateResult, SoakCheck, evaluate_gates
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
from reconciler.core.prompt_evidence import prompt_evidence
from reconciler.core.prompts import kind_problem
from reconciler.core.protect import protect_problems, typo_notes
from reconciler.core.resolve import Resolution, copy_sources, resolve
from reconciler.core.soak import check_soak
from reconciler.core.verify import current_value, differences, record_differences
from reconciler.core.windows import Blocked, blocked
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


def _soak_check(observed: ObservedState, now: datetime) -> SoakCheck:
    return lambda target, rule: check_soak(target, rule, observed, observed.alias_sets, now)


def compute_plan(
    desired: DesiredState,
    observed: ObservedState,
    registry: str = "",
    evidence: bool = False,
    resolution: Resolution | None = None,
    now: datetime | None = None,
    evidence_limit: int | None = None,
) -> Plan:
    """Diff every desired model against the registry; a pure function of its inputs.

    With ``evidence``, each alias move (the first ``evidence_limit``; None: all) carries
    the comparison a reviewer needs; the others are listed as omitted. The
    declared aliases are resolved once (``resolution``: already resolved against these
    models); the diff, the problems, the gates and the evidence all read that result.
    ``now`` (timezone-aware) is when the plan is made: promotion windows and soak gates
    are judged at it; None judges neither (a verification read after apply).
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
    held: list[Blocked] = []
    for name in sorted(desired.models):
        spec, src = desired.models[name], desired.sources[name]
        obs = observed.models.get(name)
        if obs is None and not copy_sources(spec):
            problems.append(
                Problem(
                    name, f"{src.noun} {name!r} does not exist in the registry", src.file, src.line
                )
            )
            continue
        wrong_kind = kind_problem(name, src.prompt, obs.prompt) if obs else None
        if wrong_kind:
            problems.append(Problem(name, wrong_kind, src.file, src.line))
            continue
        obs = obs or ObservedModel(name)  # a copy creates it
        resolved, moving = resolution.of(name), resolution.moving(name)
        problems.extend(copy_problems(name, resolved, observed, src))
        problems.extend(version_problems(name, spec, obs, src))
        current = parse_record(obs.tags.get(MANAGED_TAG))
        owned, released = release(current, spec.ignore)
        model_changes = list(plan_model(name, spec, obs, owned, resolved))
        changes.extend(model_changes)
        if model_changes and spec.windows and now is not None:
            held.extend(b for b in [blocked(name, spec.windows, now)] if b is not None)
        problems.extend(protect_problems(name, spec, obs, model_changes, src))
        notes.extend(typo_notes(name, spec, obs))
        # a version that does not exist is one error (its problem), not one per gate
        checkable = {a: r for a, r in moving.items() if r.candidate is not None}
        soak = None if now is None else _soak_check(observed, now)
        gates.extend(evaluate_gates(spec, checkable, observed.metrics, observed.signatures, soak))
        if evidence:
            chosen = {a: r for a, r in moving.items() if (name, a) in shown}
            of = prompt_evidence if obs.prompt else evidence_of.for_model
            found.extend(of(spec, obs, observed, chosen, registry))
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
        prompts=tuple(n for n in sorted(desired.models) if desired.prompt(n)),
        changes=tuple(changes),
        gates=tuple(gates),
        problems=tuple(problems),
        sources={n: f"{s.file}:{s.line}" for n, s in desired.sources.items()},
        notes=tuple(notes),
        records=tuple(records),
        evidence=tuple(found),
        blocked=tuple(held),
        evidence_omitted=omitted,
    )
