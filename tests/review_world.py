"""A small review-app world for tests: users of every role; calls with audio, transcript, auto-evaluation."""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from scoring.autoscore import evaluate
from scoring.evaluations import store_auto_evaluation
from scoring.rubric import active_rubric
from storage.call_metrics import save_metrics
from storage.calls import Call, CallStatus, Direction
from storage.db import session
from storage.keys import recording_key
from storage.redactions import replace_redaction
from storage.segments import Segment
from storage.settings import get_settings
from storage.stores import make_store
from storage.transcripts import TranscriptSegment
from storage.users import Principal, Role, add_user
from tests.scoring_calls import call as conversation
from tests.scoring_calls import good_call, seg

PASSWORD = "correct horse battery"
USERS = {
    "insp1": (Role.inspector, None, None),
    "insp2": (Role.inspector, None, None),
    "agent1": (Role.agent, "A1", "T1"),
    "agent2": (Role.agent, "A2", "T1"),
    "sup": (Role.supervisor, None, None),
    "arch": (Role.archivist, None, None),
    "admin": (Role.admin, None, None),
}
# two days ago, so date-windowed pages (dashboard: last 30 days) include the calls whenever tests run
DAY0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class World:
    users: dict[str, Principal]
    calls: dict[str, str]  # call ID -> agent ID


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x01\x00\x02" * int(seconds * rate))
    return buf.getvalue()


def rude_call() -> list:
    return [
        seg("agent", 0.5, 3.0, "Yes what do you want."),
        seg("customer", 3.5, 7.0, "My card was charged twice."),
        seg("agent", 7.5, 10.0, "Shut up, that is stupid."),
    ]


def add_call(
    call_id: str,
    agent_id: str,
    *,
    started_at: datetime,
    segments: list,
    team: str = "T1",
    queue: str = "support",
    tenant: str = "default",
    audio_s: float = 0.5,
) -> None:
    """Register a call with stored audio (``audio_s`` long), its transcript and its auto-evaluation."""
    import hashlib

    data = wav_bytes(audio_s)
    key = recording_key(call_id, started_at, "wav")
    store = make_store()
    store.put_stream(get_settings().bucket_recordings, key, io.BytesIO(data), length=len(data))
    conv = conversation(segments)
    with session() as s:
        s.add(
            Call(
                call_id=call_id,
                tenant=tenant,
                agent_id=agent_id,
                team=team,
                queue=queue,
                direction=Direction.inbound,
                started_at=started_at,
                ended_at=started_at + timedelta(seconds=conv.duration),
                duration_s=conv.duration,
                codec="pcm_s16le",
                sample_rate=8000,
                channels=2,
                channel_map={"agent": 0, "customer": 1},
                audio_key=key,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                status=CallStatus.scored,
            )
        )
        s.flush()
        add_segments(s, call_id, segments)
        replace_redaction(s, call_id, [], originals=None, audio=None)  # checked: nothing to cut
        auto = evaluate(active_rubric(), conv)
        store_auto_evaluation(s, call_id, auto)
        save_metrics(s, auto.metrics.row(call_id))


def fast_hashing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Cheap argon2 parameters, so worlds of seven users build quickly (the format stays argon2id)."""
    from argon2 import PasswordHasher

    import storage.users

    monkeypatch.setattr(
        storage.users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def build(*, calls_per_agent: int = 2) -> World:
    """Users of every role and ``calls_per_agent`` calls for agents A1 and A2 (the first of A2's is rude)."""
    with session() as s:
        users = {}
        for name, (role, agent_id, team) in USERS.items():
            u = add_user(s, name, role=role, password=PASSWORD, agent_id=agent_id, team=team)
            users[name] = Principal.of(u)
    calls = {}
    for agent in ("A1", "A2"):
        for n in range(calls_per_agent):
            cid = f"{agent.lower()}-call-{n}"
            segs = rude_call() if (agent, n) == ("A2", 0) else good_call()
            add_call(cid, agent, started_at=DAY0 + timedelta(hours=n), segments=segs)
            calls[cid] = agent
    return World(users, calls)


def session_token(name: str) -> str:
    """A live review-app session for ``name``, as signing in makes one (for tests that start signed in)."""
    from storage.app_sessions import start

    with session() as s:
        token, _ = start(s, name, source="test")
    return token


def add_segments(s: Session, call_id: str, segments: Sequence[Segment]) -> None:
    """Store a built conversation as the call's transcript segments (agent left, customer right)."""
    for i, sg in enumerate(segments):
        s.add(
            TranscriptSegment(
                call_id=call_id,
                idx=i,
                speaker=sg.speaker,
                channel=0 if sg.speaker == "agent" else 1,
                start_s=sg.start,
                end_s=sg.end,
                text=sg.text,
                avg_logprob=sg.avg_logprob,
                no_speech_prob=0.0,
            )
        )


def player_sources(at) -> list[str]:  # type: ignore[no-untyped-def]
    """The media addresses of the audio players on an AppTest page (review_app/player.py frames)."""
    import json
    import re

    found = []
    for e in at.get("iframe"):
        m = re.search(r"const SRC = (\"[^\"]*\")", e.proto.srcdoc)
        if m and "<audio" in e.proto.srcdoc:
            found.append(json.loads(m.group(1)))
    return found
