"""How the ingest API is served: uvicorn with limits against slow and oversized requests.

uvicorn has no timeout for reading a request's head: a client that sends its headers a byte at a
time (slow-loris) keeps its connection open for as long as it likes, and enough of them use up the
server's connections. :class:`GuardedH11Protocol` closes a connection whose request head has not
arrived within ``api_header_timeout_s`` (answering 408 first), on the first request and on every
later one of a kept-alive connection. The head's size is capped by ``api_max_header_bytes`` (h11
answers 431/400 past it), a body that stalls by ``api_body_timeout_s`` (see :mod:`recorder.api`),
and open connections plus running requests by ``api_max_connections``.

uvicorn's own ``limit_concurrency`` answers a bare ``503 Service Unavailable`` with no ``Retry-After``,
so it is left off: :class:`GuardedH11Protocol` counts the server's open connections and running
requests itself and, past ``api_max_connections``, answers the same one-line JSON 503 with
``Retry-After`` as a busy database does, then closes the connection. Every overload answer thus
tells the sender when to come back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from recorder.api import RETRY_AFTER_S
from storage.settings import get_settings


def _closing(status: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode() + b"\n"
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
    return head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body


_TOO_LARGE_RESPONSE = _closing("431 Request Header Fields Too Large", "request headers too large")
_TIMEOUT_RESPONSE = _closing("408 Request Timeout", "request headers too slow")
_BUSY_BODY = json.dumps({"detail": "server busy; try again later"}).encode() + b"\n"
_BUSY_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BUSY_BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_S).encode()),
    (b"connection", b"close"),
]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's head."""

    header_timeout_s = 10.0
    max_head_bytes = 16 * 1024
    max_connections = 500

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inner_app = self.app
        self.app = self._admit
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_tail = b""  # the last bytes seen, for an end-of-head marker split across reads

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # h11's own cap applies only to a head still incomplete after a read; one that arrives
        # whole in a single read is measured here, before anything parses it.
        if self.conn.their_state is h11.IDLE:
            seen = self._head_tail + data
            end = seen.find(b"\r\n\r\n")
            self._head_bytes += (end + 4 - len(self._head_tail)) if end >= 0 else len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(_TOO_LARGE_RESPONSE)
                return
            if end >= 0:
                self._head_bytes, self._head_tail = 0, b""
            else:
                self._head_tail = seen[-3:]
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete: the request is under way
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # a kept-alive connection: the next head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.logger.info("closing a connection whose request headers took over %s s", self.header_timeout_s)
        self._refuse(_TIMEOUT_RESPONSE)

    async def _admit(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the request, or answer 503 with Retry-After when the server is past its limit.
        This connection and this request's task are already in the shared sets."""
        full = len(self.connections) > self.max_connections or len(self.tasks) > self.max_connections
        if scope["type"] != "http" or not full:
            await self._inner_app(scope, receive, send)
            return
        self.logger.warning("over %s connections or requests: 503", self.max_connections)
        await send({"type": "http.response.start", "status": 503, "headers": _BUSY_HEADERS})
        await send({"type": "http.response.body", "body": _BUSY_BODY, "more_body": False})

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        self.transport.write(response)
        self.transport.close()


def server_config(app: Any, *, host: str | None = None, port: int | None = None, **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration of the ingest API, with the limits from the settings."""
    s = get_settings()
    protocol = type(
        "Guarded",
        (GuardedH11Protocol,),
        {
            "header_timeout_s": s.api_header_timeout_s,
            "max_head_bytes": s.api_max_header_bytes,
            "max_connections": s.api_max_connections,
        },
    )
    options: dict[str, Any] = {
        "http": protocol,
        "h11_max_incomplete_event_size": s.api_max_header_bytes,
        "limit_concurrency": None,  # GuardedH11Protocol limits, answering with Retry-After
        "timeout_keep_alive": 5,
        "log_level": s.log_level.lower(),
        "server_header": False,
    }
    return uvicorn.Config(
        app, host=host or s.api_host, port=s.api_port if port is None else port, **{**options, **extra}
    )
