"""The live transcriber (callqc/live_transcriber.py, transcribe/live.py): windows end at the speaker's
pause, watched calls are transcribed at the same time on the model's replicas with every line stored
once, and the full transcript made after the call replaces the live lines."""

from __future__ import annotations

import re
import threading
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from callqc.live_transcriber import LiveTranscriber, LiveWorker
from recorder.siprec.journal import Journal, Tap, TapChunk
from recorder.siprec.rtp import Placed
from review_app.workflow.inspection import segments_for
from review_app.workflow.live_transcript import follow
from storage.calls import Call, CallStatus
from storage.db import session
from storage.live_segments import LiveSegment, add, for_call
from storage.live_watches import LiveWatch
from storage.models import utcnow
from storage.segments import Segment
from storage.settings import reset_settings
from storage.transcripts import segments_of
from storage.users import Principal, Role
from tests.live_peers import speech
from tests.test_transcribe_handler import ctx, register
from transcribe.handler import handle
from transcribe.live import FRAME, PAUSE_S, RATE, WINDOW_S, Said, SpeakerBuffer, transcribe_live

SILENT = 0xFF  # μ-law zero
LATER_S = 30.0  # the second watched call's audio sits this far into its call (tells the calls apart)
WORDS = {"hello", "how", "are", "you", "order", "question", "thank", "calling", "help"}


def _chunk(position: int, value: int, seconds: float, rate: int = RATE) -> TapChunk:
    return TapChunk("agent", position, [value] * int(seconds * rate), rate)


def test_a_pause_ends_the_window_before_it_is_full() -> None:
    buf = SpeakerBuffer()
    buf.put(_chunk(0, 0, 0.5))  # quiet before speech: dropped but the lead-in
    buf.put(_chunk(4000, 3000, 1.0))  # a second of speech
    assert buf.take(final=False) is None  # still talking (or breathing): wait
    buf.put(_chunk(12000, 0, PAUSE_S + 0.1))  # the speaker stops
    got = buf.take(final=False)
    assert got is not None
    window, start = got
    assert start < 4000 < start + len(window) < 12000 + PAUSE_S * RATE  # the speech, cut at the pause
    assert len(window) < WINDOW_S * RATE
    assert buf.take(final=False) is None  # only quiet left


def test_continuous_speech_is_cut_at_the_longest_window_and_silence_is_never_a_window() -> None:
    buf = SpeakerBuffer()
    buf.put(_chunk(0, 2000, WINDOW_S + 2))
    got = buf.take(final=False)
    assert got is not None and len(got[0]) <= WINDOW_S * RATE and got[1] == 0
    rest = buf.take(final=True)
    assert rest is not None and rest[1] == len(got[0]) and buf.take(final=True) is None
    quiet = SpeakerBuffer()
    quiet.put(_chunk(0, 50, 10.0))
    assert quiet.take(final=False) is None and quiet.take(final=True) is None
    click = SpeakerBuffer()
    click.put(_chunk(0, 0, 1.0))
    click.put(_chunk(RATE, 9000, 2 * FRAME / RATE))  # two loud frames: a click, not a word
    click.put(_chunk(RATE + 2 * FRAME, 0, 1.0))
    assert click.take(final=True) is None


def test_wideband_audio_is_followed_at_the_taps_8_khz_positions() -> None:
    buf = SpeakerBuffer()
    buf.put(_chunk(800, 3000, 1.0, rate=16000))  # G.722/Opus: 16 kHz samples, 8 kHz positions
    buf.put(_chunk(800 + RATE, 0, 1.0))
    got = buf.take(final=False)
    assert got is not None and got[1] <= 800 and got[1] + len(got[0]) < 800 + RATE + PAUSE_S * RATE


# --- with the real model, audio from espeak-ng ------------------------------------------------------------

def _journal(data_dir: Path, call_id: str) -> Journal:
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    return Journal(data_dir / "live" / call_id, {"version": 1, "call_id": call_id, "state": "live",
                                                 "answered_unix": time.time(), "streams": streams}, 2)


def _write(journal: Journal, agent: bytes, first_packet: int = 0) -> int:
    """``agent`` on stream 0, silence on stream 1, from packet ``first_packet``; the next packet."""
    agent += bytes([SILENT]) * (-len(agent) % 160)
    n = len(agent) // 160
    quiet = bytes([SILENT]) * 160
    journal.add(0, [Placed((first_packet + k) * 160, 0, agent[k * 160:(k + 1) * 160], 0.0) for k in range(n)])
    journal.add(1, [Placed((first_packet + k) * 160, 0, quiet, 0.0) for k in range(n)])
    journal.flush()
    return first_packet + n


def _add_call(call_id: str) -> None:
    with session() as s:
        s.add(Call(call_id=call_id, started_at=utcnow(), codec="pcm_mulaw", sample_rate=8000, channels=2,
                   audio_key=f"live/{call_id}", size_bytes=0, sha256="0" * 64, status=CallStatus.in_progress))


def _words(rows: list[LiveSegment]) -> set[str]:
    return set(re.findall(r"[a-z]+", " ".join(r.text for r in rows).lower()))


@pytest.fixture
def live_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_LIVE_ASR_MODEL", "tiny.en")
    reset_settings()


@pytest.mark.integration
@pytest.mark.tools("espeak-ng", "sox")
def test_a_line_is_stored_as_soon_as_the_speaker_pauses(sqlite_db: str, data_dir: Path, tmp_path: Path,
                                                         live_model: None) -> None:
    said = speech(tmp_path / "hello.ul", "Hello, how are you?")
    pause = bytes([SILENT]) * int((PAUSE_S + 0.3) * RATE)
    assert (len(said) + len(pause)) / RATE < WINDOW_S  # the old fixed window would not be full yet
    journal = _journal(data_dir, "live-pause")
    try:
        follower = LiveTranscriber(Tap(data_dir, "live-pause"), "live-pause")
        end = _write(journal, said + pause)
        lines = follower.step()  # the call goes on: nothing more said yet
        assert Tap(data_dir, "live-pause").live
        assert lines and {r.speaker for r in lines} == {"agent"}
        assert all(0 <= r.start_s < r.end_s <= len(said) / RATE + 0.3 for r in lines)
        assert _words(lines) & WORDS, [r.text for r in lines]
        with session() as s:
            assert [r.text for r in for_call(s, "live-pause")] == [r.text for r in lines]
        _write(journal, bytes([SILENT]) * RATE, end)
        assert follower.step() == []  # silence costs nothing, repeats nothing
    finally:
        journal.release(remove=True)


@pytest.mark.integration
@pytest.mark.tools("espeak-ng", "sox")
def test_two_watched_calls_are_transcribed_at_the_same_time_each_line_once(
        sqlite_db: str, data_dir: Path, tmp_path: Path, live_model: None) -> None:
    lines = ["Thank you for calling.", "Hello, I have a question about my order."]
    said = [speech(tmp_path / f"l{k}.ul", text) for k, text in enumerate(lines)]
    gap = bytes([SILENT]) * RATE
    audio = said[0] + gap + said[1] + gap
    spoken = [(0.0, len(said[0]) / RATE), ((len(said[0]) + len(gap)) / RATE,
                                           (len(said[0]) + len(gap) + len(said[1])) / RATE)]
    calls = ["watch-a", "watch-b"]
    # The first windows of the two calls are transcribed in one batch, or each waits for the other's
    # at this barrier: if transcriptions took turns a window would wait alone, the barrier would
    # break and its line would be lost.
    both = threading.Barrier(2, timeout=120)
    first: set[str] = set()
    returned: dict[str, list[Segment]] = {c: [] for c in calls}
    taken: dict[str, list[tuple[str, float, float]]] = {c: [] for c in calls}
    failures: list[BaseException] = []
    guard = threading.Lock()

    def transcribe(windows: Sequence[Said]) -> list[list[Segment]]:
        which = [calls[0] if w.offset_s < LATER_S else calls[1] for w in windows]
        with guard:
            new = set(which) - first
            first.update(new)
        try:
            if len(new) == 1:
                both.wait()
            out = transcribe_live(windows)
        except BaseException as exc:
            failures.append(exc)
            raise
        with guard:
            for call, w, segs in zip(which, windows, out, strict=True):
                returned[call] += segs
                taken[call].append((w.speaker, w.offset_s, w.offset_s + len(w.samples) / RATE))
        return out

    for c in calls:
        _add_call(c)
    journals = {c: _journal(data_dir, c) for c in calls}
    worker = LiveWorker(data_dir, transcribe=transcribe, every_call=False, threads=2)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    runner.start()
    try:
        for c in calls:
            assert follow(c)  # what opening the call in the review app does
        _wait(lambda: set(worker.following) == set(calls), "the worker did not follow both watched calls")
        for k, c in enumerate(calls):
            _write(journals[c], audio, k * int(LATER_S * RATE / 160))  # the second call's speech comes later
            journals[c].update(state="ended")
        _wait(lambda: not worker.following and worker.idle,
              "the worker did not finish both calls")
    finally:
        stop.set()
        runner.join(60)
        for j in journals.values():
            j.release(remove=True)
    assert not failures, failures
    with session() as s:
        stored = {c: for_call(s, c) for c in calls}
    for c in calls:
        assert stored[c], f"no line for {c}"
        # every line the model returned is stored once, none twice, none lost
        assert sorted((r.start_s, r.end_s, r.text) for r in stored[c]) == sorted(
            (x.start, x.end, x.text) for x in returned[c])
        windows = sorted(taken[c])
        assert all(a[2] <= b[1] for a, b in zip(windows, windows[1:], strict=False)), windows  # no audio twice
        later = LATER_S * calls.index(c)
        for lo, hi in ((lo + later, hi + later) for lo, hi in spoken):  # each sentence has its line
            assert any(r.start_s < hi and r.end_s > lo for r in stored[c]), (c, lo, hi, stored[c])


def _wait(done: Callable[[], bool], what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(what)
        time.sleep(0.1)


@pytest.mark.integration
@pytest.mark.tools("espeak-ng", "sox")
def test_the_full_transcript_replaces_the_live_lines(sqlite_db: str, data_dir: Path, tmp_path: Path,
                                                     live_model: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_ASR_MODEL", "tiny.en")
    reset_settings()
    said = speech(tmp_path / "s.ul", "Thank you for calling the help desk. How can I help you today?")
    said += bytes([SILENT]) * RATE
    _add_call("live-final")
    assert follow("live-final")
    journal = _journal(data_dir, "live-final")
    try:
        follower = LiveTranscriber(Tap(data_dir, "live-final"), "live-final")
        _write(journal, said)
        journal.update(state="ended")
        follower.run()
    finally:
        journal.release(remove=True)
    who = Principal("insp", Role.inspector)
    with session() as s:
        live = for_call(s, "live-final")
        assert live and [x.text for x in segments_for(s, who, "live-final")] == [r.text for r in live]
    # the call is stored as the recorder does it, then transcribed by the transcription job
    wav = tmp_path / "call.wav"
    pcm = np.frombuffer(_linear(said), dtype=np.int16)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.stack([pcm, np.zeros_like(pcm)], axis=1).tobytes())
    with session() as s:
        s.delete(s.get(Call, "live-final"))
    job = register("live-final", wav)
    handle(ctx(job, "live-final"))
    with session() as s:
        final = segments_for(s, who, "live-final")
        assert final and for_call(s, "live-final") == []  # the live lines are gone, the full ones shown
        assert s.exec(select(LiveWatch)).all() == []
        assert [x.text for x in final] == [x.text for x in segments_of(s, "live-final")]
    # a last live window stored after the full transcript is not kept
    with session() as s:
        assert add(s, [LiveSegment(call_id="live-final", speaker="agent", start_s=9.0, end_s=9.5, text="late")]) == 0
    with session() as s:
        assert for_call(s, "live-final") == []


def _linear(ulaw: bytes) -> bytes:
    from recorder.siprec.rtp import decode

    return np.asarray(decode(0, ulaw), dtype=np.int16).tobytes()
