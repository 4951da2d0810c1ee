"""Notifications people read (SPEC §21): plain text, URLs checked at start, one bad
receiver never silences another."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reconciler.core.plan import Action, Change, Kind
from reconciler.errors import ReconcilerError
from reconciler.serve.events import Notice, body, plain
from reconciler.serve.notify import Notifier, check_urls, shown
from tests.support.serve import wait_until


def test_drift_says_what_is_live_and_what_was_applied() -> None:
    """ "champion: 2 -> 1" read backwards; the text now names both sides."""
    change = Change("m", Kind.ALIAS, "champion", Action.UPDATE, 3, 2)
    text = body(Notice("drift", "m", (change,), "abc"), "http://r")["text"]
    assert "champion: live 3, applied 2" in text and "->" not in text


def test_registry_text_cannot_link_embed_mention_or_use_entities() -> None:
    """Markdown links and images, Slack sequences, autolinks, HTML, code spans and
    mentions from a model name show as plain text; no HTML entity appears."""
    hostile = (
        "[click](https://evil.example) ![img](https://evil.example/x.png) "
        "<https://evil|here> <!channel> @here `code` <b>&amp;</b> http://evil.example"
    )
    text = plain(hostile)
    for bad in ("](", "![", "<", ">", "@here", "`", "&", "://"):
        assert bad not in text, (bad, text)
    assert "click" in text and "evil.example" in text  # still readable
    change = Change(hostile, Kind.ALIAS, "champion", Action.UPDATE, 3, 2)
    sent = body(Notice("drift", hostile, (change,)), "https://mlflow.example")["text"]
    assert sent.endswith(" on https://mlflow.example") and "](" not in sent


@pytest.mark.parametrize(
    "url",
    ["http://host:abc/", "https://", "file:///etc/passwd", "nonsense://x", "slack://"],
)
def test_every_notify_url_is_checked_at_start(url: str) -> None:
    """A URL that cannot be sent to is a start error naming it without its tokens."""
    with pytest.raises(ReconcilerError) as found:
        check_urls(("http://127.0.0.1:9/ok", url))
    assert "--notify" in str(found.value)


def test_good_http_and_service_urls_pass_the_check() -> None:
    """Plain http(s) and apprise service URLs (Slack, ntfy, e-mail, JSON) are accepted."""
    check_urls(
        (
            "https://hooks.example/services/T/B/secret",
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
            "ntfy://alerts",
            "mailto://user:pass@example.com",
            "json://127.0.0.1:9/hook",
        )
    )


def test_a_shown_url_carries_no_token() -> None:
    """Logs and the page show scheme and host only: paths and user-info carry secrets."""
    assert shown("https://hooks.slack.com/services/T/B/secret") == "https://hooks.slack.com/..."
    assert "pass" not in shown("mailto://user:pass@example.com")


def test_one_broken_receiver_never_silences_the_others() -> None:
    """A receiver whose send raises (a malformed URL) counts failures; the others still get
    every message, in order, and its own lane keeps running."""
    got: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def send(url: str, message: dict[str, Any]) -> str | None:
        if "broken" in url:
            raise ValueError("Port could not be cast to integer value as 'abc'")
        with lock:
            got.append((url, message["n"]))
        return None

    notifier = Notifier(("http://broken:abc/", "http://a/", "http://b/"), send=send)
    for n in range(3):
        notifier.publish({"n": n, "text": "x"})
    wait_until(lambda: notifier.counts["sent"] == 6 and notifier.counts["failed"] == 3, 10, 0.01)
    notifier.close()
    assert sorted(got) == [(u, n) for u in ("http://a/", "http://b/") for n in range(3)]
    assert all("broken" not in e or "ValueError" in e for e in notifier.errors)
