"""Checking an MLflow webhook delivery before trusting it (SPEC §13, facts §16). Pure.

A delivery is trusted only when its ``X-MLflow-Signature`` is the HMAC-SHA256 of
``{delivery id}.{timestamp}.{raw body}`` under the shared secret, its timestamp is within
five minutes of now, and its delivery id was not seen before. The body is parsed only
after the signature holds; all a delivery can do is ask for one declared model to be
reconciled now, so the worst a flood can cause is bounded by the number of models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import OrderedDict
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
    """Delivery ids seen in the last ``MAX_AGE`` seconds, at most ``limit`` of them.

    Older ids need no memory: their deliveries are refused as stale anyway.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen(self, delivery_id: str, now: float) -> bool:
        """True when ``delivery_id`` was seen already; records it otherwise."""
        while self._seen and (
            len(self._seen) >= self.limit or next(iter(self._seen.values())) < now - MAX_AGE
        ):
            self._seen.popitem(last=False)
        if delivery_id in self._seen:
            return True
        self._seen[delivery_id] = now
        return False


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
    if not hmac.compare_digest(sign(secret, delivery_id, stamp, body), signature):
        return Verdict(401, "bad signature")
    try:
        age = now - float(stamp)
    except ValueError:
        return Verdict(400, "bad timestamp")
    if abs(age) > MAX_AGE:
        return Verdict(400, "stale delivery")
    if replays.seen(delivery_id, now):
        return Verdict(200, "repeated delivery ignored")
    model = model_named(body)
    return Verdict(200, "accepted" if model else "no model named", model)
