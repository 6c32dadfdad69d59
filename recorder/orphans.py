"""Unregistered recording objects: what an ingest killed between storing and registering leaves.

Every other failure removes its object (see :mod:`recorder.ingest`); a process killed at that one
moment cannot. Such an object belongs to no call: its key carries the attempt's tag, so the retry
stored its own copy. :func:`sweep_orphans` finds the objects in the recordings bucket that no
``calls`` row names and that are older than ``older_than_s`` (an upload in progress is younger:
it registers seconds after its object is stored), and removes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage.calls import Call
from storage.db import session
from storage.objectstore import ObjectInfo, ObjectStore
from storage.settings import get_settings

log = logging.getLogger(__name__)
PREFIX = "recordings/"
_BATCH = 500


def find_orphans(store: ObjectStore, *, older_than_s: float, engine: Engine | None = None) -> Iterator[ObjectInfo]:
    """Objects under ``recordings/`` older than ``older_than_s`` that no call points to."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    batch: list[ObjectInfo] = []
    for info in store.list(get_settings().bucket_recordings, PREFIX):
        if info.last_modified is None or info.last_modified > cutoff:
            continue
        batch.append(info)
        if len(batch) >= _BATCH:
            yield from _unregistered(batch, engine)
            batch = []
    yield from _unregistered(batch, engine)


def sweep_orphans(
    store: ObjectStore, *, older_than_s: float, dry_run: bool = False, engine: Engine | None = None
) -> list[str]:
    """Remove (or with ``dry_run`` only list) the orphans; returns their keys."""
    bucket = get_settings().bucket_recordings
    keys = [info.key for info in find_orphans(store, older_than_s=older_than_s, engine=engine)]
    for key in keys:
        if not dry_run:
            store.delete(bucket, key)
            log.info("orphans: removed %s/%s", bucket, key)
    return keys


def _unregistered(batch: list[ObjectInfo], engine: Engine | None) -> Iterator[ObjectInfo]:
    if not batch:
        return
    with session(engine) as s:
        named = set(s.exec(select(Call.audio_key).where(col(Call.audio_key).in_([i.key for i in batch]))))
    yield from (info for info in batch if info.key not in named)
