"""The status page in a real headless browser (Debian's ``chromium``).

The controller watches three models (synced, drifted with a hostile tag value from the
registry, pending); the DOM chromium builds must show each model's condition and the
hostile value as text, with no element it could inject. A screenshot is taken as well
(``RECONCILER_UPDATE_SCREENSHOT=1`` writes it to docs/ for the README). The model page
``/models/NAME`` must show the alias history from git joined with the apply log: the
declaring commit applied by the apply's run (its id), the newer commit not applied yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import IN_CI, Cli, write_state
from tests.support.apt import apt_install
from tests.support.gitrepo import git, init_repo
from tests.support.mlflow_server import MlflowServer
from tests.support.seed import client, seed_model
from tests.support.serve import Served, http_get, wait_until

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
DOCS = Path(__file__).resolve().parent.parent / "docs" / "controller-status.png"
MODEL_DOCS = DOCS.with_name("controller-model.png")


def _install_chromium() -> str | None:
    return apt_install("chromium", "chromium")[0]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, installed with apt-get when missing (fails in CI if impossible)."""
    found = _install_chromium()
    if found is None:
        if IN_CI:
            pytest.fail("chromium is required in CI: apt-get install chromium failed")
        pytest.skip("chromium is not installed and could not be installed")
    return found


def browse(chromium: str, *args: str) -> str:
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


class Dom(HTMLParser):
    """Rows by data attributes, every tag, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str | None], str] = {}
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.moves: list[dict[str, str | None]] = []
        self.runs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        if tag == "tr" and "data-model" in found:
            self.rows[(found["data-model"] or "", found.get("data-alias"))] = (
                found.get("data-state") or ""
            )
        if tag == "tr" and "data-commit" in found:
            self.moves.append(found)
        if "data-run" in found:
            self.runs.append(found["data-run"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_status_page_in_headless_chromium(
    chromium: str, webhook_server: MlflowServer, tmp_path: Path
) -> None:
    """Synced, drift and pending read correctly in the browser's DOM; hostile registry text
    is shown, not run."""
    url = webhook_server.url
    tag = uuid.uuid4().hex[:6]
    names = {k: f"{k}-{tag}" for k in ("churn", "fraud", "ranker")}
    env = {"RECONCILER_APPLY_EXPERIMENT": f"applies-{tag}"}
    for name in names.values():
        seed_model(url, name, [{}, {}, {}], {"champion": 1})
    state = {
        names["churn"]: {"aliases": {"champion": 2}, "self_heal": True},
        names["fraud"]: {"aliases": {"champion": 2}, "tags": {"owner": "risk"}},
        names["ranker"]: {"aliases": {"champion": 2, "challenger": 3}},
    }
    init_repo(tmp_path)
    write_state(tmp_path, json.dumps({"models": state}, indent=2))
    git(tmp_path, "add", "state")
    git(tmp_path, "commit", "-qm", "declare")
    assert Cli(url, tmp_path)("apply", "--yes", env={**env, "GITHUB_ACTOR": "ada"}).exit_code == 0
    state[names["ranker"]]["aliases"] = {"champion": 3, "challenger": 2}
    write_state(tmp_path, json.dumps({"models": state}, indent=2))
    git(tmp_path, "commit", "-qam", "promote ranker v3 (waiting for approval)")
    c = client(url)
    c.set_registered_model_tag(names["fraud"], "owner", HOSTILE)
    c.set_registered_model_alias(names["fraud"], "champion", "1")
    served = Served(url, tmp_path, "--state", "state", "--interval", "1", env=env)
    with served.wait_ready():
        wait_until(lambda: served.state_of(names["fraud"]) == "drift", 20)
        wait_until(lambda: served.state_of(names["ranker"]) == "pending", 20)
        dom = Dom()
        dom.feed(browse(chromium, "--dump-dom", f"{served.url}/"))
        shot = DOCS if os.environ.get("RECONCILER_UPDATE_SCREENSHOT") else tmp_path / "s.png"
        browse(chromium, f"--screenshot={shot}", "--window-size=1200,820", f"{served.url}/")
        run_id = served.status()["last_apply"]["run_id"]
        page = f"{served.url}/models/{names['ranker']}"
        wait_until(lambda: b'data-ready="yes"' in http_get(page)[1], 30)
        model = Dom()
        model.feed(browse(chromium, "--dump-dom", page))
        shot2 = MODEL_DOCS if os.environ.get("RECONCILER_UPDATE_SCREENSHOT") else tmp_path / "m.png"
        browse(chromium, f"--screenshot={shot2}", "--window-size=1200,820", page)
        assert served.terminate() == 0
    declared, promoted = git(tmp_path, "rev-list", "--reverse", "HEAD").split()
    champion = [m["data-commit"] for m in model.moves if m["data-alias"] == "champion"]
    assert champion == [promoted, declared]  # newest first
    assert model.runs == [run_id, run_id]  # champion's and challenger's first move
    assert "not applied yet" in "".join(model.text)
    assert dom.rows[(names["churn"], None)] == "synced"
    assert dom.rows[(names["churn"], "champion")] == "synced"
    assert dom.rows[(names["fraud"], None)] == "drift"
    assert dom.rows[(names["fraud"], "champion")] == "drift"
    assert dom.rows[(names["ranker"], None)] == "pending"
    assert dom.rows[(names["ranker"], "challenger")] == "pending"
    assert "script" not in dom.tags and "img" not in dom.tags
    assert HOSTILE in "".join(dom.text)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
