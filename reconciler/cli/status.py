"""``reconciler status``: what the registry holds now, one row per version, and whether
each alias matches git (``synced``), differs (``drift``) or is outside the state
(``unmanaged``).

Reads are batched: one registry read for the models, one ``run_metrics`` call for all
their runs. Key metrics are the ones named with ``--metric``, else those the state's
gates use for the model, else all of the run's metrics.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from reconciler import api
from reconciler.cli.console import Options, common_options, out
from reconciler.core.evidence import TREND_POINTS
from reconciler.core.observed import MANAGED_TAG, ObservedModel, ObservedState
from reconciler.core.ownership import parse as parse_record
from reconciler.core.resolve import find_copy
from reconciler.core.scopes import DEFAULT, label
from reconciler.errors import StateError
from reconciler.render.evidence import number as fmt_number
from reconciler.render.evidence import sparkline
from reconciler.state.load import DesiredState, load_state
from reconciler.state.models import CopyFrom, MetricRule, ModelSpec
from reconciler.state.scope import StateSet


def _created(ms: int) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def alias_sync(model: ObservedModel, spec: ModelSpec | None) -> dict[int, dict[str, str]]:
    """version -> {alias: synced | drift | unmanaged}, for live and for declared aliases.

    ``drift``: declared here but live elsewhere or nowhere, or recorded as owned but no
    longer declared (plan would remove it). ``unmanaged``: neither declared nor owned.
    """
    declared: dict[str, int | None] = {}
    for alias, value in spec.aliases.items() if spec else ():
        if isinstance(value, CopyFrom):
            copy = find_copy(model, value)
            declared[alias] = copy.version if copy else None
        else:
            declared[alias] = value
    owned = parse_record(model.tags.get(MANAGED_TAG)).aliases
    out: dict[int, dict[str, str]] = {}
    for alias, number in model.aliases.items():
        if alias in declared:
            state = "synced" if declared[alias] == number else "drift"
        else:
            state = "drift" if alias in owned or (spec and spec.prune) else "unmanaged"
        out.setdefault(number, {})[alias] = state
    for alias, want in declared.items():
        if want is not None and model.aliases.get(alias) != want:
            out.setdefault(want, {})[alias] = "drift"
    return {n: dict(sorted(a.items())) for n, a in out.items()}


def rows(
    observed: ObservedState,
    metrics: dict[str, dict[str, float]] | Any,
    keys: dict[str, list[str]],
    desired: DesiredState | None = None,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """One dict per version (newest first within a model), for text or JSON."""
    result = []
    for name, model in sorted(observed.models.items()):
        held: dict[int, list[str]] = {}
        for alias, number in sorted(model.aliases.items()):
            held.setdefault(number, []).append(alias)
        sync = alias_sync(model, desired.models.get(name) if desired else None)
        for number, v in sorted(model.versions.items(), reverse=True):
            run = dict(metrics.get(v.run_id, {})) if v.run_id else {}
            wanted = keys.get(name) or sorted(run)
            result.append(
                {
                    "model": name,
                    "workspace": workspace,
                    "version": number,
                    "aliases": held.get(number, []),
                    "sync": sync.get(number, {}),
                    "stage": v.stage,
                    "status": v.status,
                    "created": _created(v.created_at),
                    "run_id": v.run_id,
                    "copy_of": f"{v.copied_from[0]}/{v.copied_from[1]}" if v.copied_from else None,
                    "metrics": {k: run[k] for k in wanted if k in run},
                }
            )
    return result


def series(data: list[dict[str, Any]], keys: dict[str, list[str]], show: bool = False) -> str:
    """Each gated metric across a model's recent versions, as text with a sparkline and
    the alias holders marked (the same picture the markdown plan draws)."""
    lines = []
    for name in sorted(keys):
        rows = sorted((r for r in data if r["model"] == name), key=lambda r: r["version"])
        rows = rows[-TREND_POINTS:]
        for metric in keys[name]:
            points = [(r, r["metrics"][metric]) for r in rows if metric in r["metrics"]]
            if len(points) < 2:
                continue
            values = ", ".join(
                f"v{r['version']} {fmt_number(v)}"
                + (f" [{','.join(r['aliases'])}]" if r["aliases"] else "")
                for r, v in points
            )
            shown = label(name, rows[0]["workspace"], show) if rows else name
            lines.append(f"{shown} {metric}: {values}  {sparkline([v for _, v in points])}")
    return "".join(f"{line}\n" for line in lines)


def _table(data: list[dict[str, Any]], show: bool = False) -> str:
    head = (
        "MODEL",
        "VERSION",
        "ALIASES",
        "STAGE",
        "STATUS",
        "CREATED (UTC)",
        "RUN ID",
        "COPY OF",
        "METRICS",
    )
    lines = [head] + [
        (
            label(r["model"], r["workspace"], show),
            str(r["version"]),
            ",".join(f"{a}({s})" for a, s in r["sync"].items()) or "-",
            r["stage"],
            r["status"],
            r["created"],
            r["run_id"] or "-",
            r["copy_of"] or "-",
            " ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items()) or "-",
        )
        for r in data
    ]
    widths = [max(len(row[i]) for row in lines) for i in range(len(head) - 1)]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] + "\n"
        for row in lines
    )


@click.command("status")
@common_options()
@click.argument("model", required=False)
@click.option(
    "--metric",
    "metric_names",
    multiple=True,
    metavar="NAME",
    help="Metric to show (repeatable; default: the model's gate metrics, else all).",
)
@click.option(
    "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True
)
def command(opts: Options, model: str | None, metric_names: tuple[str, ...], fmt: str) -> None:
    """Versions of MODEL (default: every model in the state) as the registry holds them."""
    desired: StateSet | None = None
    if model is None or opts.state.exists():
        try:
            desired = load_state(opts.state, opts.workspace)
        except StateError:
            if model is None:
                raise
    parts: list[tuple[str | None, DesiredState | None]] = [
        (p.workspace, p)
        for p in (desired.parts if desired else ())
        if not model or model in p.models
    ] or [(opts.workspace, None)]
    registry = api.connect(opts.tracking_uri)
    if desired is not None:
        api.check_workspaces(desired, registry)
    show = len(parts) > 1 or parts[0][0] not in (None, DEFAULT)
    data: list[dict[str, Any]] = []
    trend = ""
    for ws, part in parts:
        names = [model] if model else sorted(part.models) if part else []
        keys = {name: key_metrics(part, name, metric_names) for name in names}
        scoped = registry.in_workspace(ws)
        observed = scoped.read(names)
        if model and model not in observed.models:
            where = f" (workspace {ws})" if ws else ""
            raise StateError(f"model {model!r} does not exist in the registry{where}")
        runs = [v.run_id for m in observed.models.values() for v in m.versions.values() if v.run_id]
        found = rows(observed, scoped.run_metrics(runs), keys, part, ws)
        data += found
        trend += series(found, keys, show)
    if fmt == "json":
        out(json.dumps(data, indent=2))
    else:
        out(_table(data, show) + (f"\n{trend}" if trend else ""), nl=False)


def key_metrics(part: DesiredState | None, name: str, given: tuple[str, ...]) -> list[str]:
    """``--metric``, else the metrics the model's gates use (empty: all of them)."""
    spec = part.models.get(name) if part else None
    gated = [
        g.metric
        for rules in (spec.gates.values() if spec else ())
        for g in rules
        if isinstance(g, MetricRule)
    ]
    return list(given) or list(dict.fromkeys(gated))
