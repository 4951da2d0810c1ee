"""The steps behind each command, as plain functions (the CLI only parses and prints).

mlflow is imported lazily, inside ``connect``: ``validate`` and friends never pay
for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from reconciler.core.apply import INTERRUPTED, ApplyReport, Progress, execute
from reconciler.core.fetch import by_server, evidence_moves, needs, plan_reads, soak_registries
from reconciler.core.observed import ObservedModel, ObservedState
from reconciler.core.plan import Plan, compute_plan, differences, record_differences
from reconciler.core.ports import Registry
from reconciler.core.problems import did_you_mean
from reconciler.core.prompts import by_kind, kind_problem
from reconciler.core.resolve import Resolution, resolve
from reconciler.core.scopes import check_workspace_of, combine, label, split
from reconciler.core.scopes import check_workspaces as check_workspaces
from reconciler.core.scopes import in_workspace as in_workspace
from reconciler.errors import (
    PERMISSION_DENIED,
    ApplyError,
    PlanError,
    RegistryError,
    is_refusal,
)
from reconciler.mlflow.connection import default_local_uri, redact, resolve_uri, uri_problem
from reconciler.render.text import describe
from reconciler.state.audit import AuditInfo, current_audit
from reconciler.state.load import DesiredState, load_state
from reconciler.state.scope import StateSet


def connect(
    uri: str | None,
    concurrency: int = 8,
    debug: bool = False,
    read_models: str = "auto",
    warn: Callable[[str], None] | None = None,
    read_only: bool = False,
) -> Registry:
    """The MLflow registry at ``uri`` (None: MLflow's local default); MLflow's own log
    lines reach the terminal only with ``debug``. ``read_models`` pins how registered
    models are read (``--read-models``); ``warn`` hears, once, why a read is slow.
    ``read_only`` commands never create a local registry: a missing sqlite file is an
    error naming the URI."""
    if problem := uri_problem(uri, read_only):
        raise RegistryError(problem)
    from reconciler.mlflow.registry import MlflowRegistry

    return MlflowRegistry(
        resolve_uri(uri), concurrency, debug=debug, read_models=read_models, warn=warn
    )


def validate(state: Path, models: tuple[str, ...] = (), workspace: str | None = None) -> StateSet:
    """Load and check the state offline; ``workspace`` is the default for files without
    one (--workspace / MLFLOW_WORKSPACE)."""
    return load_state(state, workspace).only(models)


def observe(
    desired: DesiredState,
    registry: Registry,
    with_evidence: bool = False,
    evidence_limit: int | None = None,
) -> ObservedState:
    """Read the registry for the desired models, plus the runs and signatures that gates
    (and, ``with_evidence``, the reviewer's evidence) need: one batched run search, one
    MLmodel read per version involved."""
    return _observe(desired, registry, with_evidence, evidence_limit)[0]


def _observe(
    desired: DesiredState,
    registry: Registry,
    with_evidence: bool,
    limit: int | None = None,
    foreign: Mapping[str, ObservedModel] | None = None,
    read: ObservedState | None = None,
) -> tuple[ObservedState, Resolution]:
    """``observe``, with the resolution the runs and signatures were chosen from; the
    apply log's alias sets only when a moving alias has a soak gate. ``read``: the
    models already read in the registry's one batch (``mlflow.foreign.read_sources``)."""
    names, prompts = plan_reads(desired)
    observed = read if read is not None else registry.read(sorted(names), prompts)
    lost = any(desired.prompt(n) and n not in observed.models for n in desired.models)
    if lost and (why := registry.no_prompt_registry()):  # asked only when a prompt is missing
        raise RegistryError(why)
    if foreign:
        observed = replace(observed, models={**foreign, **observed.models})
    resolution = resolve(desired, observed)
    run_ids, sources = needs(desired, observed, resolution, with_evidence, limit)
    elsewhere = by_server(foreign or {}, run_ids, sources)
    for there, files in elsewhere.values():
        run_ids, sources = run_ids - there, sources - files
    from reconciler.mlflow.foreign import alias_sets_elsewhere, read_elsewhere
    from reconciler.mlflow.soaklog import alias_sets

    runs, signatures = read_elsewhere(registry, elsewhere)  # other servers' versions
    logs = soak_registries(desired, resolution)
    elsewhere_sets = alias_sets_elsewhere(registry, {n for n in logs if n is not None})
    runs.update(registry.runs(run_ids) if run_ids else {})
    signatures.update(registry.signatures(sources) if sources else {})
    observed = replace(
        observed,
        metrics={run_id: run.metrics for run_id, run in runs.items()},
        runs=runs,
        signatures=signatures,
        alias_sets=(*(alias_sets(registry) if None in logs else ()), *elsewhere_sets),
    )
    return observed, resolution


def make_plan(
    desired: StateSet,
    registry: Registry,
    with_evidence: bool = False,
    now: datetime | None = None,
    foreign: Mapping[str, ObservedModel] | None = None,
    evidence_limit: int | None = None,
    read: ObservedState | None = None,
) -> Plan:
    """The plan, read and computed one workspace at a time (batched reads each);
    ``with_evidence`` adds what each alias move changes (for reviewers), for at most
    ``evidence_limit`` moves over all workspaces (None: every one). Windows and soak
    gates are judged at ``now`` (default: the clock when the reads are done). ``read``:
    the default workspace's models, already read with the copy sources there."""
    check_workspaces(desired, registry)
    uri = registry.display_uri
    parts = []
    left = evidence_limit
    for part in desired.parts:
        scoped = registry.in_workspace(part.workspace)
        had = read if part.workspace is None else None
        observed, resolution = _observe(part, scoped, with_evidence, left, foreign, had)
        at = now or datetime.now(timezone.utc)
        plan = compute_plan(
            part,
            observed,
            uri,
            evidence=with_evidence,
            resolution=resolution,
            now=at,
            evidence_limit=left,
        )
        if left is not None:
            left = max(0, left - len(evidence_moves(resolution, observed, left)))
        parts.append((part.workspace, _suggest_names(plan, part, observed, scoped)))
    return combine(parts, desired.default)


def _suggest_names(
    plan: Plan, desired: DesiredState, observed: ObservedState, registry: Registry
) -> Plan:
    """A model (or prompt) missing from the registry gets the nearest registered name, or
    is said to be the other kind (two extra reads, only when one is missing): a typo or a
    prompt under ``models:`` is fixed in one round."""
    missing = {n for n in desired.models if n not in observed.models}
    if not missing:
        return plan
    models, prompts = registry.model_names(), registry.prompt_names()
    problems = []
    for problem in plan.problems:
        if problem.model in missing and problem.message.endswith("does not exist in the registry"):
            prompt = desired.prompt(problem.model)
            other = problem.model in (models if prompt else prompts)
            names = prompts if prompt else models
            message = kind_problem(problem.model, prompt, not prompt) if other else None
            message = message or problem.message + did_you_mean(problem.model, names)
            problem = replace(problem, message=message)
        problems.append(problem)
    return replace(plan, problems=tuple(problems))


@dataclass(frozen=True)
class Outcome:
    """The result of an apply that wrote everything and was verified."""

    report: ApplyReport
    plan: Plan


def check_plan_offline(plan: Plan, uri: str | None, workspace: str | None = None) -> None:
    """Refuse a saved plan for another registry, or with errors, before connecting: a
    refused plan creates nothing (not even a local sqlite file)."""
    target = redact(resolve_uri(uri) or default_local_uri())
    if plan.registry != target:
        raise PlanError(
            f"the plan was made for {plan.registry}, not {target}; "
            f"pass --tracking-uri {plan.registry} or make a new plan (nothing was written)"
        )
    check_workspace_of(plan, workspace)
    if not plan.applyable:
        raise PlanError("the saved plan has errors or failed gates; it cannot be applied")


def check_saved_plan(plan: Plan, registry: Registry) -> None:
    """Refuse a saved plan made for another registry or against an older registry state."""
    if plan.registry != registry.display_uri:
        raise PlanError(f"the plan was made for {plan.registry}, not {registry.display_uri}")
    if not plan.applyable:
        raise PlanError("the saved plan has errors or failed gates; it cannot be applied")
    for ws, part in split(plan):
        observed = registry.in_workspace(ws).read(*by_kind(part.models, plan.prompts))
        if observed.digest(part.models) != part.observed_digest:
            where = f" (workspace {ws})" if ws else ""
            if part.changes and not differences(part.changes, observed):
                raise PlanError(
                    f"this saved plan was already applied: the registry{where} holds every "
                    "value it sets (nothing was written); run plan again for what is left"
                )
            raise PlanError(
                f"the saved plan is stale: the registry{where} changed since it was made; "
                "run plan again"
            )


def _applied_lines(report: ApplyReport, show: bool = False) -> list[str]:
    return [
        f"applied      {label(c.model, c.workspace, show)}: {describe(c)}" for c in report.applied
    ]


def apply_plan(
    plan: Plan,
    registry: Registry,
    desired: StateSet | None,
    progress: Progress | None = None,
    audit: AuditInfo | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Write the plan one workspace at a time, each read again and verified (SPEC §6.3).
    Once ``stop`` is set, no new write starts (SPEC §17, interrupted applies).

    A workspace that fails stops the ones after it; the error names the workspace and
    lists what the earlier ones applied."""
    parts = split(plan)
    show = len(parts) > 1
    total = ApplyReport()
    for ws, part in parts:
        if not part.changes and not part.records:
            continue
        want = desired.part(ws) if desired is not None else None
        try:
            done = _apply_one(part, registry.in_workspace(ws), want, progress, audit, stop)
        except ApplyError as exc:
            if not show or not total.applied:
                raise
            raise ApplyError(
                f"workspace {ws}: {exc.message}", (*_applied_lines(total, show), *exc.details)
            ) from exc
        total.applied.extend(done.report.applied)
    return Outcome(report=total, plan=plan)


def _apply_one(
    plan: Plan,
    registry: Registry,
    desired: DesiredState | None,
    progress: Progress | None = None,
    audit: AuditInfo | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Write one workspace's plan, then read it again and verify."""
    report = execute(plan, registry, audit or current_audit(), progress, stop)
    if report.failed or report.skipped:
        first = (
            report.failed[0][1]
            if report.failed
            else report.record_errors[0]
            if report.record_errors
            else INTERRUPTED
            if stop is not None and stop.is_set()
            else "not attempted"
        )
        details = (
            *_applied_lines(report),
            # the first failure's reason is said once, in the error line
            *(
                f"FAILED       {c.model}: {describe(c)}" + ("" if e == first else f": {e}")
                for c, e in report.failed
            ),
            *(f"not applied  {c.model}: {describe(c)}" for c in report.skipped),
        )
        if not report.applied and is_refusal(first):  # nothing written; retrying cannot help
            raise ApplyError(f"nothing applied: {first}")
        denied = first.startswith(PERMISSION_DENIED) or any(
            e.startswith(PERMISSION_DENIED) for _, e in report.failed
        )
        raise ApplyError(
            f"apply stopped: {len(report.applied)} of {len(plan.changes)} changes applied, "
            f"{len(report.failed)} failed, {len(report.skipped)} not attempted "
            f"(first failure: {first})" + ("" if denied else "; run apply again to converge"),
            # running again cannot fix a refused permission; it does converge a cut-off apply
            details,
        )
    try:
        after = registry.read(*by_kind(plan.models, plan.prompts))
    except RegistryError as exc:
        raise ApplyError(
            f"all {len(report.applied)} changes were written, but the verification read "
            f"failed: {exc.message}; run plan to check the registry",
            tuple(_applied_lines(report)),
        ) from exc
    found = differences(tuple(report.applied), after) + record_differences(plan.records, after)
    if desired is not None:
        found += [
            f"{c.model}: {describe(c)} is still pending"
            for c in compute_plan(desired, after).changes
        ]
    if found:
        raise ApplyError(
            f"verification failed after apply: {found[0]}"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
            + "; someone may have changed the registry meanwhile"
        )
    if report.record_errors or report.audit_errors:
        which = "ownership record" if report.record_errors else "audit tags"
        first = (report.record_errors or report.audit_errors)[0]
        raise ApplyError(f"all changes applied and verified, but the {which} failed: {first}")
    return Outcome(report=report, plan=plan)
