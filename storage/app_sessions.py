"""Review-app sign-in state kept in the database: sessions that survive a reload, and sign-in throttling.

A session is a random token the browser keeps in an HttpOnly cookie; the table stores only its
SHA-256, so a copy of the database cannot be turned back into a working cookie. Every page load
resolves the token again, re-reading the user row, so a disabled user or a changed role takes
effect on the very next click. Failed sign-ins are counted per user name and per address in the
database, so the throttle holds across app processes and restarts.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.errors import Forbidden
from storage.models import UTCDateTime, utcnow
from storage.settings import get_settings
from storage.users import Principal, User

log = logging.getLogger(__name__)
HANDOFF_S = 120  # a fresh session's cookie must be collected by the browser within this time


class AppSession(SQLModel, table=True):
    __tablename__ = "app_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    user_name: str = Field(max_length=64, index=True)
    family: str = Field(max_length=32, index=True)  # one sign-in: the page's token and its cookie twin
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # one-time code the page hands the browser to collect its HttpOnly cookie (stored hashed, like the token)
    handoff_hash: str | None = Field(default=None, max_length=64, index=True)
    handoff_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    source: str | None = Field(default=None, max_length=128)


class SignInFailures(SQLModel, table=True):
    """Recent failed sign-ins of one user name (``user:NAME``) or one address (``addr:IP``)."""

    __tablename__ = "sign_in_failures"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    last_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    blocked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SignInThrottled(Forbidden):
    """too many failed sign-ins: wait and try again"""

    def __init__(self, wait_s: int) -> None:
        super().__init__(f"{wait_s} s")
        self.wait_s = wait_s


@dataclass(frozen=True)
class Resolved:
    """A live session: its row id and the principal as the user row says now."""

    session_id: int
    principal: Principal


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- sessions -------------------------------------------------------------------------------------


def start(session: Session, user_name: str, *, source: str | None = None) -> tuple[str, str]:
    """A new session for ``user_name``: (token, one-time handoff code). The caller commits."""
    token, handoff = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AppSession(
            token_hash=_hash(token),
            user_name=user_name,
            family=secrets.token_hex(16),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=get_settings().app_session_hours),
            handoff_hash=_hash(handoff),
            handoff_until=now + timedelta(seconds=HANDOFF_S),
            source=(source or "")[:128] or None,
        )
    )
    session.flush()
    return token, handoff


def resolve(session: Session, token: str | None) -> Resolved | None:
    """The live session of ``token`` with the user's current role, or None (unknown, expired, revoked,
    idle too long, or the user disabled or gone: such a session is revoked on the spot)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    row = session.exec(select(AppSession).where(AppSession.token_hash == _hash(token))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    idle = timedelta(minutes=get_settings().app_session_idle_minutes)
    user = session.exec(select(User).where(User.name == row.user_name)).first()
    if row.expires_at <= now or row.last_seen_at + idle <= now or user is None or not user.active:
        row.revoked_at = now
        session.add(row)
        return None
    if now - row.last_seen_at > timedelta(seconds=30):  # keep writes rare: one per half minute of use
        row.last_seen_at = now
        session.add(row)
    return Resolved(row.id or 0, Principal.of(user))


def collect_cookie(session: Session, handoff: str) -> tuple[str, int] | None:
    """Exchange a one-time handoff code for a cookie value: (token, max-age s), or None.

    The page cannot set an HttpOnly cookie itself; it hands the browser this code, the browser posts
    it to the app's own route, and the route answers with the cookie. The code works once.
    """
    if not handoff or len(handoff) > 200:
        return None
    now = utcnow()
    row = session.exec(select(AppSession).where(AppSession.handoff_hash == _hash(handoff))).first()
    if row is None or row.revoked_at is not None or row.handoff_until is None or row.handoff_until < now:
        return None
    token = secrets.token_urlsafe(32)  # the page kept the first token; the cookie gets its own
    done = session.execute(
        sa.update(AppSession)
        .where(col(AppSession.id) == row.id, col(AppSession.handoff_hash) == row.handoff_hash)
        .values(handoff_hash=None, handoff_until=None)
        .returning(col(AppSession.id))
    ).first()
    if done is None:
        return None
    session.add(
        AppSession(
            token_hash=_hash(token),
            user_name=row.user_name,
            family=row.family,
            created_at=row.created_at,
            last_seen_at=now,
            expires_at=row.expires_at,
            source=row.source,
        )
    )
    session.flush()
    return token, max(0, int((row.expires_at - now).total_seconds()))


def handoff_pending(session: Session, session_id: int) -> bool:
    row = session.get(AppSession, session_id)
    return bool(row and row.handoff_hash and row.handoff_until and row.handoff_until > utcnow())


def revoke(session: Session, token: str | None) -> None:
    """End a session (sign-out); its cookie twin, made from the same sign-in, ends with it."""
    if not token:
        return
    row = session.exec(select(AppSession).where(AppSession.token_hash == _hash(token))).first()
    if row is None:
        return
    now = utcnow()
    session.execute(
        sa.update(AppSession)
        .where(
            col(AppSession.family) == row.family,
            col(AppSession.revoked_at).is_(None),
        )
        .values(revoked_at=now, handoff_hash=None, handoff_until=None)
    )


def revoke_user(session: Session, user_name: str) -> int:
    """End every session of a user (disabled, or password changed); how many were live."""
    res = session.execute(
        sa.update(AppSession)
        .where(col(AppSession.user_name) == user_name, col(AppSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(res, "rowcount", 0) or 0)


# --- throttling -----------------------------------------------------------------------------------


def throttle_keys(name: str, address: str | None) -> list[str]:
    keys = [f"user:{name.strip().lower()[:64]}"]
    if address:
        keys.append(f"addr:{address[:64]}")
    return keys


def _limit(key: str) -> int:
    s = get_settings()
    return s.sign_in_max_failures * (4 if key.startswith("addr:") else 1)  # an office shares one address


def check_throttle(session: Session, keys: list[str]) -> None:
    """Raise SignInThrottled while any key is blocked."""
    now = utcnow()
    rows = session.exec(select(SignInFailures).where(col(SignInFailures.key).in_(keys)))
    waits = [r.blocked_until - now for r in rows if r.blocked_until and r.blocked_until > now]
    wait = max((int(w.total_seconds()) + 1 for w in waits), default=0)
    if wait > 0:
        raise SignInThrottled(wait)


def note_failure(session: Session, keys: list[str]) -> None:
    """Count one failure on each key; past the limit the key is blocked for a delay that doubles
    with each further failure (capped). Failures older than the window are forgotten."""
    s = get_settings()
    now = utcnow()
    window = timedelta(seconds=s.sign_in_window_s)
    for key in keys:
        row = session.get(SignInFailures, key)
        if row is None:
            row = SignInFailures(key=key, failures=0, last_at=now)
        elif row.last_at + window < now and not (row.blocked_until and row.blocked_until > now):
            row.failures = 0
        row.failures += 1
        row.last_at = now
        over = row.failures - _limit(key)
        if over >= 0:
            delay = min(s.sign_in_delay_s * 2 ** min(over, 16), s.sign_in_delay_max_s)
            row.blocked_until = now + timedelta(seconds=delay)
        session.add(row)
    session.flush()


def clear_failures(session: Session, keys: list[str]) -> None:
    session.execute(sa.delete(SignInFailures).where(col(SignInFailures.key).in_(keys)))
