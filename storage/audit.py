"""The audit log: who did what to which call, when, from where.

Every playback, download and retrieval writes one row, in the same transaction as the work it
records where there is one.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from storage.models import AuditAction, AuditEvent

log = logging.getLogger(__name__)


def record(
    session: Session,
    actor: str,
    action: AuditAction | str,
    *,
    call_id: str | None = None,
    source: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to ``session`` (the caller commits)."""
    event = AuditEvent(
        actor=actor, action=str(action), call_id=call_id, source=source, detail=detail or {}
    )
    session.add(event)
    log.info("audit: %s %s call=%s from=%s", actor, action, call_id, source)
    return event
