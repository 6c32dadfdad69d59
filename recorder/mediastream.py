"""Live calls through the recorder API: a WebSocket media stream, and PCI pause/resume.

``WS /v1/stream`` takes the JSON events PBXs and CPaaS media streams send (one call per connection):

- ``{"event": "start", "start": {"call_id": ..., "tracks": ["inbound", "outbound"],
  "customParameters": {<call metadata: agent_id, queue, direction, caller, ...>}}}`` (``callSid`` and
  ``streamSid`` are accepted for the call ID too);
- ``{"event": "media", "media": {"track": "inbound", "timestamp": "<ms since start>", "payload":
  "<base64 μ-law, 8 kHz>"}}``; without ``timestamp`` a track's chunks follow each other;
- ``{"event": "stop"}``: the call ends and is stored like a SIPREC call (journal, ``in_progress`` →
  ``recorded``, transcription queued). A connection lost without ``stop`` ends the call too.

Track roles: ``outbound``/``agent`` is the agent, ``inbound``/``customer`` the customer (a
``agent_track`` custom parameter names the agent's track otherwise). The token is the API token, as
``Authorization: Bearer`` or ``?token=``. ``POST /v1/calls/{id}/pause`` and ``/resume`` open and close
a PCI pause on a live call (either input): the span is stored as silence, with who asked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from recorder import levels
from recorder.metadata import parse_meta
from recorder.siprec import live
from recorder.siprec.journal import Journal
from recorder.siprec.live import StreamSpec
from recorder.siprec.rtp import PCMU, RATE, Placed, StreamStats
from storage import pauses
from storage.db import session
from storage.errors import CallqcError, InvalidInput
from storage.keys import validate_call_id
from storage.settings import get_settings

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
_ROLES = {"outbound": "agent", "agent": "agent", "inbound": "customer", "customer": "customer"}


class BadEvent(InvalidInput):
    """bad media-stream event"""


class PauseRequest(BaseModel):
    by: str | None = Field(None, max_length=128, description="Who asks (agent desktop user, IVR name).")


def register_live_routes(app: FastAPI, authorized: Callable[..., None], token: bytes) -> None:
    """Add the media-stream WebSocket and the pause/resume routes to the recorder API.

    Journals an earlier API process left (killed mid-stream, or storage down) are finalised first;
    later retries are the SIPREC server's (``callqc recorder siprec`` sweeps every journal folder).
    """
    done, pending = live.recover(get_settings().data_dir)
    if done or pending:
        log.warning("stream: recovered %d journal(s), %d still pending", done, pending)

    @app.post("/v1/calls/{call_id}/pause", dependencies=[Depends(authorized)])
    def pause_call(call_id: str, body: PauseRequest | None = None) -> dict[str, Any]:
        """Pause recording of a live call (PCI): its audio from now until resume is not kept."""
        call_id = validate_call_id(call_id)
        with session(write=True) as s:
            pause_id = pauses.pause(s, call_id, (body.by if body and body.by else "api"))
        log.info("api: %s paused", call_id)
        return {"call_id": call_id, "paused": True, "pause_id": pause_id}

    @app.post("/v1/calls/{call_id}/resume", dependencies=[Depends(authorized)])
    def resume_call(call_id: str, body: PauseRequest | None = None) -> dict[str, Any]:
        """Resume recording of a paused live call."""
        call_id = validate_call_id(call_id)
        with session(write=True) as s:
            pause_id = pauses.resume(s, call_id, (body.by if body and body.by else "api"))
        log.info("api: %s resumed", call_id)
        return {"call_id": call_id, "paused": False, "pause_id": pause_id}

    @app.websocket("/v1/stream")
    async def media_stream(ws: WebSocket) -> None:
        given = ws.query_params.get("token") or ""
        auth = ws.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given or not hmac.compare_digest(given.encode(), token):
            await ws.close(code=1008, reason="bearer token required")
            return
        await ws.accept()
        peer = f"ws:{ws.client.host}:{ws.client.port}" if ws.client else "ws"
        await _StreamCall(ws, peer).run()


class _StreamCall:
    def __init__(self, ws: WebSocket, peer: str) -> None:
        self.ws = ws
        self.peer = peer
        self.journal: Journal | None = None
        self.tracks: dict[str, int] = {}
        self.next_pos: dict[int, int] = {}
        self.stats: dict[int, StreamStats] = {}
        self.origin = time.time()
        self.paused = False
        self.last_sync = time.monotonic()
        self.last_poll = 0.0

    async def run(self) -> None:
        reason = "disconnected"
        try:
            while True:
                text = await self.ws.receive_text()
                if len(text) > MAX_MESSAGE_BYTES:
                    raise BadEvent(f"message of {len(text)} bytes, at most {MAX_MESSAGE_BYTES}")
                try:
                    event = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise BadEvent(f"not JSON ({exc.msg})") from None
                if not isinstance(event, dict):
                    raise BadEvent("expected a JSON object")
                kind = event.get("event")
                if kind == "start":
                    await self._start(event.get("start") or {})
                elif kind == "media":
                    await self._media(event.get("media") or {})
                elif kind == "stop":
                    reason = "stop"
                    break
                elif kind in ("connected", "mark", "dtmf"):
                    continue
                else:
                    raise BadEvent(f"unknown event {str(kind)[:40]!r}")
        except WebSocketDisconnect:
            pass
        except (CallqcError, ValueError) as exc:
            log.warning("stream: %s: %s", self.peer, exc)
            reason = "error"
            await self._close(1008 if self.journal is None else 1003, str(exc)[:120])
        await self._end(reason)
        if reason == "stop":
            await self._close(1000, "stored")

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.ws.close(code=code, reason=reason)

    async def _start(self, start: dict[str, Any]) -> None:
        if self.journal is not None:
            raise BadEvent("second start event")
        if not isinstance(start, dict):
            raise BadEvent("start: expected an object")
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise BadEvent("start.customParameters: expected an object")
        tracks = start.get("tracks") or ["inbound", "outbound"]
        if not isinstance(tracks, list) or not 1 <= len(tracks) <= 2 or len(set(map(str, tracks))) != len(tracks):
            raise BadEvent("start.tracks: one or two distinct track names")
        agent_track = params.pop("agent_track", None)
        now = datetime.now(UTC)
        raw_id = start.get("call_id") or params.pop("call_id", None)
        if raw_id:
            call_id = validate_call_id(raw_id)
        else:
            key = str(start.get("callSid") or start.get("streamSid") or now.timestamp())
            call_id = live.new_call_id("ws", key, now)
        meta = parse_meta({k: v for k, v in params.items() if k != "channel_map"})
        specs: list[StreamSpec] = []
        if len(tracks) == 2:
            roles = [("agent" if str(t) == agent_track else "customer") if agent_track else _ROLES.get(str(t))
                     for t in tracks]
            if sorted(r or "" for r in roles) != ["agent", "customer"]:
                raise BadEvent(f"start.tracks {tracks}: name them agent/customer or outbound/inbound")
            for i, (t, role) in enumerate(zip(tracks, roles, strict=True)):
                specs.append(StreamSpec(i, str(t)[:64], role or "unknown", 0 if role == "agent" else 1))
            channel_map = {"agent": 0, "customer": 1}
        else:
            specs.append(StreamSpec(0, str(tracks[0])[:64], "unknown", 0))
            channel_map = {"unknown": 0}
        self.tracks = {s.label or "": s.index for s in specs}
        self.stats = {s.index: StreamStats() for s in specs}
        self.next_pos = {s.index: 0 for s in specs}
        extra: dict[str, Any] = {"peer": self.peer}
        if len(tracks) == 1:
            extra["speaker_map"] = "fallback"
        if start.get("streamSid"):
            extra["stream_sid"] = str(start["streamSid"])[:128]
        self.origin = time.time()
        self.journal = await run_in_threadpool(
            live.open_call, call_id, source="stream", meta=meta, streams=specs, channel_map=channel_map,
            extra=extra, answered_at=now,
        )
        levels.ensure_writing()  # the live flags' loudness rows (recorder/levels.py)
        await self.ws.send_text(json.dumps({"event": "started", "call_id": call_id}))

    async def _media(self, media: dict[str, Any]) -> None:
        if self.journal is None:
            raise BadEvent("media before start")
        if not isinstance(media, dict):
            raise BadEvent("media: expected an object")
        track = str(media.get("track") or next(iter(self.tracks)))
        if track not in self.tracks:
            raise BadEvent(f"media.track {track[:40]!r} was not in start.tracks")
        idx = self.tracks[track]
        try:
            payload = base64.b64decode(str(media.get("payload") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise BadEvent("media.payload: not base64") from None
        stamp = media.get("timestamp")
        if stamp is not None:
            try:
                position = round(float(stamp) * RATE / 1000)
            except (TypeError, ValueError):
                raise BadEvent(f"media.timestamp {str(stamp)[:20]!r}: expected milliseconds") from None
            if position < 0 or position > get_settings().max_duration_s * RATE:
                raise BadEvent("media.timestamp out of range")
        else:
            position = self.next_pos[idx]
        self.next_pos[idx] = max(self.next_pos[idx], position + len(payload))
        st = self.stats[idx]
        st.packets += 1
        if not st.codecs:
            st.codecs.append("PCMU")
        await self._poll_pause()
        if payload and not self.paused:
            self.journal.add(idx, [Placed(position, PCMU, payload, time.time())])
            self.journal.flush()
        if time.monotonic() - self.last_sync >= get_settings().siprec_fsync_s:
            self.last_sync = time.monotonic()
            await asyncio.to_thread(self.journal.fsync)

    async def _poll_pause(self) -> None:
        if time.monotonic() - self.last_poll < 0.25 or self.journal is None:
            return
        self.last_poll = time.monotonic()
        call_id = self.journal.index["call_id"]

        def open_pause() -> bool:
            with session() as s:
                return any(p.ended_at is None for p in pauses.of_calls(s, [call_id]))

        try:
            self.paused = await asyncio.to_thread(open_pause)
        except Exception as exc:  # noqa: BLE001 - keep recording while the database is away
            log.warning("stream: pause poll failed: %s", exc)

    async def _end(self, reason: str) -> None:
        if self.journal is None:
            return
        stats = {label: self.stats[i].as_dict() for label, i in self.tracks.items()}
        await run_in_threadpool(live.end_call, self.journal, reason=reason, stats=stats, ended_at=datetime.now(UTC))
        self.journal = None
