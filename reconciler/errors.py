"""The one exception family a user can cause.

The CLI maps every ``ReconcilerError`` to one line and exit 1; anything else is a bug
and gets a short message with a ``--debug`` hint.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """A problem the user can fix; carries the file and line where there is one."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        return f"{where}{self.message}"


class StateError(ReconcilerError):
    """The desired state (YAML files) is invalid."""


class RegistryError(ReconcilerError):
    """The registry could not be reached, refused a call, or lacks what the state names."""


REFUSALS = ("permission denied", "refused the credentials")
"""How ``registry.py`` starts to say a 403 / 401: retrying cannot help (SPEC §6.5)."""


def is_refusal(message: str) -> bool:
    """Whether a registry error says the server refused us (no advice to run it again)."""
    return any(refusal in message for refusal in REFUSALS)


class PlanError(ReconcilerError):
    """The plan cannot be applied: missing versions, failed gates, a stale saved plan."""


class ApplyError(ReconcilerError):
    """Apply wrote only part of the plan, or verification found a difference."""

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.details = details
        """Lines saying what was and was not applied (printed before the error line)."""
