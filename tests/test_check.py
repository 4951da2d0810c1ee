"""``reconciler check`` (SPEC §21): one line per check, ok / FAIL / unknown with the fix,
exit 0 when none failed; read-only. Pure verdicts on plain facts, then the command
against a real mlflow server, an address nothing listens on, and a forged ``Date``."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.core import checks
from reconciler.core.checks import Outcome
from reconciler.render.checks import line
from tests.conftest import Cli, write_state
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import seed_model


def test_clock_skew_beyond_a_few_seconds_fails_with_the_fix() -> None:
    """The lock's lease compares clocks: 30 s apart fails, 2 s passes, no Date is unknown."""
    assert checks.clock(1030.0, 1000.0).outcome is Outcome.FAIL
    assert "NTP" in checks.clock(1030.0, 1000.0).fix
    assert checks.clock(1002.0, 1000.0).outcome is Outcome.OK
    assert checks.clock(1000.0, None).outcome is Outcome.UNKNOWN


def test_credentials_verdicts_name_the_fix() -> None:
    """401 says which variables to set; 403 says what to grant; 200 is ok."""
    assert "MLFLOW_TRACKING_PASSWORD" in checks.credentials(401, None).fix
    assert "READ" in checks.credentials(403, "bob").fix
    assert checks.credentials(200, "bob").outcome is Outcome.OK


def test_missing_models_are_named_and_a_line_cannot_be_forged() -> None:
    """A missing model fails naming it; registry text in a line stays on one line."""
    found = checks.models(None, ["a", "b\n::error::x"], ["a"])
    assert found.outcome is Outcome.FAIL and "1 of 2" in found.detail
    text = line(found)
    assert "\n" not in text and text.startswith("FAIL") and "-> fix:" in text


def test_check_against_a_real_server(sqlite_server: MlflowServer, tmp_path: Path) -> None:
    """Server and version, credentials, models, apply log, webhook and clock: every line
    ok or unknown for a good state (exit 0); a missing model is one FAIL (exit 1)."""
    cli = Cli(sqlite_server.url, tmp_path)
    name = f"m-{time.time_ns()}"
    seed_model(sqlite_server.url, name, [{}], {"champion": 1})
    write_state(tmp_path, f"models:\n  {name}:\n    aliases:\n      champion: 1\n")
    good = cli("check")
    assert good.exit_code == 0, good.output
    print(good.stdout)
    lines = good.stdout.splitlines()
    assert lines[0].startswith("ok") and "MLflow 3." in lines[0], lines
    for name_ in ("credentials", "clock", "models", "apply log", "webhook"):
        assert any(f" {name_}:" in x for x in lines), (name_, lines)
    assert not any(x.startswith("FAIL") for x in lines)
    write_state(tmp_path, f"models:\n  {name}-gone:\n    aliases:\n      champion: 1\n")
    bad = cli("check")
    assert bad.exit_code == 1, bad.output
    fails = [x for x in bad.stdout.splitlines() if x.startswith("FAIL")]
    assert len(fails) == 1 and f"{name}-gone" in fails[0] and "fix:" in fails[0]


def test_an_unreachable_server_is_one_fail_and_exit_1(tmp_path: Path) -> None:
    """Nothing listens: the server line fails with the fix; the rest are unknown."""
    write_state(tmp_path, "models:\n  m:\n    aliases:\n      champion: 1\n")
    result = Cli("http://127.0.0.1:1", tmp_path)("check")
    assert result.exit_code == 1, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("FAIL") and "server" in first and "fix:" in first


@pytest.fixture
def skewed() -> Iterator[str]:
    """A forged server whose Date header is 120 s behind this machine."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(time.time() - 120, usegmt=True)

        def do_GET(self) -> None:
            body = b"3.17.2" if self.path.startswith("/version") else b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_skewed_clock_fails(skewed: str, tmp_path: Path) -> None:
    """A server whose Date is two minutes off: the clock line fails naming the skew."""
    write_state(tmp_path, "models:\n  m:\n    aliases:\n      champion: 1\n")
    result = Cli(skewed, tmp_path)("check")
    assert result.exit_code == 1, result.output
    clock = next(x for x in result.stdout.splitlines() if " clock:" in x)
    assert clock.startswith("FAIL") and re.search(r"12[01] s ahead", clock), clock
