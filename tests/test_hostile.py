"""Hostile input to `validate` and `apply`: no traceback, `error:` lines only, no write.

``FUZZ_EXAMPLES`` (default 150) sets the Hypothesis examples per property; ``FUZZ_REPORT``
names a JSON-lines file that receives one record per input tried (used by
``bench/reliability.py`` to write RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.api import connect
from reconciler.cli import main
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer
from tests.test_faults import fast_model

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
REPORT = os.environ.get("FUZZ_REPORT")
VALID = """version: 1
models:
  churn:
    aliases: {champion: 7, archived: 5}
    prune: false
    description: "Churn"
    tags: {team: growth}
    versions:
      7: {tags: {ok: "yes"}}
    stages: {Production: 7}
    gates:
      champion:
        - {metric: auc, min: 0.8}
"""


def validate(path: Path) -> Result:
    return CliRunner().invoke(main, ["validate", "--state", str(path)], catch_exceptions=True)


COUNT_LINE = re.compile(r"^\d+ errors( in \d+ files?)?$")
"""The line after several errors: ``3 errors in 2 files``."""


def well_formed(stderr: str) -> bool:
    """One distinct ``error:`` line per error, then a count line when there are several."""
    lines = stderr.strip().splitlines()
    if len(lines) > 1:
        if not COUNT_LINE.match(lines[-1]) or int(lines[-1].split()[0]) != len(lines) - 1:
            return False
        lines = lines[:-1]
    return (
        bool(lines)
        and len(set(lines)) == len(lines)
        and all(line.startswith("error: ") for line in lines)
    )


def assert_clean(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1)
    if result.exit_code == 1:
        assert well_formed(result.stderr), result.stderr
        assert "Traceback" not in result.output


def record(
    group: str, result: Result, case: str | None = None, writes: int | None = None, tmp: str = ""
) -> None:
    """Append one input's outcome to FUZZ_REPORT, before any assertion, so failures count."""
    if not REPORT:
        return
    lines = result.stderr.strip().splitlines()
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    entry = {
        "group": group,
        "case": case,
        "outcome": "accepted" if result.exit_code == 0 else "rejected",
        "exit": result.exit_code,
        "traceback": crashed or "Traceback" in result.output,
        "well_formed": well_formed(result.stderr),
        "unexpected": "error: unexpected " in result.stderr,
        "writes": writes,
        "error": lines[0].replace(tmp, "") if tmp and lines else "\n".join(lines[:1]),
    }
    with open(REPORT, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=300))
def test_random_text_is_accepted_or_rejected_cleanly(tmp_path: Path, text: str) -> None:
    """Arbitrary text never crashes validate."""
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="replace")
    result = validate(path)
    record("random text", result, tmp=f"{tmp_path}/")
    assert_clean(result)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    position=st.integers(0, len(VALID) - 1),
    insert=st.text(min_size=1, max_size=6),
    delete=st.integers(0, 5),
)
def test_mutations_of_a_valid_file_are_handled_cleanly(
    tmp_path: Path, position: int, insert: str, delete: int
) -> None:
    """Small edits anywhere in a valid file give exit 0 or one error line."""
    path = tmp_path / "s.yaml"
    path.write_text(VALID[:position] + insert + VALID[position + delete :], encoding="utf-8")
    result = validate(path)
    record("mutations of a valid file", result, tmp=f"{tmp_path}/")
    assert_clean(result)


def test_the_valid_file_is_valid(tmp_path: Path) -> None:
    """The base of the mutations is itself valid (so mutations test something)."""
    (tmp_path / "s.yaml").write_text(VALID)
    assert validate(tmp_path / "s.yaml").exit_code == 0


BOMB = "a: &a ['x','x']\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n"


HOSTILE: dict[str, tuple[bytes, str]] = {
    "yaml-bomb": (BOMB.encode(), "anchors"),
    "python-object-tag": (
        b"models: !!python/object/apply:os.system ['true']\n",
        "tags are not allowed",
    ),
    "non-utf8": (b"models:\n  m:\n    aliases: {a: 1}\n  \xff\xfe: 1\n", "not valid UTF-8"),
    "tab-indent": (b"models:\n  m:\n\taliases: {}\n", "invalid YAML"),
    "nul-byte": (b"models:\n  m\x00: {}\n", "invalid YAML"),
    "huge-int": (
        b"models:\n  m:\n    aliases: {a: 99999999999999999999999}\n",
        "too large",
    ),
    "deep-block-nesting": (
        ("x:\n" + "".join("  " * i + "- \n" for i in range(1, 200))).encode(),
        "nesting",
    ),
    "deep-flow-nesting": (b"[" * 10_000 + b"]" * 10_000, "nesting"),
    "slash-in-name": (b"models:\n  'a/b': {}\n", "cannot contain"),
    "two-documents": (b"---\nmodels: {}\n---\nmodels: {}\n", "invalid YAML"),
}
"""Hostile state files by name: content and a fragment the one error line must contain."""


@pytest.mark.parametrize(
    ("content", "message"), [pytest.param(*v, id=k) for k, v in HOSTILE.items()]
)
def test_named_hostile_files_are_rejected_in_one_line(
    tmp_path: Path, content: bytes, message: str, request: pytest.FixtureRequest
) -> None:
    """YAML bombs, custom tags, bad bytes, tabs, NUL, huge ints, deep nesting are refused."""
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    result = validate(path)
    record("named hostile files", result, case_id(request), tmp=f"{tmp_path}/")
    assert_clean(result)
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_a_100_mb_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Files over 1 MiB are refused by size."""
    path = tmp_path / "s.yaml"
    with open(path, "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    result = validate(path)
    record("named hostile files", result, "100-mb-file", tmp=f"{tmp_path}/")
    assert result.exit_code == 1 and "limited to 1 MiB" in result.stderr


def test_bom_and_odd_names_are_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM and names with quotes, backslashes, unicode and % _ load fine."""
    body = {"models": {'it\'s "q"': {}, "back\\slash": {}, "ünï-çødé": {}, "50%_off": {}}}
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(body, allow_unicode=True).encode())
    result = validate(path)
    record("named hostile files", result, "bom-and-odd-names")
    assert result.exit_code == 0 and "4 model(s)" in result.stdout


def test_symlinked_directory_outside_state_is_refused(tmp_path: Path) -> None:
    """A directory symlink inside state/ that leaves it is refused before reading."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text("models: {}\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / "link").symlink_to(outside)
    result = validate(state)
    record("named hostile files", result, "symlink-outside-state", tmp=f"{tmp_path}/")
    assert result.exit_code == 1 and "outside the state directory" in result.stderr


def case_id(request: pytest.FixtureRequest) -> str:
    """The parametrize id of the running test: the case's name in the report."""
    return str(request.node.callspec.id)


def test_hostile_files_make_apply_write_nothing(
    sqlite_server: MlflowServer, tmp_path: Path
) -> None:
    """`apply --yes` on a real server: a hostile file next to a valid one writes nothing.

    The valid file sorts first and would move an alias, so a loader acting file by file
    would write; a counting proxy and the observed digest show the registry is untouched.
    """
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    fast_model(sqlite_server.url, name, 2, {"champion": 1})
    good = f"models:\n  {name}:\n    aliases: {{champion: 2}}\n"
    registry = connect(sqlite_server.url)
    before = registry.read([name]).digest()
    cases: list[tuple[str, bytes | None]] = [(k, body) for k, (body, _) in HOSTILE.items()]
    cases.append(("100-mb-file", None))
    env = {"MLFLOW_TRACKING_URI": "", "NO_COLOR": "1"}
    with FaultProxy(sqlite_server.url) as proxy:
        env["MLFLOW_TRACKING_URI"] = proxy.url
        for i, (case, content) in enumerate(cases):
            state = tmp_path / f"state{i}"
            state.mkdir()
            (state / "a.yaml").write_text(good, encoding="utf-8")
            with open(state / "z.yaml", "wb") as handle:
                if content is None:
                    handle.truncate(100 * 1024 * 1024)
                else:
                    handle.write(content)
            start = proxy.writes
            result = CliRunner().invoke(
                main, ["apply", "--state", str(state), "--yes"], env=env, catch_exceptions=True
            )
            writes = proxy.writes - start
            record("apply --yes on a real server", result, case, writes, tmp=f"{tmp_path}/")
            assert_clean(result)
            assert result.exit_code == 1 and writes == 0, (case, writes, result.output)
        assert registry.read([name]).digest() == before
        control = tmp_path / "control"
        control.mkdir()
        (control / "a.yaml").write_text(good, encoding="utf-8")
        result = CliRunner().invoke(main, ["apply", "--state", str(control), "--yes"], env=env)
    assert result.exit_code == 0 and proxy.writes > 0, result.output
    assert registry.read([name]).digest() != before


def validate_in(cwd: Path, state: str) -> Result:
    """``validate --state STATE`` run from ``cwd`` (the working tree of a checkout)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["validate", "--state", state], catch_exceptions=True)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("target", ["outside", "/"])
def test_a_state_root_linking_out_of_the_working_tree_is_refused(
    tmp_path: Path, target: str
) -> None:
    """A pull request that replaces ``state/`` by a link (to a directory outside the
    checkout, or to ``/``) gets one located error, no content of the files behind it and
    no ``unexpected PermissionError``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("models:\n  'SECRET-CONTENT': {bad: 1}\n")
    (repo / "state").symlink_to(outside if target == "outside" else Path(target))
    for state in ("state", "state/", "state/secret.yaml"):
        result = validate_in(repo, state)
        assert_clean(result)
        assert result.exit_code == 1 and "SECRET" not in result.output, result.output
        assert result.stderr.startswith("error: state: the state path is a symlink leading out")


def test_a_state_root_linking_inside_the_working_tree_is_followed(tmp_path: Path) -> None:
    """A link that stays inside the checkout (``state -> config/state``) is fine."""
    (tmp_path / "config" / "state").mkdir(parents=True)
    (tmp_path / "config" / "state" / "m.yaml").write_text("models:\n  m: {}\n")
    (tmp_path / "state").symlink_to(tmp_path / "config" / "state")
    result = validate_in(tmp_path, "state")
    assert result.exit_code == 0, result.output


def test_a_symlink_loop_in_the_state_is_a_located_error(tmp_path: Path) -> None:
    """``state/loop -> loop`` is one located error, not a crash."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "loop").symlink_to(state / "loop")
    result = validate_in(tmp_path, "state")
    assert_clean(result)
    assert result.exit_code == 1 and "state/loop: symlink" in result.stderr, result.stderr


def test_an_unreadable_directory_is_a_located_error() -> None:
    """A directory under ``state/`` that cannot be listed: ``error: state/private: cannot
    read the directory: Permission denied`` (run as an unprivileged user when root)."""
    with tempfile.TemporaryDirectory() as tmp:  # /tmp: reachable by that user
        work = Path(tmp)
        work.chmod(0o755)
        (work / "state" / "private").mkdir(parents=True)
        (work / "state" / "m.yaml").write_text("models:\n  m: {}\n")
        (work / "state" / "private").chmod(0)
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        code = "import sys; from reconciler.cli import main; sys.exit(main())"
        args = [*(drop if os.geteuid() == 0 else []), sys.executable, "-c", code]
        done = subprocess.run(
            [*args, "validate", "--state", "state"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "HOME": tmp},
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "error: state/private: cannot read the directory: Permission denied\n"


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "a\u2028b", "a\u202eb", "a\x1bb", "a\u200bb"])
def test_control_characters_in_model_names_are_rejected(tmp_path: Path, name: str) -> None:
    """A model name with a line break, a bidi control or an invisible character fails
    ``validate`` (it would otherwise pass and break ``plan`` for every model)."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"models": {name: {}}}), encoding="utf-8")
    result = validate(path)
    assert_clean(result)
    assert result.exit_code == 1 and "control or invisible characters" in result.stderr
