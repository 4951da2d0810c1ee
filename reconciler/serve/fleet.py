"""Every workspace the state names, served by one process (SPEC §21 "Many workspaces").

One ``Controller`` per workspace (each reads its own workspace once per round, with a
registry connection scoped to it), all sharing one metrics registry and one gate so no
two rounds overlap; the HTTP face reads one merged snapshot and asks every controller
about a webhook's model (deliveries name no reliable workspace, facts §16).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from reconciler.serve.controller import Controller, Settings
from reconciler.serve.metrics import Metrics
from reconciler.serve.status import RECENT, Snapshot


def _named(workspace: str | None, name: str) -> str:
    return f"{workspace}/{name}" if workspace else name


def merged(snaps: Sequence[Snapshot]) -> Snapshot:
    """One snapshot for the page and ``/api/status``: every workspace's models (with
    ``parts`` saying which workspace each comes from), healthy only when all are."""
    if len(snaps) == 1:
        return snaps[0]
    first = snaps[0]
    commits = {s.applied_commit for s in snaps}
    done = [s.last_success for s in snaps]
    attempts = [s.last_attempt for s in snaps if s.last_attempt is not None]
    events = sorted(
        (replace(e, model=_named(s.workspace, e.model)) for s in snaps for e in s.events),
        key=lambda e: e.at,
        reverse=True,
    )
    return Snapshot(
        registry=first.registry,
        models=tuple(m for s in snaps for m in s.models),
        head=first.head,
        applied_commit=commits.pop() if len(commits) == 1 else None,
        healthy=all(s.healthy for s in snaps),
        leader=all(s.leader for s in snaps),
        last_success=None if None in done else min(d for d in done if d is not None),
        last_attempt=max(attempts) if attempts else None,
        errors=tuple(f"{s.workspace or 'default'}: {e}" for s in snaps for e in s.errors),
        events=tuple(events[:RECENT]),
        parts=tuple(snaps),
    )


class Fleet:
    """The controllers of one process, seen by the HTTP face as one."""

    def __init__(self, controllers: Sequence[Controller], metrics: Metrics) -> None:
        self.controllers = tuple(controllers)
        self.metrics = metrics

    @property
    def settings(self) -> Settings:
        return self.controllers[0].settings

    @property
    def snapshot(self) -> Snapshot:
        return merged([c.snapshot for c in self.controllers])

    def ask(self, model: str) -> bool:
        """Reconcile ``model`` soon in every workspace that declares it."""
        return any([c.ask(model) for c in self.controllers])

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()

    def run(self) -> None:
        """Each controller's loop in its own thread (the gate keeps rounds apart)."""
        threads = [
            threading.Thread(target=c.run, name=f"reconcile-{c.settings.workspace}", daemon=True)
            for c in self.controllers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
