"""Named registries (SPEC v4 §19): their URI and credentials, and keeping them apart.

A state file's ``registry: staging`` is reached through RECONCILER_REGISTRY_STAGING_URI
and, optionally, ``_USERNAME``, ``_PASSWORD``, ``_TOKEN``: the environment only, never
a file. MLflow reads credentials from MLFLOW_TRACKING_USERNAME / _PASSWORD / _TOKEN at
each request (tracking, registry and artifact calls alike), so each MLflow call runs
under ``using(key)``: the variables hold that registry's values, and a call for another
registry waits until no call with other credentials is in flight. Calls with the same
credentials run side by side; one server's credentials never reach another.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reconciler.errors import StateError
from reconciler.state.desired import Source

KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
Key = tuple[str | None, str | None, str | None]
"""(username, password, token), in the order of ``KEYS``."""


def prefix(name: str) -> str:
    """``RECONCILER_REGISTRY_PROD_EU_`` for ``prod-eu``."""
    return "RECONCILER_REGISTRY_" + name.upper().replace("-", "_") + "_"


@dataclass(frozen=True)
class Named:
    """One named registry as the environment gives it."""

    name: str
    uri: str
    key: Key

    def __repr__(self) -> str:  # never print the credentials
        return f"Named({self.name!r})"


def named(name: str, where: Source | None = None) -> Named:
    """The registry ``name`` from the environment; a missing URI is an error at ``where``
    (the ``registry:`` line)."""
    head = prefix(name)
    uri = os.environ.get(head + "URI", "").strip()
    if not uri:
        raise StateError(
            f"registry {name!r}: {head}URI is not set (and optionally {head}USERNAME, "
            f"{head}PASSWORD or {head}TOKEN)",
            file=where.file if where else None,
            line=where.line if where else None,
        )
    key = tuple(os.environ.get(head + part) or None for part in ("USERNAME", "PASSWORD", "TOKEN"))
    return Named(name, uri, key)  # type: ignore[arg-type]


def current() -> Key:
    """The MLflow credentials of the process as it is (the unnamed registry's)."""
    return tuple(os.environ.get(k) for k in KEYS)  # type: ignore[return-value]


def secrets() -> list[str]:
    """Every named registry's password and token, for redaction."""
    return [
        value
        for name, value in os.environ.items()
        if name.startswith("RECONCILER_REGISTRY_")
        and name.endswith(("_PASSWORD", "_TOKEN"))
        and value
    ]


_cond = threading.Condition()
_active: Key | None = None
_count = 0
_saved: Key | None = None


def _set(key: Key) -> None:
    for name, value in zip(KEYS, key, strict=True):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def using(key: Key | None) -> Iterator[None]:
    """Run the body with exactly ``key``'s credentials in MLflow's variables (None: the
    process's own, untouched). Not re-entrant across different keys."""
    global _active, _count, _saved
    if key is None:
        yield
        return
    with _cond:
        while _active is not None and _active != key:
            _cond.wait()
        if _active is None:
            _saved = current()
            _set(key)
            _active = key
        _count += 1
    try:
        yield
    finally:
        with _cond:
            _count -= 1
            if _count == 0:
                _set(_saved or (None, None, None))
                _active = None
                _cond.notify_all()
