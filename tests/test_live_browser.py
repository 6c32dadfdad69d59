"""Synchronous sampling end to end: SIPp sends a live two-stream SIPREC call to the recorder; headless
Chromium signed in as an inspector presses "Give me a live call", hears it (the audio element's clock
advances while the call runs, its bytes come from the tokenised media endpoint), sees the live
transcript, marks a rubric item on the call page while listening and submits the synchronous review
after BYE, when the page has turned into the recorded call's page. Screenshots in the test's folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlmodel import select

from review_app.workflow.live import create_plan
from storage.calls import Call, CallStatus
from storage.db import session
from storage.models import AuditEvent
from storage.reviews import Review, ReviewMode
from storage.sync_drafts import SyncDraft
from tests import review_world
from tests.live_peers import Stream, build_pcap, need_sipp, siprec_scenario, speech
from tests.test_live_siprec import Srs, srs, wait_call  # noqa: F401  (srs: the recorder fixture)
from tests.test_review_browser import APP, Browser, running_app, sign_in

pytestmark = [pytest.mark.app, pytest.mark.slow, pytest.mark.integration,
              pytest.mark.tools("chromium", "sipp", "espeak-ng", "sox")]
CALL_MS = 90_000
LINE = "Thank you for calling the help desk. My name is Anna. How can I help you today?"


@pytest.fixture
def live_app(srs: Srs, sqlite_db: str, tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """The review app (review_app/server.py) and the live transcriber (`callqc live-transcribe`, as
    `callqc up` starts it) on the recorder's host: same data folder and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLQC_")}
    env.update(CALLQC_DATA_DIR=str(srs.data_dir), CALLQC_DATABASE_URL=sqlite_db, CALLQC_LIVE_ASR_MODEL="tiny.en",
               PYTHONPATH=str(Path(APP).parents[1]))
    with (tmp_path / "live-transcriber.log").open("wb") as log:
        live = subprocess.Popen([sys.executable, "-m", "callqc", "live-transcribe"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        with running_app(srs.data_dir, sqlite_db, tmp_path, PYTHONPATH=str(Path(APP).parents[1])) as url:
            yield url
    finally:
        live.terminate()
        live.wait(30)


def _audio_clock(page) -> float:  # type: ignore[no-untyped-def]
    return float(page.evaluate(
        "() => { for (const f of document.querySelectorAll('iframe')) { const a = f.contentDocument &&"
        " f.contentDocument.querySelector('audio'); if (a) return a.currentTime; } return -1; }"))


def _status(call_id: str) -> CallStatus:
    with session() as s:
        call = s.get(Call, call_id)
        assert call is not None
        return CallStatus(call.status)


def test_inspector_listens_to_a_live_siprec_call_and_scores_it_while_listening(
    srs: Srs, live_app: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    from playwright.sync_api import expect, sync_playwright

    need_sipp()
    review_world.fast_hashing(monkeypatch)
    world = review_world.build(calls_per_agent=1)
    with session() as s:
        create_plan(s, world.users["sup"], name="live e2e", mode="share", seed=5)
    agent = b"".join(speech(tmp_path / f"agent{k}.ul", LINE) + b"\xff" * 8000 for k in range(10))
    customer = b"".join(speech(tmp_path / f"cust{k}.ul", "Hello, I have a question about my order.")
                        + b"\xff" * 16000 for k in range(10))
    n = min(len(agent), len(customer)) // 160 * 160
    build_pcap(tmp_path / "call.pcap", [Stream(agent[:n]), Stream(customer[:n])])
    sipp = srs.sipp(siprec_scenario(tmp_path / "call.pcap", CALL_MS))
    live = wait_call(CallStatus.in_progress, 30)

    expect.set_options(timeout=60_000)
    with sync_playwright() as pw:
        b = Browser(pw, live_app, tmp_path)
        try:
            page = b.page()
            page.goto(f"{live_app}/live")
            sign_in(page, "insp1")
            page.get_by_role("button", name="Give me a live call").click()
            expect(page.get_by_text(f"Your live call: {live.call_id}")).to_be_visible()
            # it plays: the audio clock runs while the call is still in progress
            page.wait_for_function(
                "() => [...document.querySelectorAll('iframe')].some(f => { const a = f.contentDocument &&"
                " f.contentDocument.querySelector('audio'); return a && a.currentTime > 2; })", timeout=60_000)
            assert _status(live.call_id) == CallStatus.in_progress
            heard = [u for u in b.requests if urlparse(u).path == f"/v1/media/{live.call_id}"]
            assert heard and all("token=" in u for u in heard)
            # the live transcript shows speech while the call runs
            expect(page.get_by_text(re.compile(r"Agent\s*:|Customer\s*:")).first).to_be_visible()
            assert _status(live.call_id) == CallStatus.in_progress
            b.shot(page, "live-now")
            page.get_by_role("button", name=re.compile("Open the call page")).click()
            expect(page.get_by_text("Live call: your answers are saved")).to_be_visible()
            page.get_by_role("combobox", name="Your answer").first.click()
            page.get_by_role("option", name="no", exact=True).click()
            expect(page.get_by_text(re.compile(r"marked at \d\d:\d\d of the call")).first).to_be_visible()
            assert _status(live.call_id) == CallStatus.in_progress  # marked while listening
            b.shot(page, "call-live")
            assert sipp.wait(120) == 0
            # after BYE the same page becomes the recorded call's page, the answers still there
            expect(page.get_by_role("button", name="Submit synchronous review")).to_be_enabled(timeout=120_000)
            page.get_by_text("fail", exact=True).click()
            page.get_by_role("button", name="Submit synchronous review").click()
            expect(page.get_by_text(re.compile(r"Review \d+ saved"))).to_be_visible()
            b.shot(page, "call-recorded")
            assert b.offsite() == []
        finally:
            b.browser.close()
    with session() as s:
        review = s.exec(select(Review).where(Review.call_id == live.call_id)).one()
        draft = s.exec(select(SyncDraft).where(SyncDraft.call_id == live.call_id)).one()
        plays = s.exec(select(AuditEvent).where(AuditEvent.action == "play",
                                                AuditEvent.call_id == live.call_id)).all()
    assert review.mode == ReviewMode.sync and review.inspector == "insp1" and draft.review_id == review.id
    assert any(m["answer"] == "no" for m in draft.marks.values())
    assert [p for p in plays if p.detail.get("live") and "to_s" in p.detail]  # listening audited from/to
