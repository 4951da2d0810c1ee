"""Plans across workspaces (SPEC §14): one pure plan per workspace, combined for people
and split again for apply.

Each workspace is planned on its own (the same model name in two workspaces is two
models); ``combine`` stamps every change, gate, error and note with its workspace and
folds the digests, ``split`` gives back one plan per workspace so apply, verification
and the stale check run against that workspace only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from reconciler.core.evidence import Evidence, Side
from reconciler.core.plantypes import Plan, Scope
from reconciler.core.ports import Registry
from reconciler.errors import PlanError, RegistryError, StateError, StateErrors
from reconciler.state.scope import StateSet, combined_digest

DEFAULT = "default"
"""The name MLflow gives the server's default workspace."""
T = TypeVar("T")


def _stamp(items: Iterable[T], workspace: str | None) -> tuple[T, ...]:
    return tuple(dataclasses.replace(i, workspace=workspace) for i in items)  # type: ignore[type-var]


def _linked(workspace: str | None) -> Callable[[Evidence], Evidence]:
    """Evidence whose MLflow UI links open ``workspace`` (the UI's ``?workspace=``)."""

    def side(s: Side | None) -> Side | None:
        if s is None or workspace is None:
            return s
        tail = f"?workspace={quote(workspace)}"
        return dataclasses.replace(
            s,
            run_url=s.run_url and s.run_url + tail,
            version_url=s.version_url and s.version_url + tail,
        )

    def link(ev: Evidence) -> Evidence:
        after = side(ev.after)
        assert after is not None
        return dataclasses.replace(ev, before=side(ev.before), after=after)

    return link


def combine(parts: Sequence[tuple[str | None, Plan]], default: str | None) -> Plan:
    """One plan over the per-workspace ``parts``; ``default`` is the workspace of state
    files without one (part of the saved plan's identity)."""
    if not parts:
        raise ValueError("combine needs at least one part")
    show = len(parts) > 1 or parts[0][0] not in (None, DEFAULT)
    sources = {
        label(model, ws, show): where for ws, part in parts for model, where in part.sources.items()
    }
    return Plan(
        registry=parts[0][1].registry,
        state_digest=combined_digest([(ws, p.state_digest) for ws, p in parts]),
        observed_digest=combined_digest([(ws, p.observed_digest) for ws, p in parts]),
        models=tuple(sorted({m for _, p in parts for m in p.models})),
        prompts=tuple(sorted({m for _, p in parts for m in p.prompts})),
        changes=sum((_stamp(p.changes, ws) for ws, p in parts), ()),
        gates=sum((_stamp(p.gates, ws) for ws, p in parts), ()),
        problems=sum((_stamp(p.problems, ws) for ws, p in parts), ()),
        sources=sources,
        notes=sum((_stamp(p.notes, ws) for ws, p in parts), ()),
        records=sum((_stamp(p.records, ws) for ws, p in parts), ()),
        evidence=sum((_stamp(map(_linked(ws), p.evidence), ws) for ws, p in parts), ()),
        evidence_omitted=sum((_stamp(p.evidence_omitted, ws) for ws, p in parts), ()),
        workspace=default,
        scopes=tuple(Scope(ws, p.models, p.observed_digest) for ws, p in parts),
        blocked=sum((_stamp(p.blocked, ws) for ws, p in parts), ()),
    )


def split(plan: Plan) -> list[tuple[str | None, Plan]]:
    """One plan per workspace of ``plan``, each holding only that workspace's items."""
    if not plan.scopes:
        return [(None, plan)]

    def mine(items: Iterable[Any], ws: str | None) -> tuple[Any, ...]:
        return tuple(i for i in items if i.workspace == ws)

    return [
        (
            s.workspace,
            dataclasses.replace(
                plan,
                observed_digest=s.observed_digest,
                models=s.models,
                changes=mine(plan.changes, s.workspace),
                gates=mine(plan.gates, s.workspace),
                problems=mine(plan.problems, s.workspace),
                notes=mine(plan.notes, s.workspace),
                records=mine(plan.records, s.workspace),
                evidence=mine(plan.evidence, s.workspace),
                blocked=mine(plan.blocked, s.workspace),
                evidence_omitted=mine(plan.evidence_omitted, s.workspace),
                scopes=(),
            ),
        )
        for s in plan.scopes
    ]


def workspaces(plan: Plan) -> tuple[str | None, ...]:
    """The workspaces a plan touches (None: the server's default)."""
    return tuple(s.workspace for s in plan.scopes) or (None,)


def shows_workspace(plan: Plan) -> bool:
    """Whether renderings name the workspace beside each model: when the plan spans
    several workspaces, or its one workspace is not the server's default."""
    named = workspaces(plan)
    return len(named) > 1 or named[0] not in (None, DEFAULT)


def label(model: str, workspace: str | None, show: bool) -> str:
    """``team-a/churn`` where workspaces are shown, else the model name; workspace names
    cannot hold ``/``, so the first one always separates."""
    return f"{workspace or DEFAULT}/{model}" if show else model


def for_display(plan: Plan) -> Plan:
    """The plan with each model named ``workspace/model`` where workspaces are shown
    (renderers only: never applied)."""
    if not shows_workspace(plan):
        return plan

    def named(items: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(dataclasses.replace(i, model=label(i.model, i.workspace, True)) for i in items)

    return dataclasses.replace(
        plan,
        models=tuple(label(m, s.workspace, True) for s in plan.scopes for m in s.models),
        prompts=tuple(
            label(m, s.workspace, True) for s in plan.scopes for m in s.models if m in plan.prompts
        ),
        changes=named(plan.changes),
        gates=named(plan.gates),
        problems=named(plan.problems),
        notes=named(plan.notes),
        records=named(plan.records),
        evidence=named(plan.evidence),
        blocked=named(plan.blocked),
        evidence_omitted=named(plan.evidence_omitted),
        scopes=(),  # already labelled: a second call changes nothing
    )


def check_workspace_of(plan: Plan, default: str | None) -> None:
    """Refuse a saved plan made under another default workspace, like a plan for another
    registry: files without ``workspace:`` would have meant another workspace."""
    if plan.workspace != default:
        made = f"workspace {plan.workspace}" if plan.workspace else "the default workspace"
        now = f"workspace {default}" if default else "the default workspace"
        fix = (
            f"pass --workspace {plan.workspace} (or MLFLOW_WORKSPACE={plan.workspace})"
            if plan.workspace
            else "pass no --workspace and unset MLFLOW_WORKSPACE"
        )
        raise PlanError(
            f"the plan was made for {made}, not {now}; {fix}, or make a new plan "
            "(nothing was written)"
        )


def in_workspace(registry: Registry, workspace: str | None) -> Registry:
    """``registry`` scoped to ``workspace``, which must exist and be open to this user."""
    if workspace is not None and (why := registry.missing_workspaces([workspace]).get(workspace)):
        raise StateError(f"workspace {workspace!r} {why} on the registry at {registry.display_uri}")
    return registry.in_workspace(workspace)


def check_workspaces(desired: StateSet, registry: Registry) -> None:
    """Every workspace the state names exists (one error at its ``workspace:`` line
    each), before anything is read or written (SPEC §14)."""
    named = [p for p in desired.parts if p.workspace is not None]
    if not named:
        return
    where = {p.workspace: p.named_at for p in named}
    try:
        missing = registry.missing_workspaces([p.workspace for p in named if p.workspace])
    except RegistryError as exc:  # no workspaces on this server: said once, located
        first = next((s for s in where.values() if s is not None), None)
        raise StateError(
            exc.message, first.file if first else None, first.line if first else None
        ) from None
    errors = []
    for ws, why in sorted(missing.items()):
        at = where[ws]
        given = "" if at else " (from --workspace / MLFLOW_WORKSPACE)"
        fix = "create it (mlflow.create_workspace) or fix the name"
        if why != "does not exist":
            fix = "ask an admin of the registry for a role in it"
        errors.append(
            StateError(
                f"workspace {ws!r}{given} {why} on the registry at {registry.display_uri}; {fix}",
                at.file if at else None,
                at.line if at else None,
            )
        )
    if errors:
        raise StateErrors(errors)
