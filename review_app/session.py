"""The signed-in person and the database session, as the pages use them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlmodel import Session

from review_app.i18n import t
from storage import db
from storage.audit import record
from storage.models import AuditAction
from storage.users import Principal, authenticate, principal_for_identity

log = logging.getLogger(__name__)
_KEY = "principal"


@contextmanager
def dbs() -> Iterator[Session]:
    # write=True: nearly every page writes (at least its audit row) after reading, and on SQLite a
    # read-then-write transaction fails outright if a worker committed in between (see storage.db).
    with db.session(write=True) as s:
        yield s


def source() -> str:
    """Where the request comes from, for the audit log."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - not every runtime (AppTest) knows the client
        ip = None
    return f"app:{ip}" if ip else "app"


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


def sign_in(name: str, password: str) -> Principal:
    with dbs() as s:
        who = authenticate(s, name.strip(), password)
        record(s, who.name, AuditAction.sign_in, source=source())
    st.session_state[_KEY] = who
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
        record(s, who.name, AuditAction.sign_in, source=source(), detail={"via": "oidc"})
    st.session_state[_KEY] = who
    return who


def sign_out() -> None:
    st.session_state.pop(_KEY, None)
    if st.user.get("is_logged_in"):
        st.logout()
