"""Split recordings: one file per direction (MixMonitor r()/t(), FreeSWITCH read/write legs) and
several parts of a transferred call are joined into one two-channel call with the right channel map."""

from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from recorder.legs import Role, split_name
from recorder.watch import Outcome, Watcher
from storage.calls import Call
from storage.db import session
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from tests.services import require_tool

pytestmark = pytest.mark.tools("sox")


def _tone(path: Path, *, freq: int, seconds: float, rate: int = 8000, channels: int = 1,
          pad_start: float = 0.0) -> Path:
    """A sox-made sine of ``freq`` Hz (``pad_start`` s of silence first), in the format the name says."""
    args = [require_tool("sox"), "-n", "-r", str(rate), "-c", str(channels)]
    if path.suffix.lower() == ".wav":
        args += ["-e", "signed-integer", "-b", "16"]
    subprocess.run([*args, str(path), "synth", str(seconds), "sine", str(freq), "pad", str(pad_start), "0"],
                   check=True)
    return path


def _stored(call_id: str) -> tuple[Call, np.ndarray, int]:
    with session() as s:
        row = s.get(Call, call_id)
        assert row is not None
        s.expunge(row)
    data = get_store().get_range(get_settings().bucket_recordings, row.audio_key)
    with wave.open(io.BytesIO(data)) as w:
        rate, n = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, n).T.astype(float)
    return row, pcm, rate


def _energy_at(signal: np.ndarray, rate: int, freq: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal))
    return float(spectrum[round(freq * len(signal) / rate)])


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    monkeypatch.setenv("CALLQC_PBX_TIMEZONE", "UTC")
    reset_settings()
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


def test_leg_suffixes_name_the_call_and_the_direction() -> None:
    assert split_name("1709630130.42-in.wav") == ("1709630130.42.wav", Role.sends)
    assert split_name("1709630130.42-out.WAV") == ("1709630130.42.WAV", Role.hears)
    assert split_name("abc_write.gsm") == ("abc.gsm", Role.hears)
    assert split_name("1709630130.42.wav") == ("1709630130.42.wav", Role.both)


@pytest.mark.parametrize(("direction", "agent_leg"), [("inbound", "out"), ("outbound", "in")])
def test_mixmonitor_legs_become_one_stereo_call_with_the_agent_left(
    sqlite_db: str, spool: Path, direction: str, agent_leg: str
) -> None:
    """`-in` is what the recorded channel says: the caller's on an inbound call, the agent's otherwise.
    A GSM leg and a WAV leg are joined at the WAV's rate; both legs and their markers go to done/."""
    _tone(spool / "1709630130.42-in.gsm", freq=500, seconds=1.5)
    _tone(spool / "1709630130.42-out.wav", freq=1200, seconds=1.5)
    (spool / "1709630130.42.json").write_text(json.dumps({"direction": direction, "agent_id": "anna"}))
    for leg in ("in.gsm", "out.wav"):
        (spool / f"1709630130.42-{leg}.done").touch()
    [result] = Watcher(spool, layout="asterisk").poll()
    assert (result.outcome, result.call_id) == (Outcome.done, "1709630130.42")
    row, pcm, rate = _stored("1709630130.42")
    assert (row.channels, row.channel_map, row.agent_id, row.direction) == (2, {"agent": 0, "customer": 1},
                                                                           "anna", direction)
    assert abs(row.duration_s - 1.5) < 0.05
    agent_freq, customer_freq = (1200, 500) if agent_leg == "out" else (500, 1200)
    assert _energy_at(pcm[0], rate, agent_freq) > 20 * _energy_at(pcm[0], rate, customer_freq)
    assert _energy_at(pcm[1], rate, customer_freq) > 20 * _energy_at(pcm[1], rate, agent_freq)
    legs = {leg["name"]: leg for leg in (row.meta or {})["legs"]}
    assert legs[f"1709630130.42-{agent_leg}.{'gsm' if agent_leg == 'in' else 'wav'}"]["channels"] == ["agent"]
    assert {p.name for p in (spool / "done").iterdir()} >= {
        "1709630130.42-in.gsm", "1709630130.42-in.gsm.done", "1709630130.42-out.wav", "1709630130.42-out.wav.done",
        "1709630130.42.json"}
    assert not any(p.suffix in (".wav", ".gsm") for p in spool.iterdir())


def test_a_leg_still_being_written_holds_back_its_call(sqlite_db: str, spool: Path) -> None:
    _tone(spool / "c1-in.wav", freq=500, seconds=1.0)
    _tone(spool / "c1-out.wav", freq=1200, seconds=1.0)
    (spool / "c1-in.wav.done").touch()
    assert Watcher(spool).poll() == []
    with session() as s:
        assert s.get(Call, "c1") is None
    (spool / "c1-out.wav.done").touch()
    [result] = Watcher(spool).poll()
    assert (result.outcome, result.call_id) == (Outcome.done, "c1")


def test_legs_are_aligned_on_their_start_times(sqlite_db: str, spool: Path) -> None:
    """A FreeSWITCH leg that started 2 s later (its sidecar says when) sits 2 s into the call."""
    _tone(spool / "c2_read.wav", freq=500, seconds=3.0)
    _tone(spool / "c2_write.wav", freq=1200, seconds=1.0)
    (spool / "c2_read.json").write_text('{"started_at": "2024-03-05T10:00:00Z", "direction": "outbound"}')
    (spool / "c2_write.json").write_text('{"started_at": "2024-03-05T10:00:02Z"}')
    for name in ("c2_read.wav", "c2_write.wav"):
        (spool / f"{name}.done").touch()
    [result] = Watcher(spool).poll()
    assert result.outcome is Outcome.done
    row, pcm, rate = _stored("c2")
    assert abs(row.duration_s - 3.0) < 0.05
    customer = np.abs(pcm[1])
    assert customer[: int(1.9 * rate)].max() == 0  # silent before the leg started
    assert customer[int(2.05 * rate) : int(2.95 * rate)].max() > 1000
    legs = {leg["name"]: leg["offset_s"] for leg in (row.meta or {})["legs"]}
    assert legs == {"c2_read.wav": 0.0, "c2_write.wav": 2.0}


def test_freepbx_parts_of_a_transferred_call_are_one_call(sqlite_db: str, spool: Path) -> None:
    """Queue answer, then a transfer to 2002: two stereo files under the caller's uniqueid, 10 s apart."""
    day = spool / "2024" / "03" / "05"
    day.mkdir(parents=True)
    _tone(day / "q-400-5551234567-20240305-101530-1709630130.42.wav", freq=500, seconds=4.0, channels=2)
    _tone(day / "in-2002-5551234567-20240305-101540-1709630130.42.wav", freq=1200, seconds=3.0, channels=2)
    results = Watcher(spool, require_marker=False, layout="freepbx").poll()
    assert [(r.outcome, r.call_id) for r in results] == [(Outcome.done, "1709630130.42")]
    row, pcm, rate = _stored("1709630130.42")
    assert abs(row.duration_s - 13.0) < 0.05
    assert (row.queue, row.direction, row.channels) == ("400", "inbound", 2)
    assert np.abs(pcm[0][int(4.1 * rate) : int(9.9 * rate)]).max() == 0  # the gap between the parts
    assert _energy_at(pcm[0][int(10 * rate) :], rate, 1200) > 20 * _energy_at(pcm[0][int(10 * rate) :], rate, 500)


def test_a_mono_mix_and_a_split_leg_of_one_call_are_refused_together(sqlite_db: str, spool: Path) -> None:
    _tone(spool / "1709630131.5.wav", freq=500, seconds=1.0)
    _tone(spool / "1709630131.5-out.wav", freq=1200, seconds=1.0)
    for name in ("1709630131.5.wav", "1709630131.5-out.wav"):
        (spool / f"{name}.done").touch()
    [result] = Watcher(spool, layout="asterisk").poll()
    assert result.outcome is Outcome.rejected
    assert "mixed (mono) recording cannot be joined" in (result.reason or "")
    assert {p.name for p in (spool / "rejected").iterdir()} >= {"1709630131.5.wav", "1709630131.5-out.wav"}
    with session() as s:
        assert s.get(Call, "1709630131.5") is None
