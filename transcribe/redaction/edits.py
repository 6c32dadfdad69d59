"""Audio people ask for besides the player: a clip around an evidence item and a whole call as
MP3/OGG/WAV for e-mailing. Both go through the one retrieval path (SHA-256 checked, audited as a
``clip`` or ``export``) and give the redacted copy unless the person has ``pii``.

The review app calls :func:`clip_for` / :func:`export_for` with the signed-in principal (access
rules first); the CLI, run by the operator, calls :func:`clip_call` / :func:`export_call` and says
which audio it wants.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from storage.access import Perm, audio_variant, require, visible_call
from storage.db import session
from storage.errors import InvalidInput, NotFound
from storage.evaluations import EvaluationItem, current_evaluation, evidence_of
from storage.models import AuditAction
from storage.retrieval import AudioVariant, open_recording
from storage.users import Principal
from transcribe.redaction.audio import EXPORT_FORMATS, check_range, clip, decode, export


@dataclass(frozen=True)
class AudioFile:
    filename: str
    mime: str
    data: bytes
    variant: AudioVariant


class NoSuchEvidence(NotFound):
    """no evidence for that item in the call's current evaluation"""


def evidence_span(call_id: str, item_id: str, *, index: int = 0) -> tuple[float, float]:
    """(start, end) of evidence ``index`` of rubric item ``item_id`` in the call's current evaluation."""
    with session() as s:
        ev = current_evaluation(s, call_id)
        if ev is None:
            raise NoSuchEvidence(f"{call_id} has no evaluation")
        row = s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id,
                                                  EvaluationItem.item_id == item_id)).first()
        found = evidence_of(row) if row is not None else ()
        if index >= len(found):
            raise NoSuchEvidence(f"{call_id}: item {item_id!r} has {len(found)} evidence entries")
        return found[index].start, found[index].end


def clip_call(call_id: str, start: float, end: float, *, actor: str, source: str | None, variant: AudioVariant,
              fmt: str = "wav") -> AudioFile:
    """Seconds ``start``–``end`` of the call (both channels) as ``fmt``; audited as a clip."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    check_range(start, end)  # bad input is refused before anything is read or audited
    rec = open_recording(call_id, actor=actor, source=source, action=AuditAction.clip, variant=variant)
    data = export(clip(decode(rec.data, name=call_id), start, end), fmt)
    stem = rec.filename.rpartition(".")[0]
    return AudioFile(f"{stem}.{start:.1f}-{end:.1f}.{fmt}", EXPORT_FORMATS[fmt], data, variant)


def export_call(call_id: str, *, actor: str, source: str | None, variant: AudioVariant, fmt: str) -> AudioFile:
    """The whole call as ``fmt`` (mp3, ogg or wav); audited as an export."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    rec = open_recording(call_id, actor=actor, source=source, action=AuditAction.export, variant=variant)
    data = export(decode(rec.data, name=call_id), fmt)
    return AudioFile(f"{rec.filename.rpartition('.')[0]}.{fmt}", EXPORT_FORMATS[fmt], data, variant)


def clip_for(who: Principal, call_id: str, start: float, end: float, *, source: str | None,
             fmt: str = "wav") -> AudioFile:
    """A clip for a signed-in person: the call must be visible to them and they need ``download``."""
    require(who, Perm.download)
    with session() as s:
        cid = visible_call(s, who, call_id).call_id
    return clip_call(cid, start, end, actor=who.name, source=source, variant=audio_variant(who), fmt=fmt)


def export_for(who: Principal, call_id: str, *, source: str | None, fmt: str) -> AudioFile:
    require(who, Perm.download)
    with session() as s:
        cid = visible_call(s, who, call_id).call_id
    return export_call(cid, actor=who.name, source=source, variant=audio_variant(who), fmt=fmt)
