"""Notifications through an outbox: rows written in the transaction of the event, sent by a sender.

An event (a new assignment, new feedback, a dispute, a failed fixity check) calls :func:`notify`
in the same transaction that records it, so a notification exists exactly when its event does. It
adds one ``notifications`` row per channel the user switched on for that kind (``notify_prefs``),
with a dedupe key so the same event never queues twice. The sender (callqc/notifier.py) takes a
row with one guarded claim (pending and due, or a lease that ran out), sends it, and marks it
sent with a second guarded update; a failure puts it back with a doubling delay, and after
``notify_max_attempts`` it is ``dead`` (visible, never silently dropped).

Payloads carry IDs, counts, states and links only: never transcript text, never audio.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.errors import InvalidInput
from storage.models import UTCDateTime, utcnow
from storage.settings import get_settings
from storage.users import Principal, Role, User
from storage.webhook_targets import resolve_target

log = logging.getLogger(__name__)


class NotifyKind(StrEnum):
    assignment = "assignment"  # inspector: new calls to review
    feedback = "feedback"  # agent: a review of your call, to acknowledge
    dispute = "dispute"  # supervisor: an agent disputes a review
    archive_failure = "archive_failure"  # archivist: an archive image failed its fixity check


class Channel(StrEnum):
    webhook = "webhook"
    email = "email"


class OutboxState(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    dead = "dead"


def _ts(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class NotifyPref(SQLModel, table=True):
    __tablename__ = "notify_prefs"
    __table_args__ = (sa.UniqueConstraint("user_name", "kind", "channel", name="uq_notify_pref"),)

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(max_length=64, index=True)
    kind: NotifyKind = Field(sa_type=sa.String(24))
    channel: Channel = Field(sa_type=sa.String(16))
    address: str = Field(max_length=512)  # e-mail address, or the webhook's URL
    enabled: bool = True


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_due", "state", "next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    user_name: str = Field(max_length=64, index=True)
    kind: NotifyKind = Field(sa_type=sa.String(24))
    channel: Channel = Field(sa_type=sa.String(16))
    address: str = Field(max_length=512)
    subject: str = Field(max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: OutboxState = Field(default=OutboxState.pending, sa_type=sa.String(16))
    attempts: int = 0
    next_at: datetime = _ts()
    lease_until: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


def validate_address(channel: Channel | str, address: str) -> str:
    address = (address or "").strip()
    if Channel(channel) == Channel.email:
        if "@" not in address or " " in address or len(address) > 254:
            raise InvalidInput(f"e-mail address {address!r} is not valid")
    else:
        resolve_target(address)  # http(s) to a public address (or an allowed network) only
    return address


def set_pref(session: Session, user_name: str, kind: NotifyKind | str, channel: Channel | str, address: str,
             *, enabled: bool = True) -> NotifyPref:
    """Switch one kind of notification on (or off) for a user on one channel."""
    try:
        kind, channel = NotifyKind(kind), Channel(channel)
    except ValueError as exc:
        raise InvalidInput(f"notification preference: {exc}") from None
    address = validate_address(channel, address)
    pref = session.exec(select(NotifyPref).where(NotifyPref.user_name == user_name, NotifyPref.kind == kind,
                                                 NotifyPref.channel == channel)).first()
    pref = pref or NotifyPref(user_name=user_name, kind=kind, channel=channel, address=address)
    pref.address, pref.enabled = address, enabled
    session.add(pref)
    session.flush()
    return pref


def prefs_of(session: Session, user_name: str) -> list[NotifyPref]:
    return list(session.exec(select(NotifyPref).where(NotifyPref.user_name == user_name)
                             .order_by(col(NotifyPref.kind), col(NotifyPref.channel))))


def notify(session: Session, user_names: list[str], kind: NotifyKind, *, subject: str, payload: dict[str, Any],
           event: str) -> list[Notification]:
    """Queue ``kind`` for each user on each channel they switched on; ``event`` makes it idempotent."""
    if not user_names:
        return []
    prefs = session.exec(select(NotifyPref).where(col(NotifyPref.user_name).in_(user_names),
                                                  NotifyPref.kind == kind, col(NotifyPref.enabled).is_(True)))
    out = []
    for p in prefs:
        key = f"{kind}:{event}:{p.user_name}:{p.channel}"[:200]
        if session.exec(select(Notification.id).where(Notification.dedupe_key == key)).first() is not None:
            continue
        n = Notification(dedupe_key=key, user_name=p.user_name, kind=kind, channel=p.channel, address=p.address,
                         subject=subject[:200], payload={"kind": str(kind), **payload})
        session.add(n)
        out.append(n)
    session.flush()
    return out


def users_with_role(session: Session, roles: tuple[Role, ...], *, tenant: str | None = None,
                    team: str | None = None, agent_id: str | None = None) -> list[str]:
    """Active users of ``roles`` in ``tenant`` who see ``team`` (team-less users see every team)."""
    q = select(User).where(col(User.role).in_(roles), col(User.active).is_(True)).order_by(col(User.name))
    if tenant is not None:
        q = q.where(User.tenant == tenant)
    if agent_id is not None:
        q = q.where(User.agent_id == agent_id)
    # a user's further teams are a JSON list: compared here, the same on SQLite and PostgreSQL
    return [u.name for u in session.exec(q) if team is None or Principal.of(u).sees_team(team)]


# --- the sender's side ----------------------------------------------------------------------------
def claim_next(session: Session, *, now: datetime | None = None) -> Notification | None:
    """Take one due notification with a guarded update (None: nothing due, or another sender won)."""
    s = get_settings()
    now = now or utcnow()
    due = sa.or_(sa.and_(col(Notification.state) == OutboxState.pending, col(Notification.next_at) <= now),
                 sa.and_(col(Notification.state) == OutboxState.sending, col(Notification.lease_until) < now))
    nid = session.exec(select(Notification.id).where(due).order_by(col(Notification.next_at)).limit(1)).first()
    if nid is None:
        return None
    row = session.execute(
        sa.update(Notification).where(col(Notification.id) == nid, due)
        .values(state=OutboxState.sending, attempts=Notification.attempts + 1,
                lease_until=now + timedelta(seconds=s.notify_lease_s))
        .returning(col(Notification.id))).first()
    if row is None:
        return None
    return session.get(Notification, nid, populate_existing=True)


def mark_sent(session: Session, n: Notification) -> bool:
    """Sent: one guarded update (False: the lease ran out and another sender took the row)."""
    row = session.execute(
        sa.update(Notification).where(col(Notification.id) == n.id, col(Notification.state) == OutboxState.sending,
                                      col(Notification.attempts) == n.attempts)
        .values(state=OutboxState.sent, sent_at=utcnow(), lease_until=None, last_error=None)
        .returning(col(Notification.id))).first()
    return row is not None


def mark_failed(session: Session, n: Notification, error: str) -> OutboxState:
    """Back to pending after a doubling delay, or dead after the last attempt."""
    s = get_settings()
    dead = n.attempts >= s.notify_max_attempts
    delay = min(s.notify_backoff_s * 2 ** max(0, n.attempts - 1), s.job_backoff_max_s)
    state = OutboxState.dead if dead else OutboxState.pending
    session.execute(
        sa.update(Notification).where(col(Notification.id) == n.id, col(Notification.state) == OutboxState.sending,
                                      col(Notification.attempts) == n.attempts)
        .values(state=state, next_at=utcnow() + timedelta(seconds=delay), lease_until=None,
                last_error=" ".join(error.split())[:500]))
    log.info("notification %s attempt %s failed (%s): %s", n.id, n.attempts, state, error)
    return state


def outbox(session: Session, *, state: str | None = None, limit: int = 200) -> list[Notification]:
    q = select(Notification)
    if state:
        q = q.where(Notification.state == state)
    return list(session.exec(q.order_by(col(Notification.id).desc()).limit(min(limit, 1000))))
