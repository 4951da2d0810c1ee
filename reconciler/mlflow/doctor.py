"""The probes behind ``reconciler check`` (SPEC §21): read-only requests that gather the
facts ``core/checks.py`` judges. Nothing here writes to the registry or the log.

The server and its clock are probed with plain HTTP (``/version`` and its ``Date``
header), credentials with one registry search under MLflow's own environment
(``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` / ``_TOKEN``); the rest goes through the
``Registry`` port and the apply log's adapter.
"""

from __future__ import annotations

import os
import time
from email.utils import parsedate_to_datetime
from typing import Any

from reconciler.core import checks
from reconciler.core.checks import Check
from reconciler.core.ports import Registry
from reconciler.errors import ReconcilerError
from reconciler.mlflow.applylog import MlflowApplyLog, experiment_name
from reconciler.mlflow.compat import too_old
from reconciler.mlflow.connection import is_http, redact
from reconciler.state.scope import StateSet

TIMEOUT = 10.0


def _get(uri: str, path: str, **params: Any) -> Any:
    """One GET with MLflow's credentials from the environment (no retries: a check says
    what is true now)."""
    import requests

    headers = {}
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
    insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true"
    verify: bool | str = not insecure and (
        os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True
    )
    return requests.get(
        uri.rstrip("/") + path,
        params=params,
        headers=headers,
        auth=(user, password or "") if user else None,
        timeout=TIMEOUT,
        verify=verify,
    )


def server(uri: str) -> list[Check]:
    """Reachable, its MLflow version, credentials accepted, and the clock against it."""
    if not is_http(uri):
        return [
            checks.ok("server", f"local store {redact(uri)} (no server to reach)"),
            checks.ok("credentials", "a local store needs none"),
            checks.ok("clock", "a local store shares this machine's clock"),
        ]
    try:
        answer = _get(uri, "/version")
        local = time.time()
    except Exception as exc:  # requests' connection errors, a bad certificate, ...
        why = f"cannot reach {redact(uri)} ({type(exc).__name__})"
        fix = "start the server, or point MLFLOW_TRACKING_URI / --tracking-uri at it"
        return [
            checks.fail("server", why, fix),
            checks.unknown("credentials", "the server did not answer"),
            checks.unknown("clock", "the server did not answer"),
        ]
    version = answer.text.strip() if answer.status_code == 200 else ""
    if not version or len(version) > 40:
        found = checks.fail(
            "server",
            f"{redact(uri)} answered /version with HTTP {answer.status_code}: not MLflow's API?",
            "point MLFLOW_TRACKING_URI at the MLflow server itself",
        )
    elif old := too_old(version):
        found = checks.fail("server", f"{redact(uri)} {old}", "upgrade the MLflow server")
    else:
        found = checks.ok("server", f"{redact(uri)} answers, MLflow {version}")
    try:
        date: float | None = parsedate_to_datetime(answer.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        date = None
    try:
        search = _get(uri, "/api/2.0/mlflow/registered-models/search", max_results=1)
        status: int | None = search.status_code
    except Exception:
        status = None
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or (
        "a token" if os.environ.get("MLFLOW_TRACKING_TOKEN") else None
    )
    return [found, checks.credentials(status, user), checks.clock(local, date)]


def registry_checks(registry: Registry, state: StateSet) -> list[Check]:
    """Workspaces as declared, every declared model readable, the apply log."""
    found: list[Check] = []
    declared = [p.workspace for p in state.parts if p.workspace is not None]
    try:
        missing = registry.missing_workspaces(declared) if declared else {}
        found.append(checks.workspaces(declared, missing))
    except ReconcilerError as exc:
        missing = dict.fromkeys(declared, "unavailable")
        found.append(checks.fail("workspaces", str(exc), "enable workspaces on the server"))
    for part in state.parts:
        names = sorted(part.models)
        if part.workspace in missing:
            found.append(checks.unknown(f"models in {part.workspace}", "workspace unavailable"))
            continue
        try:
            observed = registry.in_workspace(part.workspace).read(names)
            found.append(checks.models(part.workspace, names, observed.models))
        except ReconcilerError as exc:
            name = f"models in {part.workspace}" if part.workspace else "models"
            found.append(checks.fail(name, str(exc), "see the error; reconciler plan says more"))
    found.extend(apply_log(registry))
    return found


def apply_log(registry: Registry) -> list[Check]:
    """Readable, and writable as far as can be told without writing."""
    name = experiment_name()
    log = MlflowApplyLog.of(registry)
    try:
        experiment = log.experiment_id(create=False)
        if experiment is not None:
            log.recent(1)
    except ReconcilerError as exc:
        return [checks.fail("apply log", str(exc), "fix the error, or apply with --no-apply-log")]
    if experiment is None:
        said = f"experiment {name!r} does not exist yet; the first apply creates it"
        return [
            checks.unknown(
                "apply log", said, "the applying user needs permission to create experiments"
            )
        ]
    return [
        checks.ok("apply log", f"experiment {name!r} is readable"),
        checks.unknown(
            "apply log writable",
            "cannot be told without writing (MLflow has no dry-run permission check)",
            "apply as a user with EDIT on that experiment",
        ),
    ]


def webhook(uri: str, url: str | None) -> Check:
    """The webhook ``reconciler serve --register-webhook`` made, pointing where expected."""
    from mlflow.tracking import MlflowClient

    from reconciler.mlflow.webhooks import NAME

    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        hooks = [h for h in client.list_webhooks(max_results=100) if h.name == NAME]
    except Exception as exc:
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return checks.unknown(
            "webhook", f"cannot list webhooks ({first})", "webhooks need MLflow >= 3.3, SQL store"
        )
    if not hooks:
        if url is None:
            return checks.ok("webhook", "none registered (the periodic resync is the backstop)")
        return checks.fail("webhook", f"no webhook {NAME!r}", "run serve with --register-webhook")
    hook = hooks[0]
    status = str(getattr(hook, "status", "")).rsplit(".", 1)[-1]
    if url is not None and hook.url != url:
        return checks.fail(
            "webhook",
            f"{NAME!r} posts to {hook.url}, not {url}",
            "run serve with --register-webhook URL to update it",
        )
    if status and status.upper() != "ACTIVE":
        return checks.fail("webhook", f"{NAME!r} is {status}", "re-run --register-webhook")
    return checks.ok("webhook", f"{NAME!r} posts to {hook.url}")
