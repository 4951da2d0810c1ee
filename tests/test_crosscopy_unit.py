"""The cross-server copy's file check (mlflow/crosscopy.py), on local files."""

from __future__ import annotations

from pathlib import Path

from reconciler.mlflow.crosscopy import first_difference, local_files, sha256s


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


def test_same_size_other_bytes_is_caught_by_checksum_not_by_size(tmp_path: Path) -> None:
    """A file changed in transit but kept its size: sizes agree, sha256s name it."""
    files = {"MLmodel": b"flavors: {}\n", "model/model.lgb": b"tree 1\n"}
    sent = tree(tmp_path / "sent", files)
    got = tree(tmp_path / "got", {**files, "model/model.lgb": b"tree 2\n"})
    assert first_difference(local_files(sent), local_files(got)) is None
    assert first_difference(sha256s(sent), sha256s(got)) == "model/model.lgb"


def test_a_missing_or_extra_file_is_named() -> None:
    """The first path in either listing but not both is the difference."""
    assert first_difference({"a": 1, "b": 2}, {"a": 1}) == "b"
    assert first_difference({"a": 1}, {"a": 1, "c": 3}) == "c"
    assert first_difference({"a": 1}, {"a": 1}) is None
