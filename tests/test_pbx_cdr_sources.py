"""More CDR sources: FreePBX's asteriskcdrdb.cdr table in a real MariaDB, FreeSWITCH mod_json_cdr
files and its HTTP POST; each joined to recordings like Master.csv."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from recorder.cdr import BadCdr
from recorder.cdr_sources import decode_post, read_json_cdr
from recorder.watch import Watcher
from storage.calls import Call
from storage.cdr import CdrRecord
from storage.db import session
from storage.settings import reset_settings
from tests.pbx_world import PbxCall, make_day, wav_bytes, write_agent_map, write_recordings

DAY = datetime(2024, 3, 5)
TOKEN = "t" * 24
# FreePBX 16's asteriskcdrdb.cdr (the columns it creates; calldate is the start in PBX time)
FREEPBX_CDR = """CREATE TABLE cdr (
  calldate datetime NOT NULL DEFAULT '0000-00-00 00:00:00', clid varchar(80) NOT NULL DEFAULT '',
  src varchar(80) NOT NULL DEFAULT '', dst varchar(80) NOT NULL DEFAULT '',
  dcontext varchar(80) NOT NULL DEFAULT '', channel varchar(80) NOT NULL DEFAULT '',
  dstchannel varchar(80) NOT NULL DEFAULT '', lastapp varchar(80) NOT NULL DEFAULT '',
  lastdata varchar(80) NOT NULL DEFAULT '', duration int(11) NOT NULL DEFAULT 0,
  billsec int(11) NOT NULL DEFAULT 0, disposition varchar(45) NOT NULL DEFAULT '',
  amaflags int(11) NOT NULL DEFAULT 0, accountcode varchar(20) NOT NULL DEFAULT '',
  uniqueid varchar(32) NOT NULL DEFAULT '', userfield varchar(255) NOT NULL DEFAULT '',
  did varchar(50) NOT NULL DEFAULT '', recordingfile varchar(255) NOT NULL DEFAULT '',
  cnum varchar(80) NOT NULL DEFAULT '', cnam varchar(80) NOT NULL DEFAULT '',
  outbound_cnum varchar(80) NOT NULL DEFAULT '', outbound_cnam varchar(80) NOT NULL DEFAULT '',
  dst_cnam varchar(80) NOT NULL DEFAULT '', linkedid varchar(32) NOT NULL DEFAULT '',
  peeraccount varchar(80) NOT NULL DEFAULT '', sequence int(11) NOT NULL DEFAULT 0,
  KEY calldate (calldate), KEY uniqueid (uniqueid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away MariaDB server (Debian's mariadb-server), reachable over TCP; yields a DSN."""
    import pymysql

    from tests.services import require_tool

    require_tool("mariadbd", "mariadb-install-db")
    root = tmp_path_factory.mktemp("mariadb")
    data = root / "data"
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    errlog = (root / "err.log").open("wb")
    server = subprocess.Popen(
        [shutil.which("mariadbd") or "mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={root}/s.sock",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=root", "--skip-log-bin",
         "--innodb-buffer-pool-size=16M", f"--pid-file={root}/m.pid"],
        stdout=subprocess.DEVNULL, stderr=errlog)
    try:
        for _ in range(600):  # readiness, not a timing check: wait until it answers
            try:
                pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
                break
            except pymysql.err.OperationalError:
                assert server.poll() is None, (root / "err.log").read_text()
                time.sleep(0.1)
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE asteriskcdrdb")
            cur.execute("USE asteriskcdrdb")
            cur.execute(FREEPBX_CDR)
        conn.close()
        yield f"mysql+pymysql://root@127.0.0.1:{port}/asteriskcdrdb"
    finally:
        server.terminate()
        server.wait(timeout=60)
        errlog.close()


def _table_row(c: PbxCall) -> dict[str, object]:
    """The FreePBX table row of the same call Master.csv would carry."""
    row = c.cdr_row()
    names = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
             "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield"]
    d = dict(zip(names, row, strict=True))
    return {"calldate": d["start"], "clid": d["clid"], "src": d["src"], "dst": d["dst"], "dcontext": d["dcontext"],
            "channel": d["channel"], "dstchannel": d["dstchannel"], "lastapp": d["lastapp"],
            "lastdata": d["lastdata"], "duration": int(d["duration"]), "billsec": int(d["billsec"]),
            "disposition": d["disposition"], "uniqueid": d["uniqueid"], "linkedid": d["uniqueid"],
            "recordingfile": c.file_name()}


@pytest.fixture
def pbx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    monkeypatch.setenv("CALLQC_PBX_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("CALLQC_AGENT_MAP_CSV", str(write_agent_map(tmp_path / "agents.csv")))
    reset_settings()
    (tmp_path / "monitor").mkdir()
    return tmp_path


def _coverage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callqc", "coverage", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.integration
@pytest.mark.tools("mariadbd", "mariadb-install-db")
def test_freepbx_cdr_table_in_mariadb_is_joined_to_the_recordings(sqlite_db: str, pbx: Path, mariadb: str) -> None:
    """12 answered calls in asteriskcdrdb.cdr (a real MariaDB), 10 recorded: 10 matched, 2 missing,
    agents and ring/talk times from the table; reading again adds nothing."""
    import pymysql
    import sqlalchemy as sa

    calls = make_day(12, DAY)
    write_recordings(pbx / "monitor", calls[:10])
    Watcher(pbx / "monitor", require_marker=False, layout="freepbx").poll()
    engine = sa.create_engine(mariadb)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM cdr"))
        for c in calls:
            row = _table_row(c)
            conn.execute(sa.text(f"INSERT INTO cdr ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
        # the day before, not counted
        old = {**_table_row(calls[0]), "calldate": "2024-03-04 12:00:00", "uniqueid": "1709550000.1"}
        conn.execute(sa.text(f"INSERT INTO cdr ({', '.join(old)}) VALUES ({', '.join(':' + k for k in old)})"), old)
    engine.dispose()
    assert pymysql  # the driver the DSN names is installed
    env = {"CALLQC_CDR_DSN": mariadb}
    r = _coverage("--day", "2024-03-05", "--cdr-format", "freepbx-db", "--json", env=env)
    assert r.returncode == 1, r.stderr  # 10/12 is under the alert level
    out = json.loads(r.stdout)
    assert (out["answered"], out["recorded"], out["new_records"]) == (12, 10, 12)
    assert {m["uniqueid"] for m in out["missing_calls"]} == {c.uniqueid for c in calls[10:]}
    with session() as s:
        rec = s.exec(select(CdrRecord).where(CdrRecord.uniqueid == calls[3].uniqueid)).one()
        assert (rec.source, rec.ring_s, rec.talk_s, rec.call_id) == (
            "freepbx_db", calls[3].ring_s, calls[3].talk_s, calls[3].uniqueid)
        assert rec.raw["recordingfile"] == calls[3].file_name()
        assert rec.started_at == calls[3].start.replace(tzinfo=ZoneInfo("Europe/Berlin"))  # PBX time, in its zone
    again = json.loads(_coverage("--day", "2024-03-05", "--cdr-format", "freepbx-db", "--json", env=env).stdout)
    assert again["new_records"] == 0


@pytest.mark.integration
@pytest.mark.tools("mariadbd", "mariadb-install-db")
def test_an_unreachable_cdr_database_is_one_line_without_the_password(sqlite_db: str, pbx: Path) -> None:
    port = _free_port()
    r = _coverage("--day", "2024-03-05", "--cdr-format", "freepbx-db",
                  env={"CALLQC_CDR_DSN": f"mysql+pymysql://cdr:s3cret@127.0.0.1:{port}/asteriskcdrdb"})
    assert r.returncode != 0
    assert "s3cret" not in r.stdout + r.stderr
    assert "cdr:***@127.0.0.1" in r.stderr


def _json_cdr(c: PbxCall, *, answered: bool = True, encode_values: bool = True) -> dict[str, object]:
    """A mod_json_cdr document as FreeSWITCH writes it (values URL-encoded by default)."""
    start = c.start.replace(tzinfo=None)
    answer = start + timedelta(seconds=c.ring_s)
    end = answer + timedelta(seconds=c.talk_s)
    stamp = "%Y-%m-%d %H:%M:%S"
    var = {"uuid": c.uniqueid, "direction": "inbound", "start_stamp": start.strftime(stamp),
           "answer_stamp": answer.strftime(stamp) if answered else "", "end_stamp": end.strftime(stamp),
           "answer_epoch": "0" if not answered else "", "billsec": str(c.talk_s if answered else 0),
           "hangup_cause": "NORMAL_CLEARING" if answered else "NO_ANSWER", "cc_queue": "support@default",
           "cc_agent": f"{c.extension}@default"}
    if encode_values:
        var = {k: quote(v) for k, v in var.items()}
    return {"core-uuid": "8f1c", "switchname": "fs1", "channel_data": {"state": "CS_REPORTING"},
            "variables": var,
            "callflow": [{"caller_profile": {"caller_id_number": c.caller, "destination_number": c.callee,
                                             "uuid": c.uniqueid}}]}


def _fs_calls(n: int) -> list[PbxCall]:
    uuids = [f"0b0b6f2e-4c1a-4f7e-9f5e-2c9a1b7d3e{i:02d}" for i in range(n)]
    return [PbxCall(u, "in", c.caller, c.callee, None, c.extension, c.start, c.ring_s, c.talk_s)
            for u, c in zip(uuids, make_day(n, DAY), strict=True)]


def test_freeswitch_json_cdr_folder_is_read_and_joined(sqlite_db: str, pbx: Path) -> None:
    """mod_json_cdr's log-dir: one file per leg; answered legs counted, queue and agent read."""
    calls = _fs_calls(4)
    folder = pbx / "json_cdr"
    folder.mkdir()
    for i, c in enumerate(calls):
        (folder / f"a_{c.uniqueid}.cdr.json").write_text(json.dumps(_json_cdr(c, encode_values=i % 2 == 0)))
    (folder / "b_unanswered.cdr.json").write_text(json.dumps(_json_cdr(
        PbxCall("0b0b6f2e-4c1a-4f7e-9f5e-2c9a1b7d3eff", "in", "5550001", "2001", None, "2001", DAY.replace(hour=9),
                5, 0), answered=False)))
    recs = read_json_cdr(folder, timezone="Europe/Berlin", agents={"2001": "agent-2001"})
    assert len(recs) == 5 and sum(r.disposition == "ANSWERED" for r in recs) == 4
    first = next(r for r in recs if r.uniqueid == calls[0].uniqueid)
    assert (first.queue, first.caller, first.agent_id, first.talk_s) == ("support", calls[0].caller, "agent-2001",
                                                                        calls[0].talk_s)
    assert first.started_at.utcoffset() == timedelta(hours=1)  # PBX time read in its zone
    monitor = pbx / "monitor"
    for i, c in enumerate(calls[:3]):
        (monitor / f"{c.uniqueid}.wav").write_bytes(wav_bytes(i))
    Watcher(monitor, require_marker=False, layout="freeswitch").poll()
    r = _coverage("--day", "2024-03-05", "--cdr-format", "freeswitch-json", "--cdr", str(folder), "--json")
    out = json.loads(r.stdout)
    assert (out["answered"], out["recorded"], out["new_records"]) == (4, 3, 5), r.stderr
    assert [m["uniqueid"] for m in out["missing_calls"]] == [calls[3].uniqueid]


def test_a_file_that_is_not_a_json_cdr_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "x.cdr.json").write_text('{"hello": 1}')
    with pytest.raises(BadCdr, match=r"x.cdr.json: no `variables` object"):
        read_json_cdr(tmp_path / "x.cdr.json")


def test_mod_json_cdr_posts_are_stored_once_with_basic_credentials(sqlite_db: str, pbx: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """FreeSWITCH POSTs `cdr=<json>` (encode=true), base64 (encode=base64) or raw JSON, with basic
    credentials whose password is the API token; the same record twice is stored once."""
    from recorder.api import create_app

    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    reset_settings()
    client = TestClient(create_app())
    basic = {"Authorization": "Basic " + base64.b64encode(f"callqc:{TOKEN}".encode()).decode()}
    c1, c2, c3 = _fs_calls(3)
    form = "cdr=" + quote(json.dumps(_json_cdr(c1)))
    r = client.post("/v1/cdr/freeswitch", content=form, headers={
        **basic, "Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.json()) == (201, {"uniqueid": c1.uniqueid, "new": True})
    again = client.post("/v1/cdr/freeswitch", content=form, headers={
        **basic, "Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200
    b64 = "cdr=" + quote(base64.b64encode(json.dumps(_json_cdr(c2)).encode()).decode())
    assert client.post("/v1/cdr/freeswitch", content=b64, headers={
        **basic, "Content-Type": "application/x-www-form-urlencoded"}).status_code == 201
    assert client.post("/v1/cdr/freeswitch", json=_json_cdr(c3),
                       headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 201
    assert client.post("/v1/cdr/freeswitch", json=_json_cdr(c3)).status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"callqc:nope").decode()}
    assert client.post("/v1/cdr/freeswitch", json=_json_cdr(c3), headers=wrong).status_code == 403
    bad = client.post("/v1/cdr/freeswitch", content=b"cdr=%7Bnot", headers={
        **basic, "Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 400 and "not a JSON document" in bad.json()["detail"]
    with session() as s:
        assert sorted(r.uniqueid for r in s.exec(select(CdrRecord)).all()) == sorted(
            c.uniqueid for c in (c1, c2, c3))
        assert s.exec(select(Call)).all() == []


def test_decode_post_reads_each_encoding() -> None:
    doc = {"variables": {"uuid": "u1"}}
    raw = json.dumps(doc)
    assert decode_post(raw.encode(), "application/json") == doc
    assert decode_post(("cdr=" + quote(raw)).encode(), "application/x-www-form-urlencoded") == doc
    assert decode_post(("cdr=" + quote(base64.b64encode(raw.encode()).decode())).encode(), "") == doc
