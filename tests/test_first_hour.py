"""A new user's first hour: each trap says what happened and what to do, in one line.

Against a real ``mlflow server`` where a registry is involved; the URI checks need none
(they are said before MLflow is asked).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Cli, write_state
from tests.support.fault_proxy import FaultProxy
from tests.support.models import log_lightgbm
from tests.support.seed import client, seed_model
from tests.test_faults import fast_model, many_alias_model


@pytest.mark.parametrize(
    "args", [("plan",), ("status",), ("import", "--out", "new.yaml"), ("status", "m")]
)
def test_read_only_commands_never_create_a_local_registry(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """MLFLOW_TRACKING_URI unset, no ./mlflow.db: one line names the URI used and how to
    set MLFLOW_TRACKING_URI; no mlflow.db appears."""
    write_state(tmp_path, "models:\n  m: {aliases: {champion: 1}}\n")
    result = Cli("", tmp_path)(*args, env={"MLFLOW_REGISTRY_URI": ""})
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "error: no registry: MLFLOW_TRACKING_URI is not set and MLflow's local default "
        f"sqlite:///{tmp_path}/mlflow.db does not exist; point the tool at your MLflow "
        "server, e.g. export MLFLOW_TRACKING_URI=http://127.0.0.1:5000 (or pass --tracking-uri)"
    ]
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("uri", "guess"),
    [
        ("127.0.0.1:5077", "http://127.0.0.1:5077"),
        ("mlflow.internal:443/x", "http://mlflow.internal:443/x"),
        ("mlruns", None),
    ],
)
def test_a_uri_without_a_scheme_gets_a_did_you_mean(
    tmp_path: Path, uri: str, guess: str | None
) -> None:
    """``--tracking-uri 127.0.0.1:5077`` is not read as a local file store: one line says
    it has no scheme and what was probably meant; nothing is created."""
    write_state(tmp_path, "models:\n  m: {}\n")
    result = Cli("", tmp_path)("plan", "--tracking-uri", uri)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: the tracking URI {uri} has no scheme; ")
    assert (f"did you mean {guess} (a server" in result.stderr) == (guess is not None)
    assert len(result.stderr.splitlines()) == 1 and list(tmp_path.iterdir()) == [tmp_path / "state"]


def test_a_misspelt_model_gets_the_nearest_registered_name(cli_sqlite: Cli, name: str) -> None:
    """``churn-clasifier`` in the state, ``churn-classifier`` in the registry: did you mean."""
    fast_model(cli_sqlite.url, f"{name}-classifier", 1, {})
    write_state(cli_sqlite.cwd, f"models:\n  {name}-clasifier: {{aliases: {{champion: 1}}}}\n")
    result = cli_sqlite("plan")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: state/models.yaml:2: model '{name}-clasifier' does not exist in the registry; "
        f"did you mean '{name}-classifier'?"
    ]
    for args in (("status", f"{name}-clasifier"), ("import", "--model", f"{name}-clasifier")):
        other = cli_sqlite(*args)
        assert other.exit_code == 1 and f"did you mean '{name}-classifier'?" in other.stderr


def test_a_missing_version_is_one_error_not_one_per_gate(cli_sqlite: Cli, name: str) -> None:
    """Three gates on an alias whose version does not exist: the missing version is the
    only error (the gates that depend on it are not evaluated)."""
    seed_model(cli_sqlite.url, name, [{"auc": 0.9}], {"champion": 1})
    write_state(
        cli_sqlite.cwd,
        f"""models:
  {name}:
    aliases: {{champion: 4}}
    gates:
      champion:
        - {{metric: auc, min: 0.5}}
        - {{metric: auc, better_than: current, direction: higher}}
        - {{signature: compatible}}
        - {{tag: validated, equals: "yes"}}
""",
    )
    result = cli_sqlite("plan")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: state/models.yaml:3: model {name!r} has no version 4"
    ]
    assert "gate" not in result.stdout


def test_predict_names_expected_and_given_columns(
    cli_sqlite: Cli, name: str, tmp_path: Path
) -> None:
    """A CSV that lacks a signature column: one line with the expected columns, the given
    ones and what is missing; a non-CSV --output is refused before anything is loaded."""
    log_lightgbm(cli_sqlite.url, name, {"age": "double", "income": "double"}, {"auc": 0.9})
    client(cli_sqlite.url).set_registered_model_alias(name, "champion", "1")
    data = tmp_path / "in.csv"
    data.write_text("age,zip\n1,2\n")
    result = cli_sqlite("predict", name, "--input", str(data), "--output", str(tmp_path / "o.csv"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {name}@champion expects the columns age, income; {data} has age, zip "
        "(missing: income)\n"
    )
    parquet = cli_sqlite("predict", name, "--input", str(data), "--output", "o.parquet")
    assert parquet.exit_code == 1
    assert parquet.stderr == "error: --output o.parquet: predict writes CSV; name a .csv file\n"
    assert "CSV" in cli_sqlite("predict", "--help").stdout


def test_apply_stops_at_the_first_unreachable_write(cli_sqlite: Cli, name: str) -> None:
    """The registry stops answering after three writes (every request reset from then on):
    apply gives up after one round of retries per worker, not one per remaining write,
    and says what was applied, what failed and what was not attempted."""
    body = many_alias_model(cli_sqlite.url, name, updates=60, adds=0, removals=0)
    state = write_state(cli_sqlite.cwd, f"models:\n{body}")

    def die(method: str, path: str, writes: int) -> None:
        if path.endswith("/alias") and proxy.requests[f"{method} {path}"] >= 3:
            proxy.rate = 1.0  # after three alias writes (the apply log writes come first)

    with FaultProxy(cli_sqlite.url, faults=("reset",), max_streak=None, hook=die) as proxy:
        result = Cli(proxy.url, cli_sqlite.cwd)("apply", "--state", str(state), "--yes")
    alias_writes = sum(n for key, n in proxy.requests.items() if key.endswith("/alias"))
    assert result.exit_code == 1, result.output
    assert "cannot reach the registry" in result.stderr
    assert "not applied" in result.stdout and re.search(r"apply stopped: \d+ of 60", result.stderr)
    workers, tries = 8, 4  # concurrency, and the first try plus 3 retries
    assert alias_writes <= 3 + workers * tries, alias_writes  # not 60 * 4


class EchoHandler(BaseHTTPRequestHandler):
    """A server that answers 400 with the request's Authorization header in its message."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        echoed = f"bad request (headers: Authorization: {self.headers.get('Authorization')})"
        data = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": echoed}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _any


def test_debug_masks_an_echoed_authorization_header(tmp_path: Path) -> None:
    """A server that echoes the Authorization header in its error: neither the error line
    nor the ``--debug`` traceback shows its value (base64 of user:password)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        write_state(tmp_path, "models:\n  m: {}\n")
        env = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret-pw"}
        results = [Cli(url, tmp_path)("plan", *debug, env=env) for debug in ((), ("--debug",))]
    finally:
        server.shutdown()
        server.server_close()
    secret = base64.b64encode(b"alice:s3cret-pw").decode()
    for result in results:
        assert result.exit_code == 1
        assert "Authorization: Basic ***" in result.stderr, result.stderr
        assert secret not in result.output and "s3cret" not in result.output
    assert "Traceback" in results[1].stderr
