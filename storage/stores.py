"""The process's object store, as the settings name it: a local folder or S3 (storage/objectstore.py
is the protocol both implement)."""

from __future__ import annotations

import os

from storage.local_store import LocalStore
from storage.objectstore import ObjectStore
from storage.settings import get_settings


def make_store() -> ObjectStore:
    """A new object store as the settings name it, with its buckets ready (see :func:`get_store`)."""
    s = get_settings()
    store: ObjectStore
    if s.store == "s3":
        from storage.s3_store import S3Store  # minio loads only where S3 is configured

        store = S3Store.from_settings(s)
    else:
        store = LocalStore(s.resolved_store_dir)
    store.ensure_bucket(s.bucket_recordings)
    store.ensure_bucket(s.bucket_models)
    store.ensure_bucket(s.bucket_archive, object_lock=True)
    return store


_cached: tuple[object, int, ObjectStore] | None = None


def get_store() -> ObjectStore:
    """The process's object store, made once: buckets are checked once and connections pooled.

    Made again when the settings object changes (``reset_settings()`` in tests) or after a fork, so a
    worker process never shares the parent's connection pool.
    """
    global _cached
    settings = get_settings()
    if _cached is None or _cached[0] is not settings or _cached[1] != os.getpid():
        _cached = (settings, os.getpid(), make_store())
    return _cached[2]


