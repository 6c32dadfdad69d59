"""The media endpoint (GET /v1/media/{id}): media tokens minted after the access rules, refusals
audited, HTTP Range answers byte-exact against the object store, archived calls read the same way."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from recorder.api import create_app
from storage import media_tokens
from storage.access import NotPermitted
from storage.archive.run import run_month
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.users import Principal, Role, add_user, set_active
from tests.archive_helpers import make_calls

TOKEN = "media-api-t0ken-0123456789"
INSPECTOR = Principal("insp", Role.inspector)
AGENT = Principal("ag1", Role.agent, agent_id="a1")
OTHER_AGENT = Principal("ag2", Role.agent, agent_id="a2")
ARCHIVIST = Principal("arch", Role.archivist)


@pytest.fixture
def world(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, bytes]]]:
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    reset_settings()
    calls = make_calls(make_store(), month="2024-05", n=2, size=200_000)  # agent a1's calls
    with session() as s:
        for p in (INSPECTOR, AGENT, OTHER_AGENT, ARCHIVIST):
            add_user(s, p.name, role=p.role, password="pw-123456789", agent_id=p.agent_id)
    with TestClient(create_app()) as c:
        yield c, calls


def audit_rows(action: AuditAction) -> list[AuditEvent]:
    with session() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))))


def test_refusals_are_401_or_403_and_each_writes_an_audit_row(world) -> None:  # type: ignore[no-untyped-def]
    """No token 401; forged, expired, other call's, deactivated user's token 403; agent asking for
    another agent's call refused at minting; every refusal is a media_denied row."""
    client, calls = world
    cid, other = sorted(calls)
    assert client.get(f"/v1/media/{cid}").status_code == 401
    good = media_tokens.grant(INSPECTOR, cid)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert client.get(f"/v1/media/{cid}", params={"token": forged}).status_code == 403
    expired = media_tokens.grant(INSPECTOR, cid, ttl_s=1)
    time.sleep(2.1)
    assert client.get(f"/v1/media/{cid}", params={"token": expired}).status_code == 403
    assert client.get(f"/v1/media/{other}", params={"token": good}).status_code == 403  # bound to its call
    with pytest.raises(Exception, match="not visible"):
        media_tokens.grant(OTHER_AGENT, cid)  # a2 asks for a1's call
    with pytest.raises(NotPermitted):
        media_tokens.grant(INSPECTOR, cid, download=True)  # inspectors play, never download
    own = media_tokens.grant(AGENT, cid)
    assert client.get(f"/v1/media/{cid}", params={"token": own}, headers={"Range": "bytes=0-9"}).status_code == 206
    with session() as s:
        set_active(s, AGENT.name, False)
    assert client.get(f"/v1/media/{cid}", params={"token": own}).status_code == 403  # deactivated since
    denied = audit_rows(AuditAction.media_denied)
    reasons = [d.detail["reason"] for d in denied]
    assert len(denied) == 7, reasons
    assert [d.actor for d in denied] == ["anonymous", "anonymous", "insp", "insp", "ag2", "insp", "ag1"]
    assert "TokenExpired" in reasons[2] and "another call" in reasons[3] and "CallNotVisible" in reasons[4]
    assert denied[5].detail["wanted"] == "download"
    grants = [e for e in audit_rows(AuditAction.play) if e.detail.get("stage") == "granted"]
    assert [g.actor for g in grants] == ["insp", "insp", "ag1"]


def test_range_requests_return_exact_bytes_of_the_object_store(world) -> None:  # type: ignore[no-untyped-def]
    """206 with the exact bytes and Content-Range for first, middle, open and suffix ranges; 200 whole
    without Range; 416 past the end; each answer audited with its range."""
    client, calls = world
    cid = sorted(calls)[0]
    data = calls[cid]
    stored = make_store().get_range(get_settings().bucket_recordings,
                                    next(iter(_call_key(cid))))
    assert stored == data
    tok = {"token": media_tokens.grant(INSPECTOR, cid)}
    size = len(data)
    for header, (a, b) in {"bytes=0-99": (0, 99), "bytes=123456-130000": (123456, 130000),
                           f"bytes={size - 10}-": (size - 10, size - 1), "bytes=-500": (size - 500, size - 1),
                           f"bytes=100-{size + 999}": (100, size - 1)}.items():
        r = client.get(f"/v1/media/{cid}", params=tok, headers={"Range": header})
        assert r.status_code == 206, (header, r.text)
        assert r.content == stored[a:b + 1], header
        assert r.headers["content-range"] == f"bytes {a}-{b}/{size}"
        assert r.headers["content-type"] == "audio/wav"
    whole = client.get(f"/v1/media/{cid}", params=tok)
    assert whole.status_code == 200 and whole.content == stored and whole.headers["accept-ranges"] == "bytes"
    bad = client.get(f"/v1/media/{cid}", params=tok, headers={"Range": f"bytes={size}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{size}"
    served = [e for e in audit_rows(AuditAction.play) if "range" in e.detail]
    assert [e.detail["range"] for e in served][:2] == [[0, 99], [123456, 130000]] and len(served) == 6


def test_archived_call_is_served_by_range_from_its_archive_image(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With the hot copy deleted after archiving, a Range request reads the archive image's bytes of
    that call only (exact bytes), and an archivist's download token gets an attachment."""
    client, calls = world
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")
    reset_settings()
    assert run_month("2024-05", media="dvd", actor="test", store=make_store()).hot_deleted == 2
    cid = sorted(calls)[1]
    data = calls[cid]
    tok = {"token": media_tokens.grant(ARCHIVIST, cid, download=True)}
    r = client.get(f"/v1/media/{cid}", params=tok, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    tail = client.get(f"/v1/media/{cid}", params=tok, headers={"Range": "bytes=-64"})
    assert tail.content == data[-64:]
    assert tail.headers["content-disposition"] == f'attachment; filename="{cid}.wav"'
    served = [e for e in audit_rows(AuditAction.download) if "range" in e.detail]
    assert {e.detail["from"] for e in served} == {"archive"}


def test_media_token_key_file_is_created_0600_and_tokens_do_not_verify_under_another_key(db_url: str) -> None:
    """Without a configured key, a random one is kept 0600 in the data folder; another key refuses the token."""
    key = media_tokens.signing_key()
    path = get_settings().data_dir / media_tokens.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600 and len(key) == 64
    g = media_tokens.MediaGrant("u", "c", False, int(time.time()) + 60, "g1")
    tok = media_tokens.sign(g)
    assert media_tokens.unsign(tok) == g
    path.write_text("x" * 64)
    with pytest.raises(media_tokens.TokenInvalid):
        media_tokens.unsign(tok)


def _call_key(cid: str) -> Iterator[str]:
    from storage.calls import Call

    with session() as s:
        row = s.get(Call, cid)
        assert row is not None
        yield row.audio_key
