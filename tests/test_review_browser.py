"""End to end in headless Chromium: an inspector signs in, opens a sampled call, plays evidence, submits."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlmodel import select

from review_app.workflow import sampling
from storage.db import session
from storage.models import AuditEvent
from storage.reviews import Assignment, AssignmentState, Review
from tests import review_world
from tests.review_world import DAY0, PASSWORD
from tests.services import require_tool

pytestmark = [pytest.mark.app, pytest.mark.slow, pytest.mark.integration, pytest.mark.tools("chromium")]
APP = Path(__file__).resolve().parent.parent / "review_app" / "server.py"
ARGS = [
    "--headless",
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(data_dir: Path, db_url: str, tmp_path: Path, **extra_env: str) -> Iterator[str]:
    """review_app/server.py under `streamlit run` on a free port until the block ends; its address."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLQC_")}
    env.update(CALLQC_DATA_DIR=str(data_dir), CALLQC_DATABASE_URL=db_url, CALLQC_LOCALE="en", **extra_env)
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("streamlit did not become healthy")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def app_url(sqlite_db: str, data_dir: Path, tmp_path: Path) -> Iterator[str]:
    with running_app(data_dir, sqlite_db, tmp_path) as url:
        yield url


class Browser:
    """One headless Chromium with a log of every request any page or frame made."""

    def __init__(self, pw, url: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
        self.url, self.shots, self.requests = url, shots, []
        self.browser = pw.chromium.launch(executable_path=require_tool("chromium"), args=ARGS, headless=True)

    def page(self):  # type: ignore[no-untyped-def]
        """A new tab in a fresh context (its own cookies), logging its requests."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 1800})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("request", lambda r: self.requests.append(r.url))
        return page

    def shot(self, page, name: str) -> None:  # type: ignore[no-untyped-def]
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def offsite(self) -> list[str]:
        """Requests that left the app's own address (data:, blob: and about: stay in the page)."""
        own = (self.url, "data:", "blob:", "about:")
        return [u for u in self.requests if not u.startswith(own)]


@pytest.fixture
def chromium(app_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # two shared cores: a rerun can take a few seconds
    with sync_playwright() as pw:
        b = Browser(pw, app_url, tmp_path)
        try:
            yield b
        finally:
            b.browser.close()


def _count_in_frames(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    """Matches of ``selector`` in every frame on the page; a frame detached while it is looked at
    (the cookie hand-off frame goes when its code is spent) is no longer on the page and counts 0."""
    from playwright.sync_api import Error as PlaywrightError

    total = 0
    for frame in page.frames:
        try:
            total += frame.locator(selector).count()
        except PlaywrightError as exc:
            if "detached" not in str(exc).lower():
                raise
    return total


def sign_in(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {name}").wait_for()


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("textbox", name="User name").wait_for()


def test_inspector_reviews_a_sampled_call_in_chromium(chromium: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign in, open the sampled call, play from an evidence link (the audio is in the page, no /media
    address, and it plays), double-click submit: one review stored, nothing fetched from outside."""
    from playwright.sync_api import expect

    review_world.fast_hashing(monkeypatch)
    world = review_world.build(calls_per_agent=1)
    with session() as s:
        plan = sampling.create_plan(
            s,
            world.users["sup"],
            name="e2e",
            mode="per_agent",
            count=1,
            inspectors=["insp1"],
            seed=3,
            filters={"agents": ["A1"]},
        )
        sampling.run_plan(
            s, world.users["sup"], plan.id, start=DAY0 - timedelta(days=1), end=DAY0 + timedelta(days=1)
        )
    page = chromium.page()
    page.goto(chromium.url)
    sign_in(page, "insp1")
    page.get_by_role("button", name="Open a1-call-0").click()
    page.get_by_role("button", name=re.compile("Thank you for calling")).first.click()
    audio = page.frame_locator("iframe").locator("audio")
    expect(audio).to_have_count(1)
    src = audio.get_attribute("src", timeout=30_000)
    assert src.startswith("/v1/media/a1-call-0?token=")
    # it plays: the fetched bytes decode and the clock moves (or the half-second test call ends)
    audio.evaluate("a => a.play()")
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe'); const a = f && f.contentDocument.querySelector('audio');"
        " return a && a.duration > 0 && (a.currentTime > 0 || a.ended); }",
        timeout=30_000,
    )
    page.frame_locator("iframe").locator("#wave").click(position={"x": 5, "y": 5})  # click-to-seek
    assert page.request.get(f"{chromium.url}/v1/media/a1-call-0").status == 401
    assert page.request.get(f"{chromium.url}{src[:-4]}AAAA").status == 403
    page.get_by_role("button", name="Submit review").click()
    expect(page.get_by_text("Choose a verdict before submitting the review.")).to_be_visible()
    page.get_by_text("pass", exact=True).click()
    page.get_by_role("button", name="Submit review").dblclick()
    expect(page.get_by_text(re.compile(r"Review \d+ saved"))).to_be_visible()
    page.wait_for_timeout(1500)  # let a second click's run finish, if it stored anything
    chromium.shot(page, "review")
    with session() as s:
        reviews = s.exec(select(Review)).all()
        assignment = s.exec(select(Assignment)).one()
        plays = s.exec(select(AuditEvent).where(AuditEvent.action == "play")).all()
    assert [(r.call_id, r.inspector, r.verdict) for r in reviews] == [("a1-call-0", "insp1", "pass")]
    assert assignment.state == AssignmentState.done and assignment.review_id == reviews[0].id
    granted = [p for p in plays if p.detail.get("stage") == "granted"]
    served = [p for p in plays if "range" in p.detail]
    assert [(p.actor, p.call_id) for p in granted] == [("insp1", "a1-call-0")]
    assert served and {(p.actor, p.detail["grant"]) for p in served} == {("insp1", granted[0].detail["grant"])}
    assert [u for u in chromium.requests if urlparse(u).path == "/v1/media/a1-call-0"]
    assert not [u for u in chromium.requests if urlparse(u).path.startswith("/media/")]
    assert chromium.offsite() == []


def test_nothing_of_one_user_reaches_the_next_in_the_same_tab(
    chromium: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prepares a download and signs out; B signs in in the same tab and sees nothing of A's;
    a reload keeps B signed in (HttpOnly cookie); a deep link opens after sign-in in a new tab."""
    from playwright.sync_api import expect

    review_world.fast_hashing(monkeypatch)
    review_world.build(calls_per_agent=1)
    page = chromium.page()
    page.goto(chromium.url)
    sign_in(page, "arch")
    page.get_by_role("textbox", name="Call ID (or its beginning)").fill("a1-call-0")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Download")).to_have_count(1)  # the list is filtered
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Download").click()
    expect(page.get_by_text("Download ready: a1-call-0.wav")).to_be_visible()
    link = page.frame_locator("iframe").locator("a#dl")
    assert link.get_attribute("href", timeout=30_000).startswith("data:application/octet-stream;base64,")
    chromium.shot(page, "a_download_ready")
    sign_out(page)
    sign_in(page, "admin")
    page.get_by_role("link", name="Find a call").click()
    page.get_by_role("textbox", name="Call ID (or its beginning)").wait_for()
    chromium.shot(page, "b_after_a")
    body = page.locator("body").inner_text()
    assert "Download ready" not in body and "Save a1-call-0" not in body and "Signed in as arch" not in body
    assert _count_in_frames(page, "a[download], audio") == 0  # no download, no player
    assert page.get_by_role("textbox", name="Call ID (or its beginning)").input_value() == ""
    cookie = next(c for c in page.context.cookies() if c["name"] == "callqc_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.reload()
    page.get_by_text("Signed in as admin").wait_for()
    chromium.shot(page, "b_reloaded")
    with session() as s:
        kinds = [(e.actor, e.action) for e in s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert kinds[:4] == [("arch", "sign_in"), ("arch", "download"), ("arch", "sign_out"), ("admin", "sign_in")]
    # a deep link in a new browser (no cookie): sign-in first, then the call it named
    other = chromium.page()
    other.goto(f"{chromium.url}/call?call=a2-call-0")
    sign_in(other, "insp1")
    expect(other.get_by_role("heading", name=re.compile(r"a2-call-0 · A2"))).to_be_visible()
    chromium.shot(other, "deep_link")
    assert chromium.offsite() == []


def test_hostile_transcript_shows_as_text_and_loads_nothing(chromium: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markdown images, HTML and javascript: links in a transcript and a comment are shown literally;
    the browser asks nothing of the addresses they name; the page carries a restrictive CSP."""
    from playwright.sync_api import expect

    from tests.scoring_calls import seg

    review_world.fast_hashing(monkeypatch)
    review_world.build(calls_per_agent=1)
    hostile = [
        "![x](http://127.0.0.1:9/x.png)",
        '<img src="http://127.0.0.1:9/y.png">',
        "[link](javascript:alert(1))",
    ]
    review_world.add_call(
        "evil-1",
        "A1",
        started_at=DAY0,
        segments=[seg("agent", 0.5, 2.0, hostile[0]), seg("customer", 2.5, 4.0, hostile[1]),
                  seg("agent", 4.5, 6.0, hostile[2])],
    )
    page = chromium.page()
    response = page.goto(f"{chromium.url}/call?call=evil-1")
    assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
    sign_in(page, "insp1")
    page.get_by_text("Transcript").click()
    expect(page.get_by_text(re.compile(r"!\[x\]"))).to_be_visible()
    chromium.shot(page, "hostile")
    shown = page.locator("body").inner_text().replace("\u2060", "")  # the joiner that stops autolinks
    assert all(text in shown for text in hostile), shown
    assert page.locator("img[src*='127.0.0.1:9']").count() == 0
    assert page.locator("a[href*='127.0.0.1:9'], a[href^='javascript']").count() == 0
    assert not [u for u in chromium.requests if "127.0.0.1:9/" in u]
    assert chromium.offsite() == []


_PLAYER = ("() => [...document.querySelectorAll('iframe')].map(f => { try { return f.contentDocument"
           ".querySelector('audio'); } catch (e) { return null; } }).find(a => a)")


def test_a_transcript_line_seeks_the_player_in_place(chromium: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """Play a 20 s call, pause it at the start, click the transcript line at 00:08: the same audio
    element (its frame not reloaded, its address and token unchanged) is now at 8 s; no second grant
    and no request with another token."""
    from tests.scoring_calls import seg

    review_world.fast_hashing(monkeypatch)
    review_world.build(calls_per_agent=1)
    review_world.add_call("long-1", "A1", started_at=DAY0, audio_s=20.0, segments=[
        seg("agent", 0.5, 3.0, "Thank you for calling."), seg("customer", 8.0, 11.0, "My card was charged twice."),
        seg("agent", 14.0, 17.0, "Let me check that for you.")])
    page = chromium.page()
    page.goto(f"{chromium.url}/call?call=long-1")
    sign_in(page, "insp1")
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"() => {{ const a = ({_PLAYER})(); return a && a.duration > 19; }}", timeout=60_000)
    src = page.evaluate(f"() => {{ const a = ({_PLAYER})(); a.pause(); a.currentTime = 0;"
                        " a.ownerDocument.defaultView.__notReloaded = true; return a.src; }")
    assert "/v1/media/long-1?token=" in src
    page.get_by_text("Transcript").click()
    page.get_by_role("button", name="▶ 00:08").click()
    page.wait_for_function(f"() => {{ const a = ({_PLAYER})(); return a && a.currentTime >= 8; }}", timeout=60_000)
    after = page.evaluate(f"() => {{ const a = ({_PLAYER})();"
                          " return [a.src, a.ownerDocument.defaultView.__notReloaded === true, a.currentTime]; }")
    chromium.shot(page, "seeked")
    assert after[0] == src and after[1] is True, after
    assert 8 <= after[2] < 20  # played on from 8 s, not from the start and not another file
    page.get_by_role("button", name="▶ 00:14").click()  # a second seek, the same player again
    page.wait_for_function(f"() => {{ const a = ({_PLAYER})(); return a && a.currentTime >= 14; }}", timeout=60_000)
    assert page.evaluate(f"() => ({_PLAYER})().src") == src
    tokens = {parse_qs(urlparse(u).query).get("token", [""])[0] for u in chromium.requests
              if urlparse(u).path == "/v1/media/long-1"}
    assert tokens == {parse_qs(urlparse(src).query)["token"][0]}
    with session() as s:
        plays = s.exec(select(AuditEvent).where(AuditEvent.action == "play", AuditEvent.call_id == "long-1")).all()
    granted = [e for e in plays if e.detail.get("stage") == "granted"]
    assert len(granted) == 1
