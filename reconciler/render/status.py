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
from reconciler.core.status import alias_sync
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
                    "version": number,
                    "aliases": held.get(number, []),
                    "sync": sync.get(number, {}),
                    "stage": v.stage,
                    "status": v.status,
                    "created": created(v.created_at),
                    "run_id": v.run_id,
                    "copy_of": f"{v.copied_from[0]}/{v.copied_from[1]}" if v.copied_from else None,
                    "metrics": {k: run[k] for k in wanted if k in run},
                }
            )
    return result


def series(data: list[dict[str, Any]], keys: Mapping[str, list[str]]) -> str:
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


def table(data: list[dict[str, Any]]) -> str:
    """The rows as aligned columns, metrics last (unpadded)."""
    lines = [HEAD] + [
        (
            r["model"],
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
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEAD) - 1)]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] + "\n"
        for row in lines
    )


def text(data: list[dict[str, Any]], keys: Mapping[str, list[str]]) -> str:
    """The table, then the trend lines when there are any."""
    trend = series(data, keys)
    return table(data) + (f"\n{trend}" if trend else "")
