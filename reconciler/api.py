"""The steps behind each command, as plain functions (the CLI only parses and prints).

mlflow is imported lazily, inside ``connect``: ``validate`` and friends never pay
for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.core.apply import ApplyReport, Progress, execute
from reconciler.core.fetch import needs
from reconciler.core.lock import ApplyRecord
from reconciler.core.observed import ObservedState
from reconciler.core.plan import Plan, compute_plan, differences, record_differences
from reconciler.core.ports import Registry
from reconciler.core.resolve import Resolution, copy_sources, resolve
from reconciler.errors import PERMISSION_DENIED, ApplyError, PlanError, RegistryError, is_refusal
from reconciler.mlflow.connection import default_local_uri, redact, resolve_uri
from reconciler.render.text import describe
from reconciler.state.audit import AuditInfo, current_audit
from reconciler.state.load import DesiredState, load_state


def connect(uri: str | None, concurrency: int = 8, debug: bool = False) -> Registry:
    """The MLflow registry at ``uri`` (None: MLflow's local default); MLflow's own log
    lines reach the terminal only with ``debug``."""
    from reconciler.mlflow.registry import MlflowRegistry

    return MlflowRegistry(resolve_uri(uri), concurrency=concurrency, debug=debug)


def validate(state: Path, models: tuple[str, ...] = ()) -> DesiredState:
    """Load and check the state offline."""
    return load_state(state).only(models)


def observe(
    desired: DesiredState, registry: Registry, with_evidence: bool = False
) -> ObservedState:
    """Read the registry for the desired models, plus the runs and signatures that gates
    (and, ``with_evidence``, the reviewer's evidence) need: one batched run search, one
    MLmodel read per version involved."""
    return _observe(desired, registry, with_evidence)[0]


def _observe(
    desired: DesiredState, registry: Registry, with_evidence: bool
) -> tuple[ObservedState, Resolution]:
    """``observe``, with the resolution the runs and signatures were chosen from."""
    copied = {s for spec in desired.models.values() for s in copy_sources(spec)}
    observed = registry.read(sorted(set(desired.models) | copied))
    resolution = resolve(desired, observed)
    run_ids, sources = needs(desired, observed, resolution, with_evidence)
    runs = registry.runs(run_ids) if run_ids else {}
    observed = replace(
        observed,
        metrics={run_id: run.metrics for run_id, run in runs.items()},
        runs=runs,
        signatures=registry.signatures(sources) if sources else {},
    )
    return observed, resolution


def make_plan(desired: DesiredState, registry: Registry, with_evidence: bool = False) -> Plan:
    """The plan; ``with_evidence`` adds what each alias move changes (for reviewers)."""
    observed, resolution = _observe(desired, registry, with_evidence)
    uri = registry.display_uri
    return compute_plan(desired, observed, uri, evidence=with_evidence, resolution=resolution)


@dataclass(frozen=True)
class Outcome:
    """The result of an apply that wrote everything and was verified."""

    report: ApplyReport
    plan: Plan


def check_plan_offline(plan: Plan, uri: str | None) -> None:
    """Refuse a saved plan for another registry, or with errors, before connecting: a
    refused plan creates nothing (not even a local sqlite file)."""
    target = redact(resolve_uri(uri) or default_local_uri())
    if plan.registry != target:
        raise PlanError(
            f"the plan was made for {plan.registry}, not {target}; "
            f"pass --tracking-uri {plan.registry} or make a new plan (nothing was written)"
        )
    if not plan.applyable:
        raise PlanError("the saved plan has errors or failed gates; it cannot be applied")


def check_saved_plan(plan: Plan, registry: Registry) -> None:
    """Refuse a saved plan made for another registry or against an older registry state."""
    if plan.registry != registry.display_uri:
        raise PlanError(f"the plan was made for {plan.registry}, not {registry.display_uri}")
    if not plan.applyable:
        raise PlanError("the saved plan has errors or failed gates; it cannot be applied")
    if registry.read(plan.models).digest(plan.models) != plan.observed_digest:
        raise PlanError(
            "the saved plan is stale: the registry changed since it was made; run plan again"
        )


def _applied_lines(report: ApplyReport) -> list[str]:
    return [f"applied      {c.model}: {describe(c)}" for c in report.applied]


def apply_plan(
    plan: Plan,
    registry: Registry,
    desired: DesiredState | None,
    progress: Progress | None = None,
    audit: AuditInfo | None = None,
) -> Outcome:
    """Write the plan, then read the registry again and verify (SPEC §6.3)."""
    report = execute(plan, registry, audit or current_audit(), progress)
    if report.failed or report.skipped:
        first = (
            report.failed[0][1]
            if report.failed
            else report.record_errors[0]
            if report.record_errors
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
        after = registry.read(plan.models)
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


def last_applied(uri: str | None) -> ApplyRecord | None:
    """The last verified apply on the registry at ``uri`` (the apply log, SPEC §12): its
    ``commit`` is the state the registry last converged to; None when none is logged."""
    from reconciler.mlflow.applylog import last_applied as read_last

    return read_last(uri)


def recent_applies(uri: str | None, limit: int = 20) -> list[ApplyRecord]:
    """The latest ``limit`` applies of any status on the registry at ``uri``, newest first."""
    from reconciler.mlflow.applylog import recent_applies as read_recent

    return read_recent(uri, limit)
