"""Short-lived signed media tokens: the only way to play or download audio through the recorder API.

The review app mints a token (:func:`grant`) after the access rules (storage.access) have said yes; the
API's media endpoint (recorder/media.py) checks it (:func:`check`) and checks the rules again against
the database, so a user deactivated or demoted since the grant is refused. A token is
``<payload>.<signature>``: the payload (base64url JSON) names the user, the call, the action (play or
download), the expiry and a grant ID; the signature is HMAC-SHA256 with the key from
``media_token_key`` or, when unset, a random key kept 0600 in ``<data_dir>/media_token.key``.
Every grant and every refusal writes an audit row (play / download / media_denied).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from storage import audit
from storage.access import Perm, audio_variant, listen_action, require, visible_call
from storage.calls import Call
from storage.db import session as db_session
from storage.errors import CallqcError, Forbidden, InvalidInput
from storage.models import AuditAction
from storage.retrieval import AudioVariant
from storage.settings import get_settings
from storage.users import Principal, User

KEY_FILE = "media_token.key"
KEY_MIN_CHARS = 32


class TokenMissing(Forbidden):
    """media token required"""


class TokenInvalid(Forbidden):
    """media token invalid"""


class TokenExpired(Forbidden):
    """media token expired"""


class WeakMediaKey(InvalidInput):
    """CALLQC_MEDIA_TOKEN_KEY is too short"""


@dataclass(frozen=True)
class MediaGrant:
    user: str
    call_id: str
    download: bool
    expires: int  # Unix seconds
    grant_id: str

    @property
    def action(self) -> AuditAction:
        return listen_action(self.download)


def signing_key() -> bytes:
    """The HMAC key: the setting, else the key file (created 0600 on first use, never printed)."""
    settings = get_settings()
    if settings.media_token_key is not None:
        key = settings.media_token_key.get_secret_value()
        if len(key) < KEY_MIN_CHARS:
            raise WeakMediaKey(f"{len(key)} characters, at least {KEY_MIN_CHARS}")
        return key.encode()
    path = Path(settings.data_dir) / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(g: MediaGrant) -> str:
    payload = _b64(json.dumps(
        {"u": g.user, "c": g.call_id, "d": g.download, "e": g.expires, "g": g.grant_id}, separators=(",", ":")
    ).encode())
    sig = hmac.new(signing_key(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(sig)}"


def unsign(token: str, *, now: float | None = None, expiry: bool = True) -> MediaGrant:
    """The grant a token carries; TokenInvalid (bad form or signature) or TokenExpired (unless not ``expiry``)."""
    payload, _, sig = token.partition(".")
    try:
        good = hmac.compare_digest(_unb64(sig), hmac.new(signing_key(), payload.encode(), hashlib.sha256).digest())
        if not good:
            raise TokenInvalid("bad signature")
        raw = json.loads(_unb64(payload))
        g = MediaGrant(str(raw["u"]), str(raw["c"]), bool(raw["d"]), int(raw["e"]), str(raw["g"]))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise TokenInvalid("malformed") from None
    if expiry and g.expires < (time.time() if now is None else now):
        raise TokenExpired(f"expired at {g.expires}")
    return g


def deny(actor: str, call_id: str | None, wanted: AuditAction, reason: str, source: str | None) -> None:
    """Write the audit row of a refusal (its own transaction: the refusal is an exception)."""
    with db_session() as s:
        audit.record(s, actor, AuditAction.media_denied, call_id=(call_id or "")[:128] or None, source=source,
                     detail={"wanted": str(wanted), "reason": reason[:200]})


def grant(who: Principal, call_id: str, *, download: bool = False, source: str | None = None,
          ttl_s: int | None = None) -> str:
    """A signed token letting ``who`` play (or download) ``call_id``; audited. Forbidden when the rules say no."""
    wanted = listen_action(download)
    try:
        if download:
            require(who, Perm.download)
        # write=True: it reads, then writes; on SQLite a deferred transaction cannot take the write lock
        # once another process (the live transcriber storing lines) committed meanwhile: "database is locked"
        with db_session(write=True) as s:
            cid = visible_call(s, who, call_id).call_id
            g = MediaGrant(who.name, cid, download, int(time.time()) + (ttl_s or get_settings().media_token_ttl_s),
                           secrets.token_hex(8))
            audit.record(s, who.name, wanted, call_id=cid, source=source,
                         detail={"grant": g.grant_id, "expires": g.expires, "stage": "granted"})
    except CallqcError as exc:
        deny(who.name, call_id, wanted, f"{type(exc).__name__}: {exc}", source)
        raise
    return sign(g)


def principal(s: Session, name: str) -> Principal:
    """The token's user as the database knows them now (deactivated → refused)."""
    user = s.exec(select(User).where(User.name == name)).first()
    if user is None or not user.active:
        raise TokenInvalid(f"user {name} unknown or inactive")
    return Principal.of(user)


def check(token: str | None, call_id: str, *, source: str | None) -> tuple[MediaGrant, Call, AudioVariant]:
    """The grant, the call row and the audio the user may hear (the original with ``pii``, else the
    redacted copy) for a request to ``/v1/media/<call_id>``; every refusal audited, then raised."""
    if not token:
        deny("anonymous", call_id, AuditAction.play, "no token", source)
        raise TokenMissing()
    actor, wanted = "anonymous", AuditAction.play
    try:
        g = unsign(token, expiry=False)
        actor, wanted = g.user, g.action  # signed, so the refusal can be audited under its user
        if g.expires < time.time():
            raise TokenExpired(f"expired at {g.expires}")
        if g.call_id != call_id:
            raise TokenInvalid(f"token is for another call ({g.call_id})")
        with db_session() as s:
            who = principal(s, g.user)
            if g.download:
                require(who, Perm.download)
            call = visible_call(s, who, call_id)
            s.expunge(call)
    except CallqcError as exc:
        deny(actor, call_id, wanted, f"{type(exc).__name__}: {exc}", source)
        raise
    return g, call, audio_variant(who)
