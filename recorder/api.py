"""The HTTP ingest API: ``POST /v1/recordings``, ``GET /v1/calls/{call_id}`` (FastAPI, run by uvicorn).

Uploads are ``multipart/form-data``: one file part ``audio`` plus metadata, either as a JSON object in a
``metadata`` part or as one text part per key (``call_id``, ``agent_id``, ...; these win over the JSON).
The body is parsed as it arrives and the audio part is written straight to a temporary file, so a
recording is never held whole in memory and an upload past ``max_upload_bytes`` is cut off with 413.
Ingest is idempotent by call ID: same ID and same SHA-256 → 200 with the existing record, same ID with
other audio → 409, new → 201. Every route needs ``Authorization: Bearer <api_token>``, except
``GET /healthz`` (the readiness probe of deploy/k8s/callqc.yaml): 200 while the database answers, else 503,
and ``GET /livez`` (the liveness probe): 200 while the process answers, whatever the database does.

Every answer other than a success is one line of JSON, ``{"detail": "..."}``: 400 bad input, 401/403
token, 404, 408 body too slow, 409 conflict, 413 too large, 503 with ``Retry-After`` when the
database is down or has no free connection (send again later), 500 only for a fault of ours (the
traceback goes to the server's log, never to the client). ``/openapi.json`` is off unless
``api_docs`` is set, and then needs the token too. There is no ``/docs`` page: FastAPI's loads Swagger
UI from a CDN (the API must not make browsers reach off-site), and a browser cannot send the bearer
token a page behind the token needs; any OpenAPI viewer can open the downloaded document instead.
Slow clients are cut off by the server settings in :mod:`recorder.server`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from recorder.cdr_sources import register_cdr_routes
from recorder.ingest import TooLarge, ingest_file, spool_file, sweep_stale_spool
from recorder.media import register_media_routes
from recorder.mediastream import register_live_routes
from recorder.metadata import InvalidMetadata, loads_json, parse_meta
from storage.call_metrics import CallMetricsRow
from storage.calls import Call, CallPublic, CallRecord
from storage.db import get_engine, session, unavailable
from storage.errors import CallqcError, Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from storage.keys import validate_call_id
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)

FIELDS_MAX_BYTES = 64 * 1024  # all text parts together, with every part's headers
PARTS_MAX = 200
# Multipart framing around the audio: boundaries, part headers, the metadata parts.
_ENVELOPE_BYTES = FIELDS_MAX_BYTES + 64 * 1024
TOKEN_MIN_CHARS = 16
RETRY_AFTER_S = 5


class NoApiToken(ServiceUnavailable):
    """the ingest API needs a token: set CALLQC_API_TOKEN"""


class WeakApiToken(InvalidInput):
    """CALLQC_API_TOKEN is too weak"""


class BadUpload(InvalidInput):
    """bad upload"""


class SlowUpload(InvalidInput):
    """upload too slow"""


class UnreadableRecord(CallqcError):
    """the call's stored record cannot be shown"""


_STATUS: tuple[tuple[type[CallqcError], int], ...] = (
    (TooLarge, 413),
    (SlowUpload, 408),
    (InvalidInput, 400),
    (Conflict, 409),
    (NotFound, 404),
    (Forbidden, 403),
    (ServiceUnavailable, 503),
)


_TEXT = {"type": "string", "maxLength": 64}
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["audio"],
                "properties": {
                    "audio": {"type": "string", "format": "binary", "description": "WAV, FLAC, MP3, Ogg/Opus, M4A"},
                    "metadata": {"type": "string", "description": "a JSON object of call metadata"},
                    "call_id": {"type": "string", "maxLength": 128},
                    "agent_id": _TEXT,
                    "tenant": _TEXT,
                    "direction": {"type": "string", "enum": ["inbound", "outbound", "internal", "unknown"]},
                    "started_at": {"type": "string", "description": "ISO 8601 or Unix seconds"},
                },
            }
        }
    },
}


def api_token() -> bytes:
    """The configured token, checked: missing or shorter than TOKEN_MIN_CHARS is refused in one line."""
    secret = get_settings().api_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        raise NoApiToken()
    if len(token) < TOKEN_MIN_CHARS:
        raise WeakApiToken(f"{len(token)} characters, at least {TOKEN_MIN_CHARS} (e.g. `openssl rand -hex 24`)")
    if token.lower().startswith("change-me"):  # deploy/.env.example's placeholder, public by definition
        raise WeakApiToken("it is still the example's placeholder; use e.g. `openssl rand -hex 24`")
    return token.encode()


def create_app() -> FastAPI:
    """The ingest API; refuses to be built without a good ``api_token``."""
    token = api_token()
    settings = get_settings()
    sweep_stale_spool()  # uploads cut off by a killed API would otherwise stay on disk for good
    app = FastAPI(
        title="callqc recorder",
        summary="Ingest call recordings.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    bearer = HTTPBearer(auto_error=False)

    def authorized(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if cred is None:
            raise HTTPException(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(cred.credentials.encode("utf-8", "replace"), token):
            raise HTTPException(403, "wrong token")

    _error_handlers(app)

    @app.post(
        "/v1/recordings",
        dependencies=[Depends(authorized)],
        status_code=201,
        response_model=CallPublic,
        responses={
            200: {"description": "already registered with the same audio"},
            400: {"description": "bad recording, metadata or upload envelope (one line in `detail`)"},
            408: {"description": "the body stopped arriving for api_body_timeout_s"},
            409: {"description": "call ID registered with other audio"},
            413: {"description": "recording larger than max_upload_bytes"},
            503: {"description": "database down or busy: send again after Retry-After seconds"},
        },
        openapi_extra={"requestBody": _UPLOAD_BODY},
    )
    async def post_recording(request: Request) -> JSONResponse:
        """Upload a recording (multipart: ``audio`` file + metadata); 201 new, 200 same audio again."""
        limit = get_settings().max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit + _ENVELOPE_BYTES:
            raise TooLarge(f"{declared} bytes, at most {limit}")
        with spool_file() as tmp:
            with tmp.open("wb") as out:
                upload = _Upload(out, limit)
                await upload.receive(request, pause_s=get_settings().api_body_timeout_s)
            meta = parse_meta(upload.metadata())
            client = request.client.host if request.client else None
            result = await run_in_threadpool(
                ingest_file, tmp, meta, name=upload.filename, actor="api", source=client, store=get_store()
            )
        call = await run_in_threadpool(_load, result.call_id)
        return JSONResponse(call.model_dump(mode="json"), status_code=201 if result.created else 200)

    @app.get("/healthz", responses={503: {"description": "the database does not answer"}})
    def healthz() -> JSONResponse:
        """Readiness: 200 while the database answers (no token: probes have none)."""
        try:
            with get_engine().connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            # Say only that it is down: the probe is unauthenticated, the reason goes to the log.
            log.warning("healthz: database unavailable: %s", " ".join(str(exc).split())[:300])
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/livez")
    def livez() -> JSONResponse:
        """Liveness: 200 while this process answers requests. It does not ask the database: a database
        outage must make the pods unready, not get them all restarted."""
        return JSONResponse({"status": "alive"})

    register_live_routes(app, authorized, token)  # WS /v1/stream, POST /v1/calls/{id}/pause|resume
    register_media_routes(app)  # GET /v1/media/{id}: media token (not the API token), Range, live
    register_cdr_routes(app, token)  # POST /v1/cdr/freeswitch: mod_json_cdr records (basic auth or bearer)

    @app.get("/v1/calls/{call_id}", dependencies=[Depends(authorized)], response_model=CallRecord)
    def get_call(call_id: str) -> JSONResponse:
        """One call's record, with the channel check's verdict as of its last scoring."""
        return JSONResponse(_load(validate_call_id(call_id)).model_dump(mode="json"))

    if settings.api_docs:
        @app.get("/openapi.json", dependencies=[Depends(authorized)], include_in_schema=False)
        def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

    return app


def _error_handlers(app: FastAPI) -> None:
    """Every refusal as one line of JSON; tracebacks stay in the server's log."""

    @app.exception_handler(CallqcError)
    async def _callqc_error(request: Request, exc: CallqcError) -> JSONResponse:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        if status >= 500:
            log.error("api: %s %s failed: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(SQLAlchemyError)
    async def _database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        mapped = unavailable(exc)
        if mapped is not None:
            return await _callqc_error(request, mapped)
        log.error("api: %s %s: database error", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = " ".join(f"invalid request: {where}: {first.get('msg', 'invalid')}".split())
        return JSONResponse({"detail": detail[:300]}, status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        log.info("api: %s %s: client went away mid-request", request.method, request.url.path)
        return JSONResponse({"detail": "client disconnected"}, status_code=400)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("api: %s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)


def _load(call_id: str) -> CallRecord:
    with session() as s:
        row = s.get(Call, call_id)
        if row is None:
            raise NotFound(f"call {call_id}")
        metrics = s.get(CallMetricsRow, call_id)
        check = (metrics.metrics or {}).get("channel_check") if metrics is not None else None
        record = CallRecord.model_validate({**CallPublic.model_validate(row).model_dump(), "channel_check": check})
    try:  # a row stored before metadata was checked may hold text no JSON writer can encode
        JSONResponse(record.model_dump(mode="json"))
    except (UnicodeEncodeError, ValueError, RecursionError):
        log.warning("api: call %s has a record that cannot be encoded as JSON", call_id)
        raise UnreadableRecord(f"call {call_id} has invalid text in its metadata") from None
    return record


class _Upload:
    """Streams a multipart body: the ``audio`` part into ``out``, text parts into a small dict."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self.out = out
        self.limit = limit
        self.audio_bytes = 0
        self.filename = "upload"
        self.fields: dict[str, str] = {}
        self._field_bytes = 0
        self._parts = 0
        self._seen_audio = False
        self._part: str | None = None  # name of the current text part, or None while in the audio
        self._buf = bytearray()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    async def receive(self, request: Request, *, pause_s: float) -> None:
        ctype, params = parse_options_header(request.headers.get("content-type", ""))
        if ctype != b"multipart/form-data" or b"boundary" not in params:
            raise BadUpload("expected multipart/form-data with an 'audio' file part")
        parser = MultipartParser(
            params[b"boundary"],
            {
                "on_part_begin": self._begin,
                "on_part_data": self._data,
                "on_part_end": self._end,
                "on_header_field": self._hfield,
                "on_header_value": self._hvalue,
                "on_header_end": self._hend,
                "on_headers_finished": self._headers_done,
            },
        )
        chunks = request.stream().__aiter__()
        try:
            while True:
                try:
                    # A sender that stalls mid-body would hold its connection and temporary file for good.
                    chunk = await asyncio.wait_for(chunks.__anext__(), pause_s)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise SlowUpload(f"no data for {pause_s:g} s") from None
                parser.write(chunk)
            parser.finalize()
        except FormParserError as exc:
            raise BadUpload(f"malformed multipart body ({' '.join(str(exc).split())[:120]})") from None
        if not self._seen_audio:
            raise BadUpload("no 'audio' file part")

    def metadata(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if "metadata" in self.fields:
            raw = loads_json(self.fields["metadata"], "metadata part")
            if not isinstance(raw, dict):
                raise InvalidMetadata("metadata part: expected a JSON object")
        raw.update({k: v for k, v in self.fields.items() if k != "metadata"})
        return raw

    # --- parser callbacks -------------------------------------------------------------------------
    def _begin(self) -> None:
        self._parts += 1
        if self._parts > PARTS_MAX:
            raise BadUpload(f"more than {PARTS_MAX} form parts")
        self._disposition = b""
        self._buf.clear()

    def _count(self, n: int) -> None:
        self._field_bytes += n
        if self._field_bytes > FIELDS_MAX_BYTES:
            raise BadUpload(f"form fields larger than {FIELDS_MAX_BYTES} bytes")

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._header_name += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._header_value += data[start:end]

    def _hend(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            if name != "audio" or self._seen_audio:
                raise BadUpload(f"unexpected file part {name[:40]!r}; send one file part named 'audio'")
            self._seen_audio = True
            self.filename = Path(options[b"filename"].decode("utf-8", "replace")).name or "upload"
            self._part = None
        else:
            if not name:
                raise BadUpload("a form part has no name")
            if name in self.fields or name == self._part:
                raise BadUpload(f"form field {name[:40]!r} given twice")
            self._part = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._part is None:
            self.audio_bytes += n
            if self.audio_bytes > self.limit:
                raise TooLarge(f"{self.filename}: more than {self.limit} bytes")
            self.out.write(data[start:end])
        else:
            self._count(n)
            self._buf += data[start:end]

    def _end(self) -> None:
        if self._part is not None:
            try:
                self.fields[self._part] = self._buf.decode("utf-8")
            except UnicodeDecodeError:
                raise BadUpload(f"form field {self._part[:40]!r} is not UTF-8") from None
            self._part = None
