"""Recording metadata (RFC 7865, ``application/rs-metadata+xml``): who is on which stream.

Participants carry an AOR (``nameID@aor``); streams carry the SDP label; ``participantstreamassoc``
says who sends on which stream. The agent is the participant whose AOR matches the configured
pattern (``siprec_agent_aor``); the stream it sends on is the agent's channel, the other the
customer's. ``datamode partial`` (re-INVITE/UPDATE) updates what an earlier document said.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from storage.errors import InvalidInput

NS = "{urn:ietf:params:xml:ns:recording:1}"
MAX_ITEMS = 64


class BadMetadata(InvalidInput):
    """malformed recording metadata"""


@dataclass
class Participant:
    aor: str
    name: str | None = None
    sends: list[str] = field(default_factory=list)  # stream ids


@dataclass
class RecordingMeta:
    participants: dict[str, Participant] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # stream id -> SDP label
    sip_session_id: str | None = None

    def update(self, other: RecordingMeta) -> None:
        """Merge a later (partial) document into this one."""
        for pid, p in other.participants.items():
            mine = self.participants.setdefault(pid, Participant(p.aor))
            mine.aor = p.aor or mine.aor
            mine.name = p.name or mine.name
            mine.sends = p.sends or mine.sends
        self.labels.update(other.labels)
        self.sip_session_id = other.sip_session_id or self.sip_session_id

    def sender_of(self, label: str) -> Participant | None:
        for p in self.participants.values():
            for sid in p.sends:
                if self.labels.get(sid) == label:
                    return p
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "participants": [
                {"aor": p.aor, "name": p.name, "sends": [self.labels.get(s, s) for s in p.sends]}
                for p in self.participants.values()
            ],
            "sip_session_id": self.sip_session_id,
        }


def parse(body: bytes) -> RecordingMeta:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadMetadata("DTDs and entities are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise BadMetadata(f"not XML ({exc})") from None
    if root.tag != f"{NS}recording":
        raise BadMetadata(f"root element {root.tag[:60]!r} is not recording")
    meta = RecordingMeta()
    for el in root.findall(f"{NS}participant")[:MAX_ITEMS]:
        pid = el.get("participant_id") or el.get("id")
        name_id = el.find(f"{NS}nameID") or el.find(f"{NS}aor")
        if not pid:
            continue
        aor = (name_id.get("aor") if name_id is not None else None) or ""
        if name_id is not None and not aor:
            aor = (name_id.text or "").strip()
        name_el = name_id.find(f"{NS}name") if name_id is not None else None
        meta.participants[pid] = Participant(_clean(aor), _clean(name_el.text) if name_el is not None else None)
    for el in root.findall(f"{NS}stream")[:MAX_ITEMS]:
        sid = el.get("stream_id") or el.get("id")
        label = el.findtext(f"{NS}label")
        if sid and label:
            meta.labels[sid] = _clean(label)
    for el in root.findall(f"{NS}participantstreamassoc")[:MAX_ITEMS]:
        pid = el.get("participant_id")
        if pid and pid in meta.participants:
            meta.participants[pid].sends = [_clean(s.text) for s in el.findall(f"{NS}send") if s.text]
    session = root.find(f"{NS}session")
    if session is not None:
        meta.sip_session_id = _clean(session.findtext(f"{NS}sipSessionID") or "") or None
    return meta


def _clean(text: str | None) -> str:
    text = (text or "").strip()
    return "".join(c for c in text if ord(c) >= 32 and ord(c) != 127)[:200]


def user_part(aor: str) -> str:
    """``sip:agent1001@example.com`` → ``agent1001`` (what becomes agent ID or caller)."""
    m = re.match(r"^(?:sips?:|tel:)?([^@;>]+)", aor.strip().strip("<>"))
    return m.group(1)[:64] if m else aor[:64]


@dataclass(frozen=True)
class Roles:
    """Which stream index is the agent's and which the customer's, and how that was decided."""

    agent: int
    customer: int
    agent_aor: str | None
    customer_aor: str | None
    by_metadata: bool


def roles(meta: RecordingMeta | None, labels: list[str | None], agent_pattern: str) -> Roles:
    """Decide the roles of the first two streams (``labels`` = their SDP labels, in m-line order)."""
    pattern = re.compile(agent_pattern)
    senders = [meta.sender_of(label) if meta is not None and label is not None else None for label in labels]
    agent_idx = next((i for i, p in enumerate(senders) if p is not None and pattern.search(p.aor)), None)
    if agent_idx is None or len(labels) < 2:
        s0 = senders[0] if senders else None
        s1 = senders[1] if len(senders) > 1 else None
        return Roles(0, 1, s0.aor if s0 else None, s1.aor if s1 else None, False)
    other = 1 - agent_idx if agent_idx < 2 else 1
    a, c = senders[agent_idx], senders[other]
    return Roles(agent_idx, other, a.aor if a else None, c.aor if c else None, True)
