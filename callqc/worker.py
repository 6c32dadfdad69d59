"""Worker processes: claim jobs from the database queue and run their handlers.

A handler is ``handle(ctx: JobContext) -> None``; it must be idempotent (a job may run twice when a
worker dies mid-job). Raise :class:`PermanentError` for a failure no retry can fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callqc.errors import CallqcError


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the claimed job and who runs it."""

    job_id: int
    kind: str
    call_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    worker_id: str = ""


class PermanentError(CallqcError):
    """job failed permanently"""
