"""The monthly burn-to-archive job: plan, master, upload under WORM retention, verify, then forget.

Every step ends in one guarded state change, so a crash at any point leaves the old state or the
new one and a re-run resumes where it stopped:

    run open → image planned → built (size, SHA-256, offsets recorded) → stored (uploaded, retention
    set) → verified (read back; its calls marked archived in the same transaction) → hot copies
    flagged then deleted → run done

A ``built`` image whose object already sits in the bucket with the recorded SHA-256 is not uploaded
again (a locked bucket would keep the orphan version for years); otherwise it is re-mastered.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from storage import audit
from storage.archive.discs import Progress, guarded, load_image, master, plan_run
from storage.archive.plan import Month, parse_media
from storage.archive.tables import ArchiveEntry, ArchiveImage, ArchiveRun, ImageState, RunState
from storage.calls import Call
from storage.db import session as db_session
from storage.models import AuditAction, utcnow
from storage.objectstore import ObjectNotFound, ObjectStore, RetentionMode
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)

StageHook = Callable[[str, ArchiveImage], None]
_WORK_DIR = re.compile(r"\d{4}-\d{2}-(\d+)-.*")


@dataclass
class RunSummary:
    month: str
    calls: int = 0
    bytes: int = 0
    images: int = 0
    seconds: float = 0.0
    hot_deleted: int = 0


def run_month(
    month: Month | str,
    *,
    media: int | str = "dvd",
    actor: str,
    store: ObjectStore | None = None,
    on_stage: StageHook | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Archive every not-yet-archived call of ``month``; resumes unfinished runs first."""
    month = Month.parse(month) if isinstance(month, str) else month
    media_bytes = parse_media(media)
    store = store or get_store()
    started = time.monotonic()
    summary = RunSummary(str(month))
    with db_session() as s:
        open_runs = [
            r.id
            for r in s.exec(
                select(ArchiveRun)
                .where(ArchiveRun.month == str(month), ArchiveRun.state == RunState.open)
                .order_by(col(ArchiveRun.seq))
            )
            if r.id is not None
        ]
    for run_id in open_runs:
        _process(run_id, store, summary, actor=actor, on_stage=on_stage, progress=progress)
    new_run = plan_run(month, media_bytes=media_bytes, actor=actor)
    if new_run is not None:
        _process(new_run, store, summary, actor=actor, on_stage=on_stage, progress=progress)
    summary.seconds = time.monotonic() - started
    log.info("run_month: %s done, %s", month, summary)
    return summary


def _process(
    run_id: int,
    store: ObjectStore,
    summary: RunSummary,
    *,
    actor: str,
    on_stage: StageHook | None,
    progress: Progress | None,
) -> None:
    settings = get_settings()
    work = Path(settings.data_dir) / "archive-work"
    work.mkdir(parents=True, exist_ok=True)
    _sweep_stale(work)
    with db_session() as s:
        run = s.get(ArchiveRun, run_id)
        assert run is not None
        image_ids = [
            i.id
            for i in s.exec(
                select(ArchiveImage).where(ArchiveImage.run_id == run_id).order_by(col(ArchiveImage.disc))
            )
        ]
    for image_id in image_ids:
        with tempfile.TemporaryDirectory(dir=work, prefix=f"{run.month}-{os.getpid()}-") as tmp:
            image = load_image(image_id)
            built: Path | None = None
            if image.state == ImageState.planned:
                built = master(image, run, store=store, tmp=Path(tmp), progress=progress)
                image = _hook(on_stage, "built", load_image(image_id))
            if image.state == ImageState.built:
                _store(image, run, store=store, tmp=Path(tmp), built=built, on_stage=on_stage, progress=progress)
                image = _hook(on_stage, "stored", load_image(image_id))
            if image.state == ImageState.stored:
                _verify_and_mark(image, store, actor=actor)
                image = _hook(on_stage, "verified", load_image(image_id))
        if settings.archive_delete_hot:
            summary.hot_deleted += _delete_hot(image, store)
        summary.images += 1
        summary.calls += image.call_count
        summary.bytes += image.size_bytes or 0
    with db_session() as s:
        guarded(s, ArchiveRun, row_id=run_id, expected=RunState.open, state=RunState.done, finished_at=utcnow())
        audit.record(
            s,
            actor,
            AuditAction.archive_run,
            source="archive",
            detail={"month": run.month, "run": run.seq, "discs": run.disc_count, "calls": run.call_count},
        )
    _hook(on_stage, "done", image)


def _store(
    image: ArchiveImage,
    run: ArchiveRun,
    *,
    store: ObjectStore,
    tmp: Path,
    built: Path | None,
    on_stage: StageHook | None,
    progress: Progress | None,
) -> None:
    """Upload (unless the same image is already there), set COMPLIANCE retention, record it (→ stored)."""
    bucket = get_settings().bucket_archive
    version = None
    try:
        info = store.stat(bucket, image.object_key)
        already = (info.sha256 or "") == image.sha256 and info.size == image.size_bytes
        version = info.version_id
    except ObjectNotFound:
        already = False
    if not already:
        if built is None:  # resumed after a crash between mastering and upload: the image file is gone
            log.info("_store: re-mastering %s", image.object_key)
            built = master(image, run, store=store, tmp=tmp, progress=progress)
            image = load_image(image.id)
        info = store.put_file(bucket, image.object_key, built, sha256=image.sha256)
        version = info.version_id
        _hook(on_stage, "uploaded", image)
    until = utcnow() + timedelta(days=_retention_days(image))
    store.set_retention(
        bucket, image.object_key, mode=RetentionMode.COMPLIANCE, until=until, version_id=version
    )
    if built is not None:
        shutil.rmtree(built.parent / "extras", ignore_errors=True)
    with db_session() as s:
        guarded(
            s,
            ArchiveImage,
            row_id=image.id,
            expected=ImageState.built,
            state=ImageState.stored,
            version_id=version,
            retention_mode=str(RetentionMode.COMPLIANCE),
            retain_until=until,
            stored_at=utcnow(),
        )


def _verify_and_mark(image: ArchiveImage, store: ObjectStore, *, actor: str) -> None:
    """Read the image back whole and every call through its offset; then mark its calls archived."""
    from storage.archive.verify import check_calls, check_image

    bucket = get_settings().bucket_archive
    check_image(store, bucket, image=image)
    check_calls(store, bucket, image=image)
    now = utcnow()
    with db_session() as s:
        guarded(
            s,
            ArchiveImage,
            row_id=image.id,
            expected=ImageState.stored,
            state=ImageState.verified,
            verified_at=now,
            fixity_checked_at=now,
            fixity_ok=True,
            fixity_error=None,
        )
        mine = select(ArchiveEntry.call_id).where(ArchiveEntry.image_id == image.id)
        s.execute(
            sa.update(Call)
            .where(col(Call.call_id).in_(mine), col(Call.archived_at).is_(None))
            .values(archived_at=now, updated_at=now)
        )
        audit.record(
            s,
            actor,
            AuditAction.archive_verify,
            source="archive-run",
            detail={"image": image.object_key, "sha256": image.sha256, "calls": image.call_count},
        )


def _delete_hot(image: ArchiveImage, store: ObjectStore) -> int:
    """Flag the image's calls not hot, then delete their objects (a crash between leaves orphans only)."""
    bucket = get_settings().bucket_recordings
    mine = select(ArchiveEntry.call_id).where(ArchiveEntry.image_id == image.id)
    with db_session() as s:
        s.execute(
            sa.update(Call)
            .where(
                col(Call.call_id).in_(mine),
                col(Call.archived_at).is_not(None),
                col(Call.hot_present).is_(True),
            )
            .values(hot_present=False, updated_at=utcnow())
        )
    with db_session() as s:
        keys = list(
            s.exec(
                select(Call.audio_key).where(col(Call.call_id).in_(mine), col(Call.hot_present).is_(False))
            )
        )
    for key in keys:
        store.delete(bucket, key)
    return len(keys)


def _retention_days(image: ArchiveImage) -> int:
    """The longest retention any tenant on the image asks for (never shorter than one of them requires)."""
    s = get_settings()
    with db_session() as ses:
        tenants = set(
            ses.exec(
                select(Call.tenant)
                .join(ArchiveEntry, col(ArchiveEntry.call_id) == col(Call.call_id))
                .where(ArchiveEntry.image_id == image.id)
            )
        )
    return max(
        (s.archive_retention_by_tenant.get(t, s.archive_retention_days) for t in tenants),
        default=s.archive_retention_days,
    )


def _sweep_stale(work: Path) -> None:
    """Remove scratch folders of killed runs on this machine: each can hold a whole disc image."""
    for d in work.iterdir():
        m = _WORK_DIR.fullmatch(d.name)
        if m is None or not d.is_dir() or _alive(int(m.group(1))):
            continue
        log.info("_sweep_stale: removing %s left by a run that died", d)
        shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _hook(on_stage: StageHook | None, stage: str, image: ArchiveImage) -> ArchiveImage:
    if on_stage is not None:
        on_stage(stage, image)
    return image
