"""The plain sign-in page (review_app/signin_page.py): the same password rules as the app's own form,
an HttpOnly session cookie that the app accepts, no script, no off-site address, and no way to be sent
to another site after signing in."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from review_app import signin_page
from storage import app_sessions
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.settings import reset_settings
from storage.users import Role, add_user

pytestmark = pytest.mark.integration
PASSWORD = "pw-123456789"


@pytest.fixture
def client(db_url: str) -> TestClient:
    reset_settings()
    with session() as s:
        add_user(s, "insp1", role=Role.inspector, password=PASSWORD)
    app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("the app")), *signin_page.ROUTES],
                    middleware=[Middleware(signin_page.SignInFirst)])
    return TestClient(app, base_url="http://app.test")


def _audit(action: AuditAction) -> list[AuditEvent]:
    with session() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_root_without_a_cookie_goes_to_a_scriptless_sign_in_form(client: TestClient) -> None:
    first = client.get("/?call=c-1", follow_redirects=False)
    assert first.status_code == 302 and first.headers["location"].startswith("/signin?next=")
    form = client.get(first.headers["location"])
    assert form.status_code == 200
    assert "<script" not in form.text and not re.search(r"https?://", form.text)
    assert 'name="name"' in form.text and 'type="password"' in form.text
    assert 'value="/?call=c-1"' in form.text  # the deep link survives the sign-in


def test_a_good_password_sets_an_httponly_cookie_that_resolves_to_the_user(client: TestClient) -> None:
    resp = client.post("/signin", data={"name": "insp1", "password": PASSWORD, "next": "/?call=c-1"},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/?call=c-1"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{signin_page.COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    with session() as s:
        got = app_sessions.resolve(s, token)
    assert got is not None and got.principal.name == "insp1"
    assert [e.actor for e in _audit(AuditAction.sign_in)] == ["insp1"]
    assert client.get("/", follow_redirects=False).text == "the app"  # with the cookie: no detour


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_after_sign_in_the_browser_never_leaves_the_site(client: TestClient, target: str) -> None:
    resp = client.post("/signin", data={"name": "insp1", "password": PASSWORD, "next": target},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_a_wrong_password_is_one_line_audited_and_sets_no_cookie(client: TestClient) -> None:
    resp = client.post("/signin", data={"name": "insp1", "password": "nope", "next": "/"}, follow_redirects=False)
    assert resp.status_code == 401 and "set-cookie" not in resp.headers
    err = re.search(r'<p class="err" role="alert">(.*?)</p>', resp.text)
    assert err is not None and "\n" not in err.group(1) and err.group(1)
    assert [e.detail.get("why") for e in _audit(AuditAction.sign_in_failed)] == ["credentials"]


def test_repeated_failures_are_throttled_like_the_apps_own_form(client: TestClient) -> None:
    codes = [client.post("/signin", data={"name": "insp1", "password": f"bad-{i}"}).status_code for i in range(12)]
    assert codes[0] == 401 and codes[-1] == 429
    good = client.post("/signin", data={"name": "insp1", "password": PASSWORD}, follow_redirects=False)
    assert good.status_code == 429  # even the right password waits out the throttle


def test_a_cross_site_post_is_refused(client: TestClient) -> None:
    resp = client.post("/signin", data={"name": "insp1", "password": PASSWORD},
                       headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert resp.status_code == 403 and "set-cookie" not in resp.headers
