"""The controller's HTTP face (Starlette): status, health, metrics and ``POST /webhook``.

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
from reconciler.serve.logs import event
from reconciler.serve.page import render
from reconciler.serve.status import alive, to_json
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


def create_app(controller: Fleet, secret: str | None) -> Starlette:
    """The ASGI app; ``secret`` None answers every delivery 404 (webhooks not configured)."""
    replays = Replays()

    def refused(reason: str, model: str | None = None) -> None:
        """One line per refused delivery: the reason, never the secret or the signature."""
        event("delivery_refused", f"webhook delivery refused: {reason}", model=model, level=WARNING)

    async def index(request: Request) -> Response:
        return HTMLResponse(render(controller.snapshot))

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
            Route("/healthz", healthz),
            Route("/api/status", status),
            Route("/metrics", metrics),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )
