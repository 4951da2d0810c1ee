"""What a registry server can answer, and which read fits it (pure: no mlflow import).

MLflow 3.x servers accept ``name IN (...)`` in registry searches; 2.x servers (2.9.2 and
2.22.4 measured, SPEC §8) refuse it with INVALID_PARAMETER_VALUE. The reader does not ask
up front (that would cost every 3.x run a request): the first refusal teaches it, it
remembers that per registry object, and it reads with filters every server accepts. The
answer never depends on the strategy: each one returns exactly the declared models.
"""

from __future__ import annotations

import enum
import re

IN_LIST_REFUSAL = "supports comparison with a list"
"""A fragment of the 2.x refusal: "Only the 'run_id' attribute supports comparison with a
list of quoted string values"."""

NAMES_PER_FILTER = 100
"""Up to this many names are read with one ``IN (...)`` filter (GET URLs stay short)."""

NAMES_READ_ONE_BY_ONE = 20
"""Without ``IN`` filters, up to this many models are read one by one (two requests each,
concurrently); more are read in one unfiltered, paged pass over the whole registry."""

OLDEST_SERVER = (2, 3)
"""Registered model aliases arrived in MLflow 2.3; an older server cannot hold the state."""

OLDEST_VERIFIED = "2.9.2"
"""The oldest server version the suite or a hand check has run against (README)."""

PROMPT_TAG = "mlflow.prompt.is_prompt"
"""MLflow 3 keeps prompts as registered models with this tag; they are not models here."""


class Read(enum.Enum):
    """How ``MlflowRegistry.read`` fetches the declared models."""

    IN_LISTS = "in-lists"
    """Two searches filtered with ``name IN (...)`` (3.x servers, local stores)."""
    ONE_BY_ONE = "one-by-one"
    """Two searches per model filtered with ``name = '...'`` (any server)."""
    EVERYTHING = "everything"
    """Two unfiltered, paged searches; other models are dropped client-side (any server)."""


def choose_read(names: list[str], in_lists: bool | None) -> Read:
    """The cheapest read for ``names``, given what the server is known to accept
    (``in_lists`` None: not known yet, so try ``IN`` and learn from a refusal)."""
    if len(names) > NAMES_PER_FILTER:
        return Read.EVERYTHING
    if in_lists is not False:
        return Read.IN_LISTS
    if len(names) <= NAMES_READ_ONE_BY_ONE and all(equals_literal(n) for n in names):
        return Read.ONE_BY_ONE
    return Read.EVERYTHING


def equals_literal(name: str) -> str | None:
    """``name`` quoted for ``name = ...``, or None if no literal can hold it.

    Measured on 2.9.2, 2.22.4 and 3.17.2: ``=`` takes the characters between the quotes
    verbatim (no backslash escapes, unlike ``IN (...)``), and either quote works; a name
    holding both quote characters can only be found by an unfiltered read.
    """
    for mark in ("'", '"'):
        if mark not in name:
            return f"{mark}{name}{mark}"
    return None


def refuses_in_lists(message: str) -> bool:
    """Whether an error message is a 2.x server refusing a ``name IN (...)`` filter."""
    return IN_LIST_REFUSAL in message


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(2, 22, 4)`` from ``"2.22.4"`` (or ``"2.9.2.dev0"``); None if it is not a version."""
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def too_old(server_version: str) -> str | None:
    """Why a server of this version cannot hold the state, or None when it can."""
    parsed = parse_version(server_version)
    if parsed is None or parsed >= OLDEST_SERVER:
        return None
    oldest = ".".join(map(str, OLDEST_SERVER))
    return (
        f"runs MLflow {server_version.strip()}, which has no registered model aliases "
        f"(they need an MLflow server >= {oldest}; {OLDEST_VERIFIED} and newer are verified)"
    )
