"""Checking an MLflow webhook delivery before trusting it (SPEC §13, facts §16). Pure.

A delivery is trusted only when its ``X-MLflow-Signature`` is the HMAC-SHA256 of
``{delivery id}.{timestamp}.{raw body}`` under the shared secret, its timestamp is within
five minutes of now, and its delivery id was not seen before. The body is parsed only
after the signature holds; all a delivery can do is ask for one declared model to be
reconciled now, so the worst a flood can cause is bounded by the number of models.
Malformed deliveries (non-ASCII header bytes, a non-finite timestamp) get a 4xx, never an
exception.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

SIGNATURE = "x-mlflow-signature"
DELIVERY_ID = "x-mlflow-delivery-id"
TIMESTAMP = "x-mlflow-timestamp"
MAX_AGE = 300.0
"""Seconds a delivery stays acceptable (either side of now: clocks differ)."""
MAX_BODY = 64 * 1024
"""MLflow's payloads are a few hundred bytes; anything larger is refused unread."""


@dataclass(frozen=True)
class Verdict:
    """What to answer a delivery, and the model it names when it is accepted."""

    status: int
    reason: str
    model: str | None = None
    """The registered model to reconcile now (None: nothing to do)."""

    @property
    def accepted(self) -> bool:
        return self.status == 200


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The signature MLflow sends (``v1,`` + base64 HMAC-SHA256); tests sign with it too."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Replays:
    """Delivery ids remembered for as long as their timestamps are fresh, at most ``limit``.

    An id is kept until its own timestamp is older than ``MAX_AGE`` (then any repeat is
    refused as stale anyway), so no replay is accepted while it could still pass the age
    check. When ``limit`` fresh ids are held, new deliveries are refused (``full``) rather
    than forgetting one: only holders of the secret can fill it.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []

    def full(self, now: float) -> bool:
        self._forget(now)
        return len(self._seen) >= self.limit

    def seen(self, delivery_id: str, stamp: float, now: float) -> bool:
        """True when ``delivery_id`` was seen already; records it (until ``stamp`` goes
        stale) otherwise."""
        self._forget(now)
        if delivery_id in self._seen:
            return True
        self._seen[delivery_id] = stamp
        heapq.heappush(self._expiry, (stamp, delivery_id))
        return False

    def _forget(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now - MAX_AGE:
            _, old = heapq.heappop(self._expiry)
            self._seen.pop(old, None)


def model_named(body: bytes) -> str | None:
    """The registered model a payload is about (``data.name``), if any."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def verify(
    headers: Mapping[str, str], body: bytes, secret: str, now: float, replays: Replays
) -> Verdict:
    """Check one delivery; ``headers`` with lower-case names."""
    if len(body) > MAX_BODY:
        return Verdict(413, "body too large")
    signature = headers.get(SIGNATURE, "")
    delivery_id = headers.get(DELIVERY_ID, "")
    stamp = headers.get(TIMESTAMP, "")
    if not signature or not delivery_id or not stamp:
        return Verdict(401, "unsigned delivery")
    if not (signature.isascii() and delivery_id.isascii() and stamp.isascii()):
        return Verdict(400, "malformed header (not ASCII)")
    if not hmac.compare_digest(sign(secret, delivery_id, stamp, body), signature):
        return Verdict(401, "bad signature")
    try:
        when = float(stamp)
    except ValueError:
        return Verdict(400, "bad timestamp")
    if not math.isfinite(when):
        return Verdict(400, "bad timestamp (not finite)")
    if abs(now - when) > MAX_AGE:
        return Verdict(400, "stale delivery")
    if replays.full(now):
        return Verdict(429, "too many deliveries to remember")
    if replays.seen(delivery_id, when, now):
        return Verdict(200, "repeated delivery ignored")
    model = model_named(body)
    return Verdict(200, "accepted" if model else "no model named", model)
