"""The `callqc up` scheduler's month-end report (once per tenant and month, across processes) and its
scheduled live plans (each firing once, a live call for each of the plan's inspectors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from review_app.workflow import live_schedule
from review_app.workflow.live import create_plan
from review_app.workflow.schedule import tick
from storage.calls import Call, CallStatus
from storage.db import session
from storage.errors import InvalidInput
from storage.live_picks import LivePick
from storage.notifications import Notification, set_pref
from storage.schedules import LiveClaim, ReportClaim
from storage.users import Principal, Role, add_user

OCT = datetime(2026, 10, 1, tzinfo=UTC)
SUP = Principal("sup", Role.supervisor)


def _call(cid: str, started: datetime, *, tenant: str = "default", status: CallStatus = CallStatus.recorded) -> Call:
    return Call(call_id=cid, agent_id="A1", team="T1", tenant=tenant, started_at=started, codec="pcm",
                sample_rate=8000, channels=2, audio_key=f"k/{cid}", size_bytes=1, sha256="0" * 64, status=status)


DRIVER = textwrap.dedent("""
    import json, sys
    from datetime import datetime
    from review_app.workflow.schedule import tick
    out = []
    for now in sys.argv[1:]:
        out += [[m.tenant, m.month] for m in tick(now=datetime.fromisoformat(now)).reports]
    print(json.dumps(out))
""")


@pytest.mark.slow
@pytest.mark.integration
def test_two_schedulers_make_each_tenants_month_end_report_once(db_url: str, data_dir: Path) -> None:
    """October has calls of two tenants; two scheduler processes tick through November 1st and 2nd:
    each tenant's October report was made once in all, as XLSX and CSV; nothing for tenantless months."""
    with session() as s:
        s.add_all([_call("a-1", OCT + timedelta(days=3)), _call("a-2", OCT + timedelta(days=20)),
                   _call("b-1", OCT + timedelta(days=9), tenant="bank-b"),
                   _call("nov-1", OCT + timedelta(days=33))])
    ticks = [(OCT + timedelta(days=31, minutes=m)).isoformat() for m in (0, 1, 2)] + [
        (OCT + timedelta(days=32)).isoformat()]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, *ticks], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    made = sorted(tuple(r) for out in outs for r in json.loads(out))
    assert made == [("bank-b", "2026-10"), ("default", "2026-10")]
    with session() as s:
        claims = sorted((c.tenant, c.month) for c in s.exec(select(ReportClaim)))
    assert claims == made
    for tenant in ("default", "bank-b"):
        xlsx = data_dir / "reports" / tenant / "qc-report-2026-10.xlsx"
        assert load_workbook(xlsx).sheetnames and xlsx.with_suffix(".csv").stat().st_size > 0
    assert not list((data_dir / "reports").rglob("*.part"))
    # a later tick in November makes nothing more; December makes November's (tenant default only)
    assert tick(now=OCT + timedelta(days=45)).reports == []
    december = tick(now=datetime(2026, 12, 1, 0, 5, tzinfo=UTC)).reports
    assert [(m.tenant, m.month) for m in december] == [("default", "2026-11")]


NOW = datetime(2026, 11, 2, 10, 0, 20, tzinfo=UTC)


def test_a_scheduled_live_plan_gives_each_inspector_a_live_call_once_per_firing(sqlite_db: str) -> None:
    """At 10:00 each listed inspector gets one live call (and a notification); ticking again within
    the firing changes nothing; the next firing gives the next calls; a firing over 15 minutes late
    is skipped; bad schedules and unknown inspectors are refused."""
    with session() as s:
        for name in ("insp1", "insp2"):
            add_user(s, name, role="inspector", password="password-123")
            set_pref(s, name, "assignment", "email", f"{name}@example.com")
        add_user(s, "ag", role="agent", agent_id="A9", password="password-123")
        s.add_all([_call(f"L{i}", NOW - timedelta(minutes=5), status=CallStatus.in_progress) for i in range(5)])
        plan = create_plan(s, SUP, name="live-hourly", mode="share", seed=7, repeat_agent=True)
        plan.created_at = NOW - timedelta(days=1)
        with pytest.raises(InvalidInput, match="cron"):
            live_schedule.set_live_schedule(s, SUP, plan.id or 0, "hourly", ["insp1"])
        with pytest.raises(InvalidInput, match="'ag'"):
            live_schedule.set_live_schedule(s, SUP, plan.id or 0, "0 * * * *", ["insp1", "ag"])
        live_schedule.set_live_schedule(s, SUP, plan.id or 0, "0 * * * *", ["insp1", "insp2"])
    first = tick(now=NOW).live
    assert [(f.fire_at, sorted(f.picks)) for f in first] == [(NOW.replace(second=0), ["insp1", "insp2"])]
    assert tick(now=NOW + timedelta(minutes=3)).live == []
    assert tick(now=NOW + timedelta(hours=1, minutes=20)).live == []  # 11:00 missed by 20 minutes
    second = tick(now=NOW + timedelta(hours=2, seconds=5)).live
    assert [sorted(f.picks) for f in second] == [["insp1", "insp2"]]
    with session() as s:
        picks = list(s.exec(select(LivePick)))
        claims = list(s.exec(select(LiveClaim).order_by(LiveClaim.fire_at)))
        notes = [n for n in s.exec(select(Notification)) if n.kind == "assignment"]
    assert len(picks) == 4 and len({p.call_id for p in picks}) == 4
    assert [(c.fire_at.hour, c.picks) for c in claims] == [(10, 2), (12, 2)]
    assert sorted(n.user_name for n in notes) == ["insp1", "insp1", "insp2", "insp2"]
    assert all("call_id" in n.payload and "transcript" not in json.dumps(n.payload) for n in notes)
