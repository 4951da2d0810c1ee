"""``reconciler predict``: load the model that holds an alias and score a CSV (the seeds'
``predict.py --stage Production``, by alias). CSV in, CSV out: the input's columns plus
``prediction``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reconciler.cli.console import Options, common_options, out
from reconciler.cli.extras import require_local
from reconciler.errors import ReconcilerError, RegistryError
from reconciler.mlflow.connection import resolve_uri, uri_problem

SHOWN = 12
"""Column names listed in an error before "and N more"."""


def _names(columns: list[str]) -> str:
    more = f" and {len(columns) - SHOWN} more" if len(columns) > SHOWN else ""
    return ", ".join(columns[:SHOWN]) + more if columns else "(none)"


def check_columns(label: str, input_csv: str, expected: list[str], given: list[str]) -> None:
    """Refuse an input that lacks a column the model's signature requires, naming the
    expected and the given columns (MLflow's own message is several lines long)."""
    missing = [c for c in expected if c not in given]
    if missing:
        raise ReconcilerError(
            f"{label} expects the columns {_names(expected)}; {input_csv} has "
            f"{_names(given)} (missing: {_names(missing)})"
        )


def _expected(loaded: Any) -> list[str] | None:
    schema = loaded.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return None
    return [str(n) for n in schema.input_names()]


@click.command("predict")
@common_options()
@click.argument("model")
@click.option("--alias", default="champion", show_default=True)
@click.option(
    "--input",
    "input_csv",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV file with a header row: one column per model input.",
)
@click.option(
    "--output",
    "output_csv",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV file to write: the input's columns plus 'prediction' (.csv).",
)
def command(opts: Options, model: str, alias: str, input_csv: str, output_csv: str) -> None:
    """Write MODEL@ALIAS's predictions for every row of the --input CSV to --output (CSV)."""
    if Path(output_csv).suffix.lower() != ".csv":
        raise ReconcilerError(f"--output {output_csv}: predict writes CSV; name a .csv file")
    require_local("predict")
    if problem := uri_problem(opts.tracking_uri, read_only=True):
        raise RegistryError(problem)
    import pandas as pd

    from reconciler.mlflow.scope import in_workspace
    from reconciler.training import load

    try:
        frame = pd.read_csv(input_csv)
    except (OSError, ValueError) as exc:
        raise ReconcilerError(f"cannot read {input_csv} as CSV: {exc}") from None
    with in_workspace(opts.workspace):  # --workspace; MLFLOW_WORKSPACE MLflow reads itself
        loaded = load(model, alias, tracking_uri=resolve_uri(opts.tracking_uri))
    given = [str(c) for c in frame.columns]
    expected = _expected(loaded)
    if expected is not None:
        check_columns(f"{model}@{alias}", input_csv, expected, given)
    try:
        predictions = loaded.predict(frame)
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ReconcilerError(
            f"{model}@{alias} cannot score {input_csv} (columns: {_names(given)}): {text[:500]}"
        ) from None
    result = frame.copy()
    result["prediction"] = list(predictions)
    result.to_csv(Path(output_csv), index=False)
    out(f"wrote {len(result)} predictions from {model}@{alias} to {output_csv}")
