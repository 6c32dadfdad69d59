"""``GET /v1/media/{call_id}?token=…``: the one authenticated path audio takes to a browser.

The token is a short-lived media token minted by the review app (storage.media_tokens), not the API
token: an ``<audio>`` element cannot send headers, so it comes in the query (or ``X-Media-Token``).
A stored call is served with HTTP Range (``206`` and exactly the bytes asked for, read with one ranged
GET from the hot object or the archive image), so seeking a 2-hour call does not download it. A call
still ``in_progress`` is streamed live from the journal tap on this host as chunked 16-bit PCM WAV
(left agent, right customer; ``?channels=mixed`` for one channel of both), ~0.3 s behind the newest
journaled audio. Every answer writes an audit row (play or
download; live: from/to seconds of the call), every refusal a ``media_denied`` row: 401 without a
token, 403 for a bad, expired or foreign one.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from recorder.siprec.codecs import from_names, ticks
from recorder.siprec.journal import Tap, records, stream_file
from storage import audit
from storage.calls import CallStatus
from storage.db import session
from storage.keys import validate_call_id
from storage.media_tokens import MediaGrant, TokenMissing, check
from storage.retrieval import InvalidRange, read_span
from storage.settings import get_settings

RATE = 8000
LIVE_LAG_S = 0.3  # behind the newest journaled sample: the other speaker's packets of that moment arrive
STALL_S = 1.0  # nothing new journaled for this long: play on as silence at real time (pause, silence)
POLL_S = 0.1
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg", "opus": "audio/ogg",
          "m4a": "audio/mp4"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a single ``bytes=`` range; None for no header; InvalidRange otherwise."""
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m[1] and not m[2]):
        raise InvalidRange(f"unsupported Range {header[:60]!r} (one bytes= range)", size=size)
    if not m[1]:  # suffix: the last N bytes
        n = min(int(m[2]), size)
        if n == 0:
            raise InvalidRange("empty suffix range", size=size)
        return size - n, n
    start = int(m[1])
    end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start >= size or end < start:
        raise InvalidRange(f"bytes {start}-{m[2]} of {size}", size=size)
    return start, end - start + 1


def wav_header(channels: int) -> bytes:
    """A PCM WAV header whose sizes say "unknown" (0xFFFFFFFF): browsers play it as a stream."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, RATE, RATE * channels * 2, channels * 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", unknown)


class LiveMix:
    """Places tap chunks on a stereo timeline (agent left, customer right) and emits whole frames.

    The timeline follows the journal, not the wall clock (a source's timestamps may run slower or
    faster than this host's clock): frames go out up to the newest sample journaled less
    ``LIVE_LAG_S`` (room for the other speaker's packets of that moment), and when nothing new has
    been journaled for ``STALL_S`` (a PCI pause, a silent sender) silence goes out at real time so
    the browser does not stall.
    """

    def __init__(self, tap: Tap, answered_unix: float, *, mixed: bool = False) -> None:
        self.tap = tap
        self.mixed = mixed  # one channel, both speakers summed, instead of agent left / customer right
        self.answered = answered_unix
        self.newest = 0
        self.left: dict[int, int] = {}
        self.right: dict[int, int] = {}
        self._data_at = time.monotonic()  # when newest last grew
        tap.seek(journal_end(tap) - int((LIVE_LAG_S + 1.0) * RATE))
        self._take()
        self.emitted = self._due()  # join where the call is now, not at its start
        self._drop_sent()

    def _take(self) -> None:
        for chunk in self.tap.read():
            lane = self.right if chunk.role == "customer" else self.left
            samples = chunk.samples
            if chunk.rate == 2 * RATE:  # G.722/Opus: the live stream is 8 kHz, pairs averaged (a crude low-pass)
                samples = [(a + b) // 2 for a, b in zip(samples[0::2], samples[1::2], strict=False)]
            for i, v in enumerate(samples):
                lane[chunk.position + i] = v
            if chunk.position + len(samples) > self.newest:
                self.newest = chunk.position + len(samples)
                self._data_at = time.monotonic()

    def _due(self) -> int:
        stalled = max(0.0, time.monotonic() - self._data_at - STALL_S)
        return max(0, self.newest - int(LIVE_LAG_S * RATE) + int(stalled * RATE))

    def pump(self, final: bool = False) -> bytes:
        self._take()
        upto = self.newest if final else self._due()
        out = bytearray()
        for p in range(self.emitted, upto):
            a, b = self.left.pop(p, 0), self.right.pop(p, 0)
            out += struct.pack("<h", max(-32768, min(32767, a + b))) if self.mixed else struct.pack("<hh", a, b)
        self.emitted = max(self.emitted, upto)
        self._drop_sent()
        return bytes(out)

    def _drop_sent(self) -> None:
        for lane in (self.left, self.right):  # samples behind what was sent (late, or before the join)
            for p in [p for p in lane if p < self.emitted]:
                del lane[p]


def journal_end(tap: Tap) -> int:
    """The sample position where the journal ends now (headers only, nothing decoded)."""
    end = 0
    for s in tap.index["streams"]:
        known = from_names(s.get("payload_types"))
        for _, rec in records(stream_file(tap.folder, s["index"])):
            codec = known.get(rec.pt)
            end = max(end, rec.position + (ticks(codec, rec.payload) if codec is not None else 0))
    return end


def register_media_routes(app: FastAPI) -> None:
    @app.get("/v1/media/{call_id}", responses={206: {"description": "part of a stored recording"},
                                               401: {"description": "no media token"},
                                               403: {"description": "bad, expired or foreign token"},
                                               416: {"description": "range not satisfiable"}})
    async def media(call_id: str, request: Request) -> Response:
        """A call's audio for the grant in ``token``: stored with Range, or live while in progress."""
        source = request.client.host if request.client else None
        token = request.query_params.get("token") or request.headers.get("x-media-token")
        try:
            cid = validate_call_id(call_id)
            grant, call = await run_in_threadpool(check, token, cid, source=source)
        except TokenMissing as exc:
            return JSONResponse({"detail": str(exc)}, status_code=401)
        if call.status == CallStatus.in_progress:
            return await _live(grant, cid, source, mixed=request.query_params.get("channels") == "mixed")
        return await run_in_threadpool(_stored, grant, cid, request.headers.get("range"), source)


def _stored(grant: MediaGrant, call_id: str, range_header: str | None, source: str | None) -> Response:
    ranged = range_header is not None

    def wanted(size: int) -> tuple[int, int]:
        return parse_range(range_header, size) or (0, size)

    try:
        span = read_span(call_id, wanted)
    except InvalidRange as exc:
        return JSONResponse({"detail": str(exc)}, status_code=416, headers={"Content-Range": f"bytes */{exc.size}"})
    start, length, size = span.start, span.length, span.size
    _audit(grant, call_id, source, {"range": [start, start + length - 1], "size": size, "from": str(span.source)})
    ext = span.filename.rpartition(".")[2].lower()
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(length), "Cache-Control": "no-store"}
    if grant.download:
        headers["Content-Disposition"] = f'attachment; filename="{span.filename}"'
    if ranged:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    return StreamingResponse(span.chunks, status_code=206 if ranged else 200,
                             media_type=_TYPES.get(ext, "application/octet-stream"), headers=headers)


async def _live(grant: MediaGrant, call_id: str, source: str | None, *, mixed: bool) -> Response:
    data_dir = Path(get_settings().data_dir)
    try:
        tap = Tap(data_dir, call_id)
    except FileNotFoundError:
        return JSONResponse({"detail": f"call {call_id} is live on another host (no journal here)"}, status_code=409)
    answered = float(tap.index.get("answered_unix") or time.time())
    mix = await run_in_threadpool(lambda: LiveMix(tap, answered, mixed=mixed))
    joined = mix.emitted
    await run_in_threadpool(_audit, grant, call_id, source, {"live": True, "from_s": round(joined / RATE, 2),
                                                         "channels": "mixed" if mixed else "stereo"})

    async def body() -> AsyncIterator[bytes]:
        yield wav_header(1 if mixed else 2)
        try:
            while True:
                live = tap.live
                chunk = await run_in_threadpool(mix.pump, not live)
                if chunk:
                    yield chunk
                if not live:
                    return
                await asyncio.sleep(POLL_S)
        finally:
            # a listener who leaves cancels this generator; the shield lets the closing row be written
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_audit, grant, call_id, source, {
                    "live": True, "from_s": round(joined / RATE, 2), "to_s": round(mix.emitted / RATE, 2),
                    "ended": not tap.live})

    return StreamingResponse(body(), media_type="audio/wav", headers={"Cache-Control": "no-store"})


def _audit(grant: MediaGrant, call_id: str, source: str | None, detail: dict[str, object]) -> None:
    with session() as s:
        audit.record(s, grant.user, grant.action, call_id=call_id, source=source,
                     detail={"grant": grant.grant_id, **detail})
