"""Discs of a run: planning which call goes on which disc, and mastering a planned disc's image.

The plan is stored (run, images, entries) in one transaction before anything is built, so a
resumed run masters the same discs. Mastering records the image's size, SHA-256 and every call's
byte offset in one guarded state change (planned/built → built).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage import audit
from storage.archive import contents
from storage.archive.images import DiscFile, build_image, bytes_source, file_source
from storage.archive.plan import (
    Month,
    PlanItem,
    TooBigForMedia,
    fixed_bytes,
    footprint,
    image_key,
    pack,
)
from storage.archive.tables import ArchiveEntry, ArchiveImage, ArchiveRun, ImageState
from storage.calls import Call
from storage.db import session as db_session
from storage.errors import Conflict
from storage.models import AuditAction
from storage.objectstore import ObjectStore
from storage.settings import get_settings

log = logging.getLogger(__name__)

Progress = Callable[[ArchiveImage, int, int], None]
_PLACEHOLDER = 10**15


class StateChanged(Conflict):
    """archive state changed underneath this run"""


def plan_run(month: Month, *, media_bytes: int, actor: str) -> int | None:
    """Assign the month's unplanned calls to discs and store the plan; None if nothing is left."""
    m = str(month)
    with db_session() as s:
        planned = select(ArchiveEntry.call_id)
        calls = list(
            s.exec(
                select(Call)
                .where(
                    col(Call.started_at) >= month.start,
                    col(Call.started_at) < month.end,
                    col(Call.archived_at).is_(None),
                    col(Call.call_id).not_in(planned),
                )
                .order_by(col(Call.started_at), col(Call.call_id))
            )
        )
        readable = [c for c in calls if c.hot_present]
        for c in calls:
            if not c.hot_present:
                log.warning("plan_run: %s has no hot copy and no archive entry; skipped", c.call_id)
        readable = _writable(s, readable, month=m, actor=actor)
        if not readable:
            return None
        seq = 1 + (s.exec(select(sa.func.max(ArchiveRun.seq)).where(ArchiveRun.month == m)).one() or 0)
        items, fixed = estimate(s, readable, month=m, seq=seq)
        discs = pack(items, media_bytes=media_bytes, fixed=fixed)
        by_id = {c.call_id: c for c in readable}
        run = ArchiveRun(
            month=m,
            seq=seq,
            media_bytes=media_bytes,
            disc_count=len(discs),
            call_count=len(readable),
            total_bytes=sum(c.size_bytes for c in readable),
            actor=actor,
        )
        s.add(run)
        try:
            s.flush()
            assert run.id is not None
            for k, disc in enumerate(discs, start=1):
                image = ArchiveImage(
                    run_id=run.id,
                    month=m,
                    disc=k,
                    disc_count=len(discs),
                    call_count=len(disc),
                    object_key=image_key(month, seq=seq, disc=k, discs=len(discs)),
                )
                s.add(image)
                s.flush()
                assert image.id is not None
                for item in disc:
                    call = by_id[item.call_id]
                    first = contents.disc_audio(s, call)[0]
                    s.add(
                        ArchiveEntry(
                            call_id=call.call_id,
                            image_id=image.id,
                            path=first.path,
                            length=first.size,
                            sha256=first.sha256,
                            audio=first.audio,
                        )
                    )
            s.flush()
        except IntegrityError:
            raise Conflict(f"another archive run is planning {m}; try again when it has finished") from None
        log.info("plan_run: %s run %d, %d calls on %d discs", m, seq, len(readable), len(discs))
        return run.id


def _writable(s: Session, calls: list[Call], *, month: str, actor: str) -> list[Call]:
    """The calls whose record and transcript can be written as the disc's JSON files. A row stored
    before metadata was checked on the way in (text that is not valid Unicode, nesting too deep for
    a JSON writer) is skipped with a logged and audited reason: one bad call never stops the month."""
    good = []
    for call in calls:
        try:
            contents.call_extras(s, call)
            contents.index_bytes(month, seq=1, discs=1, entries=[contents.index_entry(call, disc=1)])
        except (UnicodeError, ValueError, TypeError, RecursionError) as exc:
            reason = f"its record cannot be written as JSON ({type(exc).__name__})"
            log.warning("plan_run: %s skipped: %s", call.call_id, reason)
            audit.record(
                s, actor, AuditAction.archive_skip, call_id=call.call_id, source="archive",
                detail={"month": month, "reason": reason},
            )
            continue
        good.append(call)
    return good


def estimate(s: Session, calls: list[Call], *, month: str, seq: int) -> tuple[list[PlanItem], int]:
    """Each call's estimated disc footprint, and the bytes every disc of the run spends before any call."""
    items, index_rows = [], []
    for call in calls:
        extras = contents.call_extras(s, call)
        audio = contents.disc_audio(s, call)
        entries = [
            _file_row(a.path, a.size, sha256=a.sha256, call_id=call.call_id, offset=_PLACEHOLDER, audio=a.audio)
            for a in audio
        ]
        entries += [
            _file_row(e.path, len(e.data), sha256=e.sha256, call_id=call.call_id, offset=_PLACEHOLDER) for e in extras
        ]
        share = sum(len(_one_line(r)) for r in entries)
        sizes = [*(a.size for a in audio), *(len(e.data) for e in extras)]
        items.append(PlanItem(call.call_id, footprint(sizes, manifest_bytes=share)))
        # the widest disc number any run can have, so the real index is never longer than estimated
        index_rows.append(contents.index_entry(call, disc=99999, audio=audio))
    index_len = len(contents.index_bytes(month, seq=seq, discs=99999, entries=index_rows))
    readme_len = len(contents.readme_bytes(month, seq=seq, disc=99999, discs=99999))
    return items, fixed_bytes(index_bytes=index_len, readme_bytes=readme_len)


def master(image: ArchiveImage, run: ArchiveRun, *, store: ObjectStore, tmp: Path, progress: Progress | None) -> Path:
    """Master the image into ``tmp``, then record size, SHA-256 and every call's offset (→ built)."""
    settings = get_settings()
    staging = tmp / "extras"
    staging.mkdir(exist_ok=True)
    files: list[DiscFile] = []
    owners: dict[str, str] = {}
    with db_session() as s:
        calls = list(
            s.exec(
                select(Call)
                .join(ArchiveEntry, col(ArchiveEntry.call_id) == col(Call.call_id))
                .where(ArchiveEntry.image_id == image.id)
                .order_by(col(Call.started_at), col(Call.call_id))
            )
        )
        rows = s.exec(
            select(Call, ArchiveImage.disc)
            .join(ArchiveEntry, col(ArchiveEntry.call_id) == col(Call.call_id))
            .join(ArchiveImage, col(ArchiveImage.id) == col(ArchiveEntry.image_id))
            .where(ArchiveImage.run_id == run.id)
            .order_by(col(Call.started_at), col(Call.call_id))
        )
        index = contents.index_bytes(
            run.month,
            seq=run.seq,
            discs=run.disc_count,
            entries=[contents.index_entry(c, disc=d, audio=contents.disc_audio(s, c)) for c, d in rows],
        )
        readme = contents.readme_bytes(run.month, seq=run.seq, disc=image.disc, discs=image.disc_count)
        for meta in (
            contents.ExtraFile(contents.README_PATH, readme),
            contents.ExtraFile(contents.INDEX_PATH, index),
        ):
            files.append(DiscFile(meta.path, len(meta.data), bytes_source(meta.data), meta.sha256))
        firsts: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for n, call in enumerate(calls):
            audio = contents.disc_audio(s, call)
            firsts[call.call_id] = audio[0].path
            for a in audio:
                owners[a.path] = call.call_id
                kinds[a.path] = a.audio
                files.append(DiscFile(a.path, a.size, _audio_source(store, settings.bucket_recordings, key=a.key),
                                      a.sha256))
            for extra in contents.call_extras(s, call):
                # extras go through the disk so a 25 GB disc's transcripts never sit in memory together
                spill = staging / f"{n}-{extra.path.rpartition('/')[2]}"
                spill.write_bytes(extra.data)
                owners[extra.path] = call.call_id
                files.append(DiscFile(extra.path, len(extra.data), file_source(spill), extra.sha256))

    def manifest(offsets: dict[str, int]) -> bytes:
        rows = [
            _file_row(f.path, f.length, sha256=f.sha256 or "", call_id=owners.get(f.path), offset=offsets[f.path],
                      audio=kinds.get(f.path))
            for f in files
        ]
        return contents.manifest_bytes(run.month, seq=run.seq, disc=image.disc, discs=image.disc_count, files=rows)

    out = tmp / "image.iso"
    cb = (lambda done, total: progress(image, done, total)) if progress else None
    built = build_image(
        files,
        out,
        volume_id=f"CQ{run.month}R{run.seq}D{image.disc}",
        disc=image.disc,
        discs=image.disc_count,
        manifest=manifest,
        progress=cb,
    )
    if built.size > run.media_bytes:
        raise TooBigForMedia(f"disc {image.disc} of {run.month} came out at {built.size} bytes, over {run.media_bytes}")
    with db_session() as s:
        guarded(
            s,
            ArchiveImage,
            row_id=image.id,
            expected=image.state,
            state=ImageState.built,
            size_bytes=built.size,
            sha256=built.sha256,
        )
        for call in calls:
            path = firsts[call.call_id]
            s.execute(
                sa.update(ArchiveEntry)
                .where(col(ArchiveEntry.call_id) == call.call_id)
                .values(offset=built.offsets[path], path=path)
            )
    return out


def guarded(s: Session, table: type, *, row_id: int | None, expected: str, **values: object) -> None:
    """One guarded state change; zero rows means someone else moved it, and we stop."""
    got = s.execute(
        sa.update(table)
        .where(table.id == row_id, table.state == str(expected))  # type: ignore[attr-defined]
        .values(**values)
        .returning(table.id)  # type: ignore[attr-defined]
    ).first()
    if got is None:
        raise StateChanged(f"{table.__tablename__} {row_id} is no longer {expected}")  # type: ignore[attr-defined]


def load_image(image_id: int | None) -> ArchiveImage:
    with db_session() as s:
        image = s.get(ArchiveImage, image_id)
        if image is None:
            raise StateChanged(f"archive image {image_id} vanished")
        return image


def _audio_source(store: ObjectStore, bucket: str, *, key: str) -> Callable[[], Iterable[bytes]]:
    return lambda: store.iter_chunks(bucket, key)


def _file_row(
    path: str, length: int, *, sha256: str, call_id: str | None, offset: int, audio: str | None = None
) -> dict[str, object]:
    row: dict[str, object] = {"path": path, "offset": offset, "length": length, "sha256": sha256}
    if call_id is not None:
        row["call_id"] = call_id
    if audio is not None:
        row["audio"] = audio  # which audio this file is: original, redacted, clean
    return row


def _one_line(row: dict[str, object]) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True) + ",\n"
