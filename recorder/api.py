"""The HTTP ingest API: ``POST /v1/recordings``, ``GET /v1/calls/{call_id}`` (FastAPI, run by uvicorn).

Uploads are ``multipart/form-data``: one file part ``audio`` plus metadata, either as a JSON object in a
``metadata`` part or as one text part per key (``call_id``, ``agent_id``, ...; these win over the JSON).
The body is parsed as it arrives and the audio part is written straight to a temporary file, so a
recording is never held whole in memory and an upload past ``max_upload_bytes`` is cut off with 413.
Ingest is idempotent by call ID: same ID and same SHA-256 → 200 with the existing record, same ID with
other audio → 409, new → 201. Every route needs ``Authorization: Bearer <api_token>``, except
``GET /healthz`` (the readiness probe of deploy/k8s/callqc.yaml): 200 while the database answers, else 503.
"""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recorder.ingest import TooLarge, ingest_file, spool_file, sweep_stale_spool
from recorder.mediastream import register_live_routes
from recorder.metadata import InvalidMetadata, parse_meta
from storage.calls import Call, CallPublic
from storage.db import get_engine, session
from storage.errors import CallqcError, Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from storage.keys import validate_call_id
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)

FIELDS_MAX_BYTES = 64 * 1024  # all text parts together
# Multipart framing around the audio: boundaries, part headers, the metadata parts.
_ENVELOPE_BYTES = FIELDS_MAX_BYTES + 64 * 1024


class NoApiToken(ServiceUnavailable):
    """the ingest API needs a token: set CALLQC_API_TOKEN"""


class BadUpload(InvalidInput):
    """bad upload"""


_STATUS: tuple[tuple[type[CallqcError], int], ...] = (
    (TooLarge, 413),
    (InvalidInput, 400),
    (Conflict, 409),
    (NotFound, 404),
    (Forbidden, 403),
    (ServiceUnavailable, 503),
)


def create_app() -> FastAPI:
    """The ingest API; refuses to be built without ``api_token``."""
    secret = get_settings().api_token
    token = secret.get_secret_value().encode() if secret is not None else b""
    if not token:
        raise NoApiToken()
    sweep_stale_spool()  # uploads cut off by a killed API would otherwise stay on disk for good
    app = FastAPI(title="callqc recorder", summary="Ingest call recordings.", version="1")
    bearer = HTTPBearer(auto_error=False)
    def authorized(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if cred is None:
            raise HTTPException(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(cred.credentials.encode(), token):
            raise HTTPException(403, "wrong token")

    @app.exception_handler(CallqcError)
    async def _callqc_error(request: Request, exc: CallqcError) -> JSONResponse:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        if status >= 500:
            log.error("api: %s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.post(
        "/v1/recordings",
        dependencies=[Depends(authorized)],
        status_code=201,
        response_model=CallPublic,
        responses={
            200: {"description": "already registered with the same audio"},
            409: {"description": "call ID registered with other audio"},
            413: {"description": "recording larger than max_upload_bytes"},
        },
    )
    async def post_recording(request: Request) -> JSONResponse:
        """Upload a recording (multipart: ``audio`` file + metadata); 201 new, 200 same audio again."""
        limit = get_settings().max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + _ENVELOPE_BYTES:
            raise TooLarge(f"{declared} bytes, at most {limit}")
        with spool_file() as tmp:
            with tmp.open("wb") as out:
                upload = _Upload(out, limit)
                await upload.receive(request)
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

    register_live_routes(app, authorized, token)  # WS /v1/stream, POST /v1/calls/{id}/pause|resume

    @app.get("/v1/calls/{call_id}", dependencies=[Depends(authorized)], response_model=CallPublic)
    def get_call(call_id: str) -> CallPublic:
        """One call's record."""
        return _load(validate_call_id(call_id))

    return app


def _load(call_id: str) -> CallPublic:
    with session() as s:
        row = s.get(Call, call_id)
        if row is None:
            raise NotFound(f"call {call_id}")
        return CallPublic.model_validate(row)


class _Upload:
    """Streams a multipart body: the ``audio`` part into ``out``, text parts into a small dict."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self.out = out
        self.limit = limit
        self.audio_bytes = 0
        self.filename = "upload"
        self.fields: dict[str, str] = {}
        self._field_bytes = 0
        self._seen_audio = False
        self._part: str | None = None  # name of the current text part, or None while in the audio
        self._buf = bytearray()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    async def receive(self, request: Request) -> None:
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
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except FormParserError as exc:
            raise BadUpload(f"malformed multipart body ({exc})") from None
        if not self._seen_audio:
            raise BadUpload("no 'audio' file part")

    def metadata(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if "metadata" in self.fields:
            try:
                raw = json.loads(self.fields["metadata"])
            except json.JSONDecodeError as exc:
                raise InvalidMetadata(f"metadata part: not valid JSON ({exc})") from None
            if not isinstance(raw, dict):
                raise InvalidMetadata("metadata part: expected a JSON object")
        raw.update({k: v for k, v in self.fields.items() if k != "metadata"})
        return raw

    # --- parser callbacks -------------------------------------------------------------------------
    def _begin(self) -> None:
        self._disposition = b""
        self._buf.clear()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
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
            self._part = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._part is None:
            self.audio_bytes += n
            if self.audio_bytes > self.limit:
                raise TooLarge(f"{self.filename}: more than {self.limit} bytes")
            self.out.write(data[start:end])
        else:
            self._field_bytes += n
            if self._field_bytes > FIELDS_MAX_BYTES:
                raise BadUpload(f"form fields larger than {FIELDS_MAX_BYTES} bytes")
            self._buf += data[start:end]

    def _end(self) -> None:
        if self._part is not None:
            try:
                self.fields[self._part] = self._buf.decode("utf-8")
            except UnicodeDecodeError:
                raise BadUpload(f"form field {self._part[:40]!r} is not UTF-8") from None
            self._part = None
