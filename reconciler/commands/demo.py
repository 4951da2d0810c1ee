"""``reconciler demo``: the embedded walkthrough on a local sqlite registry."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import out


def _run(args: list[str]) -> int:
    """Run one real ``reconciler`` command in-process; its exit code."""
    from reconciler.cli import main

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
        run_demo(Path.cwd(), out, _run)
    except Exception as exc:
        from reconciler.cli import fail

        fail(str(exc))
