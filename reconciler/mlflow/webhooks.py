"""Registering the controller's MLflow webhook (SPEC §13, facts §16: MLflow >= 3.3).

One webhook named ``registry-reconciler``: created when missing, else updated in place
(URL, events, secret), so restarting the controller never piles up subscriptions.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import RegistryError
from reconciler.mlflow.connection import redact

NAME = "registry-reconciler"
EVENTS = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_version_tag.deleted",
    "prompt_alias.created",
    "prompt_alias.deleted",
)
"""Every registry event MLflow sends; descriptions, model tags and stages send none.
Prompts (SPEC v4 §20) send their own: a payload's ``name`` is the prompt's either way."""


def register_webhook(uri: str, url: str, secret: str) -> str:
    """Create or update the webhook; returns ``created`` or ``updated``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        existing = None
        token = None
        while existing is None:
            page = client.list_webhooks(max_results=100, page_token=token)
            existing = next((w for w in page if w.name == NAME), None)
            token = page.token
            if not token:
                break
        events: list[Any] = list(EVENTS)
        if existing is None:
            client.create_webhook(NAME, url, events, description="reconciler serve", secret=secret)
            return "created"
        client.update_webhook(
            existing.webhook_id, url=url, events=events, secret=secret, status="ACTIVE"
        )
        return "updated"
    except MlflowException as exc:
        raise RegistryError(_cannot(uri, exc.message.splitlines()[0])) from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise RegistryError(_cannot(uri, type(exc).__name__)) from exc
        raise


def _cannot(uri: str, why: str) -> str:
    return (
        f"cannot register the webhook on {redact(uri)}: {why} (webhooks need MLflow >= 3.3 "
        "with a SQL backend; the periodic resync works without them)"
    )
