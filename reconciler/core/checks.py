"""``reconciler check`` (SPEC §21): what each check concluded, decided from plain facts.

Like ``flux check``: one line per check, ``ok`` / ``FAIL`` / ``unknown``, each failure
with the fix. ``unknown`` is honest: what cannot be told without writing (can the apply
log be written?) is never reported as ``ok``. The command exits 0 when nothing failed.
The probes that gather the facts live in ``mlflow/doctor.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

MAX_SKEW = 5.0
"""Seconds the local clock may differ from the server's (the lock's lease reads both)."""


class Outcome(str, Enum):
    OK = "ok"
    FAIL = "FAIL"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One line of ``reconciler check``."""

    name: str
    outcome: Outcome
    detail: str
    fix: str = ""
    """What to do about a failure (or an unknown)."""


def ok(name: str, detail: str) -> Check:
    return Check(name, Outcome.OK, detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, Outcome.FAIL, detail, fix)


def unknown(name: str, detail: str, fix: str = "") -> Check:
    return Check(name, Outcome.UNKNOWN, detail, fix)


def clock(local: float, server: float | None) -> Check:
    """The local clock against the server's ``Date`` header (whole seconds: 1 s slack)."""
    if server is None:
        return unknown("clock", "the server sent no Date header")
    skew = local - server
    said = f"local clock {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the server"
    if abs(skew) > MAX_SKEW + 1:
        return fail(
            "clock",
            said,
            f"sync both clocks (NTP): the apply lock's lease needs them within {MAX_SKEW:g} s",
        )
    return ok("clock", said if abs(skew) >= 1 else "local clock agrees with the server")


def credentials(status: int | None, user: str | None) -> Check:
    """A read of the registry answered ``status`` (None: no answer at all)."""
    who = f"as {user}" if user else "without credentials"
    if status is None:
        return unknown("credentials", "the server did not answer")
    if status == 401:
        return fail(
            "credentials",
            f"refused {who} (401)",
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN",
        )
    if status == 403:
        return fail(
            "credentials",
            f"accepted {who}, but may not read the registry (403)",
            "grant this user READ on the registered models",
        )
    if status >= 400:
        return fail(
            "credentials", f"a registry read answered HTTP {status}", "check the server's log"
        )
    return ok("credentials", f"accepted {who}")


def models(workspace: str | None, declared: Sequence[str], found: Iterable[str]) -> Check:
    """Every declared model exists (and could be read) in its workspace."""
    name = f"models in {workspace}" if workspace else "models"
    missing = sorted(set(declared) - set(found))
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        )
        return fail(
            name,
            f"{len(missing)} of {len(declared)} declared not found: {shown}",
            "register them, or fix the state's names (reconciler import shows what exists)",
        )
    return ok(name, f"{len(declared)} declared, all readable")


def workspaces(declared: Sequence[str], missing: Mapping[str, str]) -> Check:
    if not declared:
        return ok("workspaces", "none declared (the server's default)")
    if missing:
        said = "; ".join(f"{n}: {why}" for n, why in sorted(missing.items()))
        return fail("workspaces", said, "create the workspace or grant this user access to it")
    return ok("workspaces", ", ".join(declared))


def failed(checks: Iterable[Check]) -> bool:
    return any(c.outcome is Outcome.FAIL for c in checks)
