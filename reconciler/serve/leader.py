"""Replicas elect one leader through a lease record in the apply log (SPEC §21).

A daemon thread renews (or tries to take) the lease every ``HEARTBEAT`` s; the decision
is ``core.applylog.leader.next_step``. A replica that cannot renew for longer than the
lease minus two beats steps down at once, so two leaders never outlive a partition by
more than a beat; failover takes at most a lease and a beat (~70 s), within two leases.
Only the leader heals, applies and notifies. Heals also take the apply lease, so even a
moment of two leaders cannot write side by side.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from reconciler.core.applylog.leader import Step, next_step
from reconciler.core.applylog.lease import HEARTBEAT, LEASE
from reconciler.errors import ReconcilerError
from reconciler.mlflow.applylog import MlflowApplyLog
from reconciler.serve.logs import event


def identity() -> str:
    """This replica: host, process and a random suffix (a restarted pod is a new one)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


class Elector:
    """Holds ``leading`` true while this replica holds the lease."""

    def __init__(self, log: Callable[[], MlflowApplyLog], repo: str, me: str = "") -> None:
        self._log, self.repo, self.me = log, repo, me or identity()
        self._leading = threading.Event()
        self._done = threading.Event()
        self._last_ok = 0.0
        self._quiet = False
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def start(self) -> Elector:
        """The first round runs before this returns: a lone replica leads from its first
        reconcile on (no notification lost to the election); its outcome is said in the
        start line, later changes as ``leader`` events."""
        self._quiet = True
        self.round()
        self._quiet = False
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(HEARTBEAT):
            self.round()

    def round(self) -> bool:
        """Read, decide, write, read again; whether this replica leads now."""
        try:
            log = self._log()
            lease = log.leader_lease(self.repo)
            step = next_step(lease, self.me, int(time.time() * 1000))
            if step is Step.CREATE:
                log.create_leader_lease(self.repo, self.me)
            elif step in (Step.RENEW, Step.TAKE) and lease is not None:
                log.renew_leader_lease(lease.run_id, self.me)
            if step is not Step.FOLLOW:
                lease = log.leader_lease(self.repo)  # the last writer wins
            self._last_ok = time.monotonic()
            self._set(lease is not None and lease.holder == self.me)
        except ReconcilerError as exc:
            if time.monotonic() - self._last_ok > LEASE - 2 * HEARTBEAT:
                self._set(False)
            event("leader", f"leader election: {exc}", level=logging.WARNING)
        return self.leading

    def _set(self, leading: bool) -> None:
        if leading != self.leading and not self._quiet:
            what = "this replica leads" if leading else "standby: another replica leads"
            event("leader", f"leader election: {what}", level=logging.WARNING)
        if leading:
            self._leading.set()
        else:
            self._leading.clear()
