"""The S3 object store on the ``minio`` client: MinIO, Ceph RADOS Gateway, AWS S3.

Uploads are hashed before anything is sent: a stream is spooled (RAM up to 8 MiB, then a temp file) while
its SHA-256 is computed, so a checksum mismatch stores nothing at all, the SHA-256 goes into the object's
user metadata (``x-amz-meta-sha256``) in the same request, and a retry can rewind. The bytes are hashed
again as they go out; if they differ (a file changed under us) the new version is deleted and the
upload fails. Large bodies go up as multipart uploads of ``multipart_part_bytes``.

Only transient failures are retried, with exponential backoff: refused or reset connections, timeouts,
5xx answers, ``SlowDown``. A 4xx answer (missing key, access denied, bad request) fails at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import urllib3
from minio import Minio
from minio.datatypes import Object as MinioObject
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.retention import Retention as MinioRetention
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from storage.errors import CallqcError, Forbidden, InvalidInput, ServiceUnavailable
from storage.objectstore import (
    CHUNK,
    ChecksumMismatch,
    ObjectInfo,
    ObjectNotFound,
    Retention,
    RetentionLocked,
    RetentionMode,
)

if TYPE_CHECKING:
    from pathlib import Path

    from storage.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

SHA256_META = "x-amz-meta-sha256"
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0
_TRANSIENT_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "OperationAborted"}
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket"}
# radosgw answers ObjectLockConfigurationNotFoundError where AWS/MinIO say NoSuchObjectLockConfiguration
_NO_LOCK_CODES = {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}
_TRANSIENT = (
    urllib3.exceptions.ProtocolError,  # connection reset / aborted mid-request
    urllib3.exceptions.TimeoutError,  # connect and read timeouts, refused connections
    urllib3.exceptions.IncompleteRead,
    ConnectionError,
    TimeoutError,
)


class S3NotConfigured(InvalidInput):
    """S3 store is not configured"""


class S3RequestFailed(CallqcError):
    """S3 request failed"""


class S3Unavailable(ServiceUnavailable):
    """S3 server unavailable"""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying can help: connection trouble, 5xx, throttling. Never a 4xx."""
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, ServerError):
        return exc.status_code >= 500
    if isinstance(exc, InvalidResponseError):  # a non-XML answer, e.g. a proxy's 502 page
        return getattr(exc, "_code", 0) >= 500
    if isinstance(exc, S3Error):
        status = getattr(exc.response, "status", 0) or 0
        return exc.code in _TRANSIENT_CODES or status >= 500
    return False


def parse_s3_datetime(text: str) -> datetime:
    """An ISO 8601 UTC timestamp with any number of fractional digits (radosgw sends 9, Python takes 6)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?", text.strip())
    if not m:
        raise S3RequestFailed(f"unreadable timestamp {text!r}")
    frac = (m[2] or "")[:6].ljust(6, "0")
    zone = "+00:00" if m[3] in (None, "Z") else m[3]
    return datetime.fromisoformat(f"{m[1]}.{frac}{zone}").astimezone(UTC)


class S3Store:
    """Objects in S3 buckets, through one ``minio`` client."""

    def __init__(
        self, client: Minio, endpoint: str, *, part_bytes: int = 16 * 1024 * 1024, presign_ttl_s: int = 300,
        region: str | None = None, attempts: int = 5, backoff_s: float = 0.2, backoff_max_s: float = 5.0,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.part_bytes = part_bytes
        self.presign_ttl_s = presign_ttl_s
        self.region = region
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> S3Store:
        """A store for ``CALLQC_S3_*``; ``kwargs`` tune retries (tests)."""
        if not settings.s3_endpoint or not settings.s3_access_key or not settings.s3_secret_key:
            raise S3NotConfigured("set CALLQC_S3_ENDPOINT, CALLQC_S3_ACCESS_KEY and CALLQC_S3_SECRET_KEY")
        # minio's own pool retries 5xx five times inside each call; retries happen here instead, once,
        # and only for transient errors. Without ca_certs OpenSSL's defaults apply (SSL_CERT_FILE works).
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
            maxsize=10,
            cert_reqs="CERT_REQUIRED" if settings.s3_cert_check else "CERT_NONE",
            retries=False,
        )
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region or None,
            http_client=http,
            cert_check=settings.s3_cert_check,
        )
        return cls(client, settings.s3_endpoint, part_bytes=settings.multipart_part_bytes,
                   presign_ttl_s=settings.presign_ttl_s, region=settings.s3_region or None, **kwargs)

    # --- retries and error mapping -------------------------------------------------------------
    def _call(self, what: str, where: str, fn: Callable[[], T], *, ok_codes: frozenset[str] = frozenset(),
              locked_on_denied: bool = False) -> T | None:
        """Run one S3 request with retries; map what still fails to callqc's errors."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=self.backoff_max_s),
            before_sleep=lambda state: self._log_retry(what, where, state),
            reraise=True,
        )
        try:
            return retrying(fn)
        except S3Error as exc:
            if exc.code in ok_codes:
                return None
            raise self._mapped(exc, what, where, locked_on_denied=locked_on_denied) from exc
        except Exception as exc:
            raise self._mapped(exc, what, where, locked_on_denied=locked_on_denied) from exc

    def _log_retry(self, what: str, where: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("s3 %s %s: attempt %d failed (%s), retrying", what, where, state.attempt_number,
                    _reason(exc))

    def _mapped(self, exc: BaseException, what: str, where: str, *,
                locked_on_denied: bool = False) -> Exception:
        if is_transient(exc):
            return S3Unavailable(f"{self.endpoint}: {what} {where}: {_reason(exc)} (gave up after retries)")
        if isinstance(exc, S3Error):
            if exc.code in _NOT_FOUND_CODES:
                return ObjectNotFound(f"{where} ({exc.code})")
            if exc.code == "AccessDenied":
                return RetentionLocked(where) if locked_on_denied else Forbidden(f"S3 {what} {where}")
        if isinstance(exc, ValueError):  # the minio client's own argument checks, e.g. a bad bucket name
            return InvalidInput(f"{what} {where}: {exc}")
        return S3RequestFailed(f"{what} {where}: {_reason(exc)}")

    def _backoff(self, attempt: int, what: str, where: str, exc: BaseException) -> None:
        log.warning("s3 %s %s: attempt %d failed (%s), resuming", what, where, attempt, _reason(exc))
        time.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s))

    # --- buckets -----------------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str, *, object_lock: bool = False) -> None:
        if self._call("bucket_exists", bucket, lambda: self.client.bucket_exists(bucket)):
            if object_lock and self._call("get_object_lock_config", bucket,
                                          lambda: self.client.get_object_lock_config(bucket),
                                          ok_codes=frozenset(_NO_LOCK_CODES)) is None:
                # existing data stays reachable; set_retention on it will fail loudly
                log.warning("bucket %s exists without Object Lock: no WORM retention possible", bucket)
            return
        self._call("make_bucket", bucket,
                   lambda: self.client.make_bucket(bucket, location=self.region, object_lock=object_lock),
                   ok_codes=frozenset({"BucketAlreadyOwnedByYou"}))  # a parallel worker was quicker
        log.info("created bucket %s (object lock %s)", bucket, "on" if object_lock else "off")

    # --- writing -----------------------------------------------------------------------------------
    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, *, length: int = -1, sha256: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            h = hashlib.sha256()
            size = 0
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                h.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            digest = h.hexdigest()
            _check(bucket, key, digest, size, sha256=sha256, length=length)
            return self._upload(bucket, key, spool, size=size, digest=digest, content_type=content_type)

    def put_file(self, bucket: str, key: str, path: Path, *, sha256: str | None = None) -> ObjectInfo:
        from storage.objectstore import sha256_file

        digest = sha256_file(path)
        _check(bucket, key, digest, -1, sha256=sha256, length=-1)
        with path.open("rb") as fh:
            return self._upload(bucket, key, fh, size=path.stat().st_size, digest=digest,
                                content_type="application/octet-stream")

    def _upload(self, bucket: str, key: str, fh: IO[bytes], *, size: int, digest: str,
                content_type: str) -> ObjectInfo:
        where = f"{bucket}/{key}"
        sent = _HashingReader(fh)

        def attempt() -> object:
            sent.rewind()
            return self.client.put_object(bucket, key, cast(BinaryIO, sent), size, content_type=content_type,
                                          metadata={SHA256_META: digest}, part_size=self.part_bytes)

        result = self._call("put", where, attempt)
        version_id = getattr(result, "version_id", None)
        if sent.hexdigest() != digest or sent.size != size:
            self._call("delete", where, lambda: self.client.remove_object(bucket, key, version_id=version_id))
            raise ChecksumMismatch(f"{where}: the data changed while it was uploaded; removed again")
        log.info("stored %s (%d bytes, version %s)", where, size, version_id)
        return ObjectInfo(bucket, key, size, digest, version_id, datetime.now(UTC))

    # --- reading -----------------------------------------------------------------------------------
    def stat(self, bucket: str, key: str) -> ObjectInfo:
        obj = self._head(bucket, key)
        return ObjectInfo(bucket, key, obj.size or 0, (obj.metadata or {}).get(SHA256_META), obj.version_id,
                          obj.last_modified)

    def _head(self, bucket: str, key: str, *, version_id: str | None = None) -> MinioObject:
        obj = self._call("stat", f"{bucket}/{key}",
                         lambda: self.client.stat_object(bucket, key, version_id=version_id))
        assert obj is not None
        return obj

    def get_range(self, bucket: str, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        return b"".join(self.iter_chunks(bucket, key, offset=offset, length=length))

    def iter_chunks(
        self, bucket: str, key: str, *, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        where = f"{bucket}/{key}"
        if length == 0:  # S3 has no empty range: minio reads length 0 as "to the end"
            self.stat(bucket, key)
            return
        done = 0
        for attempt in range(1, self.attempts + 1):
            response = self._call("get", where, partial(
                self.client.get_object, bucket, key, offset=offset + done,
                length=0 if length is None else length - done,  # 0: to the end
            ), ok_codes=frozenset({"InvalidRange"}))
            if response is None:  # offset at or past the end: nothing to read, as from a file
                self.stat(bucket, key)
                return
            try:
                for chunk in response.stream(CHUNK):
                    done += len(chunk)
                    yield chunk
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == self.attempts:
                    raise self._mapped(exc, "get", where) from exc
                self._backoff(attempt, "get", where, exc)  # resume after the bytes already given out
            finally:
                response.close()
                response.release_conn()

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Key, size, version and time; S3 listings carry no user metadata, so ``sha256`` is None."""
        last: str | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                for obj in self.client.list_objects(bucket, prefix=prefix, recursive=True, start_after=last):
                    if obj.is_dir or obj.object_name is None:
                        continue
                    last = obj.object_name
                    yield ObjectInfo(bucket, obj.object_name, obj.size or 0, None, obj.version_id,
                                     obj.last_modified)
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == self.attempts:
                    raise self._mapped(exc, "list", f"{bucket}/{prefix}") from exc
                self._backoff(attempt, "list", f"{bucket}/{prefix}", exc)

    def presigned_get(self, bucket: str, key: str, *, ttl_s: int | None = None) -> str:
        self.stat(bucket, key)
        ttl = timedelta(seconds=ttl_s if ttl_s is not None else self.presign_ttl_s)
        url = self._call("presign", f"{bucket}/{key}",
                         lambda: self.client.presigned_get_object(bucket, key, expires=ttl))
        assert url is not None
        return url

    # --- deleting and retention ------------------------------------------------------------------
    def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """Without ``version_id`` a versioned bucket only gets a delete marker; locked versions stay."""
        self._call("delete", f"{bucket}/{key}",
                   lambda: self.client.remove_object(bucket, key, version_id=version_id),
                   ok_codes=frozenset(_NOT_FOUND_CODES), locked_on_denied=True)

    def set_retention(
        self, bucket: str, key: str, *, mode: RetentionMode, until: datetime, version_id: str | None = None
    ) -> None:
        if until.tzinfo is None:
            raise InvalidInput(f"{bucket}/{key}: retention date {until} has no time zone")
        rule = MinioRetention(str(RetentionMode(mode)), until.astimezone(UTC))
        self._call("set_retention", f"{bucket}/{key}",
                   lambda: self.client.set_object_retention(bucket, key, rule, version_id=version_id),
                   locked_on_denied=True)  # shortening COMPLIANCE retention is refused as AccessDenied

    def get_retention(self, bucket: str, key: str, *, version_id: str | None = None) -> Retention | None:
        # read from HEAD: minio's get_object_retention cannot parse radosgw's 9-digit fractions
        obj = self._head(bucket, key, version_id=version_id)
        headers = obj.metadata or {}
        mode = headers.get("x-amz-object-lock-mode")
        until = headers.get("x-amz-object-lock-retain-until-date")
        if not mode or not until:
            return None
        return Retention(RetentionMode(mode.upper()), parse_s3_datetime(until))

    def set_legal_hold(self, bucket: str, key: str, on: bool, *, version_id: str | None = None) -> None:
        toggle = self.client.enable_object_legal_hold if on else self.client.disable_object_legal_hold
        self._call("set_legal_hold", f"{bucket}/{key}", lambda: toggle(bucket, key, version_id=version_id))

    def get_legal_hold(self, bucket: str, key: str, *, version_id: str | None = None) -> bool:
        client = self.client

        def ask() -> bool:
            try:
                return bool(client.is_object_legal_hold_enabled(bucket, key, version_id=version_id))
            except S3Error as exc:
                # A bucket without Object Lock holds nothing: radosgw answers "bucket object lock not
                # configured", AWS "Bucket is missing Object Lock Configuration", both as InvalidRequest.
                if exc.code == "InvalidRequest" and "object lock" in (exc.message or "").lower():
                    return False
                raise

        held = self._call("get_legal_hold", f"{bucket}/{key}", ask, ok_codes=frozenset(_NO_LOCK_CODES))
        return bool(held)


class _HashingReader:
    """Hashes what the client actually reads, so a file that changes mid-upload is caught."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.rewind()

    def rewind(self) -> None:
        self.fh.seek(0)
        self.h = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.h.update(data)
        self.size += len(data)
        return data

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def _check(bucket: str, key: str, digest: str, size: int, *, sha256: str | None, length: int) -> None:
    if sha256 is not None and sha256 != digest:
        raise ChecksumMismatch(f"{bucket}/{key}: expected {sha256}, got {digest}")
    if length >= 0 and size != length:
        raise ChecksumMismatch(f"{bucket}/{key}: expected {length} bytes, got {size}")


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}" if exc.message else str(exc.code)
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
