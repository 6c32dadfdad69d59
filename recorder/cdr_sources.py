"""More sources of the PBX's call records: FreePBX's CDR database and FreeSWITCH ``mod_json_cdr``.

Both give :class:`storage.cdr.CdrRecord` values like the CSV readers in :mod:`recorder.cdr`, so they are
matched to recordings and counted for coverage the same way.

- **FreePBX** keeps its records in the MySQL/MariaDB table ``asteriskcdrdb.cdr`` (``calldate`` = start in
  the PBX's local time, ``duration`` and ``billsec``; no answer or end column: answer = start +
  duration − billsec, end = start + duration). Read through SQLAlchemy from ``CALLQC_CDR_DSN``.
- **FreeSWITCH** ``mod_json_cdr`` writes one JSON document per call leg, to files in its ``log-dir``
  (``<uuid>.cdr.json``, ``a_<uuid>.cdr.json``, ``b_<uuid>.cdr.json``) and/or POSTs it to a URL: the
  recorder API's ``POST /v1/cdr/freeswitch`` takes it (form ``cdr=<json>`` as ``encode=true`` sends
  it, base64 with ``encode=base64``, or a raw JSON body). Variable values are URL-encoded unless
  ``encode-values`` is off; both are read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from recorder.cdr import BadCdr, cdr_time, channel_extension, pbx_zone
from recorder.layouts import read_agent_map
from storage import cdr
from storage.cdr import CdrRecord
from storage.db import session
from storage.settings import get_settings

JSON_BODY_MAX = 1 << 20  # one call's JSON CDR; FreeSWITCH's are a few KiB


class CdrDatabaseUnavailable(BadCdr):
    """the CDR database cannot be read"""


def _key(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


# --- FreePBX: asteriskcdrdb.cdr -------------------------------------------------------------------

def read_cdr_table(dsn: str, *, since: datetime, until: datetime, timezone: str = "UTC",
                   agents: dict[str, str] | None = None, table: str = "cdr") -> list[CdrRecord]:
    """The records of FreePBX's ``cdr`` table whose ``calldate`` is in [since, until) (PBX time)."""
    tz = pbx_zone(timezone)
    url = sa.engine.make_url(dsn)
    shown = url.render_as_string(hide_password=True)
    lo, hi = (t.astimezone(tz).replace(tzinfo=None) for t in (since, until))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(f"SELECT * FROM {sa.table(table).name} WHERE calldate >= :lo AND calldate < :hi "  # noqa: S608
                        "ORDER BY calldate"), {"lo": lo, "hi": hi}).mappings().all()
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        raise CdrDatabaseUnavailable(f"{shown}: {reason}") from None
    finally:
        engine.dispose()
    return [_table_record(dict(r), tz, agents or {}, f"{shown} cdr") for r in rows]


def _table_record(row: dict[str, Any], tz: ZoneInfo, agents: dict[str, str], where: str) -> CdrRecord:
    raw = {k: ("" if v is None else v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else str(v))
           for k, v in row.items()}
    start = cdr_time(raw.get("calldate", ""), tz, where)
    if start is None or not raw.get("uniqueid"):
        raise BadCdr(f"{where}: a row without calldate or uniqueid")
    duration = int(raw["duration"]) if raw.get("duration", "").isdigit() else 0
    billsec = int(raw["billsec"]) if raw.get("billsec", "").isdigit() else 0
    answered = raw.get("disposition") == "ANSWERED"
    answer = start + timedelta(seconds=duration - billsec) if answered else None
    ext = channel_extension(raw.get("dstchannel", ""), agents) or channel_extension(raw.get("channel", ""), agents)
    queue = (raw.get("lastdata", "").split(",")[0] or None) if raw.get("lastapp") == "Queue" else None
    return CdrRecord(
        record_key=_key(raw), source="freepbx_db", uniqueid=raw["uniqueid"][:128],
        linkedid=raw.get("linkedid") or None, started_at=start, answered_at=answer,
        ended_at=start + timedelta(seconds=duration), caller=(raw.get("src") or "")[:64] or None,
        callee=(raw.get("dst") or "")[:64] or None, queue=queue and queue[:64], extension=ext,
        agent_id=agents.get(ext) if ext else None, disposition=(raw.get("disposition") or "")[:32],
        ring_s=float(duration - billsec) if answered else None, talk_s=float(billsec), raw=raw,
    )


# --- FreeSWITCH: mod_json_cdr ---------------------------------------------------------------------

def read_json_cdr(path: Path, *, timezone: str = "UTC", agents: dict[str, str] | None = None) -> list[CdrRecord]:
    """The records of one ``mod_json_cdr`` file, or of every ``*.json`` file in a folder."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix == ".json") if path.is_dir() else [path]
    out = []
    for f in files:
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadCdr(f"{f}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError):
            raise BadCdr(f"{f}: not a JSON document") from None
        out.append(json_record(doc, timezone=timezone, agents=agents or {}, where=str(f)))
    return out


def json_record(doc: Any, *, timezone: str, agents: dict[str, str], where: str) -> CdrRecord:
    """One ``mod_json_cdr`` document as a call record."""
    if not isinstance(doc, dict) or not isinstance(doc.get("variables"), dict):
        raise BadCdr(f"{where}: no `variables` object (not a mod_json_cdr document)")
    tz = pbx_zone(timezone)
    var = {str(k): unquote(str(v)) for k, v in doc["variables"].items() if not isinstance(v, dict | list)}
    flow = doc.get("callflow")
    first = flow[0] if isinstance(flow, list) and flow else flow if isinstance(flow, dict) else {}
    profile = first.get("caller_profile", {}) if isinstance(first, dict) else {}
    uuid = var.get("uuid") or (profile.get("uuid") if isinstance(profile, dict) else None)
    start = _json_time(var, "start", tz, where)
    if start is None or not uuid:
        raise BadCdr(f"{where}: no start time or uuid")
    answer, end = _json_time(var, "answer", tz, where), _json_time(var, "end", tz, where)
    caller = var.get("caller_id_number") or (profile or {}).get("caller_id_number") or None
    callee = var.get("destination_number") or (profile or {}).get("destination_number") or None
    agent_name = (var.get("cc_agent") or "").split("@")[0]
    ext = next((n for n in (agent_name, callee, caller) if n and n in agents), None)
    billsec = var.get("billsec", "")
    return CdrRecord(
        record_key=_key(doc), source="freeswitch_json", uniqueid=uuid[:128],
        linkedid=(var.get("originating_leg_uuid") or var.get("bridge_uuid") or var.get("signal_bond") or None),
        started_at=start, answered_at=answer, ended_at=end, caller=caller and caller[:64],
        callee=callee and callee[:64], queue=(var.get("cc_queue") or "").split("@")[0][:64] or None,
        extension=ext, agent_id=agents.get(ext) if ext else (agent_name[:64] or None),
        disposition="ANSWERED" if answer else (var.get("hangup_cause") or "NO ANSWER")[:32],
        ring_s=(answer - start).total_seconds() if answer else None,
        talk_s=float(billsec) if billsec.isdigit() else None, raw=doc,
    )


def _json_time(var: dict[str, str], name: str, tz: ZoneInfo, where: str) -> datetime | None:
    # The epoch needs no time zone; FreeSWITCH writes "0" for a moment that never came.
    epoch = var.get(f"{name}_epoch", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC) if int(epoch) else None
    return cdr_time(var.get(f"{name}_stamp", ""), tz, where)


def decode_post(body: bytes, content_type: str) -> Any:
    """The JSON document of a ``mod_json_cdr`` POST, however ``encode`` was set."""
    text = body.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in content_type or text.startswith("cdr="):
        values = parse_qs(text, keep_blank_values=True).get("cdr")
        if not values:
            raise BadCdr("form without a `cdr` field")
        text = values[0]
        if not text.lstrip().startswith("{"):
            try:
                text = base64.b64decode(text, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                raise BadCdr("`cdr` is neither JSON nor base64") from None
    try:
        return json.loads(text)
    except ValueError:
        raise BadCdr("not a JSON document") from None


def register_cdr_routes(app: FastAPI, token: bytes) -> None:
    """``POST /v1/cdr/freeswitch``. mod_json_cdr can send only HTTP basic credentials (its ``cred``
    parameter): the password is the API token (``<param name="cred" value="callqc:TOKEN"/>``); a
    bearer token works too."""

    def allowed(header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
            except (binascii.Error, ValueError):
                return False
        elif scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.encode("utf-8", "replace"), token)

    @app.post("/v1/cdr/freeswitch", status_code=201,
              responses={400: {"description": "not a mod_json_cdr document"}, 401: {"description": "no token"},
                         413: {"description": "larger than 1 MiB"}})
    async def post_json_cdr(request: Request) -> JSONResponse:
        """Store one FreeSWITCH ``mod_json_cdr`` record (201 new, 200 already stored)."""
        header = request.headers.get("authorization", "")
        if not header:
            return JSONResponse({"detail": "credentials required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="callqc"'})
        if not allowed(header):
            return JSONResponse({"detail": "wrong token"}, status_code=403)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > JSON_BODY_MAX:
                return JSONResponse({"detail": f"more than {JSON_BODY_MAX} bytes"}, status_code=413)
        settings = get_settings()
        doc = decode_post(bytes(body), request.headers.get("content-type", ""))
        rec = json_record(doc, timezone=settings.pbx_timezone, agents=read_agent_map(settings.agent_map_csv),
                          where="POST /v1/cdr/freeswitch")
        new = await run_in_threadpool(_store, rec)
        return JSONResponse({"uniqueid": rec.uniqueid, "new": bool(new)}, status_code=201 if new else 200)


def _store(rec: CdrRecord) -> int:
    with session(write=True) as s:
        return cdr.add_new(s, [rec])
