"""``/``: the status page a person reads. Pure: snapshot in, HTML out.

Server-rendered, refreshed by ``<meta http-equiv="refresh">``, readable without
JavaScript (there is none), no write actions. Every string passes through ``esc``, the
one HTML escaper: model names, alias names, versions, tag values and error lines can
come from the registry or a pull request, and must show as text, never as markup.
"""

from __future__ import annotations

import html
from dataclasses import replace
from urllib.parse import quote, urlencode

from reconciler.render.text import describe
from reconciler.serve.decide import ModelStatus
from reconciler.serve.status import Snapshot, counts, iso

REFRESH = 5
"""Seconds between automatic reloads."""
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f23;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.wide{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa} code{font-size:.85rem;white-space:nowrap}
.t,.id{white-space:nowrap}
.state{font-weight:600;padding:.05rem .45rem;border-radius:.6rem;white-space:nowrap}
.synced,.healed,.applied{background:#dafbe1;color:#116329}
.drift,.heal_failed,.forged{background:#ffebe9;color:#a40e26}
.pending,.held,.deferred,.not_applied_yet{background:#fff8c5;color:#7d4e00}
.unknown,.never_applied{background:#eaeef2;color:#57606a}
.unverified{background:#fbefff;color:#6e40c9}
.meta{color:#57606a;font-size:.9rem} .errors li{color:#a40e26}
.model td{background:#f6f8fa;font-weight:600}
"""
EVENTS = (
    "drift",
    "healed",
    "heal_failed",
    "pending",
    "synced",
    "unverified",
    "forged",
    "held",
    "deferred",
    "unknown",
)
"""Every event kind; each has its badge colour in ``STYLE`` (a test keeps them in step)."""


def esc(value: object) -> str:
    """The one escaper for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def model_href(name: str, workspace: str | None = None) -> str:
    """The model page's address relative to ``/``, escaped for an attribute. The name is
    one URL-encoded path segment (``/`` included); a name of dots alone, which a browser
    would resolve as ``..``, goes in the query instead."""
    segment = quote(name, safe="")
    query = {"workspace": workspace} if workspace else {}
    if not segment.strip("."):
        path, query = "models", {"name": name, **query}
    else:
        path = f"models/{segment}"
    return esc(path + ("?" + urlencode(query, quote_via=quote) if query else ""))


def badge(state: str) -> str:
    return f'<span class="state {esc(state)}">{esc(state)}</span>'


def short(commit: str | None) -> str:
    return "-" if not commit else esc(commit[:12])


def model_rows(model: ModelStatus, href: str = "") -> list[str]:
    """The model's row and one per alias; ``href``: its name links to its page."""
    heal = "self-heal" if model.self_heal else "report only"
    name = f'<span class="id">{esc(model.name)}</span>'
    name = f'<a href="{href}">{name}</a>' if href else name
    rows = [
        f'<tr class="model" data-model="{esc(model.name)}" data-state="{esc(model.state.value)}">'
        f'<td colspan="4">{name} <span class="meta">({heal})</span>'
        + (f'<div class="meta">{esc(model.problem)}</div>' if model.problem else "")
        + f"</td><td>{badge(model.state.value)}</td></tr>"
    ]
    for row in model.aliases:
        rows.append(
            f'<tr class="alias" data-model="{esc(model.name)}" data-alias="{esc(row.alias)}"'
            f' data-state="{esc(row.state.value)}"><td>{esc(row.alias)}</td>'
            f"<td>{esc(row.declared)}</td><td>{esc(row.live)}</td><td>{esc(row.applied)}</td>"
            f"<td>{badge(row.state.value)}</td></tr>"
        )
    others = [c for c in model.drift if c.kind.value != "alias"]
    if others:
        items = "".join(f"<li>{esc(describe(c))}</li>" for c in others)
        rows.append(f'<tr class="drift-detail"><td colspan="5"><ul>{items}</ul></td></tr>')
    return rows


def render(snapshot: Snapshot) -> str:
    """The whole page."""
    found = counts(snapshot)
    summary = ", ".join(f"{n} {esc(state)}" for state, n in found.items() if n)
    last = snapshot.last_apply
    apply_line = (
        "no apply recorded in the apply log: drift is measured against HEAD"
        if last is None
        else f"commit <code>{short(last.commit)}</code> by {esc(last.actor or '?')} "
        f'at <span class="t">{esc(last.at or "?")}</span>, '
        f"run <code>{esc(last.run_id or '-')}</code>"
        + (" <strong>(an apply is running)</strong>" if last.running else "")
    )
    rows = [
        r
        for m, ws in zip(snapshot.models, snapshot.workspaces(), strict=True)
        for r in model_rows(
            replace(m, name=f"{ws}/{m.name}") if ws and snapshot.parts else m,
            model_href(m.name, ws if snapshot.parts else None),
        )
    ]
    errors = "".join(f"<li>{esc(e)}</li>" for e in snapshot.errors)
    events = "".join(
        f'<tr class="event"><td><span class="t">{esc(iso(e.at))}</span></td>'
        f'<td><span class="id">{esc(e.model)}</span></td>'
        f"<td>{badge(e.event)}</td><td>{esc(e.text)}</td></tr>"
        for e in snapshot.events
    )
    health = "healthy" if snapshot.healthy else "last resync failed"
    role = "leader" if snapshot.leader else "standby (read-only: another replica leads)"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>registry-reconciler: {esc(summary or "no models")}</title>
<style>{STYLE}</style></head><body>
<h1>registry-reconciler</h1>
<p class="meta" id="summary">Registry <code>{esc(snapshot.registry)}</code>: <span
 id="health">{esc(health)}</span>; <span id="leader">{role}</span>;
 {summary or "no models declared"}.
Last resync <span class="t">{esc(iso(snapshot.last_success) or "never")}</span>.</p>
<p class="meta">HEAD <code id="head">{short(snapshot.head)}</code>, last applied commit
<code id="applied">{short(snapshot.applied_commit)}</code>.
Last apply: <span id="last-apply">{apply_line}</span></p>
{f'<ul class="errors" id="errors">{errors}</ul>' if errors else ""}
<h2>Models</h2>
<div class="wide"><table id="models"><thead><tr><th>alias</th><th>declared (HEAD)</th><th>live</th>
<th>last applied</th><th>state</th></tr></thead>
<tbody>{"".join(rows) or '<tr><td colspan="5">no models</td></tr>'}</tbody></table></div>
<h2>Recent events</h2>
<div class="wide"><table id="events">
<thead><tr><th>time</th><th>model</th><th>event</th><th>what</th></tr></thead>
<tbody>{events or '<tr><td colspan="4">none yet</td></tr>'}</tbody></table></div>
<p class="meta">Refreshes every {REFRESH} s. JSON: <a href="api/status">api/status</a>,
metrics: <a href="metrics">metrics</a>.</p>
</body></html>
"""
