"""The one exception family a user can cause.

The CLI maps every ``ReconcilerError`` to ``error:`` lines and exit 1; anything else
is a bug and gets a short message with a ``--debug`` hint. An error that stands for
several (``StateErrors``, ``PlanErrors``) lists each one, so a user fixes them all in
one round instead of one per run.
"""

from __future__ import annotations

from collections.abc import Iterable

PERMISSION_DENIED = "permission denied"
"""How every 401/403 message starts: a permanent error that running again cannot fix."""


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

    def error_lines(self) -> tuple[str, ...]:
        """Each error this stands for, as printed after ``error: `` (one line each)."""
        return (str(self),)

    def footer(self) -> str | None:
        """A closing line after the errors (a count, what was not done), or None."""
        return None


class StateError(ReconcilerError):
    """The desired state (YAML files) is invalid."""


def _sort_key(error: ReconcilerError) -> tuple[str, int, str]:
    return (error.file or "", error.line or 0, error.message)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class StateErrors(StateError):
    """Every error found in the state files, sorted by file and line, each said once."""

    def __init__(self, errors: Iterable[StateError]) -> None:
        unique = {(e.file, e.line, e.message): e for e in errors}
        self.errors = tuple(sorted(unique.values(), key=_sort_key))
        """The errors, at least one."""
        first = self.errors[0]
        super().__init__(first.message, first.file, first.line)

    def error_lines(self) -> tuple[str, ...]:
        return tuple(str(e) for e in self.errors)

    def footer(self) -> str | None:
        """``3 errors in 2 files`` when there is more than one error."""
        if len(self.errors) < 2:
            return None
        files = {e.file for e in self.errors if e.file is not None}
        where = f" in {_plural(len(files), 'file')}" if files else ""
        return f"{_plural(len(self.errors), 'error')}{where}"


class RegistryError(ReconcilerError):
    """The registry could not be reached, refused a call, or lacks what the state names."""


REFUSALS = ("permission denied", "refused the credentials")
"""How ``mlflow/session.py`` starts to say a 403 / 401: retrying cannot help (SPEC §6.5)."""


def is_refusal(message: str) -> bool:
    """Whether a registry error says the server refused us (no advice to run it again)."""
    return any(refusal in message for refusal in REFUSALS)


class PlanError(ReconcilerError):
    """The plan cannot be applied: missing versions, failed gates, a stale saved plan."""


class PlanErrors(PlanError):
    """Every reason a plan cannot be applied (problems and failed gates), each said once."""

    def __init__(self, errors: Iterable[ReconcilerError], note: str = "") -> None:
        self.errors = tuple(errors)
        """The errors in plan order, at least one."""
        self.note = note
        """Said after the errors, e.g. that nothing was written."""
        first = self.errors[0]
        super().__init__(first.message, first.file, first.line)

    def error_lines(self) -> tuple[str, ...]:
        return tuple(str(e) for e in self.errors)

    def footer(self) -> str | None:
        count = _plural(len(self.errors), "error") if len(self.errors) > 1 else ""
        text = "; ".join(t for t in (count, self.note) if t)
        return text or None


class ApplyError(ReconcilerError):
    """Apply wrote only part of the plan, or verification found a difference."""

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.details = details
        """Lines saying what was and was not applied (printed before the error line)."""
