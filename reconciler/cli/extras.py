"""Commands that need an optional extra check for it first, before anything is made.

``predict`` and ``demo`` need full MLflow, pandas and (demo) LightGBM, which the
``[local]`` extra brings; the base package has ``mlflow-skinny`` only. Without the extra
they would end in "No module named ..." (demo: after creating its folder). The check finds
modules without importing them (``importlib.util.find_spec``), so it costs nothing.
"""

from __future__ import annotations

import importlib.util

from reconciler.errors import ReconcilerError

LOCAL = ("pandas", "numpy", "sqlalchemy", "alembic")
"""What ``[local]`` brings that ``mlflow-skinny`` lacks (full mlflow pulls in sqlalchemy and
alembic for its local registry, pandas and numpy for pyfunc models)."""


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def require_local(command: str, modules: tuple[str, ...] = LOCAL) -> None:
    """One line naming the extra to install when a module ``command`` needs is missing."""
    absent = missing(modules)
    if absent:
        raise ReconcilerError(
            f"`reconciler {command}` needs the [local] extra ({', '.join(absent)} "
            "not installed): pip install 'registry-reconciler[local]'"
        )
