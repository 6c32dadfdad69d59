"""Legal hold by call ID: the call's archive image cannot be deleted while any of its calls is held.

The hold is on the image object (S3 legal hold; the local store records it). A hold row per call
keeps track of who asked, so releasing one call keeps the image held while other calls on it are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import col, func, select

from storage import audit
from storage.archive.tables import ArchiveEntry, ArchiveHold, ArchiveImage, ImageState
from storage.db import session as db_session
from storage.errors import Conflict, NotFound
from storage.keys import validate_call_id
from storage.models import AuditAction
from storage.objectstore import ObjectStore
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)


class NotArchived(NotFound):
    """call is not in a stored archive image"""


class NoHold(Conflict):
    """call has no legal hold"""


@dataclass(frozen=True)
class HoldState:
    call_id: str
    object_key: str
    image_held: bool  # whether the image's legal hold is on after this change


def hold(
    call_id: str, *, actor: str, reason: str | None = None, store: ObjectStore | None = None
) -> HoldState:
    """Put a legal hold on the image holding ``call_id`` (idempotent)."""
    cid = validate_call_id(call_id)
    store = store or get_store()
    image = _image_of(cid)
    assert image.id is not None
    # the object first: a crash afterwards leaves the image held without a row, which is the safe side
    store.set_legal_hold(get_settings().bucket_archive, image.object_key, True, version_id=image.version_id)
    with db_session() as s:
        if s.get(ArchiveHold, cid) is None:
            s.add(ArchiveHold(call_id=cid, image_id=image.id, actor=actor, reason=reason))
        row = s.get(ArchiveImage, image.id)
        assert row is not None
        row.legal_hold = True
        s.add(row)
        audit.record(
            s,
            actor,
            AuditAction.legal_hold,
            call_id=cid,
            source="archive",
            detail={"image": image.object_key, "reason": reason},
        )
    log.info("hold: %s on %s by %s", cid, image.object_key, actor)
    return HoldState(cid, image.object_key, True)


def release(call_id: str, *, actor: str, store: ObjectStore | None = None) -> HoldState:
    """Drop the call's hold; lift the image's legal hold when no other call on it is held."""
    cid = validate_call_id(call_id)
    store = store or get_store()
    image = _image_of(cid)
    with db_session() as s:
        held = s.get(ArchiveHold, cid)
        if held is None:
            raise NoHold(cid)
        s.delete(held)
        s.flush()
        others = s.exec(
            select(func.count()).select_from(ArchiveHold).where(col(ArchiveHold.image_id) == image.id)
        ).one()
        row = s.get(ArchiveImage, image.id)
        assert row is not None
        row.legal_hold = others > 0
        s.add(row)
        if others == 0:
            # inside the transaction: if lifting fails, the hold row stays and the image stays held
            store.set_legal_hold(
                get_settings().bucket_archive, image.object_key, False, version_id=image.version_id
            )
        audit.record(
            s,
            actor,
            AuditAction.legal_release,
            call_id=cid,
            source="archive",
            detail={"image": image.object_key, "image_still_held": others > 0},
        )
    log.info("release: %s on %s by %s", cid, image.object_key, actor)
    return HoldState(cid, image.object_key, others > 0)


def _image_of(cid: str) -> ArchiveImage:
    with db_session() as s:
        image = s.exec(
            select(ArchiveImage)
            .join(ArchiveEntry, col(ArchiveEntry.image_id) == col(ArchiveImage.id))
            .where(ArchiveEntry.call_id == cid)
        ).first()
    if image is None or image.state not in (ImageState.stored, ImageState.verified):
        raise NotArchived(cid)
    return image
