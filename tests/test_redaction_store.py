"""Redacted transcripts and audio as stored, and who gets the originals (the `pii` permission)."""

from __future__ import annotations

import hashlib
import io
import wave
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlmodel import select

from storage.access import Perm, can, recording, transcript
from storage.calls import Call, CallStatus
from storage.db import session
from storage.errors import Forbidden
from storage.keys import recording_key
from storage.models import AuditEvent
from storage.redactions import CallRedaction, Redaction, TranscriptOriginal, redactions_json
from storage.retrieval import AudioVariant, NotYetRedacted, open_recording
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from storage.transcripts import segments
from storage.users import Principal, Role
from tests.redaction_helpers import en
from transcribe.engine import ComputeSettings, Transcript
from transcribe.handler import store_result
from transcribe.models import ModelSource, ResolvedModel
from transcribe.redaction.pipeline import redact_call

RATE = 8000
SECONDS = 20
INSPECTOR = Principal(name="insp", role=Role.inspector)
ADMIN = Principal(name="boss", role=Role.admin)
CARD_WORDS = "four one one one one one one one one one one one one one one one"


def conversation() -> list:
    return [en("agent", 0.5, "Good morning, thank you for calling. May I have your card number?", channel=0),
            en("customer", 6.0, CARD_WORDS, channel=1, step=0.4),
            en("agent", 13.0, "Thank you, goodbye.", channel=0)]


def stereo_wav() -> tuple[bytes, np.ndarray]:
    t = np.arange(RATE * SECONDS) / RATE
    rng = np.random.default_rng(7)
    pcm = np.stack([(np.sin(2 * np.pi * 300 * t) * 8000), rng.standard_normal(len(t)) * 4000], axis=1)
    pcm = pcm.astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue(), pcm


def add_recorded_call(call_id: str) -> tuple[bytes, np.ndarray]:
    data, pcm = stereo_wav()
    started = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    key = recording_key(call_id, started, "wav")
    get_store().put_stream(get_settings().bucket_recordings, key, io.BytesIO(data), length=len(data))
    with session() as s:
        s.add(Call(call_id=call_id, started_at=started, duration_s=SECONDS, codec="pcm_s16le", sample_rate=RATE,
                   channels=2, channel_map={"agent": 0, "customer": 1}, audio_key=key, size_bytes=len(data),
                   sha256=hashlib.sha256(data).hexdigest(), status=CallStatus.recorded))
    return data, pcm


def fake_transcript() -> Transcript:
    model = ResolvedModel("test", "test", "0", ModelSource("package"), False)
    return Transcript(language="en", language_probability=1.0, model=model, compute=ComputeSettings(),
                      duration_s=SECONDS, mono=False, segments=conversation())


def test_a_transcript_is_stored_redacted_and_the_original_text_is_not_kept_by_default(db_url: str) -> None:
    """The segments table holds [CARD:16]; the greeting stays; no original text anywhere."""
    add_recorded_call("c1")
    store_result("c1", fake_transcript())
    with session() as s:
        texts = [seg.text for seg in segments(s, "c1")]
        assert texts[1] == "[CARD:16]" and texts[0].startswith("Good morning, thank you for calling.")
        assert s.exec(select(TranscriptOriginal)).all() == []
        [hit] = s.exec(select(Redaction)).all()
        assert (hit.kind, hit.speaker, hit.channel, hit.digits) == ("card", "customer", 1, 16)
        doc = redactions_json(s, "c1")
    assert doc is not None and doc["hits"] == 1 and "4111" not in str(doc)


def test_with_keep_original_only_pii_reads_the_original_and_it_is_audited(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLQC_REDACTION_KEEP_ORIGINAL", "true")
    reset_settings()
    add_recorded_call("c2")
    store_result("c2", fake_transcript())
    assert can(ADMIN, Perm.pii) and not can(INSPECTOR, Perm.pii)
    plain = transcript(INSPECTOR, "c2", source="test")
    assert plain is not None and plain["segments"][1]["text"] == "[CARD:16]"
    with pytest.raises(Forbidden):
        transcript(INSPECTOR, "c2", source="test", original=True)
    full = transcript(ADMIN, "c2", source="test", original=True)
    assert full is not None and full["segments"][1]["text"] == CARD_WORDS
    with session() as s:
        events = [(e.actor, e.action) for e in s.exec(select(AuditEvent))]
    assert events == [("boss", "view_original")]


def test_pii_roles_setting_decides_who_has_pii(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_PII_ROLES", '["inspector"]')
    reset_settings()
    assert can(INSPECTOR, Perm.pii) and not can(ADMIN, Perm.pii)


def test_redacted_audio_covers_the_customer_span_and_leaves_the_agent_channel_byte_identical(
    db_url: str,
) -> None:
    """Same length; agent channel identical everywhere; customer identical outside span ± margin."""
    _, pcm = add_recorded_call("c3")
    with session(write=True) as s:
        s.add(_transcript_row("c3"))
    _store_segments("c3")
    redact_call("c3", actor="test")
    with session() as s:
        head = s.get(CallRedaction, "c3")
        [hit] = s.exec(select(Redaction)).all()
    assert head is not None and head.audio_key is not None
    red = open_recording("c3", actor="test", source="test", variant=AudioVariant.redacted)
    with wave.open(io.BytesIO(red.data)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, RATE, RATE * SECONDS)
        got = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert np.array_equal(got[:, 0], pcm[:, 0])
    margin = get_settings().redaction_margin_s
    a, b = int((hit.start_s - margin) * RATE), int(np.ceil((hit.end_s + margin) * RATE))
    assert np.array_equal(got[:a, 1], pcm[:a, 1]) and np.array_equal(got[b:, 1], pcm[b:, 1])
    assert not np.array_equal(got[a:b, 1], pcm[a:b, 1])
    # the covered stretch is a pure tone, nothing of the noise the "speech" was
    spectrum = np.abs(np.fft.rfft(got[a + 400:b - 400, 1].astype(float)))
    assert spectrum.argmax() == pytest.approx(1000 * (b - a - 800) / RATE, rel=0.01)


def test_without_pii_play_gets_the_redacted_copy_with_pii_the_original_both_audited(db_url: str) -> None:
    data, _ = add_recorded_call("c4")
    with session(write=True) as s:
        s.add(_transcript_row("c4"))
    _store_segments("c4")
    redact_call("c4", actor="test")
    plain = recording(INSPECTOR, "c4", source="test")
    full = recording(ADMIN, "c4", source="test")
    assert plain.variant == AudioVariant.redacted and plain.data != data and plain.filename == "c4.redacted.wav"
    assert full.variant == AudioVariant.original and full.data == data
    with session() as s:
        plays = [(e.actor, e.action, e.detail["audio"]) for e in s.exec(select(AuditEvent))
                 if e.action == "play"]
    assert plays == [("insp", "play", "redacted"), ("boss", "play", "original")]


def test_a_call_never_checked_is_not_played_to_people_without_pii(db_url: str) -> None:
    add_recorded_call("c5")
    with pytest.raises(NotYetRedacted):
        recording(INSPECTOR, "c5", source="test")
    assert recording(ADMIN, "c5", source="test").variant == AudioVariant.original


def test_redact_runs_twice_to_the_same_rows(db_url: str) -> None:
    add_recorded_call("c6")
    with session(write=True) as s:
        s.add(_transcript_row("c6"))
    _store_segments("c6")
    first = redact_call("c6", actor="test")
    with session() as s:
        rows1 = [(r.kind, r.start_s, r.end_s) for r in s.exec(select(Redaction))]
        texts1 = [seg.text for seg in segments(s, "c6")]
    second = redact_call("c6", actor="test")
    with session() as s:
        rows2 = [(r.kind, r.start_s, r.end_s) for r in s.exec(select(Redaction))]
        texts2 = [seg.text for seg in segments(s, "c6")]
    assert len(first) == 1 and len(second) == 1 and rows1 == rows2 and texts1 == texts2 and "[CARD:16]" in texts2


def _transcript_row(call_id: str):  # type: ignore[no-untyped-def]
    from storage.transcripts import Transcript as Row

    return Row(call_id=call_id, language="en", model_name="test", model_version="0", model_source="test",
               duration_s=SECONDS)


def _store_segments(call_id: str) -> None:
    from storage.transcripts import TranscriptSegment

    with session(write=True) as s:
        for i, seg in enumerate(conversation()):
            s.add(TranscriptSegment(call_id=call_id, idx=i, speaker=seg.speaker, channel=seg.channel or 0,
                                    start_s=seg.start, end_s=seg.end, text=seg.text,
                                    words=[{"start": w.start, "end": w.end, "word": w.word, "probability": 1.0}
                                           for w in seg.words], avg_logprob=0.0, no_speech_prob=0.0))
