"""Password sign-in, one rule for the app's own form and the server's plain sign-in page.

Throttled per name and per address (storage/app_sessions.py), every failure audited, unknown names
as slow as wrong passwords (storage.users.authenticate). Success starts a server-side session and
returns its token and the one-time code the browser trades for the HttpOnly cookie.
"""

from __future__ import annotations

from storage import app_sessions, db
from storage.audit import record
from storage.models import AuditAction
from storage.users import BadCredentials, Principal, authenticate


def audit_actor(name: str) -> str:
    """A typed name as it may appear in the audit log: printable, at most 64 characters."""
    clean = "".join(c if c.isprintable() else "?" for c in name.strip())[:64]
    return clean or "-"


def password_sign_in(name: str, password: str, *, address: str | None, source: str) -> tuple[Principal, str, str]:
    """(principal, session token, cookie handoff code); raises SignInThrottled or BadCredentials."""
    name = audit_actor(name) if name.strip() else ""  # a name with control characters matches nobody
    keys = app_sessions.throttle_keys(name, address)
    try:
        with db.session(write=True) as s:
            app_sessions.check_throttle(s, keys)
    except app_sessions.SignInThrottled:
        with db.session(write=True) as s:
            record(s, audit_actor(name), AuditAction.sign_in_failed, source=source, detail={"why": "throttled"})
        raise
    try:
        with db.session(write=True) as s:
            who = authenticate(s, name.strip(), password)
            app_sessions.clear_failures(s, keys[:1])
            token, handoff = app_sessions.start(s, who.name, source=source)
            record(s, who.name, AuditAction.sign_in, source=source)
    except BadCredentials:
        with db.session(write=True) as s:
            app_sessions.note_failure(s, keys)
            record(s, audit_actor(name), AuditAction.sign_in_failed, source=source, detail={"why": "credentials"})
        raise
    return who, token, handoff
