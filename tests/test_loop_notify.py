"""Notifications: queued with their event, sent once by webhook (signed) and SMTP, across a sender restart."""

from __future__ import annotations

import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from callqc.notifier import signature
from review_app.workflow import sampling
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.feedback import open_dispute
from review_app.workflow.inspection import submit_review
from review_app.workflow.notify import set_my_pref
from storage.db import session
from storage.errors import InvalidInput
from storage.notifications import Notification, NotifyKind, OutboxState, notify, set_pref, users_with_role
from storage.reviews import Review
from storage.users import Role
from tests import review_world
from tests.review_world import DAY0

SECRET = "test-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content)
        return "250 OK"


class HttpSink:
    """Collects webhook posts; the first ``fail`` posts get a 500, each answer waits ``delay`` seconds."""

    def __init__(self, *, fail: int = 0, delay: float = 0.0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail, self.delay = fail, delay
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(sink.delay)
                if sink.fail > 0:
                    sink.fail -= 1
                    self.send_response(500)
                else:
                    sink.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def sinks(sqlite_db, monkeypatch):
    smtp = SmtpSink()
    port = free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    http = HttpSink(fail=2, delay=0.3)
    for k, v in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false",
                 "NOTIFY_WEBHOOK_SECRET": SECRET, "NOTIFY_BACKOFF_S": "0.2", "NOTIFY_POLL_S": "0.1",
                 "APP_URL": "https://qc.example",
                 "NOTIFY_WEBHOOK_ALLOW": '["127.0.0.1/32"]'}.items():  # the local sink is loopback
        monkeypatch.setenv(f"CALLQC_{k}", v)
    from storage.settings import reset_settings

    reset_settings()
    yield smtp, http
    controller.stop()
    http.server.shutdown()
    http.server.server_close()


def events(world, http_url: str) -> list[Notification]:
    """A sampling run, a review and a dispute, each with someone who asked to be told."""
    users = world.users
    with session() as s:
        set_my_pref(s, users["insp1"], "assignment", "webhook", http_url)
        set_my_pref(s, users["insp1"], "assignment", "email", "insp1@example.com")
        set_my_pref(s, users["agent2"], "feedback", "email", "agent2@example.com")
        set_my_pref(s, users["sup"], "dispute", "webhook", http_url)
        set_pref(s, "arch", "archive_failure", "email", "arch@example.com")
        with pytest.raises(InvalidInput):
            set_my_pref(s, users["agent2"], "dispute", "email", "agent2@example.com")  # not an agent's kind
    with session() as s:
        plan = sampling.create_plan(s, users["sup"], name="p", mode="percent", percent=100, inspectors=["insp1"])
        sampling.run_plan(s, users["sup"], plan.id, start=DAY0 - timedelta(days=1), end=DAY0 + timedelta(days=1))
        submit_review(s, users["insp1"], "a2-call-0", human=HumanAnswers(answers={}), verdict="fail")
    with session() as s:
        review = s.exec(select(Review).where(Review.call_id == "a2-call-0")).one()
        open_dispute(s, users["agent2"], review.id, reason="I was polite")
        notify(s, users_with_role(s, (Role.archivist,)), NotifyKind.archive_failure, subject="callqc: fixity",
               payload={"image": "archive/2026-10/disc-1.iso"}, event="fixity1")
    with session() as s:
        return list(s.exec(select(Notification).order_by(Notification.id)))


def start_sender() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "callqc", "notify", "run"],
                            env={**os.environ, "PYTHONPATH": os.getcwd()}, stderr=subprocess.PIPE, text=True)


@pytest.mark.integration
def test_each_message_arrives_once_across_a_sender_restart_and_webhooks_verify(sinks, monkeypatch):
    smtp, http = sinks
    review_world.fast_hashing(monkeypatch)
    world = review_world.build()
    queued = events(world, http.url)
    kinds = sorted((n.kind, n.channel, n.user_name) for n in queued)
    assert kinds == [("archive_failure", "email", "arch"), ("assignment", "email", "insp1"),
                     ("assignment", "webhook", "insp1"), ("dispute", "webhook", "sup"),
                     ("feedback", "email", "agent2")]
    with session() as s:  # the same event queues nothing twice (dedupe keys)
        assert notify(s, ["arch"], NotifyKind.archive_failure, subject="again", payload={}, event="fixity1") == []
    first = start_sender()
    deadline = time.monotonic() + 60
    while not (smtp.messages or http.posts) and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)  # mid-way: the message in hand is finished, the rest wait
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    with session() as s:
        left = [n for n in s.exec(select(Notification)) if n.state != OutboxState.sent]
    assert left and all(n.state == OutboxState.pending for n in left)  # stopped with work left, nothing in hand
    second = start_sender()
    try:
        while time.monotonic() < deadline:
            with session() as s:
                states = [n.state for n in s.exec(select(Notification))]
            if all(st == OutboxState.sent for st in states):
                break
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
    assert all(st == OutboxState.sent for st in states), states
    # each webhook message once, signed; the two 500s were retried, not duplicated
    ids = [h["x-callqc-delivery"] for h, _ in http.posts]
    assert sorted(ids) == sorted(str(n.id) for n in queued if n.channel == "webhook") and len(ids) == len(set(ids))
    for headers, body in http.posts:
        expected = signature(SECRET, headers["x-callqc-timestamp"], body)
        assert hmac.compare_digest(headers["x-callqc-signature"], expected)
        assert signature("wrong", headers["x-callqc-timestamp"], body) != expected
        doc = json.loads(body)
        assert doc["id"] == int(headers["x-callqc-delivery"]) and doc["payload"]["link"].startswith("https://qc.")
    mails = [message_from_bytes(m) for m in smtp.messages]
    mids = [m["Message-ID"] for m in mails]
    assert len(mids) == len(set(mids)) == 3
    assert sorted(m["To"] for m in mails) == ["agent2@example.com", "arch@example.com", "insp1@example.com"]
    with session() as s:
        retried = [n for n in s.exec(select(Notification)) if n.attempts > 1]
    assert retried  # the failing webhook answers were retried with backoff
    everything = b"".join(smtp.messages) + b"".join(b for _, b in http.posts)
    for text in ("Thank you for calling", "Shut up", "charged twice", "I was polite"):
        assert text.encode() not in everything  # no transcript text (nor the agent's own words)


def test_a_channel_that_keeps_failing_ends_dead_and_visible(sqlite_db, monkeypatch):
    monkeypatch.setenv("CALLQC_NOTIFY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("CALLQC_NOTIFY_WEBHOOK_ALLOW", '["127.0.0.1/32"]')
    monkeypatch.setenv("CALLQC_NOTIFY_BACKOFF_S", "0")
    from callqc.notifier import run
    from storage.settings import reset_settings

    reset_settings()  # no webhook secret: unsigned webhooks are never sent
    with session() as s:
        set_pref(s, "sup", "dispute", "webhook", "http://127.0.0.1:9/hook")
        notify(s, ["sup"], NotifyKind.dispute, subject="x", payload={}, event="e1")
    assert run(drain=True) == 2
    with session() as s:
        (n,) = s.exec(select(Notification)).all()
    assert (n.state, n.attempts) == (OutboxState.dead, 2) and "NOTIFY_WEBHOOK_SECRET" in n.last_error


def test_a_failed_fixity_check_queues_a_message_for_archivists(sqlite_db, monkeypatch):
    """`archive verify` finding an image gone tells the archivists who asked, once per check."""
    from storage.archive.tables import ArchiveImage, ArchiveRun, ImageState
    from storage.archive.verify import verify_images
    from storage.users import add_user

    review_world.fast_hashing(monkeypatch)
    with session() as s:
        add_user(s, "arch", role="archivist", password=review_world.PASSWORD)
        add_user(s, "arch2", role="archivist", password=review_world.PASSWORD)  # asked for nothing
        set_pref(s, "arch", "archive_failure", "email", "arch@example.com")
        run = ArchiveRun(month="2026-10", media_bytes=1, disc_count=1, call_count=1, total_bytes=1, actor="t")
        s.add(run)
        s.flush()
        s.add(ArchiveImage(run_id=run.id, month="2026-10", disc=1, disc_count=1, object_key="archive/gone.iso",
                           state=ImageState.verified, sha256="0" * 64, size_bytes=1))
    (result,) = verify_images(all_months=True, actor="test")
    assert result.ok is False
    with session() as s:
        (n,) = s.exec(select(Notification)).all()
    assert (n.user_name, n.kind, n.channel, n.payload["month"]) == ("arch", "archive_failure", "email", "2026-10")
    assert "gone.iso" in n.payload["image"]
