"""The sign-in page as plain HTML, served by the app's server (review_app/server.py).

Streamlit's front end is a few megabytes of JavaScript: on a 2-core machine it paints its first
widget about two seconds after the address is opened (bench/app_first_paint.py measures the bare
framework at the same figure as the app). So a visitor without a session cookie who opens the app's
root is sent to ``/signin``, a form with no script that paints at once. Posting it runs the same
password check as the app's own form (review_app/workflow/signin.py: throttled, audited), sets the
HttpOnly session cookie and sends the browser on to ``next``, where the app finds the session.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "callqc_session"  # review_app.session.COOKIE (not imported: it would load Streamlit)
MAX_BODY = 4096
_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}}
button{{margin-top:1.2rem;padding:.5rem 1.2rem;font-size:1rem}}.err{{color:#b00020}}</style></head>
<body><h1>{title}</h1>{error}
<form method="post" action="/signin"><input type="hidden" name="next" value="{next}">
<label for="u">{user}</label><input id="u" name="name" autocomplete="username" required autofocus>
<label for="p">{password}</label><input id="p" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{sign_in}</button></form></body></html>
"""


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no scheme, host or ``//``), else ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value[:2000]


def page(next_path: str | None = "/", error: str | None = None, status: int = 200) -> HTMLResponse:
    from review_app.i18n import t
    from storage.settings import get_settings

    body = _PAGE.format(
        lang="zh-CN" if get_settings().locale == "zh-CN" else "en", title=html.escape(t("page_sign_in")),
        user=html.escape(t("user_name")), password=html.escape(t("password")), sign_in=html.escape(t("sign_in")),
        next=html.escape(safe_next(next_path), quote=True),
        error=f'<p class="err" role="alert">{html.escape(error)}</p>' if error else "")
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def show(request: Request) -> Response:
    return page(request.query_params.get("next"))


def _sign_in(name: str, password: str, address: str | None) -> tuple[str, int]:
    from review_app.workflow.signin import password_sign_in
    from storage import app_sessions, db

    _who, _token, handoff = password_sign_in(name, password, address=address,
                                             source=f"app:{address}" if address else "app")
    with db.session(write=True) as s:
        got = app_sessions.collect_cookie(s, handoff)
    assert got is not None  # the code was made a moment ago in this process
    return got


async def submit(request: Request) -> Response:
    from review_app.i18n import error_text
    from storage.app_sessions import SignInThrottled
    from storage.errors import CallqcError

    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        return Response("cross-site sign-in refused", status_code=403)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return page(error="sign-in form too large", status=413)
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), max_num_fields=8).items()}
    target = safe_next(form.get("next"))
    address = request.client.host if request.client else None
    try:
        token, max_age = await run_in_threadpool(_sign_in, form.get("name", ""), form.get("password", ""), address)
    except SignInThrottled as exc:
        return page(target, error_text(exc), status=429)
    except CallqcError as exc:
        return page(target, error_text(exc), status=401)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="strict",
                    secure=request.url.scheme == "https")
    return resp


ROUTES = [Route("/signin", show, methods=["GET"]), Route("/signin", submit, methods=["POST"])]


class SignInFirst:
    """Sends a browser that opens the app's root without a session cookie to ``/signin``.

    Only the root and only without any cookie: a stale cookie, a deep link or a reload goes to the app,
    whose own form (same rules) covers them, so nothing is ever unreachable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path") == "/":
            cookies = Request(scope).cookies
            if not cookies.get(COOKIE):
                query = scope.get("query_string", b"").decode("latin-1")
                target = "/signin" + (f"?{urlencode({'next': '/?' + query})}" if query else "")
                await RedirectResponse(target, status_code=302)(scope, receive, send)
                return
        await self.app(scope, receive, send)
