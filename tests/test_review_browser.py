"""End to end in headless Chromium: an inspector signs in, opens a sampled call, plays evidence, submits."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

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
APP = Path(__file__).resolve().parent.parent / "review_app" / "app.py"
ARGS = [
    "--headless",
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


@pytest.fixture
def app_url(sqlite_db: str, data_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLQC_")}
    env.update(CALLQC_DATA_DIR=str(data_dir), CALLQC_DATABASE_URL=sqlite_db, CALLQC_LOCALE="en")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
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


def test_inspector_reviews_a_sampled_call_in_chromium(
    app_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign in, open the sampled call, play from an evidence link, submit; the review is stored."""
    from playwright.sync_api import expect, sync_playwright

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
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_tool("chromium"), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(60_000)
            page.goto(app_url)
            page.get_by_role("textbox", name="User name").fill("insp1")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Open a1-call-0").click()
            page.get_by_role("button", name=re.compile("Thank you for calling")).first.click()
            expect(page.locator("audio")).to_have_count(1)
            page.get_by_role("button", name="Submit review").click()
            expect(page.get_by_text("Choose a verdict before submitting the review.")).to_be_visible()
            page.get_by_text("pass", exact=True).click()
            page.get_by_role("button", name="Submit review").click()
            expect(page.get_by_text(re.compile(r"Review \d+ saved"))).to_be_visible()
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "review.png").stat().st_size > 0
    with session() as s:
        review = s.exec(select(Review)).one()
        assignment = s.exec(select(Assignment)).one()
        plays = s.exec(select(AuditEvent).where(AuditEvent.action == "play")).all()
    assert (review.call_id, review.inspector, review.verdict) == ("a1-call-0", "insp1", "pass")
    assert assignment.state == AssignmentState.done and assignment.review_id == review.id
    assert [(p.actor, p.call_id) for p in plays] == [("insp1", "a1-call-0")]
