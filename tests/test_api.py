"""The HTTP ingest API: bearer auth, streamed multipart upload, idempotency by call ID, GET of a call."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from recorder.api import NoApiToken, create_app
from storage.calls import Call
from storage.db import session
from storage.jobs import Job
from storage.objectstore import sha256_of
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.audio_files import make_wav

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    reset_settings()
    with TestClient(create_app()) as c:
        yield c


def post(client: TestClient, wav: Path, meta: dict, headers: dict | None = None, **fields: str):  # type: ignore[no-untyped-def]
    with wav.open("rb") as fh:
        return client.post(
            "/v1/recordings",
            headers=AUTH if headers is None else headers,
            data={"metadata": json.dumps(meta), **fields},
            files={"audio": (wav.name, fh, "audio/wav")},
        )


def test_api_refuses_to_start_without_a_token() -> None:
    """No CALLQC_API_TOKEN, no API."""
    with pytest.raises(NoApiToken, match="CALLQC_API_TOKEN"):
        create_app()


def test_requests_without_or_with_a_wrong_token_are_refused(client: TestClient, tmp_path: Path) -> None:
    """401 without a bearer token, 403 with a wrong one; nothing is registered either way."""
    wav = make_wav(tmp_path / "a.wav")
    assert post(client, wav, {"call_id": "auth-1"}, headers={}).status_code == 401
    assert (
        post(client, wav, {"call_id": "auth-1"}, headers={"Authorization": "Bearer nope"}).status_code == 403
    )
    assert client.get("/v1/calls/auth-1").status_code == 401
    assert client.get("/v1/calls/auth-1", headers={"Authorization": "Bearer nope"}).status_code == 403
    with session() as s:
        assert s.exec(select(Call)).all() == []


def test_upload_registers_then_same_audio_is_200_and_other_audio_409(
    client: TestClient, tmp_path: Path
) -> None:
    """201 new; same ID and bytes again → 200, same record; same ID, other audio → 409, object kept."""
    wav = make_wav(tmp_path / "a.wav", seconds=1)
    other = make_wav(tmp_path / "b.wav", seconds=2)
    meta = {"call_id": "api-1", "agent_id": "1007", "started_at": "2024-03-05T09:30:00Z", "crm": "T-77"}
    first = post(client, wav, meta, direction="outbound")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["call_id"], body["agent_id"], body["direction"], body["meta"]) == (
        "api-1",
        "1007",
        "outbound",
        {"crm": "T-77"},
    )
    assert body["sha256"] == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert re.fullmatch(r"recordings/2024/03/05/api-1~[0-9a-f]{8}\.wav", body["audio_key"])

    again = post(client, wav, meta)
    assert again.status_code == 200 and again.json() == body

    clash = post(client, other, meta)
    assert clash.status_code == 409
    assert clash.json()["detail"].startswith("call ID already registered with different audio: api-1")
    assert sha256_of(make_store(), get_settings().bucket_recordings, body["audio_key"]) == body["sha256"]
    with session() as s:
        assert len(s.exec(select(Job)).all()) == 1

    got = client.get("/v1/calls/api-1", headers=AUTH)
    assert got.status_code == 200 and got.json() == body


def test_get_unknown_or_invalid_call_id(client: TestClient) -> None:
    """GET of an unknown call is 404, of an invalid call ID 400; both say why on one line."""
    missing = client.get("/v1/calls/nope", headers=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"detail": "not found: call nope"})
    bad = client.get("/v1/calls/a..b", headers=AUTH)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("invalid call ID")


def test_refused_upload_is_400_and_stores_nothing(client: TestClient, tmp_path: Path) -> None:
    """A bad recording and a bad call ID are refused with their reason; no object, no row."""
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio\n" * 40)
    r = post(client, notes, {"call_id": "api-bad"})
    assert (r.status_code, r.json()["detail"]) == (
        400,
        "not an audio file: notes.wav: not a recognised audio container",
    )
    r = post(client, make_wav(tmp_path / "ok.wav"), {"call_id": "x/../../etc"})
    assert r.status_code == 400 and r.json()["detail"].startswith("invalid call ID")
    assert list(make_store().list(get_settings().bucket_recordings)) == []
    with session() as s:
        assert s.exec(select(Call)).all() == []


def test_upload_over_the_size_limit_is_413(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload past max_upload_bytes is cut off with 413 while streaming, nothing stored."""
    monkeypatch.setenv("CALLQC_MAX_UPLOAD_BYTES", "4000")
    reset_settings()
    r = post(client, make_wav(tmp_path / "big.wav", seconds=1), {"call_id": "api-big"})
    assert r.status_code == 413 and r.json()["detail"].startswith(
        "recording too large: big.wav: more than 4000"
    )
    assert list(make_store().list(get_settings().bucket_recordings)) == []


def test_upload_without_audio_part_is_400(client: TestClient) -> None:
    """A form without the 'audio' file part is refused."""
    r = client.post("/v1/recordings", headers=AUTH, data={"call_id": "x1"})
    assert r.status_code == 400 and "audio" in r.json()["detail"]


def test_healthz_needs_no_token_and_is_ok_while_the_database_answers(client: TestClient) -> None:
    """The readiness probe (deploy/k8s/callqc.yaml) gets 200 without a token; it reveals nothing else."""
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_healthz_is_503_when_the_database_is_down(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the database unreachable the API is not ready: 503, so the load balancer routes elsewhere."""
    from storage import db as dbmod

    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setenv("CALLQC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_settings()
    dbmod.reset_engines()
    with TestClient(create_app()) as c:
        r = c.get("/healthz")
        live = c.get("/livez")
    assert (r.status_code, r.json()) == (503, {"status": "database unavailable"})
    # liveness does not follow the database: an outage must not restart every recorder pod
    assert (live.status_code, live.json()) == (200, {"status": "alive"})


def test_upload_leftovers_of_a_killed_api_are_swept_at_start(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upload folders older than a day are removed when the API starts; a recent one is left alone."""
    import os
    import time

    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    reset_settings()
    stale, fresh = data_dir / "tmp" / "ingest-old", data_dir / "tmp" / "ingest-new"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "upload").write_bytes(b"half an upload")
    two_days_ago = time.time() - 2 * 86400
    for p in (stale / "upload", stale):
        os.utime(p, (two_days_ago, two_days_ago))
    create_app()
    assert sorted(p.name for p in (data_dir / "tmp").iterdir()) == ["ingest-new"]
