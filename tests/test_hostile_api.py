"""Hostile input at the HTTP ingest API: each case gets its status and a one-line JSON reason, and
leaves no object, no call, no job and no audit row behind. Slow clients are cut off by a real server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from recorder.api import WeakApiToken, create_app
from storage.settings import reset_settings
from tests.api_server import AUTH, TOKEN, running_api, wav_bytes
from tests.hostile import (
    as_json,
    assert_nothing_stored,
    assert_one_line,
    block_registration,
    deep,
    stored,
    unblock_registration,
)

WAV = wav_bytes(seconds=1.0)


@pytest.fixture
def client(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    reset_settings()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def any_db_client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    reset_settings()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def upload(client: TestClient, *, meta: Any = None, audio: bytes = WAV, name: str = "x.wav",
           fields: dict[str, str] | None = None, headers: dict[str, Any] | None = None) -> httpx.Response:
    data = dict(fields or {})
    if meta is not None:
        data["metadata"] = meta if isinstance(meta, str) else json.dumps(meta)
    return client.post(
        "/v1/recordings",
        headers=AUTH if headers is None else headers,
        data=data,
        files={"audio": (name, audio, "audio/wav")},
    )


def refused(r: httpx.Response, status: int, start: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.startswith(start), detail
    assert_one_line(detail)
    assert_nothing_stored()


# --- metadata: every way it can poison a reader; on SQLite and PostgreSQL ---------------------------
_BIG_INT = "1" + "0" * 5000
META_CASES: dict[str, tuple[str, str]] = {
    "nested-900": (as_json({"call_id": "m1", "x": deep(900)}), "invalid metadata: meta: nested deeper than 8"),
    "nested-30000": ('{"call_id": "m1", "x": ' + "[" * 30000 + "]" * 30000 + "}",
                     "invalid metadata: metadata part: nested deeper"),
    "nested-9": (as_json({"call_id": "m1", "x": deep(9)}), "invalid metadata: meta: nested deeper than 8"),
    "lone-surrogate-value": ('{"call_id": "m1", "note": "a\\ud800b"}', "invalid metadata: meta.note: text with NUL"),
    "lone-surrogate-key": ('{"call_id": "m1", "a\\udc80": 1}', "invalid metadata: key"),
    "nul-value": ('{"call_id": "m1", "note": "a\\u0000b"}', "invalid metadata: meta.note: text with NUL"),
    "nul-nested": ('{"call_id": "m1", "x": {"y": ["ok", "a\\u0000"]}}', "invalid metadata: meta.x.y[1]: text with NUL"),
    "nan": ('{"call_id": "m1", "x": NaN}', "invalid metadata: metadata part: NaN is not a JSON number"),
    "infinity": ('{"call_id": "m1", "x": -Infinity}', "invalid metadata: metadata part: -Infinity"),
    "overflowing-float": ('{"call_id": "m1", "x": 1e999}', "invalid metadata: meta.x: inf is not a JSON number"),
    "int-over-64-bit": ('{"call_id": "m1", "x": 99999999999999999999}', "invalid metadata: meta.x: integer out"),
    "int-5000-digits": ('{"call_id": "m1", "x": ' + _BIG_INT + "}", "invalid metadata: metadata part: not valid JSON"),
    "too-many-keys": (as_json({"call_id": "m1", **{f"k{i}": i for i in range(600)}}), "invalid metadata: 601 fields"),
    "too-many-items": (as_json({"call_id": "m1", "x": list(range(600))}), "invalid metadata: meta: more than 500"),
    "too-many-nested-keys": (as_json({"call_id": "m1", "x": {f"k{i}": 1 for i in range(501)}}),
                             "invalid metadata: meta: more than 500"),
    "duplicate-key": ('{"call_id": "m1", "call_id": "m2"}', "invalid metadata: metadata part: key 'call_id' given"),
    "not-json": ("{call_id: m1}", "invalid metadata: metadata part: not valid JSON"),
    "a-list": ('["call_id", "m1"]', "invalid metadata: metadata part: expected a JSON object"),
    "a-string": ('"m1"', "invalid metadata: metadata part: expected a JSON object"),
    "empty-key": ('{"call_id": "m1", "": 1}', "invalid metadata: key '' is not a valid field name"),
    "control-in-key": ('{"call_id": "m1", "a\\u001bb": 1}', "invalid metadata: key"),
    "meta-not-object": ('{"call_id": "m1", "meta": 5}', "invalid metadata: meta: expected a JSON object"),
    "agent-surrogate": ('{"call_id": "m1", "agent_id": "7\\ud800"}', "invalid metadata: agent_id: not valid Unicode"),
    "agent-too-long": (as_json({"call_id": "m1", "agent_id": "a" * 65}), "invalid metadata: agent_id: 65 characters"),
    "agent-control": (as_json({"call_id": "m1", "agent_id": "a\x07"}), "invalid metadata: agent_id: contains control"),
    "agent-object": (as_json({"call_id": "m1", "agent_id": {"a": 1}}), "invalid metadata: agent_id: expected text"),
    "agent-bool": (as_json({"call_id": "m1", "agent_id": True}), "invalid metadata: agent_id: expected text"),
    "team-nul": ('{"call_id": "m1", "team": "a\\u0000"}', "invalid metadata: team: contains control"),
    "queue-surrogate": ('{"call_id": "m1", "queue": "\\udfff"}', "invalid metadata: queue: not valid Unicode"),
    "caller-list": (as_json({"call_id": "m1", "caller": ["1"]}), "invalid metadata: caller: expected text"),
    "tenant-space": (as_json({"call_id": "m1", "tenant": "a b"}), "invalid metadata: tenant:"),
    "tenant-unicode": (as_json({"call_id": "m1", "tenant": "银行"}), "invalid metadata: tenant:"),
    "direction": (as_json({"call_id": "m1", "direction": "sideways"}), "invalid metadata: direction: 'sideways'"),
    "started-words": (as_json({"call_id": "m1", "started_at": "yesterday"}), "invalid metadata: started_at:"),
    "started-ms": (as_json({"call_id": "m1", "started_at": 1709631000000}), "invalid metadata: started_at:"),
    "started-1970": (as_json({"call_id": "m1", "started_at": "1970-01-01T00:00:00Z"}), "invalid metadata: started_at:"),
    "started-huge": (as_json({"call_id": "m1", "started_at": 1e300}), "invalid metadata: started_at:"),
    "ended-before-started": (as_json({"call_id": "m1", "started_at": "2024-03-05T10:00:00Z",
                                      "ended_at": "2024-03-05T09:00:00Z"}), "invalid metadata: ended_at: before"),
    "channel-map-same": (as_json({"call_id": "m1", "channel_map": "agent=left,customer=left"}),
                         "invalid metadata: channel_map:"),
    "channel-map-role": (as_json({"call_id": "m1", "channel_map": {"boss": 0, "agent": 1}}),
                         "invalid metadata: channel_map: unknown role"),
    "call-id-dotdot": (as_json({"call_id": "../x"}), "invalid call ID: '../x' contains a slash"),
    "call-id-slash": (as_json({"call_id": "a/b"}), "invalid call ID: 'a/b' contains a slash"),
    "call-id-backslash": (as_json({"call_id": "a\\b"}), "invalid call ID:"),
    "call-id-unicode": (as_json({"call_id": "呼叫1"}), "invalid call ID:"),
    "call-id-surrogate": ('{"call_id": "a\\ud800"}', "invalid call ID:"),
    "call-id-space": (as_json({"call_id": "a b"}), "invalid call ID:"),
    "call-id-too-long": (as_json({"call_id": "x" * 129}), "invalid call ID: 129 characters"),
    "call-id-number": (as_json({"call_id": 5}), "invalid call ID: expected text"),
    "call-id-leading-dot": (as_json({"call_id": ".hidden"}), "invalid call ID:"),
    "call-id-nul": ('{"call_id": "a\\u0000b"}', "invalid call ID: contains control"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_poison_metadata_is_refused_before_anything_is_stored(any_db_client: TestClient, case: str) -> None:
    """Metadata that would break a later reader is a 400 with a one-line reason; nothing is stored."""
    meta, message = META_CASES[case]
    refused(upload(any_db_client, meta=meta), 400, message)


# --- the multipart envelope ----------------------------------------------------------------------
def _raw(client: TestClient, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/v1/recordings", headers={**AUTH, "content-type": ctype, **(headers or {})}, content=body)


def _multipart(*parts: tuple[str, bytes, str | None], boundary: str = "XyZ") -> bytes:
    out = b""
    for name, data, filename in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_envelope_refusals(client: TestClient) -> None:
    """Every malformed upload envelope is a 4xx with one line; none stores anything."""
    mp = "multipart/form-data; boundary=XyZ"
    cases: list[tuple[httpx.Response, int, str]] = [
        (_raw(client, b'{"call_id": "e1"}', "application/json"), 400, "bad upload: expected multipart/form-data"),
        (_raw(client, b"x", "multipart/form-data"), 400, "bad upload: expected multipart/form-data"),
        (_raw(client, b"garbage without boundaries", mp), 400, "bad upload:"),
        (_raw(client, _multipart(("call_id", b"e1", None)), mp), 400, "bad upload: no 'audio' file part"),
        (_raw(client, _multipart(("audio", WAV, "a.wav"), ("audio", WAV, "b.wav")), mp), 400,
         "bad upload: unexpected file part 'audio'"),
        (_raw(client, _multipart(("other", WAV, "a.wav")), mp), 400, "bad upload: unexpected file part 'other'"),
        (_raw(client, _multipart(("audio", WAV, "a.wav"), ("call_id", b"\xff\xfe", None)), mp), 400,
         "bad upload: form field 'call_id' is not UTF-8"),
        (_raw(client, _multipart(("call_id", b"e1", None), ("call_id", b"e2", None), ("audio", WAV, "a.wav")), mp),
         400, "bad upload: form field 'call_id' given twice"),
        (_raw(client, _multipart(("", b"x", None), ("audio", WAV, "a.wav")), mp), 400, "bad upload: a form part has"),
        (_raw(client, _multipart(("note", b"x" * 70_000, None), ("audio", WAV, "a.wav")), mp), 400,
         "bad upload: form fields larger than"),
        (_raw(client, _multipart(*[(f"f{i}", b"1", None) for i in range(250)], ("audio", WAV, "a.wav")), mp), 400,
         "bad upload: more than 200 form parts"),
        (_raw(client, b"x", mp, {"content-length": str(10**15)}), 413, "recording too large:"),
    ]
    for r, status, start in cases:
        assert r.status_code == status, (start, r.status_code, r.text)
        detail = r.json()["detail"]
        assert detail.startswith(start), (start, detail)
        assert_one_line(detail)
    assert_nothing_stored()


def test_audio_refusals(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad audio: empty, not audio, cut off, one sample, too short, three channels, over the size limit."""
    import io
    import wave

    def wav(frames: int, channels: int = 1) -> bytes:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x01\x00" * frames * channels)
        return buf.getvalue()

    cases = [
        (b"", 400, "empty file: a.wav: 0 bytes"),
        (b"not audio at all\n" * 40, 400, "not an audio file: a.wav"),
        (WAV[:30], 400, "truncated or damaged audio: a.wav"),  # cut inside its header (a cut body is salvaged)
        (b"RIFF" + b"\x00" * 40, 400, "truncated or damaged audio: a.wav"),
        (wav(1), 400, "recording too short: a.wav: 0.000 s, at least 0.5 s"),
        (wav(3000), 400, "recording too short: a.wav: 0.375 s"),
        (wav(8000, channels=3), 400, "too many channels: a.wav: 3 channels"),
        (b"\x00" * 5000, 400, "not an audio file: a.wav"),
    ]
    for audio, status, start in cases:
        refused(upload(client, meta={"call_id": "aud-1"}, audio=audio, name="a.wav"), status, start)
    monkeypatch.setenv("CALLQC_MAX_UPLOAD_BYTES", "4000")
    reset_settings()
    refused(upload(client, meta={"call_id": "aud-1"}, name="a.wav"), 413, "recording too large: a.wav: more than 4000")


def test_file_name_is_only_a_label(client: TestClient) -> None:
    """A hostile file name (traversal, control characters, invalid text) never becomes a path or key:
    with a call ID given, the upload is stored under the call ID; without, the name is refused."""
    r = upload(client, meta={"call_id": "named-1"}, name="../../etc/\x1b[31mpasswd.wav")
    assert r.status_code == 201, r.text
    assert r.json()["audio_key"].startswith("recordings/") and "/named-1~" in r.json()["audio_key"]
    keys, calls, jobs, audits = stored()
    assert (len(keys), calls, jobs, audits) == (1, 1, 1, 1)
    r = upload(client, name="..")
    assert r.status_code == 400 and r.json()["detail"].startswith("invalid call ID")
    r = upload(client, name="呼叫.wav")
    assert r.status_code == 400 and r.json()["detail"].startswith("invalid call ID")
    assert len(stored()[0]) == 1


def test_authentication_refusals(client: TestClient) -> None:
    """No token, another scheme, a wrong token, a token with odd bytes: 401/403, one line, nothing stored."""
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789"}, 403),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403),
        ({"Authorization": "Bearer t\u00e9st-token-0123456789ab".encode("latin-1")}, 403),
        ({"Authorization": "Bearer \u6d4b\u8bd5-token-0123456789ab".encode()}, 403),
    ):
        r = upload(client, meta={"call_id": "auth-1"}, headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert_one_line(r.json()["detail"])
    assert_nothing_stored()


def test_read_routes_refusals(client: TestClient) -> None:
    """Unknown and invalid call IDs, unknown routes and methods, docs switched off: one-line JSON."""
    for path, status in (
        ("/v1/calls/nope", 404),
        ("/v1/calls/a..b", 400),
        ("/v1/calls/%00", 400),
        ("/v1/calls/" + "x" * 300, 400),
        ("/v1/nothing", 404),
        ("/docs", 404),
        ("/openapi.json", 404),
        ("/redoc", 404),
    ):
        r = client.get(path, headers=AUTH)
        assert r.status_code == status, (path, r.text)
        assert_one_line(r.json()["detail"])
    r = client.delete("/v1/calls/x", headers=AUTH)
    assert r.status_code == 405
    assert client.get("/v1/calls/nope").status_code == 401


def test_docs_served_only_when_set_and_only_with_the_token(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """api_docs=true: /openapi.json needs the token like every other route."""
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_API_DOCS", "true")
    reset_settings()
    with TestClient(create_app()) as c:
        assert c.get("/openapi.json").status_code == 401
        spec = c.get("/openapi.json", headers=AUTH)
        assert spec.status_code == 200 and "/v1/recordings" in spec.json()["paths"]


def test_docs_enabled_point_nowhere_off_site(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """api_docs=true serves no page that loads Swagger UI from a CDN: /docs, /redoc and the OAuth
    redirect page do not exist, and the OpenAPI document names no address at all."""
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_API_DOCS", "true")
    reset_settings()
    with TestClient(create_app()) as c:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            r = c.get(path, headers=AUTH)
            assert r.status_code == 404, (path, r.text)
            assert_one_line(r.json()["detail"])
        spec = c.get("/openapi.json", headers=AUTH).text
    assert "http://" not in spec and "https://" not in spec and "//cdn" not in spec


@pytest.mark.parametrize("token", ["x", "short-token", "a" * 15])
def test_short_api_token_is_refused_at_start(data_dir: object, monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    """A token under 16 characters is refused when the API is built, in one line."""
    monkeypatch.setenv("CALLQC_API_TOKEN", token)
    reset_settings()
    with pytest.raises(WeakApiToken) as err:
        create_app()
    assert str(err.value).startswith(f"CALLQC_API_TOKEN is too weak: {len(token)} characters, at least 16")


def test_failed_registration_removes_the_stored_object(any_db_client: TestClient) -> None:
    """The database refuses the insert after the object was stored: 500 in one line, the object is
    removed again, nothing registered; once the database accepts, the same upload succeeds."""
    block_registration()
    try:
        refused(upload(any_db_client, meta={"call_id": "blocked-1"}), 500, "internal error")
    finally:
        unblock_registration()
    assert upload(any_db_client, meta={"call_id": "blocked-1"}).status_code == 201


def test_reading_an_old_poisoned_row_is_one_line(client: TestClient) -> None:
    """A row stored before metadata was checked (a lone surrogate in meta): GET answers one line
    saying the record cannot be shown, not a traceback."""
    import sqlalchemy as sa

    from storage.calls import Call
    from storage.db import session

    assert upload(client, meta={"call_id": "old-1"}).status_code == 201
    with session() as s:
        s.execute(sa.update(Call).where(Call.call_id == "old-1").values(meta={"note": "bad \ud800"}))
    r = client.get("/v1/calls/old-1", headers=AUTH)
    assert r.status_code == 500
    assert r.json() == {
        "detail": "the call's stored record cannot be shown: call old-1 has invalid text in its metadata"
    }


def test_database_down_is_503_with_retry_after(data_dir: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """No database: uploads and reads get 503, Retry-After and one line naming no host; no object."""
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_settings()
    from storage import db as dbmod
    from storage.settings import get_settings
    from storage.stores import make_store

    dbmod.reset_engines()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        for r in (upload(c, meta={"call_id": "down-1"}), c.get("/v1/calls/down-1", headers=AUTH)):
            assert r.status_code == 503 and r.headers["retry-after"].isdigit()
            assert r.json() == {"detail": "database unavailable or busy; try again later"}
    assert list(make_store().list(get_settings().bucket_recordings)) == []


# --- slow and oversized clients against a real server -------------------------------------------
def test_slow_headers_are_cut_off_and_others_still_served(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow-loris: connections that dribble their headers are closed after api_header_timeout_s (408),
    while a normal client is served meanwhile; a kept-alive connection gets the same deadline."""
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_API_HEADER_TIMEOUT_S", "1.0")
    reset_settings()
    with running_api() as api:
        slow = []
        for _ in range(20):
            sock = socket.create_connection((api.host, api.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        started = time.monotonic()
        for sock in slow:
            sock.sendall(b"X-Slow: 1\r\n")  # still no end of headers
        assert httpx.get(f"{api.url}/healthz", timeout=5).status_code == 200
        for sock in slow:
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 408"), data[:80]
            sock.close()
        assert time.monotonic() - started < 8
        # a kept-alive connection that then goes slow
        with socket.create_connection((api.host, api.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(4096)
            assert first.startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            rest = b""
            while chunk := sock.recv(4096):
                rest += chunk
            assert b"408" in rest or rest == b""


def test_oversized_headers_and_stalled_bodies_are_refused(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request head over api_max_header_bytes is refused; an upload body that stops arriving is
    answered 408 after api_body_timeout_s; neither stores anything."""
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_API_BODY_TIMEOUT_S", "1.0")
    reset_settings()
    with running_api() as api:
        with socket.create_connection((api.host, api.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
        body = _multipart(("call_id", b"slow-1", None), ("audio", WAV, "a.wav"))
        head = (
            f"POST /v1/recordings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection((api.host, api.port), timeout=10) as sock:
            sock.sendall(head + body[:200])  # then nothing more
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
                if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                    break
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b'"upload too slow: no data for 1 s"' in answer
        assert httpx.get(f"{api.url}/healthz", timeout=5).status_code == 200
    assert_nothing_stored()
