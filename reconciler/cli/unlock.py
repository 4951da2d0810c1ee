"""``reconciler unlock RUN_ID``: end a dead apply's run now (SPEC §12, §17).

A dead apply (its heartbeat older than the 60 s lease) holds nothing: the next apply
ends it ``KILLED`` by itself. This is for impatient people, and it refuses a live run
(its heartbeat fresh) unless ``--force``: two applies would then write side by side.
"""

from __future__ import annotations

import time

import click

from reconciler import api, logged_apply
from reconciler.cli.console import Options, common_options, out
from reconciler.core.applylog.lease import unlockable
from reconciler.errors import ReconcilerError


@click.command("unlock")
@common_options()
@click.argument("run_id")
@click.option("--force", is_flag=True, help="End the run even if its heartbeat is fresh.")
def command(opts: Options, run_id: str, force: bool) -> None:
    """End the RUNNING apply run RUN_ID as KILLED, so that it no longer holds the registry."""
    log = logged_apply.open_log(api.connect(opts.tracking_uri, debug=opts.debug))
    run = log.get(run_id)
    why = unlockable(run, int(time.time() * 1000))
    if why is not None and (not force or run.status != "RUNNING"):
        raise ReconcilerError(f"not unlocked: {why}")
    log.end(run_id, "KILLED")
    out(
        f"Cleared the lock: apply run {run.run_id} by {run.actor or 'unknown'}, started "
        f"{run.started}, is now KILLED. Run apply to converge what it may have left half done."
    )
