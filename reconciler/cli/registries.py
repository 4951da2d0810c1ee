"""``plan`` over several registries (SPEC v4 §19): one plan per server (apply: ``multiapply``).

A state whose files name servers (``registry: NAME``) or copy from one is planned one
registry at a time, in name order (the unnamed ``--tracking-uri`` one first), each read
once: a registry that is also copied from reads its models and the sources together.
``--out`` saves every registry's plan and what each copy source read (``planset``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from reconciler import api
from reconciler.cli.console import Options, out, warn
from reconciler.core.observed import ObservedState
from reconciler.core.ports import Registry
from reconciler.render.escape import terminal
from reconciler.render.markdown import render_markdown
from reconciler.render.planset import PlanSet, SourceRead, to_json_set
from reconciler.render.text import plan_errors, render_text
from reconciler.state.scope import StateSet


def several(desired: StateSet) -> bool:
    """Whether the state names a registry (in a file, a copy value or a soak gate)."""
    from reconciler.core.fetch import references

    return desired.registries != (None,) or bool(references(desired))


def connect_all(
    desired: StateSet,
    uri: str | None,
    concurrency: int = 8,
    debug: bool = False,
    read_models: str = "auto",
    warn: Callable[[str], None] | None = None,
    read_only: bool = False,
) -> dict[str | None, Registry]:
    """Every registry the state names (SPEC v4 §19), by name; None: ``uri``'s."""
    from reconciler.mlflow.foreign import connect_all as connect_named
    from reconciler.mlflow.registry import MlflowRegistry

    return connect_named(
        desired,
        lambda: api.connect(uri, concurrency, debug, read_models, warn, read_only),
        lambda at, key: MlflowRegistry(at, concurrency, debug, read_models, warn, creds=key),
    )


def make_plans(
    desired: StateSet, registries: Mapping[str | None, Registry], with_evidence: bool = False
) -> PlanSet:
    """One plan per registry the state names, in name order; each registry read in one
    batch (a registry also copied from reads the sources with its own models)."""
    from reconciler.core.fetch import references
    from reconciler.mlflow.foreign import read_sources

    foreign, read = read_sources(desired, registries)
    now = datetime.now(timezone.utc)
    plans = tuple(
        (
            name,
            api.make_plan(
                desired.for_registry(name),
                registries[name],
                with_evidence,
                now,
                foreign,
                read=read.get(name),
            ),
        )
        for name in desired.registries
    )
    sources = tuple(
        SourceRead(
            name,
            registries[name].display_uri,
            tuple(sorted(models)),
            ObservedState(
                {m: foreign[f"{name}:{m}"] for m in models if f"{name}:{m}" in foreign}
            ).digest(),
        )
        for name, models in sorted(references(desired).items())
    )
    return PlanSet(plans, sources)


def title(name: str | None) -> str:
    return f"== registry {name or '(default)'} =="


def plan_all(opts: Options, desired: StateSet, fmt: str) -> PlanSet:
    """Print every registry's plan; raise the first one's errors after all are shown."""
    registries = connect_all(
        desired, opts.tracking_uri, debug=opts.debug, warn=warn, read_only=True
    )
    plans = make_plans(desired, registries, with_evidence=True)
    if fmt == "json":
        out(to_json_set(plans), nl=False)
    for name, plan in plans.plans if fmt != "json" else ():
        text = render_markdown(plan) if fmt == "markdown" else render_text(plan, opts.color)
        out(terminal(title(name)) + "\n" + text, nl=False, color=opts.color)
    for _, plan in plans.plans:
        if not plan.applyable:
            raise plan_errors(plan)
    return plans
