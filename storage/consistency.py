"""Does the database agree with the object store? The check behind `callqc check`.

Three promises are checked, on the local store and on S3 alike:

- every call row whose hot copy should be there has its object, of the recorded size and SHA-256
  (the SHA-256 recorded with the object at upload, or with ``deep`` the bytes read and hashed
  again); the same for each redacted audio copy;
- every object in the recordings and archive buckets is named by a row (else it is an orphan);
- every archived call has its archive entry on a stored image, and every stored image its object
  with the recorded size and SHA-256.

The expected keys are held in memory (about 200 bytes a call). Objects younger than
``orphan_min_age_s`` are not called orphans: an upload in progress stores its object a moment
before its row commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select

from storage.archive.tables import ArchiveEntry, ArchiveImage, ImageState
from storage.calls import Call
from storage.db import session as db_session
from storage.models import utcnow
from storage.objectstore import ObjectInfo, ObjectNotFound, ObjectStore, sha256_of
from storage.redactions import CallRedaction
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)
_BATCH = 2000


class Problem(StrEnum):
    missing = "missing"  # a row names an object that is not there
    size = "size"  # the object's size differs from the row's
    hash = "hash"  # the object's SHA-256 differs from the row's
    orphan = "orphan"  # an object no row names
    no_image = "no-image"  # an archived call without an entry on a stored image
    lost = "lost"  # a call with neither a hot copy nor an archive entry


@dataclass(frozen=True)
class Finding:
    problem: Problem
    bucket: str
    key: str
    call_id: str | None = None
    detail: str = ""

    def line(self) -> str:
        who = f" call {self.call_id}" if self.call_id else ""
        more = f" ({self.detail})" if self.detail else ""
        return f"{self.problem:<8} {self.bucket}/{self.key}{who}{more}"


@dataclass
class Report:
    calls: int = 0
    objects: int = 0
    images: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.problem] = counts.get(f.problem, 0) + 1
        head = f"{self.calls} calls, {self.objects} objects, {self.images} archive images"
        if self.ok:
            return f"check: clean ({head})"
        parts = ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))
        return f"check: {len(self.findings)} problems ({parts}) in {head}"


@dataclass(frozen=True)
class _Expected:
    call_id: str
    size: int
    sha256: str


def check(
    *, store: ObjectStore | None = None, deep: bool = False, orphan_min_age_s: float = 3600.0
) -> Report:
    """Compare every row with the object store; never changes anything."""
    store = store or get_store()
    settings = get_settings()
    report = Report()
    with db_session() as s:
        hot = _expected_hot(s, report)
        images = _expected_images(s, report)
    young = utcnow() - timedelta(seconds=orphan_min_age_s)
    _compare(store, settings.bucket_recordings, hot, report, deep=deep, young=young)
    _compare(store, settings.bucket_archive, images, report, deep=deep, young=young)
    log.info("check: %s", report.summary())
    return report


def _expected_hot(s: Session, report: Report) -> dict[str, _Expected]:
    """Key → what the recordings bucket must hold; archive-side gaps go straight into the report."""
    expected: dict[str, _Expected] = {}
    archived = _archived_calls(s)
    for call in _each(s):
        report.calls += 1
        if call.hot_present:
            expected[call.audio_key] = _Expected(call.call_id, call.size_bytes, call.sha256)
        elif call.call_id not in archived:
            report.findings.append(Finding(Problem.lost, get_settings().bucket_recordings, call.audio_key,
                                           call.call_id, "no hot copy and no archive entry"))
        if call.archived_at is not None and call.call_id not in archived:
            report.findings.append(Finding(Problem.no_image, get_settings().bucket_archive, "-", call.call_id,
                                           "marked archived, but on no stored image"))
    for red in s.exec(select(CallRedaction).where(col(CallRedaction.audio_key).is_not(None))):
        owner = s.get(Call, red.call_id)
        if owner is None or owner.disposed_at is not None or red.audio_key is None:
            continue
        expected[red.audio_key] = _Expected(red.call_id, red.audio_size or 0, red.audio_sha256 or "")
    return expected


def _archived_calls(s: Session) -> set[str]:
    stored = (ImageState.stored, ImageState.verified)
    return set(
        s.exec(
            select(ArchiveEntry.call_id)
            .join(ArchiveImage, col(ArchiveImage.id) == col(ArchiveEntry.image_id))
            .where(col(ArchiveImage.state).in_([st.value for st in stored]))
        )
    )


def _each(s: Session) -> Iterator[Call]:
    """Every call, in batches by call ID (a million rows never sit in one result)."""
    after = ""
    while True:
        batch = list(s.exec(select(Call).where(col(Call.call_id) > after).order_by(col(Call.call_id))
                            .limit(_BATCH)))
        if not batch:
            return
        yield from batch
        after = batch[-1].call_id
        s.expunge_all()


def _expected_images(s: Session, report: Report) -> dict[str, _Expected]:
    expected: dict[str, _Expected] = {}
    for image in s.exec(select(ArchiveImage).where(
            col(ArchiveImage.state).in_([ImageState.stored.value, ImageState.verified.value]))):
        report.images += 1
        expected[image.object_key] = _Expected(f"image {image.id}", image.size_bytes or 0, image.sha256 or "")
    return expected


def _compare(
    store: ObjectStore, bucket: str, expected: dict[str, _Expected], report: Report, *, deep: bool, young: datetime
) -> None:
    seen: set[str] = set()
    for info in store.list(bucket):
        report.objects += 1
        want = expected.get(info.key)
        if want is None:
            if info.last_modified is None or info.last_modified < young:
                report.findings.append(Finding(Problem.orphan, bucket, info.key, detail=f"{info.size} bytes"))
            continue
        seen.add(info.key)
        _compare_one(store, info, want, report, deep=deep)
    for key, want in expected.items():
        if key not in seen:
            report.findings.append(Finding(Problem.missing, bucket, key, _call(want)))


def _compare_one(store: ObjectStore, info: ObjectInfo, want: _Expected, report: Report, *, deep: bool) -> None:
    if info.size != want.size:
        report.findings.append(Finding(Problem.size, info.bucket, info.key, _call(want),
                                       f"{info.size} bytes, recorded {want.size}"))
        return
    try:
        if deep:
            got = sha256_of(store, info.bucket, info.key)
        else:
            got = info.sha256 or store.stat(info.bucket, info.key).sha256 or ""  # S3 lists carry no SHA-256
    except ObjectNotFound:  # deleted between the listing and now
        report.findings.append(Finding(Problem.missing, info.bucket, info.key, _call(want)))
        return
    if got != want.sha256:
        report.findings.append(Finding(Problem.hash, info.bucket, info.key, _call(want),
                                       f"sha256 {got[:12] or 'none'}…, recorded {want.sha256[:12]}…"))


def _call(want: _Expected) -> str | None:
    return None if want.call_id.startswith("image ") else want.call_id
