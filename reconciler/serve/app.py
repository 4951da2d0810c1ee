"""The controller's HTTP face (Starlette): status, model pages, health, metrics, ``POST /webhook``.

Handlers only read the current snapshot or hand a model name to the worker; nothing
here writes to the registry. A webhook delivery is checked (``webhook.verify``) before
its body is parsed.
"""

from __future__ import annotations

import asyncio
import json
import time
from logging import WARNING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reconciler.serve.fleet import Fleet
from reconciler.serve.history import Histories, ModelHistory
from reconciler.serve.logs import event
from reconciler.serve.model_page import render_missing, render_model
from reconciler.serve.page import render
from reconciler.serve.status import Snapshot, alive, to_json
from reconciler.serve.webhook import MAX_BODY, Replays, verify

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


BODY_TIMEOUT = 10.0
"""Seconds a webhook delivery may take to send its body."""


class _TooLarge(Exception):
    pass


async def _read(request: Request) -> bytes:
    """The body, refused past ``MAX_BODY`` (never more than that plus one chunk held)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge
    return body


NO_GIT = ModelHistory(problems=("the state is not in a git repository: no alias history",))


def model_page(
    snap: Snapshot, histories: Histories | None, name: str, workspace: str | None, up: str
) -> tuple[str, int]:
    """The page of a declared model (its history from the cache, never computed here), or
    404 for any other name."""
    for model, ws in zip(snap.models, snap.workspaces(), strict=True):
        if model.name != name or (workspace is not None and ws != workspace):
            continue
        part = next((p for p in snap.parts if p.workspace == ws), snap)
        newest = part.last_apply.run_id if part.last_apply else ""
        aliases = tuple(r.alias for r in model.aliases)
        history: ModelHistory | None = NO_GIT
        if part.head is not None and histories is not None:
            history = histories.get((ws, name, part.head, newest), aliases)
        elif part.head is not None:
            history = None
        told = [e for e in snap.events if e.model in (name, f"{ws}/{name}")]
        return render_model(model, ws, history, snap.registry, told, up), 200
    return render_missing(name, up), 404


def create_app(
    controller: Fleet, secret: str | None, histories: Histories | None = None
) -> Starlette:
    """The ASGI app; ``secret`` None answers every delivery 404 (webhooks not configured);
    ``histories`` None shows no alias history on the model pages."""
    replays = Replays()

    def refused(reason: str, model: str | None = None) -> None:
        """One line per refused delivery: the reason, never the secret or the signature."""
        event("delivery_refused", f"webhook delivery refused: {reason}", model=model, level=WARNING)

    async def index(request: Request) -> Response:
        return HTMLResponse(render(controller.snapshot))

    async def model(request: Request) -> Response:
        name = request.path_params.get("name") or request.query_params.get("name", "")
        raw = request.scope.get("raw_path") or request.url.path.encode()
        up = "../" * (raw.split(b"?")[0].count(b"/") - 1) or "./"
        asked = request.query_params.get("workspace")
        page, code = model_page(controller.snapshot, histories, name, asked, up)
        return HTMLResponse(page, code)

    async def healthz(request: Request) -> Response:
        ok = alive(controller.snapshot, time.time(), controller.settings.interval)
        said = "ok\n" if ok else "no resync succeeded lately\n"
        return PlainTextResponse(said, 200 if ok else 503)

    async def status(request: Request) -> Response:
        return JSONResponse(to_json(controller.snapshot))

    async def metrics(request: Request) -> Response:
        return Response(controller.metrics.text(), media_type=CONTENT_TYPE)

    async def webhook(request: Request) -> Response:
        if secret is None:
            controller.metrics.deliveries.labels("not configured").inc()
            return JSONResponse({"error": "webhooks are not configured"}, 404)
        try:
            body = await asyncio.wait_for(_read(request), BODY_TIMEOUT)
        except _TooLarge:
            controller.metrics.deliveries.labels("body too large").inc()
            refused("body too large")
            return JSONResponse({"error": "body too large"}, 413)
        except asyncio.TimeoutError:
            controller.metrics.deliveries.labels("body timeout").inc()
            refused(f"body not sent within {BODY_TIMEOUT:g} s")
            return JSONResponse({"error": "body timeout"}, 408)
        except ClientDisconnect:
            controller.metrics.deliveries.labels("client hung up").inc()
            refused("the client hung up mid-body")
            return JSONResponse({"error": "incomplete body"}, 400)
        headers = {k.lower(): v for k, v in request.headers.items()}
        verdict = verify(headers, body, secret, time.time(), replays)
        result = verdict.reason
        if verdict.model is not None and not controller.ask(verdict.model):
            result = "model not declared"
        controller.metrics.deliveries.labels(result).inc()
        if verdict.status >= 400:
            refused(result, verdict.model)
        return Response(
            json.dumps({"result": result}), verdict.status, media_type="application/json"
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/models", model),
            Route("/models/{name:path}", model),
            Route("/healthz", healthz),
            Route("/api/status", status),
            Route("/metrics", metrics),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )
