"""The review app's web server: Streamlit's own (``st.App``), plus security headers and the cookie route.

``streamlit run review_app/server.py`` (what ``callqc app`` runs) serves review_app/app.py with:

- a Content-Security-Policy on every HTTP answer: scripts, styles, fonts, frames and connections
  only from the app itself; images also from ``data:``/``blob:``; audio from the app itself and from
  ``CALLQC_API_PUBLIC_URL``'s origin when set (the media endpoint); nothing from any other host,
  so text that slipped through as Markdown or HTML still could not load an outside image or send
  data anywhere. ``'unsafe-inline'`` stays for scripts and styles
  because Streamlit's page and its component frames use inline code.
- ``POST /_callqc/session``: the browser trades the one-time code a fresh sign-in gave the page for
  the HttpOnly session cookie (the page itself cannot set an HttpOnly cookie).
- ``GET /v1/media/<call>?token=…``: the recorder API's media endpoint (recorder/media.py ``serve``),
  mounted here too so the player can fetch audio from the app's own address (Range for stored calls,
  a chunked stream for live ones recorded on this host); without a valid media token it answers 401/403.
- ``GET/POST /signin``: the sign-in form as plain HTML (review_app/signin_page.py), which paints at
  once; a browser opening the root without a session cookie is sent there first.
- ``/media/…`` refused for audio and video: recordings never go through Streamlit's unauthenticated
  media store (the player fetches them from the media endpoint), so nothing may be served there.

Run review_app/app.py directly and the app still works, without these (no reload-proof sign-in).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit import config

if __package__ in (None, ""):  # `streamlit run` loads this file as a script: make storage importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from review_app import signin_page  # noqa: E402  (needs the path above)


def _media_origin() -> str:
    """``<scheme>://<host>[:port]`` of the public recorder API, or nothing when the app serves the audio."""
    from urllib.parse import urlsplit

    from storage.settings import get_settings

    url = urlsplit(get_settings().api_public_url or "")
    return f" {url.scheme}://{url.netloc}" if url.scheme in ("http", "https") and url.netloc else ""


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        f"media-src 'self'{_media_origin()}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self' blob: data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
]
_MEDIA_REFUSED = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".mp4", ".webm")


class SecurityHeaders:
    """Adds the headers above to every HTTP answer; refuses audio from Streamlit's media store."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith("/media/") and path.lower().endswith(_MEDIA_REFUSED):
            await Response("recordings are not served here", status_code=404)(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


async def media(request: Request) -> Response:
    """The media endpoint, same code as the recorder API's (imported on first use, not at start)."""
    from recorder.media import serve

    return await serve(request.path_params["call_id"], request)


async def collect_session_cookie(request: Request) -> Response:
    """Trade a one-time sign-in code (the request body) for the HttpOnly session cookie."""
    from storage import app_sessions, db
    from storage.errors import CallqcError

    code = (await request.body())[:256].decode("ascii", "replace").strip()
    try:
        with db.session(write=True) as s:
            got = app_sessions.collect_cookie(s, code)
    except CallqcError:
        got = None
    if got is None:
        return Response(status_code=403)
    token, max_age = got
    resp = Response(status_code=204)
    resp.set_cookie(
        "callqc_session",  # review_app.session.COOKIE; not imported, to keep Streamlit pages out of here
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


# what a browser is told: no developer menu or deploy button, no tracebacks (the console keeps them),
# no usage statistics sent anywhere, no static folder served
for option, value in {
    "client.toolbarMode": "viewer",
    "client.showErrorDetails": "none",
    "browser.gatherUsageStats": False,
    "server.enableStaticServing": False,
}.items():
    config.set_option(option, value, where_defined="review_app/server.py")

app = st.App(
    str(Path(__file__).with_name("app.py")),
    routes=[Route("/_callqc/session", collect_session_cookie, methods=["POST"]),
            Route("/v1/media/{call_id}", media, methods=["GET"]), *signin_page.ROUTES],
    middleware=[Middleware(SecurityHeaders), Middleware(signin_page.SignInFirst)],
)
