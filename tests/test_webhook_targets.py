"""Webhook targets (SSRF): only http(s) to public addresses unless CALLQC_NOTIFY_WEBHOOK_ALLOW names the
network; checked when saved and again when sent, connecting to the address that was checked."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from storage.db import session
from storage.notifications import Notification, NotifyKind, OutboxState, notify, set_pref
from storage.settings import reset_settings
from storage.webhook_targets import ForbiddenTarget, resolve_target

REFUSED = [
    ("ftp://example.com/x", "give an http or https URL"),
    ("file:///etc/passwd", "give an http or https URL"),
    ("javascript:alert(1)", "give an http or https URL"),
    ("http:///nohost", "no host"),
    ("http://user:pw@93.184.215.14/", "no user name or password"),
    ("http://127.0.0.1:5432/", "loopback"),
    ("http://localhost/hook", "localhost is 127.0.0.1"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10:8080/x", "private"),
    ("http://172.16.5.5/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://0.0.0.0:8501/", "0.0.0.0"),
    ("http://[::1]/", "::1"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ("http://[fe80::1]/", "fe80::1"),
    ("http://[fd00::5]/", "fd00::5"),
    ("http://100.64.0.1/", "100.64.0.1"),  # carrier-grade NAT: not global
    ("http://2130706433/", "127.0.0.1"),  # 127.0.0.1 written as one number
    ("http://host.invalid/hook", "cannot be resolved"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_forbidden_targets_are_refused_in_one_line(data_dir: object, url: str, why: str) -> None:
    reset_settings()
    with pytest.raises(ForbiddenTarget) as err:
        resolve_target(url)
    message = str(err.value)
    assert message.startswith("webhook target not allowed: ") and why in message and "\n" not in message


def test_public_addresses_are_pinned_with_the_host_kept(data_dir: object) -> None:
    """A public literal passes; the request goes to the checked address, the URL's host in Host."""
    reset_settings()
    t = resolve_target("https://93.184.215.14:8443/hook?x=1")
    assert (t.address, t.pinned_url, t.host_header) == ("93.184.215.14", "https://93.184.215.14:8443/hook?x=1",
                                                        "93.184.215.14:8443")
    t6 = resolve_target("http://[2606:4700:4700::1111]/h")
    assert t6.pinned_url == "http://[2606:4700:4700::1111]/h"


def test_the_allow_list_opens_only_its_networks(data_dir: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_NOTIFY_WEBHOOK_ALLOW", '["127.0.0.1/32", "10.20.0.0/16"]')
    reset_settings()
    assert resolve_target("http://localhost:9/hook").pinned_url == "http://127.0.0.1:9/hook"
    assert resolve_target("http://10.20.3.4/hook").address == "10.20.3.4"
    for still in ("http://127.0.0.2/", "http://10.21.0.1/", "http://169.254.169.254/"):
        with pytest.raises(ForbiddenTarget):
            resolve_target(still)


def test_saving_a_private_webhook_is_refused_and_stores_nothing(sqlite_db: str) -> None:
    reset_settings()
    from storage.notifications import NotifyPref

    with session() as s, pytest.raises(ForbiddenTarget):
        set_pref(s, "sup", "dispute", "webhook", "http://169.254.169.254/latest/meta-data/")
    with session() as s:
        assert s.exec(select(NotifyPref)).all() == []


class Sink:
    """A local HTTP receiver that records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[dict[str, str]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server interface
                self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.hits.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_address_is_checked_again_when_sending(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved while the sink's network was allowed, sent after it no longer is (as when a name is
    re-pointed to an inside address): refused at send time, the sink gets nothing; allowed again,
    it is delivered, addressed by name in Host."""
    from callqc.notifier import send_one

    sink = Sink()
    try:
        monkeypatch.setenv("CALLQC_NOTIFY_WEBHOOK_SECRET", "s" * 32)
        monkeypatch.setenv("CALLQC_NOTIFY_BACKOFF_S", "0")
        monkeypatch.setenv("CALLQC_NOTIFY_WEBHOOK_ALLOW", '["127.0.0.1/32"]')
        reset_settings()
        url = f"http://localhost:{sink.port}/hook"
        with session() as s:
            set_pref(s, "sup", "dispute", "webhook", url)
            notify(s, ["sup"], NotifyKind.dispute, subject="x", payload={}, event="e1")
        monkeypatch.delenv("CALLQC_NOTIFY_WEBHOOK_ALLOW")
        reset_settings()
        assert send_one()
        with session() as s:
            (n,) = s.exec(select(Notification)).all()
        assert n.state == OutboxState.pending and n.attempts == 1 and "localhost is 127.0.0.1" in (n.last_error or "")
        assert sink.hits == []
        monkeypatch.setenv("CALLQC_NOTIFY_WEBHOOK_ALLOW", '["127.0.0.1/32"]')
        reset_settings()
        assert send_one()
        with session() as s:
            (n,) = s.exec(select(Notification)).all()
        assert n.state == OutboxState.sent, n.last_error
        assert [h["host"] for h in sink.hits] == [f"localhost:{sink.port}"]
    finally:
        sink.server.shutdown()
        sink.server.server_close()
