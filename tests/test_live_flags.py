"""Live flags: long silence, overtalk and raised voice judged frame by frame from synthetic tap audio
(the same however the audio arrives), forbidden words found by scoring's matcher in the stored live
transcript, and a real journal framed by the recorder into stored levels the flags are judged from."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from recorder import levels
from recorder.siprec.journal import Journal, TapChunk
from recorder.siprec.rtp import Placed
from review_app.workflow import live_flags
from review_app.workflow.live_flags import AudioFlags, AudioTracker, Rules, audio_flags, live_forbidden, rules_for
from scoring.rubric import load_rubric
from scoring.variants import load_variants
from storage import live_levels
from storage.db import session
from storage.live_levels import LiveLevel
from storage.live_segments import LiveSegment, add

RATE = 8000


def tone(seconds: float, amp: float) -> np.ndarray:
    n = int(seconds * RATE)
    return (amp * np.sin(2 * np.pi * 440 * np.arange(n) / RATE)).astype(np.int16)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def packets(role: str, signal: np.ndarray, size: int = 160) -> list[TapChunk]:
    return [TapChunk(role, k, signal[k:k + size].tolist()) for k in range(0, len(signal), size)]


def judge(agent: np.ndarray, customer: np.ndarray | None = None, rules: Rules = Rules()) -> AudioFlags:
    chunks = packets("agent", agent) + (packets("customer", customer) if customer is not None else [])
    return AudioTracker(rules).feed(chunks, final=True)


@pytest.mark.parametrize(("gap_s", "flagged"), [(12.0, True), (9.0, False)])
def test_a_silence_where_neither_speaks_is_long_from_the_rule_on(gap_s: float, flagged: bool) -> None:
    agent = np.concatenate([tone(2, 3000), quiet(gap_s), tone(1, 3000)])
    customer = np.concatenate([quiet(2), quiet(gap_s), quiet(1)])
    f = judge(agent, customer)
    assert f.longest_silence_s == pytest.approx(gap_s)
    assert f.long_silence is flagged and f.silence_now_s == 0 and not f.silent_now and not f.overtalk and f.raised == ()


def test_the_current_silence_counts_while_it_lasts() -> None:
    f = judge(np.concatenate([tone(1, 3000), quiet(11)]), quiet(12))
    assert f.silence_now_s == pytest.approx(11.0) and f.silent_now and f.long_silence
    after = judge(np.concatenate([tone(1, 3000), quiet(11), tone(1, 3000)]), quiet(13))
    assert after.silence_now_s == 0 and not after.silent_now and after.long_silence


@pytest.mark.parametrize(("both_s", "flagged"), [(2.5, True), (1.5, False)])
def test_overtalk_is_both_speaking_at_once_for_the_rules_seconds(both_s: float, flagged: bool) -> None:
    agent = np.concatenate([tone(3, 3000), tone(both_s, 3000), quiet(2)])
    customer = np.concatenate([quiet(3), tone(both_s, 2000), tone(2, 2000)])
    f = judge(agent, customer, Rules(overtalk_s=2.0))
    assert f.longest_overtalk_s == pytest.approx(both_s) and f.overtalk is flagged
    assert f.longest_silence_s == 0


def test_a_mono_call_never_overtalks() -> None:
    f = AudioTracker(Rules()).feed(packets("unknown", tone(5, 3000)), final=True)
    assert f.longest_overtalk_s == 0 and not f.overtalk and f.longest_silence_s == 0


@pytest.mark.parametrize(("loud_amp", "loud_s", "raised"), [
    (4000, 1.5, ("agent",)),  # +12 dB for 1.5 s
    (4000, 0.5, ()),  # too short
    (2000, 3.0, ()),  # +6 dB: louder, not raised
])
def test_raised_voice_is_well_above_the_speakers_own_median_for_a_second(
        loud_amp: float, loud_s: float, raised: tuple[str, ...]) -> None:
    agent = np.concatenate([tone(10, 1000), tone(loud_s, loud_amp), tone(2, 1000)])
    customer = np.concatenate([quiet(10), quiet(loud_s), tone(2, 30000)])  # loud from the first word: no baseline yet
    f = judge(agent, customer)
    assert f.raised == raised


@pytest.mark.parametrize(("history_s", "raised"), [(300.0, ("agent",)), (2.0, ())])
def test_the_running_median_looks_back_only_history_seconds(history_s: float, raised: tuple[str, ...]) -> None:
    """Loud for 6 s after 10 quiet: with 2 s of history the loud frames become the baseline within a
    second, so a 3 s rule never fires; with 5 minutes it does."""
    agent = np.concatenate([tone(10, 1000), tone(6, 4000)])
    f = judge(agent, quiet(16), Rules(history_s=history_s, raised_s=3.0))
    assert f.raised == raised


def test_flags_are_the_same_however_the_audio_arrives() -> None:
    agent = np.concatenate([tone(8, 1000), tone(2, 5000), quiet(11), tone(3, 1000)])
    customer = np.concatenate([quiet(7.5), tone(3, 2000), quiet(13.5)])
    at_once = judge(agent, customer)
    tracker = AudioTracker(Rules())
    a, c = packets("agent", agent), packets("customer", customer)
    for k in range(0, len(a), 37):  # the customer's packets a little behind the agent's
        tracker.feed(a[k:k + 37] + c[max(0, k - 10):k + 27])
    bit_by_bit = tracker.feed(c[len(a) - 10:], final=True)
    assert bit_by_bit == at_once
    assert at_once.raised == ("agent",) and at_once.long_silence and at_once.overtalk


def test_the_rubrics_own_silence_and_overtalk_limits_are_the_rules() -> None:
    rules = rules_for(load_rubric().rubric)
    assert (rules.long_silence_s, rules.overtalk_s) == (10, 3)
    assert rules_for(None) == Rules()


@pytest.mark.integration
def test_a_forbidden_word_in_the_live_transcript_raises_the_flag(sqlite_db: str) -> None:
    with session(write=True) as s:
        add(s, [LiveSegment(call_id="c1", speaker="agent", channel=0, start_s=1, end_s=3,
                            text="Honestly, that is a stupid question."),
                LiveSegment(call_id="c1", speaker="customer", channel=1, start_s=4, end_s=5, text="Shut up!"),
                LiveSegment(call_id="c2", speaker="agent", channel=0, start_s=1, end_s=3,
                            text="Thank you for calling, how can I help?")])
    with session() as s:
        heard = live_forbidden(s, ["c1", "c2", "c3"], load_rubric().rubric, load_variants())
    # the default rubric forbids words to the agent: the customer's "shut up" is not the agent's
    assert heard == {"c1": ["stupid"], "c2": []}
    with session(write=True) as s:
        add(s, [LiveSegment(call_id="c2", speaker="agent", channel=0, start_s=5, end_s=6, text="Not my problem.")])
    with session() as s:  # a new line is matched (the words of unchanged calls are reused)
        again = live_forbidden(s, ["c1", "c2"], load_rubric().rubric, load_variants())
    assert again == {"c1": ["stupid"], "c2": ["not my problem"]}


def _journal(data_dir: Path, call_id: str) -> Journal:
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    return Journal(data_dir / "live" / call_id, {"version": 1, "call_id": call_id, "state": "live",
                                                 "answered_unix": time.time(), "streams": streams}, 2)


def write_silence(journal: Journal, first: int, last: int) -> None:
    """Packets first..last-1 (20 ms each) of μ-law silence on both streams, flushed to the tap."""
    for stream in (0, 1):
        journal.add(stream, [Placed(k * 160, 0, b"\xff" * 160, 0.0) for k in range(first, last)])
    journal.flush()


def test_the_recorder_writes_levels_the_flags_read_anywhere_until_the_call_ends(
        sqlite_db: str, data_dir: Path) -> None:
    """The recording process frames its journal into live_levels rows; the flags are judged from the
    rows alone (the journal folder is gone before they are read); the rows go when the call ends, the
    last flags stay while the call is listed, and the tracker goes once it is not."""
    journal = _journal(data_dir, "live-j")
    levels.follow(data_dir, "live-j")
    write_silence(journal, 0, 300)  # 6 s
    assert levels.write_once() == 1
    with session() as s:
        first = audio_flags(s, ["live-j", "not-here"], Rules())
    assert set(first) == {"live-j"}  # no levels for the other call: left out
    assert not first["live-j"].long_silence and first["live-j"].silence_now_s == pytest.approx(5.5)  # grace
    write_silence(journal, 300, 600)  # 12 s
    levels.write_once()
    with session() as s:
        rows = list(s.exec(select(LiveLevel).where(LiveLevel.call_id == "live-j").order_by(LiveLevel.start_frame)))
    assert [(r.start_frame, r.frames) for r in rows] == [(0, 55), (55, 60)]
    assert set(rows[0].levels) == {"agent", "customer"} and max(rows[0].levels["agent"]) < -400  # μ-law silence
    moved = data_dir / "elsewhere"
    (data_dir / "live").rename(moved)  # the app reads no journal: only the rows
    try:
        with session() as s:
            flags = audio_flags(s, ["live-j"], Rules())["live-j"]
        assert flags.long_silence and flags.longest_silence_s == pytest.approx(11.5)
    finally:
        moved.rename(data_dir / "live")
    journal.update(state="ended")
    levels.write_once()  # the call has ended: its rows go
    with session() as s:
        assert s.exec(select(LiveLevel)).all() == []
        assert audio_flags(s, ["live-j"], Rules())["live-j"] == flags  # still listed: the last flags, kept
        audio_flags(s, [], Rules())  # no longer listed: its tracker goes
    assert "live-j" not in live_flags._tracked and "live-j" not in levels._followed
    journal.release(remove=True)


def test_stored_levels_give_the_flags_the_audio_gives(sqlite_db: str) -> None:
    """Silence, overtalk and a raised voice framed by the recorder, stored as rows of a second each
    (rounded to a tenth of a dB) and judged from the rows: the same flags as judging the audio itself."""
    agent = np.concatenate([tone(6, 1500), tone(3, 1500), tone(1.5, 9000), quiet(12)])
    customer = np.concatenate([quiet(6), tone(3, 1500), quiet(13.5)])
    direct = AudioTracker(Rules()).feed(packets("agent", agent) + packets("customer", customer), final=True)
    framer = levels.Framer()
    # as a journal gives them: both speakers' packets of each moment together
    chunks = sorted(packets("agent", agent) + packets("customer", customer), key=lambda c: c.position)
    stored = []
    for k in range(0, len(chunks), 100):  # about a second of packets per pass
        start, frames = framer.feed(chunks[k:k + 100], final=k + 100 >= len(chunks))
        if (row := levels.row("c-rows", start, frames)) is not None:
            stored.append(row)
    with session(write=True) as s:
        live_levels.add(s, stored)
    with session() as s:
        from_rows = audio_flags(s, ["c-rows"], Rules())["c-rows"]
    assert direct.overtalk and direct.raised == ("agent",) and direct.long_silence
    assert from_rows == direct
