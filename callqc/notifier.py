"""The notification sender: takes due rows from the outbox (storage/notifications.py) and delivers them.

Webhooks get the message as JSON, signed: ``X-Callqc-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>" under notify_webhook_secret>`` with the timestamp in ``X-Callqc-Timestamp``, and
``X-Callqc-Delivery: <id>`` so a receiver can drop a repeat. E-mail goes through SMTP with the
Message-ID ``<callqc-notification-<id>@callqc>`` for the same reason. A message is marked sent only
after the receiver accepted it; a sender stopped with SIGTERM finishes the message in hand first.
One killed between the receiver's acceptance and the mark would send that message again when its
lease runs out: the delivery ID is what makes that repeat harmless.

A webhook's address was checked when it was saved; it is checked again on every send
(storage/webhook_targets.py) and the request goes to the very address checked, with the URL's host
in ``Host`` (and as the TLS server name), so a name re-pointed to a private address since (DNS
rebinding) is refused, not fetched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import threading
import time
from email.message import EmailMessage

import httpx

from storage.db import session
from storage.notifications import Channel, Notification, claim_next, mark_failed, mark_sent
from storage.settings import get_settings
from storage.webhook_targets import resolve_target

log = logging.getLogger(__name__)


class NotConfigured(Exception):
    """the channel is not configured"""


def body_of(n: Notification) -> bytes:
    return json.dumps({"id": n.id, "kind": str(n.kind), "user": n.user_name, "subject": n.subject,
                       "created_at": n.created_at.isoformat(), "payload": n.payload},
                      ensure_ascii=False, sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send_webhook(n: Notification) -> None:
    s = get_settings()
    if s.notify_webhook_secret is None:
        raise NotConfigured("CALLQC_NOTIFY_WEBHOOK_SECRET is not set: webhooks are only sent signed")
    target = resolve_target(n.address)
    body = body_of(n)
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Callqc-Delivery": str(n.id), "X-Callqc-Timestamp": ts,
               "X-Callqc-Signature": signature(s.notify_webhook_secret.get_secret_value(), ts, body),
               "Host": target.host_header}
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        r = client.post(target.pinned_url, content=body, headers=headers, extensions={"sni_hostname": target.host})
    if r.status_code >= 300:
        raise RuntimeError(f"webhook answered {r.status_code}")


def send_email(n: Notification) -> None:
    s = get_settings()
    if not s.smtp_host:
        raise NotConfigured("CALLQC_SMTP_HOST is not set")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = s.smtp_from, n.address, n.subject
    msg["Message-ID"] = f"<callqc-notification-{n.id}@callqc>"
    lines = [n.subject, ""] + [f"{k}: {v}" for k, v in sorted(n.payload.items())]
    msg.set_content("\n".join(lines) + "\n")
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_user and s.smtp_password is not None:
            smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
        smtp.send_message(msg)


SENDERS = {Channel.webhook: send_webhook, Channel.email: send_email}


def send_one() -> bool:
    """Claim, send and mark one due notification; False when none was due."""
    with session(write=True) as s:
        n = claim_next(s)
    if n is None:
        return False
    try:
        SENDERS[Channel(n.channel)](n)
    except Exception as exc:  # noqa: BLE001 - any failure is retried with backoff, then visible as dead
        with session(write=True) as s:
            mark_failed(s, n, f"{type(exc).__name__}: {exc}")
        return True
    with session(write=True) as s:
        if not mark_sent(s, n):
            log.warning("notification %s: sent, but its lease had run out (another sender may repeat it)", n.id)
    log.info("notification %s sent (%s to %s)", n.id, n.channel, n.user_name)
    return True


def run(stop: threading.Event | None = None, *, drain: bool = False) -> int:
    """Send until ``stop`` is set (or, with ``drain``, until nothing is due); returns how many were handled."""
    stop = stop or threading.Event()
    handled = 0
    while not stop.is_set():
        if send_one():
            handled += 1
            continue
        if drain:
            break
        stop.wait(get_settings().notify_poll_s)
    return handled
