"""``reconciler predict``: load the model that holds an alias and score a CSV (the seeds'
``predict.py --stage Production``, by alias)."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.console import Options, common_options, out
from reconciler.errors import ReconcilerError


@click.command("predict")
@common_options()
@click.argument("model")
@click.option("--alias", default="champion", show_default=True)
@click.option("--input", "input_csv", required=True, type=click.Path(dir_okay=False))
@click.option("--output", "output_csv", required=True, type=click.Path(dir_okay=False))
def command(opts: Options, model: str, alias: str, input_csv: str, output_csv: str) -> None:
    """Write MODEL@ALIAS's predictions for every row of --input to --output."""
    import pandas as pd

    from reconciler.mlflow.connection import resolve_uri
    from reconciler.mlflow.scope import in_workspace
    from reconciler.training import load

    try:
        frame = pd.read_csv(input_csv)
    except (OSError, ValueError) as exc:
        raise ReconcilerError(f"cannot read {input_csv}: {exc}") from None
    with in_workspace(opts.workspace):  # --workspace; MLFLOW_WORKSPACE MLflow reads itself
        loaded = load(model, alias, tracking_uri=resolve_uri(opts.tracking_uri))
    try:
        predictions = loaded.predict(frame)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReconcilerError(
            f"{model}@{alias} cannot score {input_csv} ({len(frame.columns)} columns: "
            f"{', '.join(map(str, frame.columns[:8]))}): {first[:200]}"
        ) from None
    result = frame.copy()
    result["prediction"] = list(predictions)
    result.to_csv(Path(output_csv), index=False)
    out(f"wrote {len(result)} predictions from {model}@{alias} to {output_csv}")
