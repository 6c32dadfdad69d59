"""SIP transports of the recording server: one UDP socket, TCP, and TLS when a certificate is configured.

Each message is parsed here and handed to the server's method handler with a ``reply`` that answers
on the transport it came by. What cannot be handled is refused here in one log line (the right 4xx
when the message names whom to answer), and nothing a peer sends stops the listeners: the UDP
socket is read in batches (up to :data:`~recorder.siprec.media.BATCH` datagrams per readiness) so a
thousand RTP sockets never starve it, a TCP stream that cannot be framed any more is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
from collections.abc import Callable

from recorder.siprec.media import BATCH
from recorder.siprec.session import status_of
from recorder.siprec.sipmsg import BadMessage, SipMessage, StreamFramer, response
from recorder.siprec.sipmsg import parse as parse_sip
from storage.errors import CallqcError
from storage.settings import Settings

log = logging.getLogger("recorder.siprec.server")  # one logger for the server's lines, as operators grep them

Reply = Callable[[bytes], None]
Handler = Callable[[SipMessage, Reply, str, bool], None]  # (message, reply, peer label, came by UDP)


class SipListeners:
    """The SIP sockets; ``handler`` gets every well-formed request."""

    def __init__(self, settings: Settings, handler: Handler) -> None:
        self.s = settings
        self.handler = handler
        self.udp: socket.socket | None = None
        self.tcp: asyncio.Server | None = None
        self.tls: asyncio.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> str:
        """Listen; what on, for the start-up log line."""
        self.loop = asyncio.get_running_loop()
        host, port = self.s.siprec_host, self.s.siprec_port
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.udp.bind((host, port))
        self.udp.setblocking(False)
        self.loop.add_reader(self.udp.fileno(), self._on_udp)
        self.tcp = await asyncio.start_server(self._on_stream, host, port, reuse_address=True)
        transports = "UDP, TCP"
        if self.s.siprec_tls_cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.s.siprec_tls_cert, self.s.siprec_tls_key)
            self.tls = await asyncio.start_server(self._on_stream, host, self.s.siprec_tls_port, ssl=ctx,
                                                  reuse_address=True)
            transports += f", TLS on {self.s.siprec_tls_port}"
        return transports

    async def stop(self) -> None:
        if self.udp is not None and self.loop is not None:
            self.loop.remove_reader(self.udp.fileno())
            self.udp.close()
        for server in (self.tcp, self.tls):
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await server.wait_closed()

    def _on_udp(self) -> None:
        assert self.udp is not None
        sock = self.udp
        for _ in range(BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors surface here on Linux
                log.debug("siprec: udp: %s", exc)
                continue
            if data.strip() == b"":
                continue  # keep-alive
            self._on_message(data, _udp_reply(sock, addr), f"udp:{addr[0]}:{addr[1]}", True)

    async def _on_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        kind = "tls" if writer.get_extra_info("sslcontext") is not None else "tcp"
        label = f"{kind}:{peer[0]}:{peer[1]}" if peer else kind
        framer = StreamFramer(max_body=self.s.siprec_max_body_bytes)

        def reply(out: bytes) -> None:
            if not writer.is_closing():
                writer.write(out)

        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    frames = framer.feed(data)
                except BadMessage as exc:
                    head = bytes(framer.buf).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
                    self._refuse(head, exc, reply, label)
                    break  # the stream can't be framed any more
                for frame in frames:
                    self._on_message(frame, reply, label, False)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _refuse(self, head: bytes, exc: BadMessage, reply: Reply, label: str) -> None:
        try:
            msg = parse_sip(head, max_body=1 << 30)
        except BadMessage as inner:
            msg = inner.partial  # type: ignore[assignment]
        bad(msg, exc, reply, label)

    def _on_message(self, data: bytes, reply: Reply, label: str, udp: bool) -> None:
        try:
            msg = parse_sip(data, max_body=self.s.siprec_max_body_bytes)
        except BadMessage as exc:
            bad(exc.partial, exc, reply, label)
            return
        if msg.method is None:
            return  # a response: we send no requests but BYE-less endings, nothing to match
        try:
            self.handler(msg, reply, label, udp)
        except (CallqcError, ValueError) as exc:
            bad(msg, exc, reply, label)
        except Exception:
            log.exception("siprec: %s: %s failed", label, msg.method)
            bad(msg, RuntimeError("internal error"), reply, label)


def bad(msg: SipMessage | None, exc: Exception, reply: Reply, label: str) -> None:
    """Log the refusal in one line; answer with its status when the message says whom to answer."""
    code = status_of(exc)
    log.warning("siprec: %s: %s %s: %s", label, "refused" if msg is not None else "dropped", code, exc)
    if msg is not None and msg.method not in (None, "ACK") and all(
        msg.get(h) for h in ("Via", "From", "To", "Call-ID", "CSeq")
    ):
        reply(response(msg, code, to_tag=secrets.token_hex(6)).encode())


def _udp_reply(sock: socket.socket, addr: tuple[str, int]) -> Reply:
    def reply(out: bytes) -> None:
        sock.sendto(out, addr)

    return reply
