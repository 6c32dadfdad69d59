"""The transcribe job end to end: stored audio → stored transcript → call transcribed → scoring queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from demo.synth import Line, Placement, default_dialogue, silence, synth_call
from storage.calls import Call, CallStatus
from storage.db import session
from storage.jobs import Job, JobContext, JobKind, JobState, PermanentError
from storage.keys import recording_key
from storage.queue import enqueue
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.transcripts import Transcript, conversation_lines, search_segments, transcript_json
from transcribe.handler import handle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def call_wav(default_call: tuple[Path, list[Placement]]) -> Path:
    return default_call[0]


@pytest.fixture
def tiny_en(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_ASR_MODEL", "tiny.en")
    reset_settings()


def register(call_id: str, audio: Path, *, channel_map: dict[str, int] | None = None,
             status: CallStatus = CallStatus.recorded) -> int:
    """Put ``audio`` in the store and register the call as the recorder does; the transcribe job's id."""
    started = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    key = recording_key(call_id, started, "wav")
    info = make_store().put_file(get_settings().bucket_recordings, key, audio)
    with session() as s:
        s.add(Call(call_id=call_id, started_at=started, codec="pcm_mulaw", sample_rate=8000, channels=2,
                   channel_map=channel_map or {"agent": 0, "customer": 1}, audio_key=key,
                   size_bytes=info.size, sha256="0" * 64, status=status, queue="support"))
        s.flush()
        return enqueue(s, JobKind.transcribe, call_id=call_id)


def ctx(job_id: int, call_id: str) -> JobContext:
    return JobContext(job_id=job_id, kind="transcribe", call_id=call_id, worker_id="test")


def jobs(call_id: str, kind: JobKind) -> list[Job]:
    with session() as s:
        return list(s.exec(select(Job).where(Job.call_id == call_id, Job.kind == kind.value)))


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_transcribe_job_stores_segments_and_queues_scoring_once(db_url: str, tiny_en: None,
                                                                call_wav: Path) -> None:
    """The call moves to transcribed with per-speaker segments; running the job twice duplicates nothing."""
    job_id = register("c-100", call_wav)
    handle(ctx(job_id, "c-100"))
    with session() as s:
        first = transcript_json(s, "c-100")
        call = s.get(Call, "c-100")
        assert call is not None and call.status == CallStatus.transcribed
    assert first is not None and first["language"] == "en" and first["model"]["name"] == "tiny.en"
    assert {seg["speaker"] for seg in first["segments"]} == {"agent", "customer"}
    assert all(seg["words"] and seg["text"] for seg in first["segments"])
    handle(ctx(job_id, "c-100"))
    with session() as s:
        again = transcript_json(s, "c-100")
        assert len(list(s.exec(select(Transcript)))) == 1
        lines = conversation_lines(s, "c-100")
        hits = search_segments(s, "INTERNET")
    assert again is not None and len(again["segments"]) == len(first["segments"])
    assert [seg["idx"] for seg in again["segments"]] == list(range(len(first["segments"])))
    assert len(jobs("c-100", JobKind.score)) == 1
    assert lines and lines[0].startswith("[00:0") and "] agent: " in lines[0]
    assert [h.speaker for h in hits] == ["customer"]


def test_corrupt_audio_fails_the_call_with_the_reason(db_url: str, tiny_en: None, tmp_path: Path) -> None:
    """Audio that cannot be decoded ends the call failed, says why, and stores no transcript."""
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + os.urandom(64))
    job_id = register("c-bad", bad)
    with pytest.raises(PermanentError, match="audio cannot be decoded"):
        handle(ctx(job_id, "c-bad"))
    with session() as s:
        call = s.get(Call, "c-bad")
        assert call is not None and call.status == CallStatus.failed
        assert call.last_error and "audio cannot be decoded: c-bad" in call.last_error
        assert transcript_json(s, "c-bad") is None
    assert jobs("c-bad", JobKind.score) == []


@pytest.mark.tools("sox")  # demo.synth writes its WAV with sox
def test_silent_call_gets_an_empty_transcript(sqlite_db: str, tiny_en: None, tmp_path: Path) -> None:
    """A silent recording is transcribed to zero segments, not failed."""
    path = tmp_path / "silence.wav"
    silence(path, seconds=20)
    job_id = register("c-quiet", path)
    handle(ctx(job_id, "c-quiet"))
    with session() as s:
        data = transcript_json(s, "c-quiet")
        call = s.get(Call, "c-quiet")
    assert data is not None and data["segments"] == [] and data["word_count"] == 0
    assert call is not None and call.status == CallStatus.transcribed


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_a_scored_call_is_not_moved_back(sqlite_db: str, tiny_en: None, tmp_path: Path) -> None:
    """A late duplicate transcribe job leaves a call that is already scored untouched."""
    path = tmp_path / "short.wav"
    synth_call([Line("agent", 0.2, "Hello there.")], path)
    job_id = register("c-done", path, status=CallStatus.scored)
    handle(ctx(job_id, "c-done"))
    with session() as s:
        call = s.get(Call, "c-done")
        assert call is not None and call.status == CallStatus.scored
        assert transcript_json(s, "c-done") is None


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # What `callqc work --burst --kinds transcribe --concurrency 1` runs, in its own process.
    code = "from callqc.pool import run_workers; raise SystemExit(run_workers(1, kinds=['transcribe'], burst=True))"
    with log.open("ab") as err:
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=err)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_worker_killed_mid_call_the_job_completes_on_another_worker_once(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL during transcription: stall recovery hands the job to a new worker, which stores it once."""
    path = tmp_path / "long.wav"
    lines = [Line("agent" if i % 2 == 0 else "customer", 0.5 + 6 * i, text)
             for i, text in enumerate([ln.text for ln in default_dialogue()] * 4)]
    synth_call(lines, path)
    job_id = register("c-kill", path)
    env = {**os.environ, "CALLQC_DATA_DIR": str(data_dir), "CALLQC_DATABASE_URL": db_url,
           "CALLQC_ASR_MODEL": "tiny.en", "CALLQC_JOB_HEARTBEAT_S": "0.5", "CALLQC_JOB_STALL_S": "3",
           "CALLQC_WORKER_POLL_S": "0.2", "PYTHONPATH": str(ROOT)}
    log = tmp_path / "workers.log"
    first = _worker(env, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                if job.state == JobState.running:
                    victim = job.worker
                    break
            assert first.poll() is None, log.read_text()
            time.sleep(0.05)
        else:
            pytest.fail("the first worker never claimed the job")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    with session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.state == JobState.running  # killed mid-call, nothing stored
        assert transcript_json(s, "c-kill") is None
    second = _worker(env, log)
    assert second.wait(timeout=300) == 0, log.read_text()
    with session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.state == JobState.done and job.attempts == 2
        assert job.worker != victim
        data = transcript_json(s, "c-kill")
        assert s.execute(sa.select(sa.func.count()).select_from(Transcript)).scalar_one() == 1
        call = s.get(Call, "c-kill")
    assert data is not None and len(data["segments"]) >= len(lines) - 2
    assert call is not None and call.status == CallStatus.transcribed
    assert len(jobs("c-kill", JobKind.score)) == 1


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_callqc_show_prints_the_conversation_by_speaker_with_times(sqlite_db: str, tiny_en: None,
                                                                   call_wav: Path) -> None:
    """After the job, `callqc show CALL_ID` lists each turn as `[mm:ss.s–mm:ss.s] speaker: text`."""
    import re

    import typer
    from typer.testing import CliRunner

    from callqc.cli import show

    handle(ctx(register("c-show", call_wav), "c-show"))
    app = typer.Typer()
    show.register(app)
    app.command("noop")(lambda: None)  # two commands, so `show` stays a named subcommand
    res = CliRunner().invoke(app, ["show", "c-show"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    turns = re.findall(r"\[(\d\d:\d\d\.\d)–(\d\d:\d\d\.\d)\] (agent|customer): (.+)", res.output)
    assert {speaker for _s, _e, speaker, _t in turns} == {"agent", "customer"}
    assert [start for start, *_ in turns] == sorted(start for start, *_ in turns)
    assert "internet" in " ".join(t for *_x, sp, t in turns if sp == "customer").lower()


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_paused_span_is_never_transcribed_and_not_dead_air(sqlite_db: str, tiny_en: None, tmp_path: Path) -> None:
    """Speech inside a PCI pause (here audible on purpose: the recorder would have written silence) gives
    no segment and no word; the speech around it is transcribed; scoring's metrics leave the pause out."""
    from datetime import timedelta

    from scoring.conversation import load_conversation
    from scoring.metrics import compute
    from storage.pauses import CallPause

    path = tmp_path / "paused.wav"
    placed = synth_call([Line("agent", 0.5, "Thank you for calling, how can I help you today?"),
                         Line("customer", 5.0, "My card number is four five five six seven seven."),
                         Line("agent", 11.0, "Thank you, the payment went through, goodbye.")], path)
    middle = placed[1]
    job_id = register("c-pci", path)
    started = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    with session() as s:
        call = s.get(Call, "c-pci")
        assert call is not None
        call.duration_s = placed[-1].end_s + 1.0
        s.add(CallPause(call_id="c-pci", started_at=started + timedelta(seconds=middle.start_s - 0.3),
                        ended_at=started + timedelta(seconds=middle.end_s + 0.3), paused_by="desk-7"))
    handle(ctx(job_id, "c-pci"))
    with session() as s:
        data = transcript_json(s, "c-pci")
        call = s.get(Call, "c-pci")
        assert call is not None
        metrics = compute(load_conversation(s, call))
    assert data is not None
    a, b = middle.start_s - 0.3, middle.end_s + 0.3
    for seg in data["segments"]:
        assert not (a < (seg["start"] + seg["end"]) / 2 < b), seg
        assert all(not (a <= w["start"] and w["end"] <= b) for w in seg["words"]), seg
    assert {seg["speaker"] for seg in data["segments"]} == {"agent"}  # the customer only spoke in the pause
    assert "four" not in " ".join(seg["text"].lower() for seg in data["segments"])
    assert metrics.paused_s == pytest.approx(b - a, abs=0.01)
    assert metrics.longest_silence_s < b - a
