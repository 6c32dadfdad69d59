"""Redacted transcripts and audio as stored, and who gets the originals (the `pii` permission)."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from sqlmodel import select

from storage.access import Perm, can, recording, transcript
from storage.db import session
from storage.errors import Forbidden
from storage.models import AuditEvent
from storage.redactions import CallRedaction, Redaction, TranscriptOriginal, redactions_json
from storage.retrieval import AudioVariant, NotYetRedacted, open_recording
from storage.settings import get_settings, reset_settings
from storage.transcripts import segments
from storage.users import Principal, Role
from tests.redaction_helpers import (
    ADMIN,
    CARD_WORDS,
    INSPECTOR,
    RATE,
    SECONDS,
    add_recorded_call,
    add_transcribed_call,
    conversation,
)
from transcribe.compute import ComputeSettings
from transcribe.engine import Transcript
from transcribe.handler import store_result
from transcribe.models import ModelSource, ResolvedModel
from transcribe.redaction.pipeline import redact_call


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
    # stored without its audio copy: the original is not played as if it were clean
    with pytest.raises(NotYetRedacted):
        recording(INSPECTOR, "c1", source="test")


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
    pcm = add_transcribed_call("c3")
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
    data = add_recorded_call("c4")[0]
    add_transcribed_call("c4", audio=False)
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
    add_transcribed_call("c6")
    first = redact_call("c6", actor="test")
    with session() as s:
        rows1 = [(r.kind, r.start_s, r.end_s) for r in s.exec(select(Redaction))]
        texts1 = [seg.text for seg in segments(s, "c6")]
    second = redact_call("c6", actor="test")
    with session() as s:
        rows2 = [(r.kind, r.start_s, r.end_s) for r in s.exec(select(Redaction))]
        texts2 = [seg.text for seg in segments(s, "c6")]
    assert len(first) == 1 and len(second) == 1 and rows1 == rows2 and texts1 == texts2 and "[CARD:16]" in texts2


def test_clip_and_export_for_a_person_follow_download_and_pii(db_url: str) -> None:
    """An inspector may not download; an archivist (download, no pii) gets the redacted copy."""
    from transcribe.redaction.edits import clip_for, export_for

    archivist = Principal(name="arch", role=Role.archivist)
    add_transcribed_call("c7")
    redact_call("c7", actor="test")
    with pytest.raises(Forbidden):
        clip_for(INSPECTOR, "c7", 1, 2, source="test")
    got = clip_for(archivist, "c7", 5, 9, source="test")
    whole = export_for(archivist, "c7", source="test", fmt="wav")
    assert got.variant == whole.variant == AudioVariant.redacted and got.mime == "audio/wav"
    with wave.open(io.BytesIO(whole.data)) as w:
        assert w.getnframes() == RATE * SECONDS
    with session() as s:
        actions = [(e.actor, e.action, e.detail["audio"]) for e in s.exec(select(AuditEvent))
                   if e.action in ("clip", "export")]
    assert actions == [("arch", "clip", "redacted"), ("arch", "export", "redacted")]
