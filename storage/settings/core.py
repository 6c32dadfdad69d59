"""Where callqc keeps its data: the database and the object store.

Part of :class:`storage.settings.Settings`, the one settings class. Its fields are grouped by layer in
these modules, each class a link of one chain, so the README table keeps the order of declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class CoreFields(BaseSettings):
    """Fields of :class:`storage.settings.Settings`; never instantiated on its own."""

    # --- embedded default: one local data folder ---------------------------------------------
    data_dir: Path = Field(
        Path("data"),
        description="Data folder of the embedded default: SQLite database, object folder, model cache.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite (WAL) file `<data_dir>/callqc.db`. "
        "PostgreSQL: `postgresql+psycopg://user@host:5432/callqc`.",
    )
    db_pool_size: int = Field(
        5, ge=1, description="PostgreSQL connections each process keeps open (SQLite ignores the pool settings)."
    )
    db_max_overflow: int = Field(5, ge=0, description="Extra PostgreSQL connections a process may open under load.")
    db_pool_timeout_s: float = Field(
        10.0, gt=0, description="How long a request waits for a free database connection before it is answered "
        "503 (busy, retry later).",
    )
    log_level: str = Field("WARNING", description="Python logging level (workers and servers log at INFO when asked).")

    # --- object store -----------------------------------------------------------------------------
    store: Literal["local", "s3"] = Field("local", description="Object store: `local` folder or `s3`.")
    store_dir: Path | None = Field(None, description="Folder of the local store; default `<data_dir>/objects`.")
    s3_endpoint: str | None = Field(None, description="S3 endpoint `host:port` (MinIO, Ceph RGW, AWS).")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key.")
    s3_region: str | None = Field(None, description="S3 region (AWS); leave empty for MinIO/Ceph.")
    s3_secure: bool = Field(True, description="Use TLS for the S3 endpoint.")
    s3_cert_check: bool = Field(True, description="Verify the S3 server's TLS certificate.")
    bucket_recordings: str = Field("callqc-recordings", description="Bucket (or local sub-folder) of hot audio.")
    bucket_archive: str = Field(
        "callqc-archive", description="Bucket (or local sub-folder) of archive images; Object Lock on S3."
    )
    bucket_models: str = Field("callqc-models", description="Bucket (or local sub-folder) of learned-item models.")
    presign_ttl_s: int = Field(300, ge=10, le=86400, description="Lifetime of presigned GET URLs, seconds.")
    multipart_part_bytes: int = Field(
        16 * 1024 * 1024, ge=5 * 1024 * 1024, description="Part size of S3 multipart uploads, bytes."
    )
