"""Every page as every role in Simplified Chinese: no English catalogue text, raw keys or raw item IDs shown."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from review_app.i18n import EN, ZH, t
from review_app.session import _TOKEN as TOKEN
from review_app.workflow import calibration, feedback, inspection, sampling
from review_app.workflow.evalview import HumanAnswers
from storage.access import recording
from storage.calls import Call
from storage.db import session
from storage.pauses import CallPause
from storage.settings import get_settings
from storage.transcripts import TranscriptSegment
from tests import review_world
from tests.review_world import DAY0

pytestmark = pytest.mark.app
APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
ROLES = {
    "insp1": ["queue", "call", "search", "calibration"],
    "agent1": ["scorecard", "call", "search"],
    "sup": ["dashboard", "queue", "call", "search", "sampling", "disputes", "calibration"],
    "arch": ["search", "call", "archive"],
    "admin": ["dashboard", "queue", "call", "search", "sampling", "disputes", "calibration", "audit", "archive"],
}
ENGLISH_DATES = r"\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b"
KEY_PREFIXES = "answer|verdict|state|role|action|err|ev|page|dispute|mode|direction|series|workload|reason|speaker"


@pytest.fixture
def busy_world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    """A world where every page has something to show: reviews, a dispute, a plan run, calibration, audit."""
    monkeypatch.setenv("CALLQC_LOCALE", "zh-CN")
    monkeypatch.setenv("CALLQC_TIMEZONE", "Asia/Shanghai")
    from storage.settings import reset_settings

    reset_settings()
    review_world.fast_hashing(monkeypatch)
    world = review_world.build()
    users = world.users
    with session() as s:
        review = inspection.submit_review(
            s, users["insp1"], "a1-call-0", human=HumanAnswers(answers={"greeting": "no"}), verdict="fail"
        )
        feedback.open_dispute(s, users["agent1"], review.id or 0, reason="我有问候")
        plan = sampling.create_plan(
            s, users["sup"], name="每日", mode="per_agent", count=1, inspectors=["insp1"], seed=7
        )
        sampling.run_plan(
            s, users["sup"], plan.id or 0, start=DAY0 - timedelta(days=1), end=DAY0 + timedelta(days=1),
            first_day=DAY0.date(),
        )
        cs = calibration.create_session(
            s, users["sup"], title="校准", call_ids=["a1-call-0"], inspectors=["insp1", "sup"], expert="insp2"
        )
        calibration.submit(s, users["insp2"], cs.id or 0, "a1-call-0", answers={"greeting": "yes"})
        calibration.submit(s, users["insp1"], cs.id or 0, "a1-call-0", answers={"greeting": "no"})
        call = s.get(Call, "a1-call-0")
        assert call is not None
        s.add(CallPause(call_id="a1-call-0", started_at=call.started_at + timedelta(seconds=20.4),
                        ended_at=call.started_at + timedelta(seconds=31.9), paused_by="desk-7"))
    recording(users["insp1"], "a1-call-0", source="test")
    return world


def _strings(at: AppTest) -> list[str]:
    """Every string a person sees on the page: text elements, widget labels and options, table headers
    and cells, metric labels, chart titles and the chart data's text."""
    out: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "info", "success", "warning"):
        out += [str(e.value) for e in at.get(kind)]
    for kind in ("button", "text_input", "text_area", "number_input", "selectbox", "multiselect", "radio",
                 "checkbox", "date_input", "segmented_control", "metric", "expander"):
        for w in at.get(kind):
            out.append(str(getattr(w, "label", "") or ""))
            out += [str(o) for o in getattr(w, "options", []) or []]
    for df in at.dataframe:
        frame = df.value
        out += [str(c) for c in frame.columns]
        out += [str(v) for v in frame.astype(str).to_numpy().ravel()]
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        out += [str(v) for v in re.findall(r'"title":\s*"([^"]*)"', chart.proto.spec)]
        for values in _chart_values(spec):
            out.append(str(values))
    text = "\n".join(out)
    return [re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")]


def _chart_values(spec: dict) -> list[str]:
    found: list[str] = []
    datasets = spec.get("datasets") or {}
    for rows in datasets.values():
        for row in rows:
            for k, v in row.items():
                if isinstance(v, str) and k not in ("day",):
                    found.append(v)
    return found


def _english_fragments() -> set[str]:
    """Literal pieces of every English catalogue text that zh-CN says differently."""
    frags: set[str] = set()
    for key, en in EN.items():
        if en == ZH[key]:
            continue
        for piece in re.split(r"\{[^}]*\}", en):
            piece = piece.strip(" :·(),.%/—-")
            if len(piece) >= 4 and re.search(r"[A-Za-z]{3}", piece):
                frags.add(piece)
    return frags


def test_every_page_in_zh_cn_shows_no_english_or_raw_ids(busy_world: review_world.World) -> None:
    """Walk every page as every role; nothing English from the catalogue, no raw keys or item IDs."""
    assert get_settings().locale == "zh-CN"
    with session() as s:
        data = {seg.text for seg in s.exec(select(TranscriptSegment))}  # the calls' own words stay
    data |= set(review_world.USERS)  # and people's names
    items = {i.item_id for i in _items()}
    fragments = _english_fragments()
    leaks: dict[str, list[str]] = {}
    for user, pages in ROLES.items():
        for page in pages:
            at = AppTest.from_file(APP, default_timeout=60)
            at.session_state[TOKEN] = review_world.session_token(user)
            at.query_params["call"] = "a1-call-0"
            at.run()
            at.switch_page(f"views/{page}.py").run()
            if page == "scorecard" and user != "agent1":
                at.text_input(key="sc_agent").input("A1").run()
            assert not at.exception, (user, page, at.exception)
            text = "\n".join(_strings(at))
            for d in sorted(data, key=len, reverse=True):
                text = text.replace(d, "")
            found = [f for f in fragments if re.search(rf"(?<![A-Za-z]){re.escape(f)}(?![A-Za-z])", text)]
            found += re.findall(rf"\b(?:{KEY_PREFIXES})_[a-z_/]+\b", text)
            found += [i for i in items if re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text)]
            found += re.findall(ENGLISH_DATES, text)
            if found:
                leaks[f"{user}/{page}"] = sorted(set(found))
    assert leaks == {}, json.dumps(leaks, ensure_ascii=False, indent=1)


def test_call_page_shows_the_pci_pause_in_chinese(busy_world: review_world.World) -> None:
    """The pause line of the call page reads in Chinese."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("insp1")
    at.query_params["call"] = "a1-call-0"
    at.run()
    at.switch_page("views/call.py").run()
    assert not at.exception
    assert "录音已暂停 00:20–00:31（PCI）" in "\n".join(_strings(at))


def test_charts_carry_the_chinese_time_locale(busy_world: review_world.World) -> None:
    """Chart axes format dates with Chinese month and day names (Vega's default is English)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("sup")
    at.run()
    at.switch_page("views/dashboard.py")
    at.date_input(key="db_from").set_value(DAY0.date() - timedelta(days=1))
    at.run()
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert specs and all(s["config"]["locale"]["time"]["shortMonths"][0] == "1月" for s in specs)


def test_times_show_in_the_configured_time_zone(busy_world: review_world.World) -> None:
    """A review submitted at 09:00 UTC reads 17:00 in Asia/Shanghai on the call page."""
    from review_app.i18n import local_time

    assert local_time(DAY0) == (DAY0 + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("sup")
    at.query_params["call"] = "a1-call-0"
    at.run()
    at.switch_page("views/search.py").run()
    shown = "\n".join(str(m.value) for m in at.markdown).replace("\\", "")
    assert local_time(DAY0) in shown and t("page_search") == "按通话编号查找"


def _items() -> list:
    from review_app.workflow import evalview

    with session() as s:
        return evalview.rubric_items(s, "a1-call-0")
