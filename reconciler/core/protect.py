"""Protected aliases and near-miss alias names: one typo must not remove production. Pure.

A plan that would remove a protected alias (``protect``, default ``[champion]``) is an
error at the model's line, unless the state declares the alias ``null`` (removed on
purpose). A newly declared alias within two edits of an alias the model holds gets
"did you mean ...?" (``champoin: 3`` beside a live ``champion``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from reconciler.core.observed import ObservedModel
from reconciler.core.plantypes import Action, Change, Kind, Note, Problem
from reconciler.state.desired import Source
from reconciler.state.models import ModelSpec

NEAR = 2
"""Edits (insert, delete, substitute, swap two neighbours) that make a name a near miss."""


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance: ``champoin`` is one edit from ``champion``."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def near_misses(spec: ModelSpec, obs: ObservedModel) -> dict[str, str]:
    """New alias -> the held alias it is probably a typo of (held, not declared)."""
    held = [a for a in sorted(obs.aliases) if a not in spec.aliases]
    out = {}
    for alias in sorted(spec.aliases):
        if alias in obs.aliases:
            continue
        close = [h for h in held if (d := distance(alias, h)) <= NEAR and 2 * d < len(h)]
        if close:
            out[alias] = min(close, key=lambda h: (distance(alias, h), h))
    return out


def protect_problems(
    name: str, spec: ModelSpec, obs: ObservedModel, changes: Iterable[Change], src: Source
) -> Iterator[Problem]:
    """An error at the model's line for each protected alias the plan would remove."""
    guessed = {held: new for new, held in near_misses(spec, obs).items()}
    for change in changes:
        alias = change.key
        if change.kind is not Kind.ALIAS or change.action is not Action.REMOVE:
            continue
        if alias not in spec.protected() or alias in spec.removed:
            continue
        hint = (
            f"; did you mean {alias!r} instead of {guessed[alias]!r}?" if alias in guessed else ""
        )
        yield Problem(
            name,
            f"the plan would remove the protected alias {alias!r} (v{change.before}) of "
            f"{name!r}: declare `{alias}: null` to remove it on purpose{hint}",
            src.file,
            src.line,
        )


def typo_notes(name: str, spec: ModelSpec, obs: ObservedModel) -> Iterator[Note]:
    """A note for each new alias one or two edits from an alias the model holds."""
    for new, held in near_misses(spec, obs).items():
        yield Note(
            name,
            f"new alias {new!r} is close to {held!r}, which the model holds: "
            f"did you mean {held!r}?",
        )
