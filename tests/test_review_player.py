"""The player's audio path: the media endpoint (on the API and mounted on the review app's server)
gives each person the audio they may hear, refuses requests without a valid token, and the waveform
is drawn from that same audio; the player's page carries no audio bytes and no markup from data."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.applications import Starlette
from starlette.routing import Route

from recorder.api import create_app
from review_app.player import PlayerText, document
from review_app.workflow.waveform import envelope, svg
from storage import media_tokens
from storage.access import CallNotVisible
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.retrieval import AudioVariant, open_recording
from storage.settings import reset_settings
from storage.users import Principal, Role, add_user
from tests.redaction_helpers import SECONDS, add_recorded_call, add_transcribed_call
from transcribe.redaction.pipeline import redact_call

pytestmark = pytest.mark.integration
INSPECTOR = Principal("insp", Role.inspector)
ADMIN = Principal("boss", Role.admin)
AGENT = Principal("ag9", Role.agent, agent_id="A9")


@pytest.fixture
def redacted_call(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[bytes, bytes]]:
    monkeypatch.setenv("CALLQC_API_TOKEN", "media-api-t0ken-0123456789")
    reset_settings()
    data = add_recorded_call("c4")[0]
    add_transcribed_call("c4", audio=False)
    redact_call("c4", actor="test")
    with session() as s:
        for p in (INSPECTOR, ADMIN, AGENT):
            add_user(s, p.name, role=p.role, password="pw-123456789", agent_id=p.agent_id)
    red = open_recording("c4", actor="test", source="test", variant=AudioVariant.redacted).data
    assert red != data
    yield data, red


def test_the_media_endpoint_gives_people_without_pii_the_redacted_copy(redacted_call) -> None:  # type: ignore[no-untyped-def]
    original, redacted = redacted_call
    with TestClient(create_app()) as client:
        plain = client.get("/v1/media/c4", params={"token": media_tokens.grant(INSPECTOR, "c4")},
                           headers={"Range": "bytes=0-"})
        full = client.get("/v1/media/c4", params={"token": media_tokens.grant(ADMIN, "c4")})
    assert plain.status_code == 206 and plain.content == redacted
    assert full.status_code == 200 and full.content == original
    with session() as s:
        served = [(e.actor, e.detail["audio"]) for e in s.exec(select(AuditEvent).where(
            AuditEvent.action == AuditAction.play)) if "range" in e.detail]
    assert served == [("insp", "redacted"), ("boss", "original")]


def test_the_review_apps_own_media_route_serves_ranges_and_refuses_bad_tokens(redacted_call) -> None:  # type: ignore[no-untyped-def]
    from review_app.server import media

    _, redacted = redacted_call
    app = Starlette(routes=[Route("/v1/media/{call_id}", media)])
    token = media_tokens.grant(INSPECTOR, "c4")
    with TestClient(app) as client:
        part = client.get("/v1/media/c4", params={"token": token}, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == redacted[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(redacted)}"
        assert client.get("/v1/media/c4").status_code == 401
        # tamper inside the signature, not at its end: base64's last character carries padding bits a
        # decoder ignores, so "…xw" → "…xx" can decode to the same signature (a flaky CI run did)
        i = len(token) - 10
        forged = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        assert client.get("/v1/media/c4", params={"token": forged}).status_code == 403
        assert client.get("/v1/media/..%2Fc4", params={"token": token}).status_code in (400, 403, 404)
    with session() as s:
        denied = s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.media_denied)).all()
    assert len(denied) >= 2


def test_the_waveform_is_drawn_from_the_audio_the_user_may_hear(redacted_call) -> None:  # type: ignore[no-untyped-def]
    """Agent (left, a steady tone) and customer (right, noise) get a lane each; an agent of another
    call is refused like for the audio."""
    env = envelope(ADMIN, "c4", buckets=50)
    assert len(env.peaks) == 2 and all(len(p) == 50 for p in env.peaks)
    assert max(max(p) for p in env.peaks) == 1.0 and all(0 <= v <= 1 for p in env.peaks for v in p)
    assert env.duration_s == pytest.approx(SECONDS, abs=0.1)
    assert svg(env).count("<path") == 2
    with pytest.raises(CallNotVisible):
        envelope(AGENT, "c4")


def test_the_player_page_keeps_data_as_text() -> None:
    hostile = "</script><script>alert(1)</script>"
    doc = document("/v1/media/c1?token=a.b", start_s=3, duration_s=10, labels=[hostile],
                   text=PlayerText(hostile, hostile, hostile), envelope=None)
    assert doc.count("</script>") == 1 and "alert(1)</script>" not in doc
    assert re.search(r'const SRC = "/v1/media/c1\?token=a\.b"', doc) and "base64" not in doc
