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
from reconciler.errors import StateError
from reconciler.render.escape import terminal
from reconciler.render.evidence import number as fmt_number
from reconciler.render.evidence import sparkline
from reconciler.state.load import DesiredState, load_state
from reconciler.state.models import CopyFrom, MetricRule, ModelSpec


def _created(ms: int) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


Sync = dict[int, dict[str, str]]
Wanted = dict[int, dict[str, int | None]]


def alias_sync(model: ObservedModel, spec: ModelSpec | None) -> tuple[Sync, Wanted]:
    """version -> {alias: synced | drift | unmanaged}, and for each drifting alias the
    version the state wants (None: removed), each alias on one row only.

    ``drift``: declared here but live elsewhere (shown on the live row) or nowhere (shown
    on the declared row), or recorded as owned but no longer declared (plan would remove
    it). ``unmanaged``: neither declared nor owned.
    """
    declared: dict[str, int | None] = {}
    for alias, value in spec.aliases.items() if spec else ():
        if isinstance(value, CopyFrom):
            copy = find_copy(model, value)
            declared[alias] = copy.version if copy else None
        else:
            declared[alias] = value
    owned = parse_record(model.tags.get(MANAGED_TAG)).aliases
    out: Sync = {}
    wanted: Wanted = {}
    for alias, number in model.aliases.items():
        if alias in declared:
            state = "synced" if declared[alias] == number else "drift"
        else:
            state = "drift" if alias in owned or (spec and spec.prune) else "unmanaged"
        out.setdefault(number, {})[alias] = state
        if state == "drift":
            wanted.setdefault(number, {})[alias] = declared.get(alias)
    for alias, want in declared.items():
        if want is not None and alias not in model.aliases:
            out.setdefault(want, {})[alias] = "drift"
            wanted.setdefault(want, {})[alias] = want
    return {n: dict(sorted(a.items())) for n, a in out.items()}, wanted


def _label(alias: str, state: str, number: int, want: int | None) -> str:
    """``champion(synced)``; a drift says what the state wants: ``champion(drift, state:
    v7)``, ``old(drift, state: removed)``, ``new(drift, state: v3, not set)``."""
    if state != "drift":
        return f"{alias}({state})"
    if want is None:
        return f"{alias}(drift, state: removed)"
    return f"{alias}(drift, state: v{want}{', not set' if want == number else ''})"


def rows(
    observed: ObservedState,
    metrics: dict[str, dict[str, float]] | Any,
    keys: dict[str, list[str]],
    desired: DesiredState | None = None,
) -> list[dict[str, Any]]:
    """One dict per version (newest first within a model), for text or JSON."""
    result = []
    for name, model in sorted(observed.models.items()):
        held: dict[int, list[str]] = {}
        for alias, number in sorted(model.aliases.items()):
            held.setdefault(number, []).append(alias)
        sync, want = alias_sync(model, desired.models.get(name) if desired else None)
        for number, v in sorted(model.versions.items(), reverse=True):
            run = dict(metrics.get(v.run_id, {})) if v.run_id else {}
            wanted = keys.get(name) or sorted(run)
            result.append(
                {
                    "model": name,
                    "version": number,
                    "aliases": held.get(number, []),
                    "sync": sync.get(number, {}),
                    "wanted": want.get(number, {}),
                    "stage": v.stage,
                    "status": v.status,
                    "created": _created(v.created_at),
                    "run_id": v.run_id,
                    "copy_of": f"{v.copied_from[0]}/{v.copied_from[1]}" if v.copied_from else None,
                    "metrics": {k: run[k] for k in wanted if k in run},
                }
            )
    return result


def series(data: list[dict[str, Any]], keys: dict[str, list[str]]) -> str:
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
            lines.append(f"{name} {metric}: {values}  {sparkline([v for _, v in points])}")
    return "".join(f"{line}\n" for line in lines)


def _table(data: list[dict[str, Any]]) -> str:
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
            r["model"],
            str(r["version"]),
            ",".join(_label(a, s, r["version"], r["wanted"].get(a)) for a, s in r["sync"].items())
            or "-",
            r["stage"],
            r["status"],
            r["created"],
            r["run_id"] or "-",
            r["copy_of"] or "-",
            " ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items()) or "-",
        )
        for r in data
    ]
    lines = [tuple(terminal(cell) for cell in row) for row in lines]
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
    keys: dict[str, list[str]] = {}
    desired = None
    if model is None or opts.state.exists():
        try:
            desired = load_state(opts.state)
        except StateError:
            if model is None:
                raise
    names = [model] if model else sorted(desired.models) if desired else []
    for name in names:
        spec = desired.models.get(name) if desired else None
        gate_metrics = (
            []
            if spec is None
            else [
                g.metric
                for rules in spec.gates.values()
                for g in rules
                if isinstance(g, MetricRule)
            ]
        )
        keys[name] = list(metric_names) or list(dict.fromkeys(gate_metrics))
    registry = api.connect(opts.tracking_uri)
    observed = registry.read(names)
    if model and model not in observed.models:
        raise StateError(f"model {model!r} does not exist in the registry")
    runs = [v.run_id for m in observed.models.values() for v in m.versions.values() if v.run_id]
    data = rows(observed, registry.run_metrics(runs), keys, desired)
    if fmt == "json":
        out(json.dumps(data, indent=2))
    else:
        trend = series(data, keys)
        out(_table(data) + (f"\n{trend}" if trend else ""), nl=False)
