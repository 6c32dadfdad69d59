"""The job queue, in the database (the single source of truth for pipeline state).

``enqueue`` runs inside the caller's transaction, so a call and its first job are registered
together or not at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from storage.models import Job, JobKind, utcnow
from storage.settings import get_settings


def enqueue(
    session: Session,
    kind: JobKind | str,
    *,
    call_id: str | None = None,
    payload: dict[str, Any] | None = None,
    delay_s: float = 0.0,
    max_attempts: int | None = None,
) -> int:
    """Add a queued job to ``session`` and return its id (the caller commits)."""
    job = Job(
        kind=str(kind),
        call_id=call_id,
        payload=payload or {},
        max_attempts=max_attempts or get_settings().job_max_attempts,
        run_after=utcnow() + timedelta(seconds=delay_s),
    )
    session.add(job)
    session.flush()
    assert job.id is not None
    return job.id
