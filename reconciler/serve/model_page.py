"""``/models/NAME``: one model's page (SPEC v4 §21). Pure: data in, HTML out.

Its aliases now (as on ``/``), each alias's history from git joined with the apply that
carried out each move, links to the MLflow UI for versions and apply runs, and the
model's recent events. Every string is registry or state text and passes through
``esc``; names in links are URL-encoded; ids and times never wrap mid-token.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from reconciler.core.applylog.history import MoveApplied
from reconciler.serve.decide import ModelStatus
from reconciler.serve.history import ModelHistory
from reconciler.serve.page import REFRESH, STYLE, badge, esc, model_rows, short
from reconciler.serve.status import Event, iso

SHOWN = 100
"""Moves shown per alias, newest first (``reconciler history`` lists them all)."""


def _ui(registry: str) -> str | None:
    """The MLflow UI's address, when the registry is an http(s) server."""
    return registry.rstrip("/") if registry.startswith(("http://", "https://")) else None


def _ws(workspace: str | None) -> str:
    return f"?workspace={quote(workspace, safe='')}" if workspace else ""


def _version(value: int | str | None, model: str, base: str | None, ws: str | None) -> str:
    """A version number, linked to its MLflow UI page (a copy's ``other v7`` is text)."""
    if value is None:
        return "removed"
    if not isinstance(value, int) or base is None:
        return f"<code>{esc(value)}</code>"
    url = f"{base}/#/models/{quote(model, safe='')}/versions/{value}{_ws(ws)}"
    return f'<a href="{esc(url)}"><code>{value}</code></a>'


def _applied(item: MoveApplied, history: ModelHistory, base: str | None, ws: str | None) -> str:
    """How the move reached the registry: the apply run (linked), or why it did not."""
    if not history.joined:
        return '<span class="meta">apply log not read</span>'
    run = item.run
    if run is None:
        state = "not_applied_yet" if item.latest else "never_applied"
        return f'<span class="state {state}">{state.replace("_", " ")}</span>'
    rid = f'<code class="id" data-run="{esc(run.run_id)}">{esc(run.run_id)}</code>'
    if base is not None:
        url = f"{base}/#/runs/{quote(run.run_id, safe='')}{_ws(ws)}"
        rid = f'<a href="{esc(url)}">{rid}</a>'
    return (
        f"{badge('applied')} run {rid} by {esc(run.actor or '?')} "
        f'<span class="t">{esc(run.ended or "?")}</span>'
    )


def _moves(
    model: str,
    alias: str,
    items: Sequence[MoveApplied],
    h: ModelHistory,
    b: str | None,
    ws: str | None,
) -> str:
    rows = []
    for item in list(reversed(items))[:SHOWN]:  # newest first
        m = item.move
        was = f" (was {_version(m.previous, model, b, ws)})" if m.previous is not None else ""
        rows.append(
            f'<tr class="move" data-alias="{esc(alias)}" data-commit="{esc(m.commit)}">'
            f'<td><span class="t">{esc(m.date.isoformat())}</span></td>'
            f'<td><code class="id">{short(m.commit)}</code></td><td>{esc(m.author)}</td>'
            f'<td class="id">{_version(m.version, model, b, ws)}{was}</td>'
            f"<td>{esc(m.subject)}</td>"
            f"<td>{_applied(item, h, b, ws)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="6">no commit ever set it</td></tr>'
    if len(items) > SHOWN:
        more = f"{len(items) - SHOWN} older moves: <code>reconciler history {esc(model)} --alias"
        body += f'<tr><td colspan="6" class="meta">{more} {esc(alias)}</code></td></tr>'
    return (
        f"<h3><code>{esc(alias)}</code></h3>"
        '<div class="wide"><table class="history"><thead><tr><th>committed</th><th>commit</th>'
        "<th>author</th><th>version</th><th>subject</th><th>applied</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _page(title: str, body: str, up: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{STYLE}</style></head><body>
<p class="meta"><a href="{esc(up)}">all models</a></p>
{body}
</body></html>
"""


def render_model(
    model: ModelStatus,
    workspace: str | None,
    history: ModelHistory | None,
    registry: str,
    events: Sequence[Event],
    up: str = "../",
) -> str:
    """The page of one declared model; ``history`` None: still being computed."""
    base = _ui(registry)
    where = f" (workspace <code>{esc(workspace)}</code>)" if workspace else ""
    rows = "".join(model_rows(model))
    if history is None:
        past = (
            '<p class="meta" id="history" data-ready="no">The alias history is being computed.</p>'
        )
    else:
        problems = "".join(f"<li>{esc(p)}</li>" for p in history.problems)
        past = (
            '<div id="history" data-ready="yes">'
            + (f'<ul class="errors">{problems}</ul>' if problems else "")
            + "".join(
                _moves(model.name, a, items, history, base, workspace)
                for a, items in history.aliases
            )
            + "</div>"
        )
    told = "".join(
        f'<tr class="event"><td><span class="t">{esc(iso(e.at))}</span></td>'
        f"<td>{badge(e.event)}</td><td>{esc(e.text)}</td></tr>"
        for e in events
    )
    link = f"{base}/#/models/{quote(model.name, safe='')}{_ws(workspace)}" if base else ""
    ui = f' <a class="meta" href="{esc(link)}">MLflow UI</a>' if link else ""
    title = f'<h1 data-model="{esc(model.name)}">{esc(model.name)}{where}'
    body = f"""{title} {badge(model.state.value)}{ui}</h1>
<h2>Aliases now</h2>
<div class="wide"><table id="models"><thead><tr><th>alias</th><th>declared (HEAD)</th><th>live</th>
<th>last applied</th><th>state</th></tr></thead><tbody>{rows}</tbody></table></div>
<h2>Alias history (git and the apply log)</h2>
{past}
<h2>Recent events</h2>
<div class="wide"><table id="events">
<thead><tr><th>time</th><th>event</th><th>what</th></tr></thead>
<tbody>{told or '<tr><td colspan="3">none yet</td></tr>'}</tbody></table></div>"""
    return _page(f"registry-reconciler: {model.name}", body, up)


def render_missing(name: str, up: str = "../") -> str:
    """The 404 page: the name asked for, as text."""
    body = (
        f"<h1>No declared model <code>{esc(name)}</code></h1>"
        '<p class="meta">The state at HEAD does not declare it.</p>'
    )
    return _page("registry-reconciler: no such model", body, up)
