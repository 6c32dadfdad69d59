"""Listening in: a call arriving over the media-stream WebSocket is streamed live on GET /v1/media/{id}
(chunked WAV from the journal tap) to a real HTTP client while the call runs, within 3 s of the call,
with the agent's samples exact; the listening is audited as play with from/to seconds."""

from __future__ import annotations

import array
import json
import struct
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select
from websockets.sync.client import connect

from recorder.media import LIVE_LAG_S, LiveMix, parse_range, wav_header
from recorder.siprec.journal import Journal, Tap
from recorder.siprec.rtp import Placed, decode
from storage import media_tokens
from storage.calls import CallStatus
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.retrieval import InvalidRange
from storage.users import Principal, Role, add_user
from tests.live_peers import tone
from tests.test_live_stream import START, Api, api, send_media, wait_call  # noqa: F401  (api: the fixture)

pytestmark = pytest.mark.integration
INSPECTOR = Principal("insp", Role.inspector)


def test_parse_range_forms() -> None:
    """Single ranges of every form; multi-range and out-of-bounds refused."""
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10) == (2, 3)
    assert parse_range("bytes=8-", 10) == (8, 2)
    assert parse_range("bytes=-3", 10) == (7, 3)
    for bad in ("bytes=0-1,3-4", "bytes=10-", "items=0-1", "bytes=-", "bytes=5-2"):
        with pytest.raises(InvalidRange):
            parse_range(bad, 10)


def test_live_call_streams_to_a_listener_within_3_s_and_is_audited(api: Api, tmp_path: Path) -> None:  # noqa: F811
    with session() as s:
        add_user(s, INSPECTOR.name, role=INSPECTOR.role, password="pw-123456789")
    seconds = 8
    customer = tone(tmp_path / "in.ul", seconds, 700)
    agent = tone(tmp_path / "out.ul", seconds, 400)
    agent_pcm = array.array("h", decode(0, agent)).tobytes()
    sent = [0]  # samples sent so far

    with connect(api.url()) as ws:
        ws.send(json.dumps(START))
        ws.recv(10)
        wait_call(CallStatus.in_progress)

        def talk() -> None:
            for k in range(0, seconds * 50, 25):  # half a second at a time, in real time
                send_media(ws, {"inbound": customer, "outbound": agent}, range(k, k + 25), pace=True)
                sent[0] = (k + 25) * 160
            ws.send(json.dumps({"event": "stop"}))

        speaker = threading.Thread(target=talk)
        speaker.start()
        time.sleep(1.0)  # join a call already running
        token = media_tokens.grant(INSPECTOR, "ws-call-1")
        got = bytearray()
        marks: list[tuple[int, int]] = []  # (frames heard since joining, samples the caller had sent)
        with httpx.stream("GET", f"http://127.0.0.1:{api.port}/v1/media/ws-call-1", params={"token": token},
                          timeout=15) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
            for chunk in r.iter_bytes():
                got += chunk
                if speaker.is_alive():
                    marks.append(((len(got) - 44) // 4, sent[0]))
        speaker.join()
    assert bytes(got[:44]) == wav_header(2)
    frames = memoryview(bytes(got[44:]))[: (len(got) - 44) // 4 * 4].cast("h")
    left = array.array("h", frames[0::2]).tobytes()
    assert len(left) >= 2 * 8000 * (seconds - 2)  # ~7 of the 8 s: joined after 1 s
    # the agent's tone arrives exact: a 0.2 s run of what the listener got is found in what was sent
    probe = left[len(left) // 2: len(left) // 2 + 3200]
    assert agent_pcm.find(probe) >= 0
    with session() as s:
        rows = list(s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.play)
                           .order_by(col(AuditEvent.id))))
    live = [e.detail for e in rows if e.detail.get("live")]
    assert len(live) == 2 and "to_s" not in live[0]
    assert 0.5 < live[1]["from_s"] < 2.5 and live[1]["to_s"] >= seconds - 0.5 and live[1]["ended"]
    joined = int(live[1]["from_s"] * 8000)
    lags = [(sent_n - (joined + heard)) / 8000 for heard, sent_n in marks[3:]]
    assert lags and max(lags) < 3.0, max(lags)  # behind what the caller had sent, in seconds of audio
    assert struct.unpack("<H", bytes(got[22:24]))[0] == 2


def test_a_listener_who_leaves_mid_call_is_audited_with_where_they_stopped(api: Api, tmp_path: Path) -> None:  # noqa: F811
    with session() as s:
        add_user(s, INSPECTOR.name, role=INSPECTOR.role, password="pw-123456789")
    customer = tone(tmp_path / "in.ul", 6, 700)
    agent = tone(tmp_path / "out.ul", 6, 400)
    with connect(api.url()) as ws:
        ws.send(json.dumps(START))
        ws.recv(10)
        wait_call(CallStatus.in_progress)
        speaker = threading.Thread(
            target=send_media, args=(ws, {"inbound": customer, "outbound": agent}, range(300)), kwargs={"pace": True})
        speaker.start()
        time.sleep(0.5)
        token = media_tokens.grant(INSPECTOR, "ws-call-1")
        got = 0
        with httpx.stream("GET", f"http://127.0.0.1:{api.port}/v1/media/ws-call-1", params={"token": token},
                          timeout=15) as r:
            for chunk in r.iter_bytes():
                got += len(chunk)
                if got > 44 + 4 * 8000 * 1.5:  # a second and a half heard, then the listener goes
                    break
        deadline = time.monotonic() + 5
        live: list[dict] = []
        while time.monotonic() < deadline and len(live) < 2:
            time.sleep(0.2)
            with session() as s:
                live = [e.detail for e in s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.play))
                        if e.detail.get("live")]
        speaker.join()
        ws.send(json.dumps({"event": "stop"}))
    assert len(live) == 2 and live[1]["ended"] is False, live
    assert 1.4 <= live[1]["to_s"] - live[1]["from_s"] < 4.0


def test_joining_a_long_call_late_starts_near_its_end_without_decoding_it_all(tmp_path: Path) -> None:
    """Ten minutes journaled: the listener joins ~0.3 s behind the newest sample, having skipped the rest."""
    answered = time.time() - 600
    folder = tmp_path / "live" / "long-1"
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    journal = Journal(folder, {"version": 1, "call_id": "long-1", "state": "live", "answered_unix": answered,
                               "streams": streams}, 2)
    packets = 600 * 50
    for i in (0, 1):
        journal.add(i, [Placed(k * 160, 0, bytes([0x7F - i]) * 160, answered + k * 0.02) for k in range(packets)])
    journal.flush()
    started = time.monotonic()
    mix = LiveMix(Tap(tmp_path, "long-1"), answered)
    took = time.monotonic() - started
    newest = packets * 160
    assert mix.newest == newest and newest - mix.emitted == int(LIVE_LAG_S * 8000)
    # only the held-back 0.3 s is kept: nothing before the join
    assert len(mix.left) == len(mix.right) == int(LIVE_LAG_S * 8000)
    assert took < 5.0, took
    journal.add(0, [Placed(newest, 0, b"\x00" * 160, time.time())])  # μ-law 0x00: a loud sample
    journal.flush()
    out = mix.pump(final=True)
    frames = memoryview(out).cast("h")
    assert len(out) == 4 * (int(LIVE_LAG_S * 8000) + 160)  # the held-back 0.3 s and the new packet
    assert abs(frames[-2]) > 30000  # the new agent sample, on the left
    assert set(frames[0:-320:2]) == {decode(0, b"\x7f")[0]} and set(frames[1:-320:2]) == {decode(0, b"\x7e")[0]}
    journal.release(remove=True)


def test_mixed_listening_sums_both_speakers_into_one_channel(tmp_path: Path) -> None:
    answered = time.time() - 5
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    journal = Journal(tmp_path / "live" / "mix-1", {"version": 1, "call_id": "mix-1", "state": "live",
                                                     "answered_unix": answered, "streams": streams}, 2)
    journal.add(0, [Placed(k * 160, 0, bytes([0xF0]) * 160, answered + k * 0.02) for k in range(250)])
    journal.add(1, [Placed(k * 160, 0, bytes([0xE0]) * 160, answered + k * 0.02) for k in range(250)])
    journal.flush()
    stereo = LiveMix(Tap(tmp_path, "mix-1"), answered)
    mixed = LiveMix(Tap(tmp_path, "mix-1"), answered, mixed=True)
    s, m = stereo.pump(final=True), mixed.pump(final=True)
    a, b = decode(0, bytes([0xF0]))[0], decode(0, bytes([0xE0]))[0]
    assert len(s) == 2 * len(m) > 0
    assert set(memoryview(s).cast("h")[0::2]) == {a} and set(memoryview(s).cast("h")[1::2]) == {b}
    assert set(memoryview(m).cast("h")) == {a + b}
    journal.release(remove=True)
