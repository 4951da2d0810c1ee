"""A copy of a model version from another server (SPEC v4 §19), with its files.

MLflow's ``copy_model_version`` works inside one server only. Here: read the source
version and its run, download the version's files from the source, make a run in the
target's experiment ``reconciler-copies`` carrying the source run's params, metrics and
tags, upload the files under it, check the file list and sizes (and, up to
``CHECKSUM_BYTES``, the sha256 of each file downloaded again from the target), then
register the version with ``reconciler.copied_from`` (which finds it again: one copy per source).
Each step is one call on one server, so each runs with that server's credentials only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.core.resolve import COPIED_FROM
from reconciler.errors import RegistryError
from reconciler.mlflow.newversion import new_version
from reconciler.mlflow.session import Session

EXPERIMENT = "reconciler-copies"


CHECKSUM_BYTES = 256 * 2**20
"""Copies up to this size are downloaded again from the target and compared by sha256
with the source's files: MLflow's artifact listings carry path and size only, no
checksum. Larger copies are checked by file list and sizes (a bounded second transfer)."""


def sha256s(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
            out[str(path.relative_to(root)).replace(os.sep, "/")] = digest.hexdigest()
    return out


def first_difference(want: dict[str, Any], got: dict[str, Any]) -> str | None:
    """The first file missing, extra or different in ``got`` (None: the same)."""
    for path in sorted(set(want) | set(got)):
        if want.get(path) != got.get(path):
            return path
    return None


def local_files(root: Path) -> dict[str, int]:
    """relative path -> size of every file under ``root``."""
    return {
        str(p.relative_to(root)).replace(os.sep, "/"): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _remote_files(client: Any, run_id: str, path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            out.update(_remote_files(client, run_id, item.path))
        else:
            out[item.path] = int(item.file_size or 0)
    return out


def _source_side(source: Session, model: str, version: int, into: Path) -> dict[str, Any]:
    """The source version, its run's data and its files downloaded into ``into``."""
    from mlflow.artifacts import download_artifacts

    def read() -> dict[str, Any]:
        found = source._store.get_model_version(model, str(version))
        run = source._client.get_run(found.run_id) if found.run_id else None
        where = source._client.get_model_version_download_uri(model, str(version))
        local = download_artifacts(artifact_uri=where, dst_path=str(into), tracking_uri=source.uri)
        return {
            "version": found,
            "params": dict(run.data.params) if run else {},
            "metrics": dict(run.data.metrics) if run else {},
            "tags": {
                k: v
                for k, v in (run.data.tags if run else {}).items()
                if not k.startswith(("mlflow.", "reconciler."))
            },
            "run_id": found.run_id or "",
            "root": Path(local),  # the version's own folder (MLmodel at its top)
        }

    return source._call(read, model)


def copy_across(
    target: Session, source: Session, registry: str, model: str, src_model: str, version: int
) -> int:
    """Make ``model``'s copy of ``registry``'s ``src_model`` v``version``; its number."""
    with tempfile.TemporaryDirectory(prefix="reconciler-copy-") as tmp:
        root = Path(tmp) / "files"
        root.mkdir()
        src = _source_side(source, src_model, version, root)
        root = src["root"] if src["root"].is_dir() else root
        files = local_files(root)
        if not files:
            raise RegistryError(f"{registry}:{src_model} v{version} has no files to copy")
        identity = {
            "registry": registry,
            "model": src_model,
            "version": version,
            "run_id": src["run_id"],
        }
        return target._call(lambda: _target_side(target, model, src, identity, root, files), model)


def _end(target: Session, run_id: str, status: str) -> None:
    """End the run straight on the store (the client prints a "View run" line)."""
    from mlflow.entities import RunStatus

    store = target._client._tracking_client.store
    store.update_run_info(run_id, RunStatus.from_string(status), int(time.time() * 1000), None)


def _target_side(
    target: Session,
    model: str,
    src: dict[str, Any],
    identity: dict[str, Any],
    root: Path,
    files: dict[str, int],
) -> int:
    from mlflow.entities import Metric, Param
    from mlflow.entities.model_registry import ModelVersionTag

    client = target._client
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    label = f"{identity['registry']}:{identity['model']} v{identity['version']}"
    tags = {**src["tags"], COPIED_FROM: json.dumps(identity, separators=(",", ":"))}
    run = client.create_run(experiment, tags=tags, run_name=f"copy of {label}")
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in sorted(src["metrics"].items())],
        params=[Param(k, str(v)) for k, v in sorted(src["params"].items())],
    )
    client.log_artifacts(run_id, str(root), "model")
    uploaded = {
        p.removeprefix("model/"): s for p, s in _remote_files(client, run_id, "model").items()
    }
    wrong = first_difference(files, uploaded)
    if wrong is None and sum(files.values()) <= CHECKSUM_BYTES:
        with tempfile.TemporaryDirectory(prefix="reconciler-check-") as tmp:
            back = Path(client.download_artifacts(run_id, "model", tmp))
            wrong = first_difference(sha256s(root), sha256s(back))
    if wrong is not None:
        _end(target, run_id, "FAILED")
        raise RegistryError(
            f"the copy of {label} did not arrive whole in run {run_id}: {wrong} differs"
        )
    _end(target, run_id, "FINISHED")
    version = src["version"]
    vtags = [
        ModelVersionTag(k, v)
        for k, v in (version.tags or {}).items()
        if not k.startswith("reconciler.")
    ]
    vtags.append(ModelVersionTag(COPIED_FROM, json.dumps(identity, separators=(",", ":"))))

    def create() -> Any:
        return target._store.create_model_version(
            name=model,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags=vtags,
            description=version.description,
        )

    return new_version(target._store, model, create, label)
