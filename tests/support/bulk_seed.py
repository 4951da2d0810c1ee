"""Many registered models straight into an MLflow server's SQL store: seconds, not minutes.

Through the HTTP API a model with two versions and two aliases costs about ten requests
(10,000 models: most of an hour here); these rows go in with three multi-row inserts
through MLflow's own table models, so every column the server fills itself (workspace,
stage, status) gets MLflow's own default. Each model ``name`` gets versions 1 and 2
(READY, no run) and the aliases ``champion -> 1`` and ``archived -> 2``: the state that
``state_text`` declares.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence

ALIASES = {"champion": 1, "archived": 2}
BATCH = 2000


def _batches(rows: list[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def bulk_seed(
    backend_uri: str,
    names: Sequence[str],
    source: str = "s3://bulk/{name}/{version}",
    aliases: Mapping[str, int] = ALIASES,
    stages: Mapping[int, str] | None = None,
) -> None:
    """Insert ``names`` with two versions and two aliases each (creating MLflow's
    tables first when the database is new); ``source`` is each version's source, formatted
    with ``name`` and ``version`` (``mlflow-artifacts:/...``: its MLmodel is read through
    the server); ``stages`` puts versions in stages (version -> stage), ``aliases`` are
    set on every model."""
    from mlflow.store.model_registry.dbmodels.models import (
        SqlModelVersion,
        SqlRegisteredModel,
        SqlRegisteredModelAlias,
    )
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import insert

    store = SqlAlchemyStore(backend_uri)
    now = int(time.time() * 1000)
    models: list[dict[str, object]] = [
        {"name": n, "creation_time": now, "last_updated_time": now} for n in names
    ]
    versions: list[dict[str, object]] = [
        {
            "name": n,
            "version": v,
            "creation_time": now,
            "last_updated_time": now,
            "source": source.format(name=n, version=v),
            "status": "READY",
            "current_stage": (stages or {}).get(v, "None"),
        }
        for n in names
        for v in (1, 2)
    ]
    aliases: list[dict[str, object]] = [
        {"name": n, "alias": a, "version": v} for n in names for a, v in aliases.items()
    ]
    try:
        with store.engine.begin() as conn:
            for table, rows in (
                (SqlRegisteredModel.__table__, models),
                (SqlModelVersion.__table__, versions),
                (SqlRegisteredModelAlias.__table__, aliases),
            ):
                for batch in _batches(rows) if rows else ():
                    conn.execute(insert(table), batch)
    finally:
        store.engine.dispose()


def state_text(names: Sequence[str]) -> str:
    """A state file declaring ``names`` exactly as ``bulk_seed`` leaves them."""
    aliases = ", ".join(f"{a}: {v}" for a, v in ALIASES.items())
    return "models:\n" + "".join(f"  {n}:\n    aliases: {{{aliases}}}\n" for n in names)
