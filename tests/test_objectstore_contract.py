"""One contract for every object store: the local folder and a real S3 server (Ceph RGW)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest
from pydantic import SecretStr

from storage.errors import ServiceUnavailable
from storage.objectstore import (
    CHUNK,
    ChecksumMismatch,
    ObjectNotFound,
    ObjectStore,
    Retention,
    RetentionLocked,
    RetentionMode,
    sha256_of,
)
from storage.s3_store import S3RequestFailed, S3Store, parse_s3_datetime
from storage.settings import get_settings, reset_settings
from storage.stores import get_store, make_store

PART = 5 * 1024 * 1024  # the smallest part S3 allows


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """The store the settings name, once as the local folder and once on the real S3 server."""
    monkeypatch.setenv("CALLQC_MULTIPART_PART_BYTES", str(PART))
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    reset_settings()
    return get_store()


def _put(store: ObjectStore, key: str, data: bytes, *, bucket: str | None = None):
    return store.put_stream(bucket or get_settings().bucket_recordings, key, io.BytesIO(data),
                            length=len(data))


def test_put_stat_get_round_trip_records_sha256(store: ObjectStore) -> None:
    """What goes in comes out byte for byte, and stat reports the SHA-256 recorded at upload."""
    bucket, data = get_settings().bucket_recordings, os.urandom(70_000)
    digest = hashlib.sha256(data).hexdigest()
    info = store.put_stream(bucket, "recordings/2026/01/02/c1.wav", io.BytesIO(data), sha256=digest)
    st = store.stat(bucket, "recordings/2026/01/02/c1.wav")
    assert (info.size, info.sha256) == (len(data), digest)
    assert (st.size, st.sha256) == (len(data), digest)
    assert store.get_range(bucket, "recordings/2026/01/02/c1.wav") == data


def test_checksum_mismatch_stores_nothing(store: ObjectStore) -> None:
    """A wrong expected SHA-256 raises ChecksumMismatch and leaves no object behind."""
    bucket = get_settings().bucket_recordings
    with pytest.raises(ChecksumMismatch):
        store.put_stream(bucket, "bad/c2.wav", io.BytesIO(b"audio bytes"), sha256="0" * 64)
    with pytest.raises(ObjectNotFound):
        store.stat(bucket, "bad/c2.wav")
    assert list(store.list(bucket, "bad/")) == []


def test_ranged_read_returns_exact_bytes(store: ObjectStore) -> None:
    """get_range returns exactly the bytes asked for, including the tail and ranges past the end."""
    data = bytes(range(256)) * 40
    _put(store, "r/c3.wav", data)
    bucket = get_settings().bucket_recordings
    for offset, length in [(0, 1), (10, 15), (255, 1000), (len(data) - 7, None), (len(data), None), (5, 0)]:
        want = data[offset:] if length is None else data[offset:offset + length]
        assert store.get_range(bucket, "r/c3.wav", offset=offset, length=length) == want


def test_iter_chunks_streams_in_bounded_pieces(store: ObjectStore) -> None:
    """iter_chunks yields the object in pieces of at most CHUNK bytes that join to the whole."""
    data = os.urandom(2 * CHUNK + 1234)
    _put(store, "s/c4.wav", data)
    chunks = list(store.iter_chunks(get_settings().bucket_recordings, "s/c4.wav"))
    assert len(chunks) >= 3 and all(len(c) <= CHUNK for c in chunks)
    assert b"".join(chunks) == data
    part = b"".join(store.iter_chunks(get_settings().bucket_recordings, "s/c4.wav", offset=CHUNK - 3,
                                      length=9))
    assert part == data[CHUNK - 3:CHUNK + 6]


def test_list_by_prefix_in_key_order(store: ObjectStore) -> None:
    """list(prefix) gives only that prefix's objects, sorted by key, with their sizes."""
    keys = [f"recordings/2026/03/{d:02d}/call-{i}.wav" for d in (1, 2) for i in range(3)] + ["other/x.wav"]
    for key in random.sample(keys, len(keys)):
        _put(store, key, key.encode())
    listed = list(store.list(get_settings().bucket_recordings, "recordings/2026/03/"))
    assert [o.key for o in listed] == sorted(k for k in keys if k.startswith("recordings/"))
    assert [o.size for o in listed] == [len(o.key) for o in listed]


def test_delete_removes_object_and_is_idempotent(store: ObjectStore) -> None:
    """After delete the object is gone; deleting it again is not an error."""
    bucket = get_settings().bucket_recordings
    _put(store, "d/c5.wav", b"x" * 100)
    store.delete(bucket, "d/c5.wav")
    with pytest.raises(ObjectNotFound):
        store.stat(bucket, "d/c5.wav")
    store.delete(bucket, "d/c5.wav")


def test_missing_object_raises_object_not_found(store: ObjectStore) -> None:
    """Every read of a missing object raises ObjectNotFound."""
    bucket = get_settings().bucket_recordings
    for read in (
        lambda: store.stat(bucket, "nope/c6.wav"),
        lambda: store.get_range(bucket, "nope/c6.wav", offset=3, length=4),
        lambda: list(store.iter_chunks(bucket, "nope/c6.wav")),
        lambda: store.presigned_get(bucket, "nope/c6.wav"),
    ):
        with pytest.raises(ObjectNotFound):
            read()


def test_presigned_url_serves_the_object(store: ObjectStore) -> None:
    """The presigned URL fetches the object (file:// path locally; HTTP GET on S3, with the set TTL)."""
    data = os.urandom(3000)
    _put(store, "p/c7.wav", data)
    url = store.presigned_get(get_settings().bucket_recordings, "p/c7.wav")
    if isinstance(store, S3Store):
        assert f"X-Amz-Expires={get_settings().presign_ttl_s}" in url
        response = httpx.get(url)
        assert (response.status_code, response.content) == (200, data)
    else:
        assert Path(unquote(urlparse(url).path)).read_bytes() == data


@pytest.mark.integration
def test_presigned_url_stops_working_after_its_ttl(s3_settings: object) -> None:
    """An S3 presigned URL with a 1 s lifetime is refused once that second has passed."""
    store = get_store()
    _put(store, "p/c8.wav", b"short-lived")
    short = store.presigned_get(get_settings().bucket_recordings, "p/c8.wav", ttl_s=1)
    time.sleep(2.5)  # X-Amz-Date has one-second resolution
    long = store.presigned_get(get_settings().bucket_recordings, "p/c8.wav", ttl_s=600)
    assert httpx.get(short).status_code == 403
    assert httpx.get(long).content == b"short-lived"  # the same request, only the lifetime differs


def test_multipart_upload_of_file_larger_than_one_part(store: ObjectStore, tmp_path: Path) -> None:
    """A file over two parts long is stored whole: size, SHA-256 and a read across part boundaries agree."""
    path = tmp_path / "big.wav"
    data = os.urandom(2 * PART + 777)
    path.write_bytes(data)
    bucket, digest = get_settings().bucket_recordings, hashlib.sha256(data).hexdigest()
    info = store.put_file(bucket, "m/big.wav", path, sha256=digest)
    assert (info.size, store.stat(bucket, "m/big.wav").sha256) == (len(data), digest)
    assert store.get_range(bucket, "m/big.wav", offset=PART - 10, length=20) == data[PART - 10:PART + 10]
    assert sha256_of(store, bucket, "m/big.wav") == digest
    if isinstance(store, S3Store):  # a multipart ETag ends in -<number of parts>
        assert str(store.client.stat_object(bucket, "m/big.wav").etag).endswith("-3")


def test_object_lock_retention_refuses_delete_and_legal_hold_toggles(store: ObjectStore) -> None:
    """COMPLIANCE retention reads back, blocks deleting the version; so does a legal hold, until lifted."""
    bucket = get_settings().bucket_archive
    locked = _put(store, "a/vol-0001.iso", b"iso image", bucket=bucket)
    held = _put(store, "a/vol-0002.iso", b"another image", bucket=bucket)
    if isinstance(store, S3Store):
        assert locked.version_id and held.version_id  # Object Lock buckets are versioned
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    store.set_retention(bucket, locked.key, mode=RetentionMode.COMPLIANCE, until=until,
                        version_id=locked.version_id)
    assert store.get_retention(bucket, locked.key, version_id=locked.version_id) == Retention(
        RetentionMode.COMPLIANCE, until)
    assert store.get_retention(bucket, held.key, version_id=held.version_id) is None
    with pytest.raises(RetentionLocked):
        store.delete(bucket, locked.key, version_id=locked.version_id)
    assert store.get_range(bucket, locked.key) == b"iso image"

    assert store.get_legal_hold(bucket, held.key, version_id=held.version_id) is False
    store.set_legal_hold(bucket, held.key, True, version_id=held.version_id)
    assert store.get_legal_hold(bucket, held.key, version_id=held.version_id) is True
    with pytest.raises(RetentionLocked):
        store.delete(bucket, held.key, version_id=held.version_id)
    store.set_legal_hold(bucket, held.key, False, version_id=held.version_id)
    assert store.get_legal_hold(bucket, held.key, version_id=held.version_id) is False
    store.delete(bucket, held.key, version_id=held.version_id)
    with pytest.raises(ObjectNotFound):
        store.stat(bucket, held.key)


def test_make_store_ensures_buckets_and_get_store_caches(store: ObjectStore) -> None:
    """make_store readies all three buckets (again, idempotently); get_store keeps one store per settings."""
    s = get_settings()
    again = make_store()
    for bucket in (s.bucket_recordings, s.bucket_models, s.bucket_archive):
        again.put_stream(bucket, "probe.bin", io.BytesIO(b"p"))
        assert store.get_range(bucket, "probe.bin") == b"p"
    if isinstance(store, S3Store):
        assert store.client.get_object_lock_config(s.bucket_archive) is not None
    assert get_store() is store
    reset_settings()
    assert get_store() is not store


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_transient_errors_are_retried_then_service_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    """A refused connection is retried with backoff the set number of times, then ServiceUnavailable."""
    settings = get_settings().model_copy(update={
        "store": "s3", "s3_endpoint": f"127.0.0.1:{_closed_port()}", "s3_secure": False,
        "s3_access_key": SecretStr("k"), "s3_secret_key": SecretStr("s"),
    })
    store = S3Store.from_settings(settings, attempts=3, backoff_s=0.01)
    with caplog.at_level(logging.WARNING, logger="storage.s3_store"), pytest.raises(ServiceUnavailable):
        store.stat("callqc-recordings", "x.wav")
    assert [r.getMessage().split(": attempt ")[1][:1] for r in caplog.records] == ["1", "2"]


@pytest.mark.integration
def test_client_errors_are_not_retried(s3_settings: object, caplog: pytest.LogCaptureFixture) -> None:
    """A missing key or a bad signature fails at once, without a single retry."""
    store = get_store()
    wrong_key = get_settings().model_copy(update={"s3_secret_key": SecretStr("wrong")})
    bad = S3Store.from_settings(wrong_key, backoff_s=0.01)
    with caplog.at_level(logging.WARNING, logger="storage.s3_store"):
        with pytest.raises(ObjectNotFound):
            store.stat(get_settings().bucket_recordings, "never/there.wav")
        with pytest.raises(S3RequestFailed, match="SignatureDoesNotMatch"):
            bad.get_range(get_settings().bucket_recordings, "never/there.wav")
    assert caplog.records == []


def test_retain_until_date_parses_any_fraction() -> None:
    """Retain-until dates parse with 0, 3 or 9 fractional digits (radosgw sends 9)."""
    want = datetime(2026, 11, 27, 0, 4, 41, 123456, tzinfo=UTC)
    assert parse_s3_datetime("2026-11-27T00:04:41.123456789Z") == want
    assert parse_s3_datetime("2026-11-27T00:04:41.123456Z") == want
    assert parse_s3_datetime("2026-11-27T00:04:41.000Z") == want.replace(microsecond=0)
    assert parse_s3_datetime("2026-11-27T08:04:41+08:00") == want.replace(microsecond=0)


@pytest.mark.integration
def test_ensure_bucket_warns_when_existing_bucket_lacks_object_lock(
    s3_settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Asking for Object Lock on a bucket made without it is idempotent but logs that WORM is impossible."""
    store = get_store()
    plain = get_settings().bucket_recordings  # made without Object Lock
    with caplog.at_level(logging.WARNING, logger="storage.s3_store"):
        store.ensure_bucket(plain, object_lock=True)
        store.ensure_bucket(get_settings().bucket_archive, object_lock=True)
    messages = [r.getMessage() for r in caplog.records]
    assert [plain in m and "without Object Lock" in m for m in messages] == [True]


class _CuttingProxy:
    """A TCP proxy to S3 that breaks the first connection sending more than ``cut_after`` bytes back."""

    def __init__(self, target: str, *, cut_after: int) -> None:
        host, port = target.split(":")
        self.target, self.cut_after, self.cuts = (host, int(port)), cut_after, 0
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for src, dst, watch in ((client, server, False), (server, client, True)):
                t = threading.Thread(target=self._pump, args=(src, dst, watch), daemon=True)
                self.threads.append(t)
                t.start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
                sent += len(data)
                if watch and sent > self.cut_after and self.cuts == 0:
                    self.cuts += 1
                    break
        _shut(src, dst)

    def close(self) -> None:
        # shutdown (unlike close) wakes a blocked accept() and the pumps of kept-alive connections
        _shut(self.listener, *self.sockets)
        for t in self.threads:
            t.join(timeout=5)


def _shut(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.mark.integration
def test_download_broken_mid_stream_resumes_where_it_stopped(
    s3_settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection cut mid-download is retried from the next byte; the bytes come out whole."""
    data = os.urandom(3 * CHUNK)
    _put(get_store(), "cut/c9.wav", data)
    proxy = _CuttingProxy(get_settings().s3_endpoint or "", cut_after=CHUNK)
    try:
        through = S3Store.from_settings(get_settings().model_copy(update={"s3_endpoint": proxy.endpoint}),
                                        backoff_s=0.01)
        with caplog.at_level(logging.WARNING, logger="storage.s3_store"):
            got = b"".join(through.iter_chunks(get_settings().bucket_recordings, "cut/c9.wav"))
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert got == data
    assert [r.getMessage().endswith("resuming") for r in caplog.records] == [True]
