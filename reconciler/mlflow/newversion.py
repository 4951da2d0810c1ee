"""A new model version, made whole before it is used: created (its model first, when
missing) and waited for until READY. Both copies use it, within one server
(``writes``) and across servers (``crosscopy``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reconciler.errors import RegistryError

COPY_READY_TIMEOUT = 300.0
"""Seconds apply waits for a copied version to become READY."""


def new_version(
    store: Any,
    model: str,
    create: Callable[[], Any],
    label: str,
    timeout: float = COPY_READY_TIMEOUT,
) -> int:
    """Create a version with ``create`` (and ``model`` first when it does not exist), then
    wait until it is READY: a copy is served only once the registry says it is whole."""
    from mlflow.exceptions import MlflowException

    try:
        created = create()
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        store.create_registered_model(model)
        created = create()
    deadline = time.monotonic() + timeout
    while str(created.status) != "READY":
        if str(created.status) == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise RegistryError(
                f"the copy of {label} in {model} (version {created.version}) is "
                f"{created.status}, not READY"
            )
        time.sleep(0.5)
        created = store.get_model_version(model, str(created.version))
    return int(created.version)
