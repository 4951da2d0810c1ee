"""The per-model status page (SPEC v4 §21) on plain data: hostile names and history text
stay text, every name routes to its own page (``/``, ``<``, ``..``, unicode), unknown names
get an escaped 404, every event kind has its badge, ids and times never wrap, and the
history cache keeps git and the registry off the request path."""

from __future__ import annotations

import asyncio
import html
import re
import threading
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest

from reconciler.core.applylog.history import MoveApplied
from reconciler.core.applylog.record import FINISHED, ApplyRecord
from reconciler.errors import RegistryError
from reconciler.serve import history as history_module
from reconciler.serve.app import create_app
from reconciler.serve.decide import AliasRow, ModelStatus, Sync
from reconciler.serve.history import Histories, ModelHistory, Source
from reconciler.serve.model_page import SHOWN, render_missing, render_model
from reconciler.serve.page import EVENTS, STYLE, model_href, render
from reconciler.serve.status import Event, LastApply, Snapshot
from reconciler.state.history import Move
from tests.support.gitrepo import git, init_repo
from tests.support.serve import wait_until

HOSTILE = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "</td></tr></table><h1>forged</h1>",
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "<!-- comment -->",
]
NAMES = ["a/b", "<b>x</b>", "..", ".", "a/../b", "modèle-日本", "q?x=1#frag", "100%", "sp ace"]
RUN = "0123456789abcdef0123456789abcdef"
WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)


class Tags(HTMLParser):
    """Every tag, attribute name and text, and the classes around each piece of text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.text: list[str] = []
        self.open: list[tuple[str, str]] = []
        self.around: dict[str, list[tuple[str, str]]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}
        if tag not in ("meta", "br"):
            self.open.append((tag, dict(attrs).get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.around.setdefault(data, list(self.open))


def status(name: str, state: Sync = Sync.SYNCED) -> ModelStatus:
    return ModelStatus(name, state, (AliasRow("champion", "3", "3", "3", state),))


def history(alias: str = "champion", author: str = "ada", subject: str = "promote") -> ModelHistory:
    run = ApplyRecord(RUN, FINISHED, 1_764_580_000_000, 1_764_580_060_000, author, "c" * 40)
    first = Move("b" * 40, author, "a@x", WHEN, subject, 2, None)
    second = Move("c" * 40, author, "a@x", WHEN, subject, "other v7", 2)
    items = (MoveApplied(first, None, False), MoveApplied(second, run, True))
    return ModelHistory(((alias, items),), joined=True)


def test_model_page_shows_hostile_names_and_history_as_text() -> None:
    """Names, aliases, authors, subjects and events from the registry or git: no element
    or attribute injected, each reads back literally."""
    for bad in HOSTILE:
        model = ModelStatus(bad, Sync.DRIFT, (AliasRow(bad, bad, bad, bad, Sync.DRIFT),))
        events = [Event(0.0, bad, "drift", bad)]
        page = render_model(model, bad, history(bad, bad, bad), "http://r", events)
        found = Tags()
        found.feed(page)
        assert found.tags <= {"html", "head", "meta", "title", "style", "body", "p", "a", "h1"} | {
            "h2", "h3", "div", "table", "thead", "tbody", "tr", "th", "td", "span", "code", "ul"
        }  # fmt: skip
        assert found.attrs <= {"charset", "http-equiv", "content", "name", "lang", "class"} | {
            "id", "href", "colspan", "data-model", "data-alias", "data-state", "data-commit",
            "data-run", "data-ready",
        }  # fmt: skip
        assert bad in "".join(found.text)
        assert not re.search(r"<script|<img|<h1>forged|<!--", page)
        missing = Tags()
        missing.feed(render_missing(bad))
        assert bad in "".join(missing.text) and "script" not in missing.tags


def test_history_links_versions_and_the_apply_run_to_the_mlflow_ui() -> None:
    """A move's version and its apply run link to the MLflow UI (with the workspace); a
    copy's ``other v7`` is text; a superseded move never applied says so."""
    page = render_model(status("a/b"), "team a", history(), "http://mlflow:5000/", [])
    assert 'href="http://mlflow:5000/#/models/a%2Fb/versions/2?workspace=team%20a"' in page
    assert f'href="http://mlflow:5000/#/runs/{RUN}?workspace=team%20a"' in page
    assert "<code>other v7</code>" in page and "never applied" in page
    assert 'data-ready="yes"' in page
    offline = render_model(status("m"), None, history(), "file:///tmp/mlruns", [])
    assert "#/runs/" not in offline and f'data-run="{RUN}"' in offline


def test_a_long_history_shows_its_newest_moves() -> None:
    """Past ``SHOWN`` moves the page lists the newest and says how to see the rest."""
    move = history().aliases[0][1][0]
    items = tuple(move for _ in range(SHOWN + 5))
    page = render_model(status("m"), None, ModelHistory((("champion", items),), True), "", [])
    assert page.count('class="move"') == SHOWN
    assert "5 older moves: <code>reconciler history m --alias champion</code>" in page


def test_every_event_kind_has_its_badge_on_both_pages() -> None:
    """Each event kind is a CSS class with its own colour, on ``/`` and the model page."""
    for kind in EVENTS:
        assert re.search(rf"\.{kind}[,{{]", STYLE), kind
    events = tuple(Event(float(i), "m", kind, kind) for i, kind in enumerate(EVENTS))
    pages = [
        render(Snapshot("http://r", (status("m"),), events=events)),
        render_model(status("m"), None, None, "http://r", events),
    ]
    for page in pages:
        for kind in EVENTS:
            assert f'<span class="state {kind}">{kind}</span>' in page


def test_ids_and_times_sit_in_elements_that_never_wrap() -> None:
    """Run ids, commits and ISO times are inside ``code`` or ``.t``/``.id`` spans, and the
    stylesheet keeps those on one line (no ``break-all``)."""
    assert "break-all" not in STYLE
    assert re.search(r"code\{[^}]*white-space:nowrap", STYLE)
    assert re.search(r"\.t,\.id\{white-space:nowrap", STYLE)
    last = LastApply("c" * 40, "ada", "2026-12-01T09:30:00+00:00", RUN)
    snap = Snapshot("http://r", (status("m"),), head="d" * 40, last_apply=last,
                    last_success=1.0, events=(Event(1.0, "m", "drift", "x"),))  # fmt: skip
    model = render_model(status("m"), None, history(), "http://r", snap.events)
    for page in (render(snap), model):
        found = Tags()
        found.feed(page)
        for text, around in found.around.items():
            if re.fullmatch(r"[0-9a-f]{12,40}|\d{4}-\d\d-\d\dT[\d:+]+", text.strip()):
                assert any(t == "code" or c in ("t", "id") for t, c in around), text


def asgi_get(app: Any, target: str) -> tuple[int, str]:
    """GET ``target`` (as a browser sends it) through the ASGI app, as uvicorn would."""
    raw, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw), "raw_path": raw.encode(), "root_path": "",
        "query_string": query.encode(), "headers": [], "server": ("t", 80), "client": ("c", 1),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body.decode()


def fleet(snapshot: Snapshot) -> Any:
    return SimpleNamespace(snapshot=snapshot, settings=SimpleNamespace(interval=60.0))


def test_every_name_routes_to_its_own_page_and_unknown_names_get_an_escaped_404() -> None:
    """``/``, ``<``, ``..``, ``.``, unicode, ``?``, ``%``: the link from ``/`` reaches that
    model's page; a name nobody declared is a 404 showing the name as text."""
    snap = Snapshot("http://r", tuple(status(n) for n in NAMES))
    app = create_app(fleet(snap), None)
    index = render(snap)
    for name in NAMES:
        href = model_href(name)
        assert f'href="{href}"' in index
        target = "/" + href.replace("&amp;", "&")
        assert not re.search(r"(^|/)\.\.?(/|$|\?)", target.split("?")[0]), target
        code, page = asgi_get(app, target)
        assert code == 200 and f'<h1 data-model="{html.escape(name)}"' in page, (name, target)
    code, page = asgi_get(app, "/models/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert code == 404 and "<script>" not in page and "&lt;script&gt;alert(1)" in page


def test_a_model_of_another_workspace_is_told_apart() -> None:
    """With several workspaces the link names the workspace and reaches that one's page."""
    parts = (
        Snapshot("http://r", (status("m", Sync.DRIFT),), workspace="a"),
        Snapshot("http://r", (status("m"),), workspace="b"),
    )
    snap = Snapshot("http://r", (*parts[0].models, *parts[1].models), parts=parts)
    app = create_app(fleet(snap), None)
    assert model_href("m", "b") == "models/m?workspace=b"
    code, page = asgi_get(app, "/models/m?workspace=b")
    assert code == 200 and 'data-state="synced"' in page and 'data-state="drift"' not in page
    assert asgi_get(app, "/models/m?workspace=c")[0] == 404


def _repo(tmp_path: Path) -> Path:
    init_repo(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    for version in (1, 2):
        (state / "m.yaml").write_text(f"models: {{m: {{aliases: {{champion: {version}}}}}}}\n")
        git(tmp_path, "add", "state")
        git(tmp_path, "commit", "-qm", f"champion {version}")
    return state


def test_history_is_computed_off_the_request_path_once_per_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page asks, gets "being computed" at once (even while the registry hangs, and
    /healthz answers meanwhile); the history is computed once per (model, HEAD), a name
    nobody declared is never computed, and one with problems is retried later."""
    state = _repo(tmp_path)
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    release = threading.Event()

    def connect() -> Any:
        release.wait(60)
        raise RegistryError("registry down")

    histories = Histories({None: Source(state, None, "repo", connect)})
    snap = Snapshot("http://r", (status("m"),), head=head, healthy=True, last_success=9e9)
    app = create_app(fleet(snap), None, histories)
    answers: list[tuple[int, str]] = []
    asking = threading.Thread(
        target=lambda: answers.extend(
            [asgi_get(app, "/models/m"), asgi_get(app, "/healthz"), asgi_get(app, "/models/x")]
        )
    )
    asking.start()
    asking.join(30)
    try:
        assert not asking.is_alive(), "a page waited for the registry"
        assert answers[0][0] == 200 and 'data-ready="no"' in answers[0][1]
        assert answers[1][0] == 200 and answers[2][0] == 404
    finally:
        release.set()
    key = (None, "m", head, "")
    done = wait_until(lambda: histories.get(key, ("champion",)), 30)
    [(alias, items)] = done.aliases
    assert alias == "champion"
    assert [i.move.version for i in items] == [1, 2] and not done.joined
    assert "registry down" in done.problems[0]
    for _ in range(3):
        assert asgi_get(app, "/models/m")[1].count('class="move"') == 2
    assert histories.computed == 1
    monkeypatch.setattr(history_module, "RETRY", 0.0)  # the registry may be back: try again
    assert histories.get(key, ("champion",)) is done  # shown meanwhile
    wait_until(lambda: histories.computed == 2, 30)
