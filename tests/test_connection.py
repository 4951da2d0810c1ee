"""URI redaction: nothing the tool prints carries user-info, query strings or tokens."""

from __future__ import annotations

import pytest

from reconciler.mlflow.connection import redact, redact_text


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://user:pw@host:443/path", "https://***@host:443/path"),
        ("https://host/api?token=abc&x=1", "https://host/api?***"),
        (
            "postgresql://u:p%40ss@db:5432/mlflow?sslmode=require",
            "postgresql://***@db:5432/mlflow?***",
        ),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("databricks", "databricks"),
    ],
)
def test_redact_hides_userinfo_and_query(uri: str, shown: str) -> None:
    """redact replaces user-info and the query string with *** and keeps the rest."""
    assert redact(uri) == shown


def test_redact_text_masks_uris_inside_messages() -> None:
    """URIs embedded in an error message lose their credentials and query."""
    text = "failed: 'https://bob:s3cret@h/x?sig=zz' and http://h2/ok"
    masked = redact_text(text)
    assert "s3cret" not in masked and "bob" not in masked and "sig=zz" not in masked
    assert "https://***@h/x?***" in masked and "http://h2/ok" in masked


def test_redact_text_masks_secret_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The value of MLFLOW_TRACKING_TOKEN is masked wherever it appears."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")
    assert redact_text("header Bearer tok-123456 refused") == "header Bearer *** refused"
