"""``reconciler demo``: the embedded walkthrough on a local sqlite registry."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.console import fail, out
from reconciler.cli.extras import LOCAL, require_local


def _run(args: list[str]) -> int:
    """Run one real ``reconciler`` command in-process (the group this demo runs under)."""
    main = click.get_current_context().find_root().command
    try:
        main.main(args=args, prog_name="reconciler", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@click.command("demo")
def command() -> None:
    """Train LightGBM versions into a local registry, then plan, apply, promote, roll back."""
    from reconciler.demo import run_demo

    try:
        require_local("demo", (*LOCAL, "lightgbm"))
        run_demo(Path.cwd(), out, _run)
    except Exception as exc:
        fail(str(exc))
