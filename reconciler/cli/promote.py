"""``reconciler promote``: move an alias in the state file, archiving the previous holder.

Offline by default (no mlflow import): the result is a reviewable one- or two-line
diff that ``plan`` checks against the registry on the pull request. ``--check``
asks the registry now whether the version exists and is READY.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import click

from reconciler.cli.console import Options, common_options, out
from reconciler.errors import StateError
from reconciler.state.edit import locate, rewrite_aliases
from reconciler.state.models import AliasValue, CopyFrom, _check_alias, value_label

if TYPE_CHECKING:
    from reconciler.core.ports import Registry


def check_alias_names(*names: str) -> None:
    """Refuse alias names MLflow would refuse, before touching the file."""
    for alias in names:
        try:
            _check_alias(alias)
        except ValueError as exc:
            raise StateError(str(exc)) from None
    if len(set(names)) < len(names):
        raise StateError("--alias and --archive-alias must differ")


def _registry(uri: str | None, workspace: str | None) -> Registry:
    """The registry, in ``workspace`` (checked to exist: one error if it does not)."""
    from reconciler import api

    return api.in_workspace(api.connect(uri, read_only=True), workspace)


def _in(workspace: str | None) -> str:
    return f" (workspace {workspace})" if workspace else ""


def check_version(uri: str | None, model: str, version: int, workspace: str | None = None) -> None:
    """Ask the registry whether ``model`` has ``version`` and it is READY (``--check``)."""
    observed = _registry(uri, workspace).read([model], [model]).models.get(model)
    if observed is None:
        raise StateError(f"{model!r} does not exist in the registry{_in(workspace)}")
    found = observed.versions.get(version)
    if found is None:
        raise StateError(f"model {model!r} has no version {version} in the registry")
    if found.status != "READY":
        raise StateError(f"version {version} of {model!r} is {found.status}, not READY")


_FROM = re.compile(r"^(?P<model>[^@/]+)(?:@(?P<alias>[\w\-]+)|/(?P<version>\d+))$")


def resolve_from(uri: str | None, text: str, workspace: str | None = None) -> CopyFrom:
    """``SRC/VERSION`` as is, or ``SRC@ALIAS`` resolved to its version now (one read, in
    the workspace of the model it is copied into: copies stay within one workspace)."""
    found = _FROM.match(text)
    if found is None:
        raise StateError(f"--from {text!r}: write SOURCE_MODEL@ALIAS or SOURCE_MODEL/VERSION")
    source = found.group("model")
    if found.group("version"):
        return CopyFrom.model_validate({"from": source, "version": int(found.group("version"))})
    observed = _registry(uri, workspace).read([source]).models.get(source)
    if observed is None:
        raise StateError(
            f"--from {text!r}: model {source!r} does not exist in the registry{_in(workspace)}"
        )
    number = observed.aliases.get(found.group("alias"))
    if number is None:
        raise StateError(f"--from {text!r}: {source!r} has no alias {found.group('alias')!r}")
    return CopyFrom.model_validate({"from": source, "version": number})


@click.command("promote")
@common_options()
@click.argument("model")
@click.argument("version", type=click.IntRange(min=1), required=False)
@click.option(
    "--from",
    "from_",
    metavar="SRC@ALIAS|SRC/VERSION",
    help="Promote a copy of another model's version (e.g. churn-staging@champion).",
)
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
    opts: Options,
    model: str,
    version: int | None,
    from_: str | None,
    alias: str,
    archive_alias: str,
    check: bool,
) -> None:
    """Edit the state file: ALIAS moves to VERSION (or to a copy of another model's version,
    --from), its previous holder to ARCHIVE_ALIAS."""
    if (version is None) == (from_ is None):
        raise StateError("give either VERSION or --from SRC@ALIAS|SRC/VERSION")
    check_alias_names(alias, archive_alias)
    path, spec, src, ws = locate(opts.state, model, opts.workspace)
    if from_ and src.prompt:
        raise StateError(f"{model!r} is a prompt: give a VERSION (--from copies models only)")
    want: AliasValue = resolve_from(opts.tracking_uri, from_, ws) if from_ else int(version or 0)
    current = spec.aliases.get(alias)
    if check and isinstance(want, int):  # also when nothing changes: --check still checks
        check_version(opts.tracking_uri, model, want, ws)
    if current == want:
        checked = " (checked: it exists and is READY)" if check and isinstance(want, int) else ""
        out(
            f"{src.file}:{src.line}: {model}: {value_label(want)} already holds {alias!r}"
            f"{checked}; nothing to change"
        )
        return
    new: dict[str, AliasValue] = {alias: want}
    if current is not None:
        new[archive_alias] = current
    rewrite_aliases(path, model, new, src.section)
    moves = ", ".join(
        f"{a}: {value_label(spec.aliases.get(a))} -> {value_label(v)}" for a, v in new.items()
    )
    out(f"{path}: {model}: {moves}")
    out("Next: review `git diff`, commit, and let `reconciler plan` check it on the pull request.")
