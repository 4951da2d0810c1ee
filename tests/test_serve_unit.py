"""The controller's pure decisions on plain data: classification, heal choice,
notification conditions, webhook checks, and the escaping of the status page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from reconciler.core.observed import ObservedModel, ObservedState, ObservedVersion
from reconciler.core.plan import Action, Change, Kind
from reconciler.serve.decide import AliasRow, ModelStatus, Sync, classify, to_heal, to_sync, unknown
from reconciler.serve.events import Notice, body, chat_text, new_events, remember
from reconciler.serve.page import render
from reconciler.serve.status import Event, LastApply, Snapshot, to_json
from reconciler.serve.webhook import MAX_AGE, Replays, sign, verify
from reconciler.state.load import DesiredState, Source
from reconciler.state.models import ModelSpec


def desired(**models: dict[str, object]) -> DesiredState:
    specs = {name: ModelSpec.model_validate(spec) for name, spec in models.items()}
    return DesiredState(specs, {n: Source("state/m.yaml", 1) for n in specs}, ("state/m.yaml",))


def live(name: str = "m", **aliases: int) -> ObservedState:
    versions = {v: ObservedVersion(v) for v in (1, 2, 3)}
    return ObservedState({name: ObservedModel(name, aliases=aliases, versions=versions)})


def test_registry_equal_to_the_applied_state_is_synced() -> None:
    """Same alias in HEAD, applied commit and registry: synced, nothing to heal."""
    state = desired(m={"aliases": {"champion": 2}, "self_heal": True})
    [status] = classify(state, state, live(champion=2))
    assert status.state is Sync.SYNCED and status.drift == ()
    assert status.aliases == (AliasRow("champion", "2", "2", "2", Sync.SYNCED),)
    assert to_heal((status,)) == ()


def test_a_hand_moved_alias_is_drift_with_the_change_that_restores_it() -> None:
    """Registry differs from the last applied state: drift, and the heal moves it back."""
    state = desired(m={"aliases": {"champion": 2}, "self_heal": True})
    [status] = classify(state, state, live(champion=3))
    assert status.state is Sync.DRIFT
    assert status.drift == (Change("m", Kind.ALIAS, "champion", Action.UPDATE, 3, 2),)
    assert to_heal((status,)) == ("m",)


def test_head_ahead_of_the_applied_commit_is_pending_and_never_healed_toward() -> None:
    """HEAD says 3, the applied commit 2, the registry 2: pending; auto-sync would apply it."""
    head = desired(m={"aliases": {"champion": 3}, "self_heal": True})
    applied = desired(m={"aliases": {"champion": 2}, "self_heal": True})
    [status] = classify(head, applied, live(champion=2))
    assert status.state is Sync.PENDING and status.drift == ()
    assert status.aliases == (AliasRow("champion", "3", "2", "2", Sync.PENDING),)
    assert to_heal((status,)) == () and to_sync((status,)) == ("m",)


def test_drift_and_pending_together_is_drift_restoring_the_applied_value() -> None:
    """A drifted model with an unapplied commit heals to the applied value, not HEAD's."""
    head = desired(m={"aliases": {"champion": 3}, "self_heal": True})
    applied = desired(m={"aliases": {"champion": 2}, "self_heal": True})
    [status] = classify(head, applied, live(champion=1))
    assert status.state is Sync.DRIFT
    assert [c.after for c in status.drift] == [2]


def test_self_heal_needs_both_head_and_the_applied_commit() -> None:
    """Turning self_heal off in HEAD stops heals at once; turning it on waits for an apply."""
    on = desired(m={"aliases": {"champion": 2}, "self_heal": True})
    off = desired(m={"aliases": {"champion": 2}})
    for head, applied in ((off, on), (on, off)):
        [status] = classify(head, applied, live(champion=3))
        assert status.state is Sync.DRIFT and not status.self_heal
        assert to_heal((status,)) == ()


def test_only_self_heal_changing_is_not_pending() -> None:
    """self_heal is a controller setting, not registry content."""
    [status] = classify(
        desired(m={"aliases": {"champion": 2}}),
        desired(m={"aliases": {"champion": 2}, "self_heal": True}),
        live(champion=2),
    )
    assert status.state is Sync.SYNCED


def test_a_model_missing_from_the_registry_is_drift_that_cannot_be_healed() -> None:
    """An applied model deleted from the registry: drift with a problem; no heal attempted."""
    state = desired(m={"aliases": {"champion": 2}, "self_heal": True})
    [status] = classify(state, state, ObservedState({}))
    assert status.state is Sync.DRIFT and "does not exist" in status.problem
    assert to_heal((status,)) == ()


def test_a_new_model_in_head_is_pending() -> None:
    """Declared at HEAD, never applied (and absent from the registry): pending, no problem."""
    [status] = classify(desired(n={"aliases": {"champion": 1}}), desired(), ObservedState({}))
    assert status.state is Sync.PENDING and status.problem == ""


def test_unknown_keeps_the_last_known_values_to_show() -> None:
    """A failed read marks every model unknown but keeps what was known for the page."""
    before = (ModelStatus("m", Sync.DRIFT, (AliasRow("champion", "2", "3", "2", Sync.DRIFT),)),)
    [status] = unknown(("m",), before)
    assert status.state is Sync.UNKNOWN and status.aliases[0].live == "3"
    assert status.aliases[0].state is Sync.UNKNOWN


def test_one_notification_per_new_condition() -> None:
    """Repeated drift says nothing; healed always speaks and counts as synced afterwards."""
    rounds = [
        {"m": "synced"},
        {"m": "drift"},
        {"m": "drift"},
        {"m": "unknown"},
        {"m": "drift"},
        {"m": "synced"},
        {"m": "healed"},
        {"m": "synced"},
        {"m": "heal_failed"},
        {"m": "heal_failed"},
        {"m": "pending"},
    ]
    notified: dict[str, str] = {}
    said = []
    for current in rounds:
        said += [event for _, event in new_events(notified, current)]
        notified = remember(notified, current)
    assert said == ["drift", "synced", "healed", "heal_failed", "pending"]


def test_a_controller_starting_on_a_synced_registry_says_nothing() -> None:
    """No notification for what was already fine before the controller started."""
    assert list(new_events({}, {"a": "synced", "b": "drift"})) == [("b", "drift")]


def test_notification_text_is_one_line_without_chat_markup() -> None:
    """Registry text cannot mention @channel, inject <links> or break the line."""
    hostile = "<!channel> <https://evil|click> @here\nsecond line & more"
    text = chat_text(hostile)
    assert "\n" not in text and "<" not in text and ">" not in text
    assert "@here" not in text and "&" not in text and "&amp;" not in text
    assert len(chat_text("x" * 1000)) == 300


def test_notification_body_has_the_fields_of_the_spec() -> None:
    """event, model, workspace, changes, registry and a text line."""
    change = Change("m", Kind.ALIAS, "champion", Action.UPDATE, 3, 2)
    found = body(Notice("drift", "m", (change,), "abc"), "http://r")
    assert set(found) == {"event", "model", "workspace", "changes", "registry", "text"}
    assert found["changes"][0]["after"] == 2
    assert found["text"] == (
        "reconciler: m drifted from the last applied commit abc: champion: live 3, applied 2 "
        "on http://r"
    )


def _headers(secret: str, delivery: str, stamp: str, raw: bytes) -> dict[str, str]:
    return {
        "x-mlflow-signature": sign(secret, delivery, stamp, raw),
        "x-mlflow-delivery-id": delivery,
        "x-mlflow-timestamp": stamp,
    }


RAW = b'{"entity": "model_version_alias", "action": "created", "data": {"name": "m"}}'


def test_a_signed_fresh_delivery_names_its_model() -> None:
    """The signature MLflow computes is accepted and the model comes from data.name."""
    verdict = verify(_headers("s", "d1", "1000", RAW), RAW, "s", 1001.0, Replays())
    assert verdict.status == 200 and verdict.model == "m"


def test_unsigned_wrongly_signed_and_tampered_deliveries_are_refused() -> None:
    """No signature, another secret, or a changed body: 401, no model."""
    replays = Replays()
    good = _headers("s", "d1", "1000", RAW)
    assert verify({}, RAW, "s", 1000.0, replays).status == 401
    assert verify(_headers("other", "d1", "1000", RAW), RAW, "s", 1000.0, replays).status == 401
    tampered = RAW.replace(b'"m"', b'"x"')
    assert verify(good, tampered, "s", 1000.0, replays).status == 401
    assert verify({**good, "x-mlflow-timestamp": "1001"}, RAW, "s", 1000.0, replays).status == 401


def test_stale_and_future_deliveries_are_refused() -> None:
    """Older (or newer) than five minutes: 400, even when correctly signed."""
    replays = Replays()
    for now in (1000 + MAX_AGE + 1, 1000 - MAX_AGE - 1):
        verdict = verify(_headers("s", "d", "1000", RAW), RAW, "s", now, replays)
        assert verdict.status == 400 and verdict.model is None


def test_a_replayed_delivery_is_ignored() -> None:
    """The same delivery id twice: the second asks for nothing."""
    replays = Replays()
    headers = _headers("s", "d1", "1000", RAW)
    assert verify(headers, RAW, "s", 1000.0, replays).model == "m"
    again = verify(headers, RAW, "s", 1001.0, replays)
    assert again.status == 200 and again.model is None and "repeated" in again.reason


def test_the_replay_memory_is_bounded_and_refuses_rather_than_forgets() -> None:
    """Ids go once their timestamp is stale; a memory full of fresh ids refuses new
    deliveries (429) instead of forgetting one that could still be replayed."""
    replays = Replays(limit=3)
    for i in range(3):
        assert not replays.seen(f"d{i}", 1000.0, 1000.0)
    headers = _headers("s", "d-new", "1000", RAW)
    assert verify(headers, RAW, "s", 1000.0, replays).status == 429
    assert not replays.seen("d9-new", 1000.0 + MAX_AGE + 1, 1000.0 + MAX_AGE + 1)
    assert len(replays._seen) == 1


def test_an_id_is_remembered_as_long_as_its_timestamp_is_fresh() -> None:
    """A delivery stamped in the future (clock skew) is replayed after MAX_AGE seconds of
    wall time: its timestamp still passes, so its id must still be known."""
    replays = Replays()
    stamp = str(1000 + MAX_AGE - 10)
    headers = _headers("s", "d1", stamp, RAW)
    assert verify(headers, RAW, "s", 1000.0, replays).model == "m"
    again = verify(headers, RAW, "s", 1000.0 + MAX_AGE + 5, replays)
    assert again.model is None and "repeated" in again.reason


def test_non_finite_timestamps_and_non_ascii_headers_are_4xx() -> None:
    """``nan``/``inf`` timestamps were never stale; non-ASCII signature bytes raised a
    TypeError (500). Both are refused with a 4xx now, even when correctly signed."""
    for stamp in ("nan", "inf", "-inf", "1e999"):
        verdict = verify(_headers("s", "d1", stamp, RAW), RAW, "s", 1000.0, Replays())
        assert verdict.status == 400 and "timestamp" in verdict.reason, stamp
    headers = _headers("s", "d1", "1000", RAW)
    headers["x-mlflow-signature"] = "v1,\u00e9\u00e9"
    verdict = verify(headers, RAW, "s", 1000.0, Replays())
    assert verdict.status == 400 and "ASCII" in verdict.reason


HOSTILE = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "</td></tr></table><h1>forged</h1>",
    "' onmouseover='alert(1)",
    "&lt;already-escaped&gt;",
    "<!-- comment -->",
    "javascript:alert(1)",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_status_page_shows_hostile_strings_as_text() -> None:
    """Every registry- or state-sourced string on the page is escaped: no element or
    attribute can be injected, and each string reads back literally."""
    clean = render(Snapshot(registry="http://r"))
    expected = _Tags()
    expected.feed(clean)
    models = []
    events = []
    for i, bad in enumerate(HOSTILE):
        change = Change(bad, Kind.TAG, bad, Action.UPDATE, bad, bad)
        row = AliasRow(bad, bad, bad, bad, Sync.DRIFT)
        models.append(ModelStatus(f"{bad}{i}", Sync.DRIFT, (row,), (change,), True, bad))
        events.append(Event(0.0, bad, "drift", bad))
    snapshot = Snapshot(
        registry=HOSTILE[0],
        models=tuple(models),
        head=HOSTILE[1],
        applied_commit=HOSTILE[2],
        last_apply=LastApply(HOSTILE[3], HOSTILE[4], HOSTILE[5], HOSTILE[6]),
        errors=tuple(HOSTILE),
        events=tuple(events),
    )
    page = render(snapshot)
    found = _Tags()
    found.feed(page)
    assert set(found.tags) <= set(expected.tags) | {"ul", "li", "div", "strong"}
    assert set(found.attrs) <= {
        "charset",
        "http-equiv",
        "content",
        "name",
        "lang",
        "class",
        "id",
        "href",
        "colspan",
        "data-model",
        "data-alias",
        "data-state",
    }
    text = "".join(found.text)
    for bad in HOSTILE:
        assert bad in text
    assert not re.search(r"<script|<img|<h1>forged|<!--", page)


def test_api_status_is_plain_json_of_the_snapshot() -> None:
    """/api/status says per model and alias the declared, live and applied value."""
    row = AliasRow("champion", "3", "2", "2", Sync.PENDING)
    snap = Snapshot("http://r", (ModelStatus("m", Sync.PENDING, (row,)),), healthy=True)
    found = to_json(snap)
    assert found["counts"]["pending"] == 1 and found["healthy"] is True
    assert found["models"][0]["aliases"][0] == {
        "alias": "champion",
        "declared": "3",
        "live": "2",
        "applied": "2",
        "state": "pending",
    }


def test_serve_refuses_bad_options_before_starting(tmp_path: Path) -> None:
    """A bad --listen, a missing state, a webhook without secret: one error line, exit 1."""
    from click.testing import CliRunner

    from reconciler.cli import main

    (tmp_path / "state").mkdir()
    (tmp_path / "state/m.yaml").write_text("models: {m: {aliases: {champion: 1}}}\n")
    state = str(tmp_path / "state")
    runner = CliRunner()
    cases = {
        ("--state", state, "--listen", "nope"): "error: --listen 'nope' is not HOST:PORT",
        ("--state", str(tmp_path / "missing")): "does not exist",
        ("--state", state, "--register-webhook", "http://127.0.0.1:1/webhook"): (
            "needs a shared secret in RECONCILER_WEBHOOK_SECRET"
        ),
        ("--state", state, "--notify", "file:///etc/passwd"): "is not an http(s) URL",
    }
    for args, said in cases.items():
        result = runner.invoke(main, ["serve", *args], env={"RECONCILER_WEBHOOK_SECRET": ""})
        assert result.exit_code == 1 and said in result.output, (args, result.output)
