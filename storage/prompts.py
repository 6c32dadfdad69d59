"""Known prompts: recorded audio that plays in many calls (IVR greetings, "your call may be
recorded", queue announcements), with the transcript to reuse wherever it is heard.

A prompt is registered by an operator from its audio file (``callqc prompts add``) or learned from
the same audio heard in many calls (``callqc prompts learn``). Its audio stays in the object store
(``prompts/<id>.wav`` in the models bucket); its fingerprint (transcribe/fingerprint.py) is stored
here so a worker finds it in a call without reading the audio. The transcriber gives the span the
stored text as a ``system`` segment instead of sending it to Whisper (transcribe/prompts.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.errors import Conflict, NotFound
from storage.models import UTCDateTime, utcnow


class PromptSource(StrEnum):
    registered = "registered"  # an operator gave the file and its text
    learned = "learned"  # heard in many calls; the text is the transcript of one of them


class PromptExists(Conflict):
    """a prompt with this name exists"""


class PromptNotFound(NotFound):
    """no such prompt"""


class Prompt(SQLModel, table=True):
    __tablename__ = "prompts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    text: str = Field(sa_type=sa.Text)  # the transcript every playing of it gets
    language: str | None = Field(default=None, max_length=16)  # None: any call
    source: PromptSource = Field(sa_type=sa.String(16))
    audio_key: str = Field(max_length=256)  # in the models bucket
    duration_s: float
    fingerprint: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    sha256: str = Field(max_length=64, index=True)  # of the audio as stored: the same file twice is refused
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def add_prompt(session: Session, prompt: Prompt) -> Prompt:
    """Store ``prompt`` (PromptExists if its name or audio is known already)."""
    same = session.exec(select(Prompt).where((col(Prompt.name) == prompt.name)
                                             | (col(Prompt.sha256) == prompt.sha256))).first()
    if same is not None:
        raise PromptExists(f"{prompt.name}: prompt {same.name!r} has this name or this audio")
    session.add(prompt)
    session.flush()
    return prompt


def all_prompts(session: Session) -> list[Prompt]:
    """Every known prompt, oldest first."""
    return list(session.exec(select(Prompt).order_by(col(Prompt.id))))


def remove_prompt(session: Session, name: str) -> Prompt:
    """Delete the prompt called ``name`` (its audio is the caller's to delete)."""
    prompt = session.exec(select(Prompt).where(col(Prompt.name) == name)).first()
    if prompt is None:
        raise PromptNotFound(name)
    session.delete(prompt)
    return prompt
