"""Fixity checks: recompute archive images' SHA-256 and report the ones that are corrupted or missing.

A failed check is recorded on the image row (``fixity_ok = false`` with the reason), written to the
audit log as ``archive_verify_failed``, and listed by :func:`failed_images` for the admin page.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage import audit, notifications
from storage.archive.plan import Month
from storage.archive.tables import ArchiveEntry, ArchiveImage, ArchiveImagePublic, ImageState
from storage.db import session as db_session
from storage.errors import CallqcError, InvalidInput
from storage.models import AuditAction, utcnow
from storage.objectstore import ChecksumMismatch, ObjectNotFound, ObjectStore, sha256_of
from storage.settings import get_settings
from storage.stores import get_store
from storage.users import Role

log = logging.getLogger(__name__)

_CHECKABLE = (ImageState.stored, ImageState.verified)


class ImageCorrupted(ChecksumMismatch):
    """archive image is corrupted"""


class ImageMissing(ObjectNotFound):
    """archive image is missing"""


class FixityFailed(CallqcError):
    """archive fixity check failed"""


@dataclass(frozen=True)
class FixityResult:
    image_id: int
    object_key: str
    ok: bool
    error: str | None = None


def check_image(store: ObjectStore, bucket: str, *, image: ArchiveImage) -> None:
    """Recompute the whole image's SHA-256 from the store; raise if it differs or the image is gone."""
    try:
        got = sha256_of(store, bucket, image.object_key)
    except ObjectNotFound:
        raise ImageMissing(f"{bucket}/{image.object_key}") from None
    if got != image.sha256:
        raise ImageCorrupted(f"{image.object_key}: SHA-256 is {got}, recorded {image.sha256}")


def check_calls(store: ObjectStore, bucket: str, *, image: ArchiveImage) -> None:
    """Read every call on the image through its manifest offset (one ranged read each) and hash it."""
    with db_session() as s:
        entries = list(s.exec(select(ArchiveEntry).where(ArchiveEntry.image_id == image.id)))
    for e in entries:
        if e.offset is None:
            raise ImageCorrupted(f"{image.object_key}: no offset recorded for call {e.call_id}")
        h = hashlib.sha256()
        for chunk in store.iter_chunks(bucket, image.object_key, offset=e.offset, length=e.length):
            h.update(chunk)
        if h.hexdigest() != e.sha256:
            raise ImageCorrupted(f"{image.object_key}: call {e.call_id} at offset {e.offset} does not match")


def verify_images(
    *,
    month: str | None = None,
    all_months: bool = False,
    actor: str,
    store: ObjectStore | None = None,
) -> list[FixityResult]:
    """Fixity-check the stored images of ``month`` (or all); record and audit every failure."""
    if (month is None) == (not all_months):
        raise InvalidInput("name one month (--month YYYY-MM) or --all")
    store = store or get_store()
    bucket = get_settings().bucket_archive
    with db_session() as s:
        q = select(ArchiveImage).where(col(ArchiveImage.state).in_([str(x) for x in _CHECKABLE]))
        if month is not None:
            q = q.where(ArchiveImage.month == str(Month.parse(month)))
        images = list(
            s.exec(q.order_by(col(ArchiveImage.month), col(ArchiveImage.run_id), col(ArchiveImage.disc)))
        )
    results = []
    for image in images:
        assert image.id is not None
        try:
            check_image(store, bucket, image=image)
            result = FixityResult(image.id, image.object_key, True)
        except CallqcError as exc:
            result = FixityResult(image.id, image.object_key, False, str(exc))
            log.info("verify_images: %s", exc)  # the caller reports it (one line) and audits it
        _record(result, actor=actor)
        results.append(result)
    return results


def _record(result: FixityResult, *, actor: str) -> None:
    with db_session() as s:
        image = s.get(ArchiveImage, result.image_id)
        assert image is not None
        image.fixity_checked_at = utcnow()
        image.fixity_ok = result.ok
        image.fixity_error = (result.error or "")[:512] or None
        s.add(image)
        action = AuditAction.archive_verify if result.ok else AuditAction.archive_verify_failed
        if not result.ok:
            notifications.notify(
                s, notifications.users_with_role(s, (Role.archivist,)), notifications.NotifyKind.archive_failure,
                subject=f"callqc: archive image of {image.month} failed its fixity check",
                payload={"image": result.object_key, "month": image.month, "error": (result.error or "")[:200]},
                event=f"fixity{image.id}:{image.fixity_checked_at.isoformat()}")
        audit.record(
            s,
            actor,
            action,
            source="archive-verify",
            detail={"image": result.object_key, "month": image.month, "error": result.error},
        )


def failed_images(session: Session) -> list[ArchiveImagePublic]:
    """Images whose last fixity check failed, newest check first (the admin page shows these)."""
    rows = session.exec(
        select(ArchiveImage)
        .where(col(ArchiveImage.fixity_ok).is_(False))
        .order_by(col(ArchiveImage.fixity_checked_at).desc())
    )
    return [ArchiveImagePublic.model_validate(r) for r in rows]


def list_images(session: Session, *, month: str | None = None) -> list[ArchiveImagePublic]:
    """Every archive image (optionally of one month), for `callqc archive list` and the admin page."""
    q = select(ArchiveImage)
    if month is not None:
        q = q.where(ArchiveImage.month == str(Month.parse(month)))
    rows = session.exec(q.order_by(col(ArchiveImage.month), col(ArchiveImage.run_id), col(ArchiveImage.disc)))
    return [ArchiveImagePublic.model_validate(r) for r in rows]
