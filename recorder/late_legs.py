"""A leg that arrives after its call was ingested joins that call (recorder/legs.py explains legs).

MixMonitor and FreeSWITCH close the two legs of a call at hangup, but they may reach the spool apart
(a copy job, two media servers, a marker written late): the watcher then ingests the first leg
alone as a two-channel call with one silent side. When the other leg comes, ingest finds the call
ID registered with other audio (:class:`~recorder.ingest.CallExists`); :func:`join_late` then puts
the new leg next to the stored recording instead of refusing it or making a second call:

1. the call must be a joined one (``meta.legs``), not archived, ``recorded``/``transcribed``/
   ``scored``; a leg whose SHA-256 is already among ``meta.legs`` was joined before: nothing to do
   (a retry, a second watcher), so every leg is joined exactly once;
2. the stored recording (a 16-bit WAV, agent left) is read back and joined with the new leg on one
   timeline, written as this attempt's own object and read back (SHA-256 compared);
3. one transaction: the guarded ``UPDATE calls SET audio_key, sha256, …, status='recorded' WHERE
   call_id=:id AND sha256=:seen AND archived_at IS NULL AND status IN (…) RETURNING``
   (:func:`storage.calls.replace_audio`), a ``transcribe`` job unless one is queued, an audit row;
4. after the commit the old object is deleted.

Two legs joining at once: one UPDATE wins, the other finds the SHA-256 changed, deletes its own
object and starts again from the new recording, so both legs end up in the call. A process killed
between 2 and 3 leaves an unregistered object, which ``callqc check`` sweeps as an orphan
(recorder/orphans.py), like an ingest killed at that point; killed between 3 and 4, the old object.
A transcription already running on the old audio stores nothing (transcribe/handler.py checks that
the audio it read is still the call's); the call is transcribed again and then scored again.
The channel map is kept: an inspector's flip of the first leg holds for the second.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from recorder.ingest import IngestResult, _discard, _store_verified, spool_file
from recorder.legs import Piece, Role, join
from storage import audit, queue
from storage.calls import Call, CallStatus, replace_audio
from storage.db import session
from storage.errors import InvalidInput
from storage.jobs import Job, JobKind, JobState
from storage.keys import recording_key
from storage.models import AuditAction
from storage.objectstore import ObjectStore, sha256_file
from storage.settings import get_settings

log = logging.getLogger(__name__)
ATTEMPTS = 5  # rounds against racing joins before giving up (the watcher then retries the files)


class CannotJoinLate(InvalidInput):
    """late leg cannot join its call"""


class JoinRaced(Exception):
    """the call's recording kept changing under us; the files stay for the next look"""


@dataclass(frozen=True)
class _Seen:
    sha256: str
    audio_key: str
    started_at: datetime
    legs: list[dict[str, Any]]
    direction: str


def _drop_replaced(store: ObjectStore, bucket: str, key: str) -> None:
    try:
        store.delete(bucket, key)
    except Exception as exc:  # noqa: BLE001 - the join holds; `callqc check` sweeps the object later
        log.error("late leg: replaced object %s/%s not deleted: %s", bucket, key, exc)


def _look(call_id: str) -> _Seen:
    with session() as s:
        call = s.get(Call, call_id)
        if call is None:
            raise CannotJoinLate(f"{call_id}: no such call")
        legs = (call.meta or {}).get("legs")
        if not isinstance(legs, list) or call.channels != 2:
            raise CannotJoinLate(f"{call_id}: registered as one recording, not as legs")
        if call.archived_at is not None or call.status not in (CallStatus.recorded, CallStatus.transcribed,
                                                               CallStatus.scored):
            raise CannotJoinLate(f"{call_id}: {'archived' if call.archived_at else call.status}; its audio is final")
        return _Seen(call.sha256, call.audio_key, call.started_at, legs, str(call.direction))


def join_late(call_id: str, pieces: list[Piece], *, actor: str, source: str | None,
              store: ObjectStore) -> IngestResult:
    """Join ``pieces`` (split legs) into the registered call ``call_id``."""
    if not pieces or any(p.role is Role.both for p in pieces):
        raise CannotJoinLate(f"{call_id}: only a leg (-in/-out) can join a call later")
    shas = {p.path.name: sha256_file(p.path) for p in pieces}
    bucket = get_settings().bucket_recordings
    for _ in range(ATTEMPTS):
        seen = _look(call_id)
        joined_shas = {str(leg.get("sha256")) for leg in seen.legs}
        if set(shas.values()) <= joined_shas:
            log.info("late leg: %s already joined to %s", ", ".join(shas), call_id)
            return IngestResult(call_id, False, seen.sha256, seen.audio_key)
        for leg in seen.legs:
            if leg.get("name") in shas and leg.get("sha256") != shas[str(leg["name"])]:
                raise CannotJoinLate(f"{call_id}: {leg['name']} was joined before with other audio")
        with spool_file() as old, spool_file() as new:
            with old.open("wb") as fh:
                for chunk in store.iter_chunks(bucket, seen.audio_key):
                    fh.write(chunk)
            stored = Piece(old, Role.both, seen.started_at)
            fresh = [p for p in pieces if shas[p.path.name] not in joined_shas]
            joined = join([stored, *fresh], new, direction=seen.direction)
            shift = float(joined.legs[0]["offset_s"])  # type: ignore[arg-type]  # the stored recording's place now
            legs = [{**leg, "offset_s": round(float(leg.get("offset_s") or 0) + shift, 3)} for leg in seen.legs]
            legs += joined.legs[1:]
            sha, size = sha256_file(new), new.stat().st_size
            duration = max(float(leg["duration_s"]) + float(leg["offset_s"]) for leg in legs)
            key = recording_key(call_id, joined.started_at, "wav", attempt=secrets.token_hex(4))
            _store_verified(store, bucket, key, new, sha)
        try:
            done = _register(call_id, seen, key=key, sha=sha, size=size, duration=duration, started=joined.started_at,
                             legs=legs, names=[p.path.name for p in fresh], actor=actor, source=source)
        except BaseException:
            _discard(store, bucket, key)
            raise
        if not done:
            _discard(store, bucket, key)  # a racing join changed the call: start again from its recording
            continue
        _drop_replaced(store, bucket, seen.audio_key)
        log.info("late leg: %s joined to %s (now %.1f s)", ", ".join(p.path.name for p in fresh), call_id, duration)
        return IngestResult(call_id, True, sha, key)
    raise JoinRaced(call_id)


def _register(call_id: str, seen: _Seen, *, key: str, sha: str, size: int, duration: float, started: datetime,
              legs: list[dict[str, Any]], names: list[str], actor: str, source: str | None) -> bool:
    with session(write=True) as s:
        call = s.get(Call, call_id)
        meta = dict(call.meta or {}) if call is not None else {}
        meta["legs"] = legs
        if not replace_audio(s, call_id, seen_sha256=seen.sha256, audio_key=key, sha256=sha, size_bytes=size,
                             duration_s=round(duration, 3), started_at=started,
                             ended_at=started + timedelta(seconds=duration), meta=meta):
            return False
        waiting = s.exec(select(Job.id).where(Job.call_id == call_id, Job.kind == JobKind.transcribe.value,
                                              col(Job.state) == JobState.queued.value)).first()
        if waiting is None:
            queue.enqueue(s, JobKind.transcribe, call_id=call_id)
        audit.record(s, actor, AuditAction.leg_join, call_id=call_id, source=source,
                     detail={"files": names, "sha256": sha, "replaced_sha256": seen.sha256, "key": key})
    return True
