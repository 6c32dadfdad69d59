"""Voice prints as stored: one per channel of a transcribed call, and the agents' confirmed ones.

``channel_voices``: what each channel of a call sounds like (transcribe/voiceprint.py), written with
the transcript. ``agent_voices``: one row per call whose channel map was confirmed (scoring/
voice_profile.py says when), the agent channel's print under the call's agent; the agent's newest rows
make the voice profile the channel check compares calls with. A print is a short summary of a voice,
not audio, but it is personal data all the same: retention disposal deletes a call's rows with its
transcript (storage/disposal.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.models import UTCDateTime, utcnow


class ChannelVoice(SQLModel, table=True):
    __tablename__ = "channel_voices"

    call_id: str = Field(primary_key=True, foreign_key="calls.call_id", max_length=128)
    channel: int = Field(primary_key=True)
    vector: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    speech_s: float = 0.0


class AgentVoice(SQLModel, table=True):
    __tablename__ = "agent_voices"
    __table_args__ = (sa.Index("ix_agent_voices_agent", "tenant", "agent_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    agent_id: str = Field(max_length=64)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, unique=True)  # one confirmation per call
    channel: int
    vector: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str = Field(max_length=16)  # check | review | inspector
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def save_channel_voices(session: Session, call_id: str, prints: dict[int, dict[str, Any]]) -> None:
    """Replace the call's channel prints (``{channel: {"vector": [...], "speech_s": s}}``)."""
    session.execute(sa.delete(ChannelVoice).where(col(ChannelVoice.call_id) == call_id))
    for ch, p in sorted(prints.items()):
        session.add(ChannelVoice(call_id=call_id, channel=ch, vector=list(p["vector"]), speech_s=p["speech_s"]))
    session.flush()


def channel_voices(session: Session, call_id: str) -> dict[int, dict[str, Any]]:
    rows = session.exec(select(ChannelVoice).where(ChannelVoice.call_id == call_id))
    return {r.channel: {"vector": list(r.vector), "speech_s": r.speech_s} for r in rows}


def enrol(session: Session, *, tenant: str, agent_id: str, call_id: str, channel: int, vector: list[float],
          source: str) -> None:
    """The call's agent print joins the agent's profile; a later confirmation of the same call (an
    inspector's flip after an automatic enrolment) replaces the earlier one."""
    session.execute(sa.delete(AgentVoice).where(col(AgentVoice.call_id) == call_id))
    session.add(AgentVoice(tenant=tenant, agent_id=agent_id, call_id=call_id, channel=channel, vector=vector,
                           source=source))
    session.flush()


def agent_vectors(session: Session, tenant: str, agent_id: str, *, limit: int,
                  exclude_call: str | None = None) -> list[list[float]]:
    """The agent's newest ``limit`` confirmed prints, oldest first (without ``exclude_call``'s: a call is
    never compared with itself)."""
    q = select(AgentVoice.vector).where(AgentVoice.tenant == tenant, AgentVoice.agent_id == agent_id)
    if exclude_call is not None:
        q = q.where(AgentVoice.call_id != exclude_call)
    rows = session.exec(q.order_by(col(AgentVoice.id).desc()).limit(limit))
    return [list(v) for v in rows][::-1]


def delete_call_voices(session: Session, call_id: str) -> None:
    """Disposal: the call's prints go with its transcript."""
    session.execute(sa.delete(ChannelVoice).where(col(ChannelVoice.call_id) == call_id))
    session.execute(sa.delete(AgentVoice).where(col(AgentVoice.call_id) == call_id))
