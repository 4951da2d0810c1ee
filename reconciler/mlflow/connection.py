"""Where the registry is, how to print it safely, and HTTP defaults that fail fast.

Credentials only ever come from MLflow's own environment variables; anything the
tool prints goes through ``redact`` so user-info, query strings and token values
never reach a terminal, a PR comment or a saved plan. No mlflow import here.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from reconciler.mlflow.credentials import secrets as named_secrets

SECRET_ENV = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
)
"""Environment variables whose values are masked in every line the tool prints.
MLFLOW_TRACKING_USERNAME is not among them: a user name is no secret, and a permission
error must say who was refused."""

PROBE_SECONDS = 2.0
"""How long the connect probe waits before leaving the decision to the retry policy."""

HTTP_DEFAULTS = {
    # MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) take ~245 s to give
    # up on an unreachable server; these give up in ~10 s. Users may still override them.
    # A refused connection does not wait for them at all (``refused``).
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@'\"]+@")
_AUTHORIZATION = re.compile(
    r"(?i)(\bauthorization\b['\"]?\s*[:=]\s*['\"]?(?:(?:basic|bearer|token)\s+)?)[^\s'\",}]+"
)
"""An ``Authorization`` header's value as a server may echo it (``--debug``)."""
_QUERY = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s?#'\"]*)\?[^\s'\"]*")
"""A URI's query (credentials travel there); one inside the ``#`` fragment is never sent
to a server (the MLflow UI's ``#/models/m/versions/1?workspace=team-a``) and is kept."""


def resolve_uri(cli_uri: str | None) -> str | None:
    """The registry URI: ``--tracking-uri``, then MLflow's env vars; None = local default."""
    if cli_uri:
        return cli_uri
    return os.environ.get("MLFLOW_REGISTRY_URI") or os.environ.get("MLFLOW_TRACKING_URI") or None


def default_local_uri() -> str:
    """MLflow's default when nothing is configured: a sqlite file in the working directory."""
    return f"sqlite:///{os.path.join(os.getcwd(), 'mlflow.db')}"


_HOST_PORT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*:\d+(/.*)?")
EXAMPLE = "export MLFLOW_TRACKING_URI=http://127.0.0.1:5000"


def uri_problem(cli_uri: str | None, read_only: bool) -> str | None:
    """Why the registry URI is certainly not what the user meant, said before MLflow is
    asked (MLflow would read a scheme-less value as a local file store, and a missing
    sqlite file as a new, empty registry).

    ``read_only``: the command only reads, so it must not create a local registry.
    """
    given = resolve_uri(cli_uri)
    uri = given or default_local_uri()
    if _HOST_PORT.fullmatch(uri) or (given and not urlsplit(uri).scheme):
        guess = f"did you mean http://{redact(uri)} " if _HOST_PORT.fullmatch(uri) else ""
        return (
            f"the tracking URI {redact(uri)} has no scheme; {guess}"
            "(a server is http:// or https://, a local registry sqlite:///FILE.db)"
        )
    parts = urlsplit(uri)
    if not read_only or parts.scheme != "sqlite" or not uri.startswith("sqlite:///"):
        return None
    path = parts.path[1:]
    if not path or path == ":memory:" or os.path.exists(path):
        return None
    if given is None:
        return (
            "no registry: MLFLOW_TRACKING_URI is not set and MLflow's local default "
            f"{uri} does not exist; point the tool at your MLflow server, e.g. {EXAMPLE} "
            "(or pass --tracking-uri)"
        )
    return f"no registry at {redact(uri)}: the file {path} does not exist (nothing was created)"


def is_http(uri: str) -> bool:
    return urlsplit(uri).scheme in ("http", "https")


def redact(uri: str) -> str:
    """A URI safe to print: user-info and query string replaced by ``***``."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc and not parts.query:
        return uri
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """Mask credentials anywhere in a message (URIs inside exceptions, token values)."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    text = _QUERY.sub(r"\g<head>?***", text)
    text = _AUTHORIZATION.sub(r"\g<1>***", text)
    for value in [os.environ.get(n) for n in SECRET_ENV] + named_secrets():
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def apply_http_defaults() -> None:
    """Set fail-fast HTTP retry/timeout defaults unless the user set them."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)


def refused(uri: str, timeout: float = PROBE_SECONDS) -> str | None:
    """Why an http(s) registry certainly cannot answer now, from one TCP connect.

    A refused connection (nothing listens on host:port) or an unknown host is final, so
    it is said at once instead of after a round of retries; a timeout or anything else
    returns None and is left to MLflow's retry policy, as is a host reached through an
    HTTP(S) proxy (a direct probe would test the wrong path).
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(host):
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror as exc:  # EAI_AGAIN (a DNS hiccup) is left to the retries
        return "unknown host" if exc.errno == socket.EAI_NONAME else None
    except (OSError, ValueError):
        return None
