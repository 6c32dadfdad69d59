"""PBX layouts: FreePBX's dated folders and file names become call ID, direction, numbers, queue,
start time and agent; presets are data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from recorder.layouts import BadLayout, fields_from_name, get_layout, read_agent_map
from recorder.watch import Outcome, Watcher
from storage.calls import Call
from storage.db import session
from storage.settings import reset_settings
from tests.pbx_world import make_day, write_agent_map, write_recordings

DAY = datetime(2024, 3, 5)


@pytest.fixture
def freepbx_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    monkeypatch.setenv("CALLQC_PBX_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("CALLQC_AGENT_MAP_CSV", str(write_agent_map(tmp_path / "agents.csv")))
    reset_settings()
    monitor = tmp_path / "monitor"
    monitor.mkdir()
    return monitor


def test_freepbx_names_give_id_direction_numbers_queue_time_and_extension() -> None:
    """Each FreePBX file-name kind is read by the preset (examples as FreePBX writes them)."""
    fp = get_layout("freepbx")
    agents = {"2001": "anna"}
    f = fields_from_name(fp, "in-2001-5551234567-20240305-101530-1709630130.42.wav", timezone="Europe/Berlin",
                         agents=agents)
    assert f == {"call_id": "1709630130.42", "caller": "5551234567", "callee": "2001", "direction": "inbound",
                 "started_at": "2024-03-05T10:15:30+01:00", "agent_id": "anna",
                 "pbx": {"layout": "freepbx", "uniqueid": "1709630130.42", "extension": "2001"}}
    out = fields_from_name(fp, "out-00442071234567-2001-20240305-101530-1709630130.43.WAV", agents=agents)
    assert (out["direction"], out["callee"], out["caller"], out["agent_id"]) == (
        "outbound", "00442071234567", "2001", "anna")
    q = fields_from_name(fp, "q-400-5551234567-20240305-101530-1709630130.44.gsm")
    assert (q["queue"], q["direction"], q["call_id"]) == ("400", "inbound", "1709630130.44")
    assert fields_from_name(fp, "exten-2002-2001-20240305-101530-1.5.wav")["direction"] == "internal"
    assert fields_from_name(fp, "rg-600-5551234567-20240305-101530-1.6.wav")["pbx"]["ringgroup"] == "600"
    assert fields_from_name(fp, "external-4930123-2001-20240305-101530-1.7.wav")["direction"] == "outbound"
    assert fields_from_name(fp, "holiday-greeting.wav") == {}


def test_asterisk_and_freeswitch_presets_take_the_call_id() -> None:
    assert fields_from_name(get_layout("asterisk"), "1709630130.42.WAV")["call_id"] == "1709630130.42"
    uuid = "0b0b6f2e-4c1a-4f7e-9f5e-2c9a1b7d3e10"
    assert fields_from_name(get_layout("freeswitch"), f"{uuid}.wav")["call_id"] == uuid
    assert get_layout("plain").patterns == ()


def test_unknown_layout_and_bad_agent_table_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(BadLayout, match="'avaya'; known: plain, asterisk, freepbx, freeswitch"):
        get_layout("avaya")
    (tmp_path / "a.csv").write_text("2001\n")
    with pytest.raises(BadLayout, match="line 1: expected extension,agent_id"):
        read_agent_map(tmp_path / "a.csv")


def test_watcher_recurses_into_freepbx_dated_folders_and_fills_the_calls(
    sqlite_db: str, freepbx_env: Path
) -> None:
    """A FreePBX-shaped tree: every recording in monitor/YYYY/MM/DD/ is found and registered with the
    metadata its name holds; done/ and rejected/ are not searched again."""
    calls = make_day(12, DAY)
    write_recordings(freepbx_env, calls)
    (freepbx_env / "2024" / "03" / "05" / "notes.txt").write_text("not a recording")
    results = Watcher(freepbx_env, require_marker=False, layout="freepbx").poll()
    assert [r.outcome for r in results] == [Outcome.done] * 12
    with session() as s:
        rows = {c.call_id: c for c in s.exec(select(Call)).all()}
    assert set(rows) == {c.uniqueid for c in calls}
    for c in calls:
        row = rows[c.uniqueid]
        assert row.started_at == c.start.replace(tzinfo=UTC) - (datetime(2024, 3, 5, 1) - datetime(2024, 3, 5, 0))
        assert row.direction == {"in": "inbound", "q": "inbound", "rg": "inbound", "out": "outbound",
                                 "external": "outbound", "exten": "internal"}[c.kind]
        assert row.caller == c.caller
        assert row.queue == c.queue
        if c.kind in ("in", "out", "exten"):
            assert row.agent_id == f"agent-{c.extension}"
        assert (row.meta or {})["pbx"]["uniqueid"] == c.uniqueid
    assert Watcher(freepbx_env, require_marker=False, layout="freepbx").poll() == []


def test_sidecar_wins_over_the_file_name(sqlite_db: str, freepbx_env: Path) -> None:
    [call] = make_day(1, DAY)
    [path] = write_recordings(freepbx_env, [call])
    path.with_suffix(".json").write_text('{"agent_id": "supervisor-7", "queue": "vip"}')
    [result] = Watcher(freepbx_env, require_marker=False, layout="freepbx").poll()
    assert result.outcome is Outcome.done
    with session() as s:
        row = s.get(Call, call.uniqueid)
        assert row is not None
        assert (row.agent_id, row.queue, row.caller) == ("supervisor-7", "vip", call.caller)


def test_plain_layout_does_not_recurse(sqlite_db: str, freepbx_env: Path) -> None:
    write_recordings(freepbx_env, make_day(2, DAY))
    assert Watcher(freepbx_env, require_marker=False, layout="plain").poll() == []


def test_watch_command_takes_layout_option(sqlite_db: str, freepbx_env: Path) -> None:
    """`callqc recorder watch --layout freepbx` finds the dated files; an unknown layout is one line."""
    import os
    import subprocess
    import sys

    calls = make_day(3, DAY)
    write_recordings(freepbx_env, calls)

    def watch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "callqc", "recorder", "watch", str(freepbx_env), "--once",
                               "--no-require-done", *args], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ))

    bad = watch("--layout", "avaya")
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("error: bad PBX layout: 'avaya'; known: plain,")
    ok = watch("--layout", "freepbx")
    assert ok.returncode == 0, ok.stderr
    with session() as s:
        assert {c.call_id for c in s.exec(select(Call)).all()} == {c.uniqueid for c in calls}
