"""A live call's life in the database, on SQLite and PostgreSQL: in_progress at answer, pauses as
guarded statements, recorded with its transcribe job at the end, interrupted calls recovered."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from recorder.metadata import CallMeta
from recorder.siprec import live
from recorder.siprec.live import StreamSpec
from recorder.siprec.recording import wav_data
from recorder.siprec.rtp import PCMU, Placed
from storage import pauses
from storage.calls import Call, CallStatus
from storage.db import session
from storage.errors import NotFound
from storage.jobs import Job
from storage.settings import get_settings
from storage.stores import get_store

SPECS = [StreamSpec(0, "1", "agent", 0), StreamSpec(1, "2", "customer", 1)]


def _open(call_id: str, answered: datetime) -> live.Journal:
    return live.open_call(call_id, source="siprec", meta=CallMeta(agent_id="agent7", queue="q1"), streams=SPECS,
                          channel_map={"agent": 0, "customer": 1}, extra={"peer": "test"}, answered_at=answered)


def _audio(j: live.Journal, seconds: int) -> None:
    for k in range(seconds * 50):
        j.add(0, [Placed(k * 160, PCMU, bytes([0x10 + k % 50]) * 160, 0.0)])
        j.add(1, [Placed(k * 160, PCMU, bytes([0x80 + k % 50]) * 160, 0.0)])
    j.flush()


def _stored(call: Call, tmp: Path) -> tuple[bytes, bytes]:
    path = tmp / "c.wav"
    path.write_bytes(get_store().get_range(get_settings().bucket_recordings, call.audio_key))
    _, channels, data = wav_data(path)
    return data[0::channels], data[1::channels]


def test_live_call_is_in_progress_then_recorded_with_its_pause_blanked(db_url: str, tmp_path: Path) -> None:
    answered = datetime.now(UTC) - timedelta(seconds=10)
    j = _open("live-1", answered)
    with session() as s:
        row = s.get(Call, "live-1")
        assert row is not None and row.status == CallStatus.in_progress and row.agent_id == "agent7"
    with session(write=True) as s:
        pauses.pause(s, "live-1", "desk", at=answered + timedelta(seconds=1))
    with session(write=True) as s, pytest.raises(pauses.AlreadyPaused):
        pauses.pause(s, "live-1", "desk")
    with session(write=True) as s:
        pauses.resume(s, "live-1", "desk", at=answered + timedelta(seconds=2))
    with session(write=True) as s, pytest.raises(pauses.NotPaused):
        pauses.resume(s, "live-1", "desk")
    with session(write=True) as s, pytest.raises(NotFound):
        pauses.pause(s, "nobody", "desk")
    _audio(j, 3)
    assert live.end_call(j, reason="bye", stats={"1": {"packets": 150}}, ended_at=answered + timedelta(seconds=3))
    with session() as s:
        call = s.get(Call, "live-1")
        jobs = s.exec(select(Job)).all()
    assert call is not None and call.status == CallStatus.recorded and call.codec == "pcm_mulaw"
    assert [(j_.kind, j_.call_id) for j_ in jobs] == [("transcribe", "live-1")]
    assert call.meta["live"]["pauses"] == [{"start_s": 1.0, "end_s": 2.0, "by": "desk"}]
    left, right = _stored(call, tmp_path)
    assert set(left[8000:16000]) == {0xFF} and set(right[8000:16000]) == {0xFF}  # the paused second
    assert left[:160] == bytes([0x10]) * 160 and left[16000:16160] == bytes([0x10]) * 160  # kept around it
    with session(write=True) as s, pytest.raises(pauses.NotLive):
        pauses.pause(s, "live-1", "desk")


def test_interrupted_call_is_recovered_from_its_journal_marked_with_its_gap(db_url: str, tmp_path: Path) -> None:
    answered = datetime.now(UTC) - timedelta(seconds=5)
    j = _open("live-2", answered)
    _audio(j, 2)
    j.fsync()
    j._lock.close()  # the recorder dies: its lock goes with it, the journal stays "live"
    time.sleep(0.05)
    done, pending = live.recover(get_settings().data_dir)
    assert (done, pending) == (1, 0)
    with session() as s:
        call = s.get(Call, "live-2")
    assert call is not None and call.status == CallStatus.recorded
    gap = call.meta["live"]["capture_interrupted"]
    assert gap["gap_start_s"] == 2.0 and gap["gap_end_s"] >= 5.0
    left, _right = _stored(call, tmp_path)
    assert len(left) == 16000
