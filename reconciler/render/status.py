"""``status`` as data and as text: one row per version, a table, the gated metric's trend.

Rows are plain dicts (the JSON output is exactly them); the table and the trend lines
are pure functions of the rows. Sync states come from ``core.status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from reconciler.core.evidence import TREND_POINTS
from reconciler.core.observed import ObservedState
from reconciler.core.scopes import label
from reconciler.core.status import alias_sync
from reconciler.render.escape import terminal
from reconciler.render.evidence import number as fmt_number
from reconciler.render.evidence import sparkline
from reconciler.state.load import DesiredState

HEAD = (
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


def created(ms: int) -> str:
    """Epoch milliseconds as UTC ISO-8601 ("-" when unknown)."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(
    observed: ObservedState,
    metrics: Mapping[str, Mapping[str, float]],
    keys: Mapping[str, list[str]],
    desired: DesiredState | None = None,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """One dict per version (newest first within a model), for text or JSON; each names
    its ``workspace`` (None: the server's default)."""
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
                    "workspace": workspace,
                    "version": number,
                    "aliases": held.get(number, []),
                    "sync": sync.get(number, {}),
                    "wanted": want.get(number, {}),
                    "stage": v.stage,
                    "status": v.status,
                    "created": created(v.created_at),
                    "run_id": v.run_id,
                    "copy_of": f"{v.copied_from[0]}/{v.copied_from[1]}" if v.copied_from else None,
                    "metrics": {k: run[k] for k in wanted if k in run},
                }
            )
    return result


def series(data: list[dict[str, Any]], keys: Mapping[str, list[str]], show: bool = False) -> str:
    """Each gated metric across a model's recent versions, as text with a sparkline and
    the alias holders marked (the same picture the markdown plan draws); ``show`` names
    the workspace beside the model."""
    lines = []
    models = sorted({(r.get("workspace") or "", r["model"]) for r in data if r["model"] in keys})
    for ws, name in models:
        rows = sorted(
            (r for r in data if r["model"] == name and (r.get("workspace") or "") == ws),
            key=lambda r: r["version"],
        )
        rows = rows[-TREND_POINTS:]
        shown = label(name, ws or None, show)
        for metric in keys[name]:
            points = [(r, r["metrics"][metric]) for r in rows if metric in r["metrics"]]
            if len(points) < 2:
                continue
            values = ", ".join(
                f"v{r['version']} {fmt_number(v)}"
                + (f" [{','.join(r['aliases'])}]" if r["aliases"] else "")
                for r, v in points
            )
            lines.append(f"{shown} {metric}: {values}  {sparkline([v for _, v in points])}")
    return "".join(f"{line}\n" for line in lines)


def alias_label(alias: str, state: str, number: int, want: int | None) -> str:
    """``champion(synced)``; a drift says what the state wants: ``champion(drift, state:
    v7)``, ``old(drift, state: removed)``, ``new(drift, state: v3, not set)``."""
    if state != "drift":
        return f"{alias}({state})"
    if want is None:
        return f"{alias}(drift, state: removed)"
    return f"{alias}(drift, state: v{want}{', not set' if want == number else ''})"


def table(data: list[dict[str, Any]], show: bool = False) -> str:
    """The rows as aligned columns, metrics last (unpadded); ``show``: ``workspace/model``."""
    lines = [HEAD] + [
        (
            label(r["model"], r.get("workspace"), show),
            str(r["version"]),
            ",".join(
                alias_label(a, s, r["version"], r["wanted"].get(a)) for a, s in r["sync"].items()
            )
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
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEAD) - 1)]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] + "\n"
        for row in lines
    )


def text(data: list[dict[str, Any]], keys: Mapping[str, list[str]], show: bool = False) -> str:
    """The table, then the trend lines when there are any."""
    trend = series(data, keys, show)
    return table(data, show) + (f"\n{trend}" if trend else "")
