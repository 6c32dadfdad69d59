"""CDR join and coverage: a FreePBX-shaped day of recordings against Asterisk's Master.csv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from recorder.cdr import BadCdr, read_master_csv
from recorder.watch import Outcome, Watcher
from storage.calls import Call
from storage.cdr import CdrRecord
from storage.db import session
from storage.settings import reset_settings
from tests.pbx_world import make_day, write_agent_map, write_master_csv, write_recordings

DAY = datetime(2024, 3, 5)


def _coverage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callqc", "coverage", *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))


@pytest.fixture
def pbx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    monkeypatch.setenv("CALLQC_PBX_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("CALLQC_AGENT_MAP_CSV", str(write_agent_map(tmp_path / "agents.csv")))
    reset_settings()
    (tmp_path / "monitor").mkdir()
    return tmp_path


def _unanswered_rows(calls: list) -> list[list[str]]:
    """What a real Master.csv also holds: queue members rung who did not answer (same uniqueid) and
    calls nobody answered."""
    rows = []
    for c in calls[:5]:
        row = c.cdr_row()
        row[6], row[14], row[10], row[13] = "PJSIP/2099-000099", "NO ANSWER", "", "0"
        rows.append(row)
    for i in range(7):
        start = DAY.replace(hour=19) + timedelta(minutes=i)
        rows.append(["", f"5559{i:04d}", "400", "ext-queues", "", "PJSIP/trunk-1", "", "Queue", "400,t",
                     f"{start:%Y-%m-%d %H:%M:%S}", "", f"{start:%Y-%m-%d %H:%M:%S}", "20", "0", "NO ANSWER",
                     "DOCUMENTATION", f"{int(start.timestamp())}.{900 + i}", ""])
    return rows


@pytest.mark.slow
def test_a_day_of_200_recordings_against_210_answered_calls(sqlite_db: str, pbx: Path) -> None:
    """200 FreePBX recordings, a Master.csv with 210 answered calls (plus unanswered records): 200
    matched, the 10 missing listed, metadata joined; a late file arrives and coverage rises."""
    calls = make_day(210, DAY)
    recorded, late = calls[:200], calls[200:]
    monitor = pbx / "monitor"
    write_recordings(monitor, recorded)
    master = write_master_csv(pbx / "Master.csv", calls, _unanswered_rows(calls))
    results = Watcher(monitor, require_marker=False, layout="freepbx").poll()
    assert sum(r.outcome is Outcome.done for r in results) == 200

    r = _coverage("--day", "2024-03-05", "--cdr", str(master), "--json")
    assert r.returncode == 1, r.stderr  # 95.24% is under the 99.5% alert
    out = json.loads(r.stdout)
    assert (out["answered"], out["recorded"], out["missing"]) == (210, 200, 10)
    assert out["new_records"] == 222
    assert {m["uniqueid"] for m in out["missing_calls"]} == {c.uniqueid for c in late}
    assert out["pct"] == pytest.approx(100 * 200 / 210, abs=0.01)
    assert sum(v["answered"] for v in out["by_agent"].values()) == 210
    assert out["by_queue"]["400"]["answered"] == 35  # every sixth call is a queue call

    with session() as s:
        rows = {c.call_id: c for c in s.exec(select(Call)).all()}
        matched = s.exec(select(CdrRecord).where(CdrRecord.call_id != None)).all()  # noqa: E711
    assert len(matched) == 200
    for c in recorded:
        row = rows[c.uniqueid]
        assert row.agent_id == f"agent-{c.extension}"  # queue calls too: the agent came from the CDR
        assert row.caller == c.caller
    rec = next(m for m in matched if m.call_id == recorded[3].uniqueid)
    assert (rec.ring_s, rec.talk_s, rec.disposition) == (recorded[3].ring_s, recorded[3].talk_s, "ANSWERED")
    assert rec.raw["uniqueid"] == recorded[3].uniqueid

    write_recordings(monitor, late[:6])  # late files
    Watcher(monitor, require_marker=False, layout="freepbx").poll()
    r = _coverage("--day", "2024-03-05", "--cdr", str(master))
    assert r.returncode == 1
    assert r.stdout.startswith("2024-03-05: 206 of 210 answered calls recorded (98.10%), 4 missing; "
                               "0 new CDR records read")
    write_recordings(monitor, late[6:])
    Watcher(monitor, require_marker=False, layout="freepbx").poll()
    r = _coverage("--day", "2024-03-05", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["pct"] == 100.0


def test_recording_matched_by_time_and_number_when_ids_differ(sqlite_db: str, pbx: Path) -> None:
    """A recording under another ID (a plain spool, a SIPREC call) is matched within the time window
    by caller number."""
    [c] = make_day(1, DAY)
    master = write_master_csv(pbx / "Master.csv", [c])
    folder = pbx / "spool"
    folder.mkdir()
    from tests.pbx_world import wav_bytes
    (folder / "other-id.wav").write_bytes(wav_bytes(1))
    start = (c.start - timedelta(hours=1)).isoformat() + "+00:00"  # Berlin 08:00 = 07:00 UTC
    (folder / "other-id.json").write_text(json.dumps({"caller": c.caller, "started_at": start}))
    Watcher(folder, require_marker=False).poll()
    out = json.loads(_coverage("--day", "2024-03-05", "--cdr", str(master), "--json").stdout)
    assert (out["answered"], out["recorded"]) == (1, 1)


def test_bad_master_csv_and_bad_day_are_one_line_errors(sqlite_db: str, pbx: Path) -> None:
    (pbx / "bad.csv").write_text('"a","b"\n')
    with pytest.raises(BadCdr, match="line 1: 2 fields"):
        read_master_csv(pbx / "bad.csv")
    r = _coverage("--day", "yesterday")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == ["error: bad CDR file: --day 'yesterday': expected YYYY-MM-DD"]


def test_freeswitch_cdr_csv_answered_calls_matched_by_uuid(sqlite_db: str, pbx: Path) -> None:
    """mod_cdr_csv (`example` template): a call with an answer_stamp counts; matched to the
    FreeSWITCH-layout recording named by its uuid; one answered call without a recording is missing."""
    from tests.pbx_world import wav_bytes
    folder = pbx / "recordings"
    (folder / "2024" / "03" / "05").mkdir(parents=True)
    uuids = [f"0b0b6f2e-4c1a-4f7e-9f5e-2c9a1b7d3e1{i}" for i in range(3)]
    rows = []
    for i, uid in enumerate(uuids):
        answered = i < 2  # the third rang out unanswered (recorded all the same: early media)
        answer = f"2024-03-05 09:0{i}:04" if answered else ""
        rows.append(f'"Anna","555000{i}","2001","default","2024-03-05 09:0{i}:00","{answer}",'
                    f'"2024-03-05 09:0{i}:50","50","{46 if answered else 0}","NORMAL_CLEARING","{uid}","","",'
                    '"PCMU","PCMU"\n')
    rows.append('"Bob","5559999","2001","default","2024-03-05 10:00:00","2024-03-05 10:00:02",'
                '"2024-03-05 10:01:00","60","58","NORMAL_CLEARING","11111111-2222-3333-4444-555555555555",'
                '"","","PCMU","PCMU"\n')
    (pbx / "fs.csv").write_text("".join(rows))
    for i, uid in enumerate(uuids):
        (folder / "2024" / "03" / "05" / f"{uid}.wav").write_bytes(wav_bytes(i))
    assert len(Watcher(folder, require_marker=False, layout="freeswitch").poll()) == 3
    r = _coverage("--day", "2024-03-05", "--cdr", str(pbx / "fs.csv"), "--cdr-format", "freeswitch", "--json")
    out = json.loads(r.stdout)
    assert (out["answered"], out["recorded"], out["missing"]) == (3, 2, 1), r.stderr
    assert out["missing_calls"][0]["uniqueid"] == "11111111-2222-3333-4444-555555555555"
    assert out["by_agent"]["agent-2001"] == {"recorded": 2, "answered": 3, "pct": 66.67}
