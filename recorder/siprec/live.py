"""A live call's life, shared by the SIPREC server and the media-stream input.

1. answered: the journal folder is created and a ``calls`` row inserted ``in_progress`` (start time,
   agent, streams);
2. while live: packets are journaled (:class:`~recorder.siprec.journal.Journal`), pauses polled;
3. ended (BYE, stop, RTP timeout): the journal is closed and :func:`finalise` builds the WAV, stores
   it like a finished file (``recorder.ingest``: verified put under ``recordings/…``), and in one
   transaction moves the call to ``recorded``, queues ``transcribe`` and writes the audit row. If the
   object store or the database is down the journal stays and :func:`recover` retries later;
4. a recorder killed mid-call leaves a ``live`` journal with a free lock: :func:`recover` finalises
   it marked ``capture_interrupted`` with the gap (last written audio → recovery) recorded.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recorder import levels
from recorder.ingest import _store_verified, spool_file
from recorder.metadata import CallMeta
from recorder.probe import probe
from recorder.siprec.codecs import from_names, ticks
from recorder.siprec.journal import Journal, last_write, live_root, read_index, records, stream_file
from recorder.siprec.recording import build_wav
from recorder.siprec.rtp import RATE
from storage import audit, calls, live_levels, pauses, queue
from storage.calls import Call, CallStatus, Direction
from storage.db import session
from storage.errors import CallqcError
from storage.jobs import JobKind
from storage.keys import recording_key
from storage.models import AuditAction
from storage.objectstore import sha256_file
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    index: int  # journal stream number: 0, 1, ... in m-line (or track) order
    label: str | None  # SDP a=label or the track name
    role: str  # agent, customer, unknown
    channel: int | None  # channel of the stored file; None = not recorded
    mline: int = 0  # the SDP m-line it answers (SIPREC)
    # payload type -> codec name recorded (recorder/siprec/codecs.py); empty = G.711 static types
    payload_types: dict[str, str] = field(default_factory=dict)


def new_call_id(source: str, key: str, at: datetime) -> str:
    """``srs-20240101T120000-<hash>``: a valid call ID derived from the transport's own call ID."""
    import hashlib

    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{source}-{at:%Y%m%dT%H%M%S}-{digest}"


def open_call(
    call_id: str, *, source: str, meta: CallMeta, streams: list[StreamSpec], channel_map: dict[str, int],
    extra: dict[str, Any], answered_at: datetime,
) -> Journal:
    """Create the journal, then the ``in_progress`` row (blocking: run it in a thread)."""
    channels = max(1, len([s for s in streams if s.channel is not None]))
    index = {
        "version": 1, "call_id": call_id, "source": source, "state": "live",
        "answered_at": answered_at.isoformat(), "answered_unix": answered_at.timestamp(), "sample_rate": RATE,
        "channels": channels, "channel_map": channel_map,
        "streams": [s.__dict__ for s in streams], "meta": _meta_dict(meta), "extra": extra,
    }
    journal = Journal(live_root(get_settings().data_dir) / call_id, index, len(streams))
    try:
        with session(write=True) as s:
            s.add(_row(index, status=CallStatus.in_progress))
    except Exception as exc:  # noqa: BLE001 - the journal keeps the call; finalise inserts the row later
        log.error("live: %s: could not register in_progress (%s); recording to the journal anyway",
                  call_id, _one_line(exc))
    levels.follow(Path(get_settings().data_dir), call_id)  # loudness rows for the live flags, anywhere
    log.info("live: %s answered (%s, %d stream(s))", call_id, source, len(streams))
    return journal


def end_call(journal: Journal, *, reason: str, stats: dict[str, Any] | None, ended_at: datetime) -> bool:
    """Close the journal and finalise; False when storing failed (the journal is kept for a retry)."""
    journal.close()
    try:
        journal.update(state="ended", end_reason=reason, ended_at=ended_at.isoformat(), stats=stats)
    except OSError as exc:  # disk full: store what the journal holds; the index on disk stays "live"
        log.error("live: %s: cannot update the journal index (%s)", journal.index["call_id"], exc)
    return finalise(journal)


def finalise(journal: Journal, *, interrupted: dict[str, Any] | None = None) -> bool:
    index = journal.index
    call_id = index["call_id"]
    try:
        _finalise(journal.folder, index, interrupted)
    except Exception as exc:  # noqa: BLE001 - any failure keeps the journal for the retry loop
        error = _one_line(exc)
        with contextlib.suppress(OSError):
            journal.update(upload_error=error, upload_failed_at=datetime.now(UTC).isoformat())
        journal.release(remove=False)
        log.error("live: %s: storing failed, journal kept for retry: %s", call_id, error)
        return False
    journal.release(remove=True)
    return True


def _finalise(folder: Path, index: dict[str, Any], interrupted: dict[str, Any] | None) -> None:
    settings = get_settings()
    call_id = index["call_id"]
    answered = datetime.fromisoformat(index["answered_at"])
    ended = datetime.fromisoformat(index["ended_at"]) if index.get("ended_at") else None
    with session() as s:
        spans = [(p.started_at, p.ended_at, p.paused_by) for p in pauses.of_calls(s, [call_id])]
        row = s.get(Call, call_id)
        if row is not None and row.status != CallStatus.in_progress:
            # Stored by an earlier attempt that died before removing the journal: nothing to redo.
            log.warning("live: %s is already %s; dropping its leftover journal", call_id, row.status)
            return
    ranges = [
        (_pos(a, answered), _pos(b, answered) if b is not None else 1 << 40) for a, b, _ in spans
    ]
    with spool_file() as tmp:
        built = build_wav(folder, index, tmp, ranges)
        info = probe(tmp, max_duration_s=settings.max_duration_s, name=f"{call_id}.wav")
        sha = sha256_file(tmp)
        key = recording_key(call_id, answered, "wav")
        _store_verified(get_store(), settings.bucket_recordings, key, tmp, sha)
        size = tmp.stat().st_size
    offset = (built.first_audio or 0) / RATE
    started = answered + timedelta(seconds=offset)  # when the audio in the file begins
    ended = ended or started + timedelta(seconds=built.duration_s)
    live = {
        "source": index["source"], "end_reason": index.get("end_reason"), "streams": index["streams"],
        "stats": index.get("stats"), "aligned_by": index.get("aligned_by", "arrival"),
        "wall_s": round((ended - answered).total_seconds(), 3),
        "written_s": round(built.duration_s, 3),
        "first_audio_s": None if built.first_audio is None else round(built.first_audio / RATE, 3),
        "pauses": [  # seconds from the start of the file
            {"start_s": round(max(0.0, (a - started).total_seconds()), 3),
             "end_s": None if b is None else round(max(0.0, (b - started).total_seconds()), 3), "by": by}
            for a, b, by in spans
        ],
    }
    stats = index.get("stats") or {}
    silent = [k for k, v in stats.items() if isinstance(v, dict) and v.get("packets", 0) == 0]
    if silent:
        live["silent_streams"] = silent
    if interrupted is not None:
        live["capture_interrupted"] = interrupted
        live["end_reason"] = "capture_interrupted"
    meta = {**index["meta"].get("meta", {}), **index.get("extra", {}), "live": live}
    values = dict(
        started_at=started, ended_at=ended, duration_s=info.duration_s, codec=info.codec, sample_rate=info.sample_rate,
        channels=info.channels, audio_key=key, size_bytes=size, sha256=sha, meta=meta,
    )
    with session(write=True) as s:
        pauses.close_open(s, call_id, ended)
        if s.get(Call, call_id) is None:
            row = _row(index, status=CallStatus.recorded)
            for k, v in values.items():
                setattr(row, k, v)
            s.add(row)
            s.flush()
        else:
            calls.move(s, call_id, CallStatus.recorded, **values)
        job_id = queue.enqueue(s, JobKind.transcribe, call_id=call_id)
        live_levels.drop(s, call_id)  # recorded now: the live flags' loudness rows are done with (a crash left some)
        audit.record(s, index["source"], AuditAction.ingest, call_id=call_id, source=index["extra"].get("peer"),
                     detail={"live": True, "sha256": sha, "size": size, "key": key,
                             "end_reason": live["end_reason"]})
    log.info("live: %s recorded (%.1f s, %s, %s ch, job %s%s)", call_id, info.duration_s, info.codec,
             info.channels, job_id, ", capture interrupted" if interrupted else "")


def _pos(t: datetime, answered: datetime) -> int:
    return max(0, round((t - answered).total_seconds() * RATE))


def _row(index: dict[str, Any], *, status: CallStatus) -> Call:
    m = index["meta"]
    answered = datetime.fromisoformat(index["answered_at"])
    return Call(
        call_id=index["call_id"], tenant=m.get("tenant") or "default", agent_id=m.get("agent_id"),
        team=m.get("team"), queue=m.get("queue"), direction=m.get("direction") or Direction.unknown,
        caller=m.get("caller"), callee=m.get("callee"), started_at=answered, codec="pcm_mulaw",
        sample_rate=RATE, channels=index["channels"], channel_map=index["channel_map"],
        meta={**m.get("meta", {}), **index.get("extra", {}), "live": {"source": index["source"],
                                                                     "streams": index["streams"]}},
        audio_key=recording_key(index["call_id"], answered, "wav"), size_bytes=0, sha256="", status=status,
    )


def _meta_dict(meta: CallMeta) -> dict[str, Any]:
    return {
        "tenant": meta.tenant, "agent_id": meta.agent_id, "team": meta.team, "queue": meta.queue,
        "direction": meta.direction.value if meta.direction else None, "caller": meta.caller,
        "callee": meta.callee, "meta": meta.meta,
    }


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, CallqcError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def recover(data_dir: Path) -> tuple[int, int]:
    """Finalise journals nobody holds: interrupted live calls and failed uploads. (done, still pending)."""
    root = live_root(data_dir)
    done = pending = 0
    if not root.is_dir():
        return 0, 0
    for folder in sorted(root.iterdir()):
        journal = Journal.adopt(folder) if folder.is_dir() else None
        if journal is None:
            continue
        interrupted = None
        if journal.index.get("state") == "live":
            interrupted = _gap(folder, journal.index)
            journal.update(state="ended", ended_at=datetime.fromtimestamp(last_write(folder), UTC).isoformat(),
                           end_reason="capture_interrupted", interrupted=interrupted)
            log.warning("live: %s was interrupted (recorder stopped mid-call); audio after %.1f s is lost",
                        journal.index["call_id"], interrupted["gap_start_s"])
        elif journal.index.get("interrupted"):
            interrupted = journal.index["interrupted"]
        if finalise(journal, interrupted=interrupted):
            done += 1
        else:
            pending += 1
    return done, pending


def _gap(folder: Path, index: dict[str, Any]) -> dict[str, Any]:
    end = 0
    for s in index["streams"]:
        known = from_names(s.get("payload_types"))
        for _, rec in records(stream_file(folder, s["index"])):
            codec = known.get(rec.pt)
            end = max(end, rec.position + (ticks(codec, rec.payload) if codec is not None else 0))
    now = time.time()
    return {
        "gap_start_s": round(end / RATE, 3),
        "gap_end_s": round(now - float(index["answered_unix"]), 3),
        "last_write": datetime.fromtimestamp(last_write(folder), UTC).isoformat(),
        "recovered_at": datetime.fromtimestamp(now, UTC).isoformat(),
    }


def pending_journals(data_dir: Path) -> list[dict[str, Any]]:
    """Index of every journal still on disk (live calls, and ended calls not yet stored)."""
    root = live_root(data_dir)
    out = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            index = read_index(folder)
            if index is not None:
                out.append(index)
    return out


def cancel_call(journal: Journal, *, reason: str) -> None:
    """A call cancelled before it was answered: its row fails with the reason, the journal goes."""
    call_id = journal.index["call_id"]
    try:
        with session(write=True) as s:
            calls.move(s, call_id, CallStatus.failed, last_error=reason)
    except CallqcError as exc:
        log.warning("live: %s: %s", call_id, _one_line(exc))
    journal.release(remove=True)


def pause_spans(call_ids: list[str]) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """Every pause of these calls: (start, end or None while open), by call."""
    out: dict[str, list[tuple[datetime, datetime | None]]] = {}
    with session() as s:
        for p in pauses.of_calls(s, call_ids):
            out.setdefault(p.call_id, []).append((p.started_at, p.ended_at))
    return out
