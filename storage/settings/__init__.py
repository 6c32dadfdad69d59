"""All of callqc's settings, declared once.

Every setting is read from the environment with the prefix ``CALLQC_`` (or from a ``.env`` file in the
working directory), e.g. ``CALLQC_DATABASE_URL``. Read them only through :func:`get_settings`.
The fields are declared in this package's modules, one per layer (core, capture, pipeline, review).
The README's configuration table is generated from this class and a test keeps the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from storage.settings.review import ReviewFields


class Settings(ReviewFields):
    """callqc configuration (environment variables ``CALLQC_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="CALLQC_", env_file=".env", extra="ignore")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'callqc.db').resolve()}"

    @property
    def resolved_store_dir(self) -> Path:
        return (self.store_dir or self.data_dir / "objects").resolve()

    @property
    def model_cache_dir(self) -> Path:
        return (self.data_dir / "models").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
