"""Known prompts: a registered or learned recording is found by fingerprint in a call, its span gets the
stored text as ``system`` speech (never sent to Whisper), and scoring never counts it as the agent's."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from demo.synth import speak, write_ulaw
from scoring.autoscore import evaluate
from scoring.rubric import Answer, parse_rubric
from storage.calls import Call, CallStatus
from storage.db import session
from storage.errors import InvalidInput
from storage.jobs import JobContext, JobKind
from storage.keys import recording_key
from storage.prompts import PromptExists, PromptSource, all_prompts
from storage.queue import enqueue
from storage.segments import SYSTEM_SPEAKER
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.transcripts import TranscriptSegment
from tests.scoring_calls import call, seg
from tests.services import missing_service
from tests.test_scoring_rubric import CONTRACT
from transcribe.audio import SAMPLE_RATE, decode, to_float
from transcribe.chunker import FRAME, MAX_CHUNK, SPEECH_PAD
from transcribe.compute import VAD_MIN_SILENCE_MS, VAD_THRESHOLD
from transcribe.engine import Transcriber
from transcribe.fingerprint import coarse, coarse_of, find, fingerprint, search
from transcribe.handler import handle
from transcribe.prompt_files import PromptTooShort, register_file
from transcribe.prompt_learning import learn_prompts
from transcribe.prompts import KnownPrompt, PromptBook
from transcribe.vad import vad_options

ROOT = Path(__file__).resolve().parents[1]
SOUNDS = Path("/usr/share/asterisk/sounds/en")
PROMPT = SOUNDS / "queue-periodic-announce.wav"  # Asterisk's professional voice, 7.8 s
SAME_VOICE = ["basic-pbx-ivr-main", "pls-hold-while-try", "queue-callswaiting", "queue-thankyou"]  # other prompts
MOH = Path("/usr/share/asterisk/moh/macroform-robot_dity.wav")
PROMPT_TEXT = ("All representatives are currently busy assisting other callers. "
               "Please wait for the next available representative.")
RATE = 8000
PROMPT_AT = 0.5
SPEECH_AT = 9.5


@pytest.fixture(autouse=True)
def prompt_audio() -> None:
    """The real recorded prompt (Debian asterisk-core-sounds-en-wav, in `make deps`)."""
    if not PROMPT.is_file():
        missing_service(f"{PROMPT}: Debian package asterisk-core-sounds-en-wav; `make deps` installs it")


def _prompt_8k() -> np.ndarray:
    with wave.open(str(PROMPT)) as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def make_call(path: Path, *, prompt_channel: int | None, agent: str, customer: str) -> Path:
    """8 kHz μ-law stereo: the prompt (if any) then the agent on channel 0, the customer on channel 1."""
    a, c = speak(agent, voice="en-us"), speak(customer, voice="en-gb")
    n = int((SPEECH_AT + 1) * RATE) + max(len(a), len(c)) + RATE
    chans = np.zeros((n, 2), dtype=np.int32)
    if prompt_channel is not None:
        p = _prompt_8k()
        at = int(PROMPT_AT * RATE)
        chans[at : at + len(p), prompt_channel] += p
    at = int(SPEECH_AT * RATE)
    chans[at : at + len(a), 0] += a
    chans[at + len(a) + RATE // 2 : at + len(a) + RATE // 2 + len(c), 1] += c[: n - (at + len(a) + RATE // 2)]
    write_ulaw(np.clip(chans, -32768, 32767).astype(np.int16), path)
    return path


def register_call(call_id: str, audio: Path) -> int:
    started = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    key = recording_key(call_id, started, "wav")
    info = make_store().put_file(get_settings().bucket_recordings, key, audio)
    with session() as s:
        s.add(Call(call_id=call_id, started_at=started, codec="pcm_mulaw", sample_rate=8000, channels=2,
                   channel_map={"agent": 0, "customer": 1}, audio_key=key, size_bytes=info.size,
                   sha256="0" * 64, status=CallStatus.recorded, queue="support"))
        s.flush()
        return enqueue(s, JobKind.transcribe, call_id=call_id)


def transcribe_call(call_id: str, audio: Path) -> list[TranscriptSegment]:
    job = register_call(call_id, audio)
    handle(JobContext(job_id=job, kind="transcribe", call_id=call_id, worker_id="test"))
    with session() as s:
        return list(s.exec(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)))


@pytest.fixture
def tiny_en(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_ASR_MODEL", "tiny.en")
    reset_settings()


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("prompt-calls")
    agent, customer = "I can see your order here, it shipped yesterday.", "Oh good, thanks for checking that."
    return {"with": make_call(d / "with.wav", prompt_channel=0, agent=agent, customer=customer),
            "without": make_call(d / "without.wav", prompt_channel=None, agent=agent, customer=customer)}


@pytest.mark.tools("espeak-ng", "sox")
@pytest.mark.usefixtures("tiny_en")
def test_registered_prompt_span_gets_the_stored_text_as_system_speech(sqlite_db: str,
                                                                       calls: dict[str, Path]) -> None:
    """The prompt registered from its file is found in a μ-law call: that span holds exactly one
    ``system`` segment with the stored text, and no Whisper segment; the agent's speech after it is
    transcribed as the agent's."""
    with session(write=True) as s:
        register_file(s, PROMPT, name="queue-announce", text=PROMPT_TEXT, created_by="test")
    segs = transcribe_call("prompt-1", calls["with"])
    system = [r for r in segs if r.speaker == SYSTEM_SPEAKER]
    assert len(system) == 1
    assert system[0].text == PROMPT_TEXT and system[0].channel == 0
    assert abs(system[0].start_s - PROMPT_AT) <= 0.2 and abs(system[0].end_s - (PROMPT_AT + 7.8)) <= 0.3
    assert system[0].words and system[0].words[0]["word"].strip() == "All"
    others_in_prompt = [r for r in segs if r.speaker != SYSTEM_SPEAKER and r.channel == 0
                        and r.start_s < system[0].end_s - 0.5]
    assert others_in_prompt == []
    agent_words = " ".join(r.text.lower() for r in segs if r.speaker == "agent")
    assert "order" in agent_words or "shipped" in agent_words


@pytest.mark.tools("espeak-ng", "sox")
def test_call_without_the_prompt_is_left_unchanged(calls: dict[str, Path]) -> None:
    """A call that never plays the prompt: nothing is found, and the windows reach Whisper untouched."""
    book = PromptBook((KnownPrompt("queue-announce", PROMPT_TEXT, fingerprint(decode(PROMPT).channels[0])),))
    audio = decode(calls["without"])
    for window in audio.windows():
        cut, heard = book.cut(window, {0: "agent", 1: "customer"})
        assert heard == [] and cut is window


@pytest.mark.tools("sox")
def test_prompt_mixed_into_both_channels_is_said_once_and_silenced_in_each(tmp_path: Path) -> None:
    """A mono PBX mix copied to both channels: one ``system`` segment, no prompt audio left in either."""
    p = _prompt_8k()
    chans = np.zeros((len(p) + 2 * RATE, 2), dtype=np.int16)
    chans[RATE : RATE + len(p), 0] = p
    chans[RATE : RATE + len(p), 1] = p // 2
    write_ulaw(chans, tmp_path / "both.wav")
    book = PromptBook((KnownPrompt("queue-announce", PROMPT_TEXT, fingerprint(decode(PROMPT).channels[0])),))
    window = next(decode(tmp_path / "both.wav").windows())
    cut, heard = book.cut(window, {0: "agent", 1: "customer"})
    assert [(s.speaker, s.text, s.channel) for s in heard] == [(SYSTEM_SPEAKER, PROMPT_TEXT, 0)]
    assert abs(heard[0].start - 1.0) <= 0.1
    for ch in cut.channels:
        assert not np.any(ch[int(1.1 * 16000) : int(8.7 * 16000)])


@pytest.mark.tools("espeak-ng", "sox")
def test_someone_reading_the_prompt_text_is_not_the_prompt(tmp_path: Path) -> None:
    """The prompt's words said by another voice do not match its fingerprint; the recording does,
    where it plays."""
    reader = make_call(tmp_path / "reader.wav", prompt_channel=1, agent=PROMPT_TEXT, customer="Okay.")
    prompt = fingerprint(decode(PROMPT).channels[0])
    audio = decode(reader)
    assert find(prompt, fingerprint(audio.channels[0])) == []
    hits = find(prompt, fingerprint(audio.channels[1]))
    assert len(hits) == 1 and abs(hits[0].start_s - PROMPT_AT) <= 0.1


def test_prompt_speech_never_counts_as_the_agents_greeting() -> None:
    """A prompt saying the greeting words is ``system`` speech: the greeting item is not answered
    yes from it, on a stereo call or a mono one; the same words from the agent are."""
    rubric = parse_rubric(CONTRACT, "contract.yaml")
    prompt = seg(SYSTEM_SPEAKER, 0.5, 4.0, "Thank you for calling Acme, how can I help you?")
    rest = [seg("agent", 5.0, 8.0, "Let me look at your account."), seg("customer", 8.5, 10.0, "Sure.")]
    assert evaluate(rubric, call([prompt, *rest])).item("greeting").result.answer is Answer.no
    mono = [prompt, seg("unknown", 5.0, 8.0, "Let me look at your account.")]
    assert evaluate(rubric, call(mono, stereo=False)).item("greeting").result.answer is Answer.no
    said = seg("agent", 0.5, 4.0, "Thank you for calling Acme, how can I help you?")
    assert evaluate(rubric, call([said, *rest])).item("greeting").result.answer is Answer.yes


def test_prompt_registration_refuses_bad_input_and_stores_nothing(db_url: str, tmp_path: Path) -> None:
    """Too short, a bad name, empty text or a second copy: one clear error, no row and no audio left."""
    short = tmp_path / "beep.wav"
    with wave.open(str(short), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.sin(np.arange(RATE) / 3) * 8000).astype("<i2").tobytes())
    bad = [(short, "beep", "Beep.", PromptTooShort), (PROMPT, "Bad Name!", "x", InvalidInput),
           (PROMPT, "empty", "   ", InvalidInput), (tmp_path / "missing.wav", "gone", "x", InvalidInput)]
    for path, name, text, error in bad:
        with pytest.raises(error), session(write=True) as s:
            register_file(s, path, name=name, text=text, created_by="test")
    with session(write=True) as s:
        register_file(s, PROMPT, name="queue-announce", text=PROMPT_TEXT, created_by="test")
    with pytest.raises(PromptExists), session(write=True) as s:
        register_file(s, PROMPT, name="again", text=PROMPT_TEXT, created_by="test")
    with session() as s:
        assert [p.name for p in all_prompts(s)] == ["queue-announce"]
    keys = [o.key for o in make_store().list(get_settings().bucket_models, "prompts/")]
    assert keys == ["prompts/queue-announce.wav"]


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
@pytest.mark.usefixtures("tiny_en")
def test_prompt_heard_in_many_calls_is_learned_and_then_reused(sqlite_db: str, tmp_path: Path) -> None:
    """The same recording in three calls (each with different speech) is learned from the transcripts;
    a fourth call then gets that span as ``system`` speech with the learned text."""
    lines = [("Your parcel left the depot this morning.", "Great, when will it arrive?"),
             ("The refund went out on Monday.", "Thank you very much."),
             ("Your new card is on its way to you.", "Perfect, that is all I needed."),
             ("We changed the address on your account.", "Thanks, bye.")]
    paths = [make_call(tmp_path / f"c{k}.wav", prompt_channel=1, agent=a, customer=c)
             for k, (a, c) in enumerate(lines)]
    for k, path in enumerate(paths[:3]):
        transcribe_call(f"learn-{k}", path)
    with session(write=True) as s:
        found = learn_prompts(s, min_calls=3, min_s=2.0)
    learned = [c for c in found if c.learned]
    assert len(learned) >= 1
    words = set(PROMPT_TEXT.lower().replace(".", "").split())
    for c in learned:  # only the recording is learned, never the agents' or customers' lines
        assert len(set(c.text.lower().replace(".", "").replace(",", "").split()) & words) >= 3, c
    with session() as s:
        assert all(p.source == PromptSource.learned for p in all_prompts(s))
    segs = transcribe_call("learn-3", paths[3])
    system = [r for r in segs if r.speaker == SYSTEM_SPEAKER]
    assert system and all(r.channel == 1 and r.start_s < PROMPT_AT + 7.8 for r in system)
    assert {r.text for r in system} <= {c.text for c in learned}


@pytest.mark.slow  # three `callqc` processes: ~35 s on a loaded 2-core machine
def test_prompts_cli_adds_lists_and_refuses_in_one_line(sqlite_db: str, tmp_path: Path) -> None:
    """`callqc prompts add` stores the file under its name, `list` shows it, a second copy of the same
    audio is refused in one line with the conflict exit code."""
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "callqc", "prompts", *args], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    r = cli("add", str(PROMPT), "--text", PROMPT_TEXT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("prompt queue-periodic-announce: 7.8 s")
    r = cli("add", str(PROMPT), "--text", "again", "--name", "copy")
    assert r.returncode == 3 and r.stderr.strip().splitlines() == [
        "error: a prompt with this name exists: copy: prompt 'queue-periodic-announce' has this name or this audio"]
    r = cli("list")
    assert r.stdout.splitlines() == [f"queue-periodic-announce\tregistered\t7.8 s\t{PROMPT_TEXT}"]


def _book() -> PromptBook:
    return PromptBook((KnownPrompt("queue-announce", PROMPT_TEXT, fingerprint(decode(PROMPT).channels[0])),))


def _wav_8k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)


@pytest.mark.tools("sox")
def test_coarse_search_finds_every_playing_the_whole_window_search_finds(tmp_path: Path) -> None:
    """The prompt played four times at odd sample offsets and levels, between other prompts of the same
    voice and music on hold, through μ-law: the coarse pass then the fine search on its stretches finds
    the four playings the fine search over the whole channel finds, at the same frames."""
    rng = np.random.default_rng(19)
    prompt = _wav_8k(PROMPT)
    parts: list[np.ndarray] = []
    for k, name in enumerate(SAME_VOICE):
        gaps = np.zeros(int(rng.integers(1, 4000))), np.zeros(int(rng.integers(800, 9000)))
        parts += [gaps[0], prompt * (0.3 + 0.3 * k), gaps[1]]
        parts.append(_wav_8k(SOUNDS / f"{name}.wav") * 0.7)
    if MOH.is_file():
        parts.append(_wav_8k(MOH)[: 20 * RATE] * 0.3)
    mono = np.concatenate(parts) + rng.normal(0, 12, sum(len(x) for x in parts))
    write_ulaw(np.repeat(np.clip(mono, -32768, 32767).astype(np.int16)[:, None], 2, axis=1), tmp_path / "c.wav")
    samples = decode(tmp_path / "c.wav").channels[0]
    p = fingerprint(decode(PROMPT).channels[0])
    whole = find(p, fingerprint(samples))
    assert len(whole) == 4
    assert search(p, coarse_of(p), samples, coarse(samples)) == whole


@pytest.mark.tools("sox")
def test_other_prompts_of_the_same_voice_and_music_are_never_the_prompt(tmp_path: Path) -> None:
    """No false hit: Asterisk's other prompts (same professional voice, some with the same words) and
    music on hold, with the prompt itself absent, give the known prompt no playing."""
    parts = [_wav_8k(SOUNDS / f"{name}.wav") for name in SAME_VOICE]
    if MOH.is_file():
        parts.append(_wav_8k(MOH)[: 60 * RATE] * 0.3)
    mono = np.concatenate([np.concatenate([x, np.zeros(RATE // 2)]) for x in parts])
    write_ulaw(np.repeat(np.clip(mono, -32768, 32767).astype(np.int16)[:, None], 2, axis=1), tmp_path / "o.wav")
    window = next(decode(tmp_path / "o.wav").windows())
    assert _book().playing(window, {0: "agent", 1: "customer"}) == {}


def _packed_without(spans: list[dict[str, int]], cut: tuple[int, int]) -> list[list[tuple[int, int]]]:
    """``spans`` less the samples in ``cut`` (pieces shorter than a Silero frame dropped, and a span's
    padding left at the cut's edges: at most the pad and a frame), packed in order into chunks of
    ≤ 30 s of speech (faster-whisper's ``collect_chunks`` rule)."""
    chunks: list[list[tuple[int, int]]] = [[]]
    for s in spans:
        for a, b in ((s["start"], min(s["end"], cut[0])), (max(s["start"], cut[1]), s["end"])):
            if b - a < FRAME or (b - a <= SPEECH_PAD + FRAME and (b == cut[0] or a == cut[1])):
                continue
            if chunks[-1] and sum(y - x for x, y in chunks[-1]) + b - a > MAX_CHUNK:
                chunks.append([])
            chunks[-1].append((a, b))
    return [c for c in chunks if c]


@pytest.mark.tools("espeak-ng", "sox")
def test_known_prompt_is_cut_from_the_speech_spans_before_they_are_packed(
        calls: dict[str, Path], tiny_en_transcriber: Transcriber, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact chunks (the default): the chunks handed to the model are bare faster-whisper's speech
    spans over the real channel — Silero hears the prompt, so the spans after it are bare's — with the
    prompt's samples cut out before packing; none holds prompt audio, and the other channel's chunks
    are bare's untouched. The prompt comes back as one ``system`` segment."""
    from faster_whisper.vad import get_speech_timestamps

    t = tiny_en_transcriber
    handed: dict[int, list[list[tuple[int, int]]]] = {0: [], 1: []}

    def record(chunks: list, *, channel: int, **_kw: object) -> list:
        handed[channel] += [c.spans for c in chunks]
        return []  # the model's reading is not what this test is about

    monkeypatch.setattr(t, "transcribe_chunks", record)
    monkeypatch.setattr(t, "compute", dataclasses.replace(t.compute, window_s=12.0, exact_chunks=True))
    audio = decode(calls["with"])
    out = t.transcribe(audio, channel_map={"agent": 0, "customer": 1}, language="en", prompts=_book())
    system = [s for s in out.segments if s.speaker == SYSTEM_SPEAKER]
    assert [(s.channel, s.text) for s in system] == [(0, PROMPT_TEXT)]
    cut = (round(system[0].start * SAMPLE_RATE), round(system[0].end * SAMPLE_RATE))
    opts = vad_options(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)
    spans = {ch: get_speech_timestamps(to_float(audio.channels[ch]), opts) for ch in (0, 1)}
    assert any(s["start"] < cut[1] and s["end"] > cut[0] for s in spans[0])  # bare decodes the prompt
    assert handed[0] == _packed_without(spans[0], cut)
    assert all(b <= cut[0] or a >= cut[1] for c in handed[0] for a, b in c)
    assert handed[1] == _packed_without(spans[1], (0, 0))
