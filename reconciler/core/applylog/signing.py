"""Signed records (SPEC §17): with ``RECONCILER_LOG_KEY``, a run proves who wrote it.

Anyone who can write the log's experiment can create a run, so a run alone proves
nothing. CI and the controller share a key; each run carries ``reconciler.signature``,
an HMAC-SHA256 over its repository, commit, scope, change count, apply id and start
time, and a run that ends verified carries ``reconciler.seal``, an HMAC over the same
plus ``FINISHED`` and its end time (so a failed signed run cannot be turned into a
verified one, nor its end moved). Pure: the key is passed in, never read here.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from reconciler.core.applylog.record import FINISHED, ApplyRecord, scope_text

KEY_ENV = "RECONCILER_LOG_KEY"
VERSION = "v1"


def _payload(record: ApplyRecord, *extra: object) -> bytes:
    fields = [
        record.repo,
        record.commit,
        scope_text(record.scope),
        record.changes,
        record.apply_id,
        record.start_ms,
        *extra,
    ]
    return json.dumps(fields, separators=(",", ":")).encode()


def _mac(key: str, payload: bytes) -> str:
    return f"{VERSION}:" + hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()


def sign(record: ApplyRecord, key: str) -> str:
    """The ``reconciler.signature`` of a run about to be created."""
    return _mac(key, _payload(record))


def seal(record: ApplyRecord, key: str, end_ms: int) -> str:
    """The ``reconciler.seal`` of a run that ends ``FINISHED`` (verified) at ``end_ms``."""
    return _mac(key, _payload(record, FINISHED, end_ms))


def signed(record: ApplyRecord, key: str) -> bool:
    """The run's signature is the key's (constant-time compare)."""
    return hmac.compare_digest(record.signature.encode(), sign(record, key).encode())


def sealed(record: ApplyRecord, key: str) -> bool:
    """The run is signed and its ``FINISHED`` end at ``end_ms`` is the key's too."""
    if record.status != FINISHED or record.end_ms is None or not signed(record, key):
        return False
    return hmac.compare_digest(record.seal.encode(), seal(record, key, record.end_ms).encode())
