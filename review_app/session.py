"""The signed-in person and the database session, as the pages use them.

A sign-in is a server-side session (storage/app_sessions.py). The tab keeps its token in
``st.session_state``; the browser keeps a twin token in an HttpOnly cookie (collected through
review_app/server.py), so a reload or a deep link in a new tab finds the person again. Every run of
the app resolves the token anew, re-reading the user row: a disabled user's session ends on their
next click, a changed role changes the pages at once. Signing in or out clears everything the tab
held for the previous person (prepared downloads, the open call, filters, widget values).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from sqlmodel import Session

from review_app.i18n import t, use_zone
from review_app.workflow.signin import password_sign_in
from storage import app_sessions, db
from storage.audit import record
from storage.models import AuditAction
from storage.users import Principal, principal_for_identity

log = logging.getLogger(__name__)
COOKIE = "callqc_session"
_KEY = "principal"  # the principal as resolved by this run of the app
_TOKEN = "_app_session"  # the tab's session token
_HANDOFF = "_app_handoff"  # one-time code the browser trades for the HttpOnly cookie
_PENDING = "_after_sign_in"  # {"page": name, "query": {...}}: where a deep link wanted to go
_ENDED = "_session_ended"


@contextmanager
def dbs() -> Iterator[Session]:
    # write=True: nearly every page writes (at least its audit row) after reading, and on SQLite a
    # read-then-write transaction fails outright if a worker committed in between (see storage.db).
    with db.session(write=True) as s:
        yield s


def client_address() -> str | None:
    try:
        return st.context.ip_address
    except Exception:  # noqa: BLE001 - not every runtime (AppTest) knows the client
        return None


def source() -> str:
    """Where the request comes from, for the audit log."""
    ip = client_address()
    return f"app:{ip}" if ip else "app"


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - AppTest has no HTTP request behind the session
        return None
    return value if isinstance(value, str) and value else None


def reset_state(*, keep_pending: bool = True) -> None:
    """Forget everything this tab holds: the token, widget values, prepared downloads, the open call."""
    pending = st.session_state.get(_PENDING) if keep_pending else None
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if pending:
        st.session_state[_PENDING] = pending


def restore() -> Principal | None:
    """This run's principal: the tab's session (or the browser cookie's), resolved against the database."""
    use_zone(None)  # until this run's user is known, times follow the app's setting
    token = st.session_state.get(_TOKEN)
    from_cookie = False
    if not token:
        token, from_cookie = _cookie(), True
    if not token:
        st.session_state.pop(_KEY, None)
        return None
    with dbs() as s:
        got = app_sessions.resolve(s, token)
        previous = st.session_state.get(_KEY)
        if got is None and not from_cookie and isinstance(previous, Principal):
            record(s, previous.name, AuditAction.session_ended, source=source())
    if got is None:
        if not from_cookie:  # a live session ended (user disabled, expired, signed out elsewhere)
            reset_state()
            st.session_state[_ENDED] = True
        return None
    if from_cookie:
        reset_state()
        st.session_state[_TOKEN] = token
    st.session_state[_KEY] = got.principal
    st.session_state["_app_session_id"] = got.session_id
    use_zone(got.principal.timezone)
    return got.principal


def current() -> Principal | None:
    who = st.session_state.get(_KEY)
    return who if isinstance(who, Principal) else None


def principal() -> Principal:
    """The signed-in principal; pages only run behind sign-in, so this stops the page if absent."""
    who = current()
    if who is None:
        st.warning(t("sign_in_first"))
        st.stop()
    return who


def session_ended_notice() -> bool:
    return bool(st.session_state.pop(_ENDED, False))


def remember_deep_link(page: str | None, query: dict[str, Any]) -> None:
    """While signed out: where the address asked to go, to open it after sign-in."""
    if page or query:
        st.session_state[_PENDING] = {"page": page, "query": {k: str(v) for k, v in query.items()}}


def take_deep_link() -> dict[str, Any] | None:
    return st.session_state.pop(_PENDING, None)


def _begin(who: Principal, token: str, handoff: str) -> None:
    reset_state()
    use_zone(who.timezone)
    st.session_state[_TOKEN] = token
    st.session_state[_HANDOFF] = handoff
    st.session_state[_KEY] = who


def sign_in(name: str, password: str) -> Principal:
    """Check the password (throttled per name and per address; failures audited) and start a session."""
    who, token, handoff = password_sign_in(name, password, address=client_address(), source=source())
    _begin(who, token, handoff)
    return who


def oidc_configured() -> bool:
    """Whether Streamlit's OIDC sign-in (``[auth]`` in .streamlit/secrets.toml) is set up."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def sign_in_oidc() -> Principal | None:
    """After ``st.login``: the local account named by the identity's e-mail, or None if not signed in."""
    if not st.user.get("is_logged_in"):
        return None
    email = str(st.user.get("email") or "")
    with dbs() as s:
        who = principal_for_identity(s, email)
        token, handoff = app_sessions.start(s, who.name, source=source())
        record(s, who.name, AuditAction.sign_in, source=source(), detail={"via": "oidc"})
    _begin(who, token, handoff)
    return who


def sign_out() -> None:
    """End the session server-side (its cookie twin too) and forget everything the tab held."""
    who = current()
    with dbs() as s:
        app_sessions.revoke(s, st.session_state.get(_TOKEN))
        if who is not None:
            record(s, who.name, AuditAction.sign_out, source=source())
    reset_state(keep_pending=False)
    if st.user.get("is_logged_in"):
        st.logout()


def cookie_handoff() -> None:
    """Until the browser has collected its HttpOnly cookie, a hidden frame posts the one-time code.

    The frame stays in place (same arguments, same position) across reruns so a rerun cannot cut
    the request short; once the code is spent it is no longer drawn.
    """
    code = st.session_state.get(_HANDOFF)
    sid = st.session_state.get("_app_session_id")
    if not code:
        return
    if sid:
        with dbs() as s:
            pending = app_sessions.handoff_pending(s, sid)
        if not pending:
            st.session_state.pop(_HANDOFF, None)
            return
    import json

    import streamlit.components.v1 as components

    body = json.dumps(code)  # URL-safe base64 alphabet: nothing to escape, json quotes it
    components.html(
        "<script>fetch('/_callqc/session',{method:'POST',credentials:'same-origin',"
        f"headers:{{'Content-Type':'text/plain'}},body:{body}}});</script>",
        height=0,
    )
