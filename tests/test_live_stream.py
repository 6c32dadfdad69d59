"""The media-stream input (WebSocket on the recorder API) with a real client (websockets): a two-track
call is stored byte-exact with its metadata; the token is required; bad events are refused; a
killed API's call is finalised from its journal when the API comes back; the recording API writes the
live loudness rows the live flags are judged from."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from recorder.siprec.recording import wav_data
from review_app.workflow.live_flags import Rules, audio_flags
from storage.calls import Call, CallStatus
from storage.db import session
from storage.jobs import Job
from storage.live_levels import LiveLevel
from storage.settings import get_settings
from storage.stores import get_store
from tests.live_peers import free_port, tone

WT = Path(__file__).resolve().parents[1]
TOKEN = "stream-t0ken-live-2"
pytestmark = pytest.mark.integration


class Api:
    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.env, self.log, self.port = env, log, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "callqc", "recorder", "api"], env=self.env,
                                         stdout=fh, stderr=fh, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "Uvicorn running" in self.log.read_text() or "Application startup complete" in self.log.read_text():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-2000:])
            time.sleep(0.1)
        raise RuntimeError("API did not start: " + self.log.read_text()[-2000:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(30)

    def url(self, token: str | None = TOKEN) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream" + (f"?token={token}" if token else "")


@pytest.fixture
def api(tmp_path: Path, sqlite_db: str, data_dir: Path) -> Iterator[Api]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(WT), "CALLQC_DATA_DIR": str(data_dir), "CALLQC_API_TOKEN": TOKEN,
           "CALLQC_API_PORT": str(port), "CALLQC_LOG_LEVEL": "INFO"}
    a = Api(env, tmp_path / "api.log", port)
    a.start()
    try:
        yield a
    finally:
        a.stop()


def wait_call(status: CallStatus, timeout_s: float = 20.0) -> Call:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session() as s:
            rows = s.exec(select(Call).where(Call.status == status)).all()
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no call became {status}")


def send_media(ws: ClientConnection, tracks: dict[str, bytes], chunks: range, *, pace: bool = False) -> None:
    for k in chunks:
        for track, data in tracks.items():
            payload = base64.b64encode(data[k * 160:(k + 1) * 160]).decode()
            ws.send(json.dumps({"event": "media", "media": {"track": track, "chunk": str(k + 1),
                                                             "timestamp": str(k * 20), "payload": payload}}))
        if pace:
            time.sleep(0.02)


START = {"event": "start", "start": {
    "streamSid": "MZ123", "callSid": "CA456", "tracks": ["inbound", "outbound"],
    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    "customParameters": {"call_id": "ws-call-1", "agent_id": "a-7", "queue": "sales", "direction": "inbound",
                         "caller": "+8613900000000"},
}}


def stored(call: Call, tmp: Path) -> tuple[int, list[bytes]]:
    path = tmp / "stored.wav"
    path.write_bytes(get_store().get_range(get_settings().bucket_recordings, call.audio_key))
    tag, channels, data = wav_data(path)
    return tag, [data[c::channels] for c in range(channels)]


def test_two_track_stream_is_stored_byte_exact_with_metadata(api: Api, tmp_path: Path) -> None:
    customer = tone(tmp_path / "in.ul", 2, 700)
    agent = tone(tmp_path / "out.ul", 2, 400)
    with connect(api.url(None), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        ws.send(json.dumps(START))
        assert json.loads(ws.recv(10)) == {"event": "started", "call_id": "ws-call-1"}
        live = wait_call(CallStatus.in_progress)
        assert live.call_id == "ws-call-1" and live.agent_id == "a-7"
        send_media(ws, {"inbound": customer, "outbound": agent}, range(100))
        ws.send(json.dumps({"event": "stop", "stop": {"callSid": "CA456"}}))
        with pytest.raises(ConnectionClosed):
            ws.recv(10)
    call = wait_call(CallStatus.recorded)
    tag, (left, right) = stored(call, tmp_path)
    assert tag == 7 and call.channel_map == {"agent": 0, "customer": 1}
    assert left == agent and right == customer  # timestamps place every chunk; nothing else is in the file
    assert (call.queue, call.caller, str(call.direction)) == ("sales", "+8613900000000", "inbound")
    assert call.meta["live"]["source"] == "stream" and call.meta["live"]["end_reason"] == "stop"
    assert call.meta["live"]["stats"]["outbound"]["packets"] == 100
    with session() as s:
        assert [j.kind for j in s.exec(select(Job)).all()] == ["transcribe"]


def test_stream_needs_the_api_token(api: Api) -> None:
    for url, headers in ((api.url(None), {}), (api.url("wrong"), {})):
        with pytest.raises(InvalidStatus) as err, connect(url, additional_headers=headers):
            pass
        assert err.value.response.status_code == 403
    with session() as s:
        assert s.exec(select(Call)).all() == []


def test_bad_events_are_refused_in_one_line_and_nothing_is_stored(api: Api) -> None:
    for bad in ("not json", json.dumps({"event": "media", "media": {"payload": ""}}),
                json.dumps({"event": "start", "start": {"tracks": ["a", "b", "c"]}}),
                json.dumps({"event": "start", "start": {"customParameters": {"call_id": "../etc"}}})):
        with connect(api.url()) as ws:
            ws.send(bad)
            with pytest.raises(ConnectionClosed) as err:
                ws.recv(10)
            assert err.value.rcvd is not None and err.value.rcvd.code == 1008
    with session() as s:
        assert s.exec(select(Call)).all() == []
    assert "Traceback" not in api.log.read_text()


@pytest.mark.slow
def test_killed_api_stream_is_finalised_from_its_journal_on_restart(api: Api, tmp_path: Path) -> None:
    customer = tone(tmp_path / "in.ul", 4, 700)
    agent = tone(tmp_path / "out.ul", 4, 400)
    with connect(api.url()) as ws:
        ws.send(json.dumps(START))
        ws.recv(10)
        send_media(ws, {"inbound": customer, "outbound": agent}, range(150), pace=True)  # 3 s in real time
        time.sleep(0.5)
        api.stop(signal.SIGKILL)
    api.start()  # the new API finalises what the killed one left
    call = wait_call(CallStatus.recorded)
    assert call.meta["live"]["end_reason"] == "capture_interrupted"
    assert call.meta["live"]["capture_interrupted"]["gap_start_s"] == pytest.approx(3.0, abs=0.05)
    _, (left, right) = stored(call, tmp_path)
    assert left == agent[: 150 * 160] and right == customer[: 150 * 160]


def _levels(call_id: str) -> list[LiveLevel]:
    with session() as s:
        return list(s.exec(select(LiveLevel).where(LiveLevel.call_id == call_id).order_by(LiveLevel.start_frame)))


def test_the_recording_api_writes_live_levels_the_flags_are_judged_from(api: Api, tmp_path: Path) -> None:
    """While a streamed call runs, the API process recording it writes each speaker's loudness to the
    database; this process, reading no journal, judges the overtalk of both tracks' 4 s tone from the
    rows; once the call is stored the rows are gone."""
    customer = tone(tmp_path / "in.ul", 4, 700)
    agent = tone(tmp_path / "out.ul", 4, 400)
    with connect(api.url(None), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        ws.send(json.dumps(START))
        assert json.loads(ws.recv(10))["event"] == "started"
        send_media(ws, {"inbound": customer, "outbound": agent}, range(200))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(r.frames for r in _levels("ws-call-1")) < 35:
            time.sleep(0.2)
        rows = _levels("ws-call-1")
        with session() as s:
            flags = audio_flags(s, ["ws-call-1"], Rules())["ws-call-1"]
        ws.send(json.dumps({"event": "stop", "stop": {"callSid": "CA456"}}))
        with pytest.raises(ConnectionClosed):
            ws.recv(10)
    assert rows and rows[0].start_frame == 0 and set(rows[0].levels) == {"agent", "customer"}
    assert all(b.start_frame == a.end_frame for a, b in zip(rows, rows[1:], strict=False))  # consecutive
    assert flags.overtalk and flags.longest_overtalk_s >= Rules().overtalk_s and not flags.long_silence
    wait_call(CallStatus.recorded)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _levels("ws-call-1"):
        time.sleep(0.2)
    assert _levels("ws-call-1") == []
