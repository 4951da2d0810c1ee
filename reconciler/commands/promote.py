"""``reconciler promote``: move an alias in the state file, archiving the previous holder.

Offline by default (no mlflow import): the result is a reviewable one- or two-line
diff that ``plan`` checks against the registry on the pull request. ``--check``
asks the registry now whether the version exists and is READY.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.console import Options, common_options, out
from reconciler.edit import rewrite_aliases
from reconciler.errors import StateError
from reconciler.load import Source, display_path, load_state
from reconciler.state import ModelSpec, _check_alias


def locate(state: Path, model: str) -> tuple[Path, ModelSpec, Source]:
    """The file declaring ``model``, its spec, and where in it the model is declared."""
    desired = load_state(state)
    if model not in desired.models:
        where = display_path(state)
        raise StateError(
            f"model {model!r} is not declared in the state files under {where}: pass --state "
            f"if it is declared elsewhere, or declare it with `reconciler import --model "
            f"{model} --out {where.rstrip('/')}/{model}.yaml`"
        )
    src = desired.sources[model]
    return Path(src.file), desired.models[model], src


def check_alias_names(*names: str) -> None:
    """Refuse alias names MLflow would refuse, before touching the file."""
    for alias in names:
        try:
            _check_alias(alias)
        except ValueError as exc:
            raise StateError(str(exc)) from None
    if len(set(names)) < len(names):
        raise StateError("--alias and --archive-alias must differ")


def check_version(uri: str | None, model: str, version: int) -> None:
    """Ask the registry whether ``model`` has ``version`` and it is READY (``--check``)."""
    from reconciler import api

    observed = api.connect(uri).read([model]).models.get(model)
    if observed is None:
        raise StateError(f"model {model!r} does not exist in the registry")
    found = observed.versions.get(version)
    if found is None:
        raise StateError(f"model {model!r} has no version {version} in the registry")
    if found.status != "READY":
        raise StateError(f"version {version} of {model!r} is {found.status}, not READY")


@click.command("promote")
@common_options()
@click.argument("model")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--alias", default="champion", show_default=True, help="The alias to move.")
@click.option(
    "--archive-alias",
    default="archived",
    show_default=True,
    help="The alias the previous holder moves to.",
)
@click.option(
    "--check", is_flag=True, help="Verify in the registry that VERSION exists and is READY."
)
def command(
    opts: Options, model: str, version: int, alias: str, archive_alias: str, check: bool
) -> None:
    """Edit the state file: ALIAS moves to VERSION, its previous holder to ARCHIVE_ALIAS."""
    check_alias_names(alias, archive_alias)
    path, spec, src = locate(opts.state, model)
    current = spec.aliases.get(alias)
    if current == version:
        out(
            f"{src.file}:{src.line}: {model}: version {version} already holds {alias!r}; "
            "nothing to change"
        )
        return
    if check:
        check_version(opts.tracking_uri, model, version)
    new = {alias: version}
    if current is not None:
        new[archive_alias] = current
    rewrite_aliases(path, model, new)
    moves = ", ".join(f"{a}: {spec.aliases.get(a, '-')} -> {v}" for a, v in new.items())
    out(f"{path}: {model}: {moves}")
    out("Next: review `git diff`, commit, and let `reconciler plan` check it on the pull request.")
