"""``reconciler unlock RUN_ID``: clear the lock a dead apply left behind (SPEC §12).

An apply killed while it wrote leaves its run ``RUNNING``; until it is older than
``--lock-timeout`` every other apply stops. This ends that run as ``KILLED``, keeping
it in the log; run ``apply`` afterwards to converge what the dead apply left half done.
"""

from __future__ import annotations

import click

from reconciler import api, logged_apply
from reconciler.cli.console import Options, common_options, out


@click.command("unlock")
@common_options()
@click.argument("run_id")
def command(opts: Options, run_id: str) -> None:
    """End the RUNNING apply run RUN_ID as KILLED, so that it no longer holds the registry."""
    log = logged_apply.open_log(api.connect(opts.tracking_uri, debug=opts.debug))
    run = log.unlock(run_id)
    out(
        f"Cleared the lock: apply run {run.run_id} by {run.actor or 'unknown'}, started "
        f"{run.started}, is now KILLED. Run apply to converge what it may have left half done."
    )
