"""SIP messages (RFC 3261): parse a request or response, build responses, frame a TCP stream.

Only what a recording server needs: the start line, headers (compact forms expanded, repeated
headers kept in order), the body by Content-Length. Anything malformed raises :class:`BadMessage`
with a one-line reason; the caller answers 400 when it can tell whom to answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from storage.errors import InvalidInput

MAX_HEADER_BYTES = 16 * 1024
_COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
    "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
}
_CANONICAL = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "mime-version": "MIME-Version",
}
REASONS = {
    100: "Trying", 200: "OK", 400: "Bad Request", 405: "Method Not Allowed", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 420: "Bad Extension", 421: "Extension Required", 481:
    "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable", 513: "Message Too Large",
}
_TAG = re.compile(r";\s*tag=([^;>\s]+)", re.I)


class BadMessage(InvalidInput):
    """malformed SIP message"""

    partial: SipMessage | None = None  # what was parsed before the fault (to address a 400)


class TooLarge(BadMessage):
    """SIP message body too large"""


def canonical(name: str) -> str:
    low = name.strip().lower()
    low = _COMPACT.get(low, low)
    return _CANONICAL.get(low, "-".join(p.capitalize() for p in low.split("-")))


@dataclass
class SipMessage:
    method: str | None  # None for a response
    uri: str | None
    status: int | None
    reason: str | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical(name)
        for k, v in self.headers:
            if k == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        key = canonical(name)
        return [v for k, v in self.headers if k == key]

    def tokens(self, name: str) -> set[str]:
        """Comma-separated option tags of every ``name`` header, lower-cased (Require, Supported)."""
        return {t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()}

    @property
    def call_id(self) -> str:
        value = self.get("Call-ID")
        if not value:
            raise BadMessage("no Call-ID")
        return value.strip()

    @property
    def cseq(self) -> tuple[int, str]:
        value = self.get("CSeq") or ""
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise BadMessage(f"bad CSeq {value[:40]!r}")
        return int(parts[0]), parts[1].upper()

    @property
    def to_tag(self) -> str | None:
        m = _TAG.search(self.get("To") or "")
        return m.group(1) if m else None

    def encode(self) -> bytes:
        if self.method is not None:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason}"
        lines = [start] + [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def parse(data: bytes, *, max_body: int) -> SipMessage:
    """One whole message (a UDP datagram, or a frame cut by :class:`StreamFramer`)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise BadMessage("no blank line after the headers")
    if len(head) > MAX_HEADER_BYTES:
        raise BadMessage(f"headers longer than {MAX_HEADER_BYTES} bytes")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("headers are not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    msg = _start_line(start)
    try:
        return _rest(msg, lines, body, max_body)
    except BadMessage as exc:
        exc.partial = msg
        raise


def _rest(msg: SipMessage, lines: list[str], body: bytes, max_body: int) -> SipMessage:
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and msg.headers:  # folded continuation
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or any(c in name for c in " \t"):
            raise BadMessage(f"bad header line {line[:40]!r}")
        msg.headers.append((canonical(name), value.strip()))
    length_text = msg.get("Content-Length")
    if length_text is not None:
        if not length_text.isdigit():
            raise BadMessage(f"bad Content-Length {length_text[:20]!r}")
        length = int(length_text)
        if length > max_body:
            raise TooLarge(f"{length} bytes, at most {max_body}")
        if len(body) < length:
            raise BadMessage(f"body shorter ({len(body)}) than Content-Length {length}")
        body = body[:length]
    elif len(body) > max_body:
        raise TooLarge(f"{len(body)} bytes, at most {max_body}")
    msg.body = body
    if msg.method is not None:
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            if not msg.get(name):
                raise BadMessage(f"no {name} header")
        _, method = msg.cseq
        if method != msg.method:
            raise BadMessage(f"CSeq method {method} does not match {msg.method}")
    return msg


def _start_line(start: str) -> SipMessage:
    if start.startswith("SIP/2.0 "):
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise BadMessage(f"bad status line {start[:60]!r}")
        return SipMessage(None, None, int(parts[1]), parts[2] if len(parts) > 2 else "")
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha() or not parts[0].isupper():
        raise BadMessage(f"bad request line {start[:60]!r}")
    return SipMessage(parts[0], parts[1], None, None)


def response(
    req: SipMessage, status: int, *, to_tag: str | None = None, headers: list[tuple[str, str]] | None = None,
    body: bytes = b"", content_type: str | None = None,
) -> SipMessage:
    """A response to ``req``: Via, From, To (with our tag), Call-ID and CSeq copied (RFC 3261 8.2.6)."""
    out = SipMessage(None, None, status, REASONS.get(status, "Unknown"))
    for name in ("Via",):
        for v in req.get_all(name):
            out.headers.append((name, v))
    out.headers.append(("From", req.get("From") or ""))
    to = req.get("To") or ""
    if to_tag and not _TAG.search(to) and status > 100:
        to = f"{to};tag={to_tag}"
    out.headers.append(("To", to))
    out.headers.append(("Call-ID", req.get("Call-ID") or ""))
    out.headers.append(("CSeq", req.get("CSeq") or ""))
    out.headers.extend(headers or [])
    out.headers.append(("Server", "callqc-srs"))
    if body:
        out.headers.append(("Content-Type", content_type or "application/sdp"))
    out.body = body
    return out


class StreamFramer:
    """Cuts SIP messages out of a TCP byte stream by Content-Length; CRLF keep-alives are skipped."""

    def __init__(self, *, max_body: int) -> None:
        self.max_body = max_body
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Whole messages now available; raises BadMessage/TooLarge when the stream cannot be framed."""
        self.buf += data
        out: list[bytes] = []
        while True:
            while self.buf[:2] == b"\r\n":
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEADER_BYTES:
                    raise BadMessage(f"headers longer than {MAX_HEADER_BYTES} bytes")
                return out
            head = bytes(self.buf[:end]).decode("utf-8", "replace")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if canonical(name) == "Content-Length" if name.strip() else False:
                    value = value.strip()
                    if not value.isdigit():
                        raise BadMessage(f"bad Content-Length {value[:20]!r}")
                    length = int(value)
            if length > self.max_body:
                raise TooLarge(f"{length} bytes, at most {self.max_body}")
            total = end + 4 + length
            if len(self.buf) < total:
                return out
            out.append(bytes(self.buf[:total]))
            del self.buf[:total]
