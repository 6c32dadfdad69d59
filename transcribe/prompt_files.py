"""Registering a known prompt from its audio: checked, fingerprinted, its audio in the object store and
its record in the database, or nothing stored at all.

The audio is kept as the 16 kHz mono WAV the fingerprint was computed from (the models bucket,
``prompts/<name>.wav``), so a fingerprint can be computed again from exactly what was registered.
"""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import numpy as np
from sqlmodel import Session

from storage.errors import InvalidInput
from storage.keys import prompt_key
from storage.prompts import Prompt, PromptSource, add_prompt, remove_prompt
from storage.settings import get_settings
from storage.stores import get_store
from transcribe.audio import SAMPLE_RATE, decode
from transcribe.fingerprint import MIN_FRAMES, fingerprint

MAX_PROMPT_S = 300.0  # longer is not a prompt but a recording of something else
MAX_TEXT = 4000


class PromptTooShort(InvalidInput):
    """prompt audio is too short to be recognised safely (at least 2 s of audio)"""


def wav_bytes(samples: np.ndarray) -> bytes:
    """``samples`` (int16 mono at 16 kHz) as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


def store_prompt(session: Session, *, name: str, text: str, samples: np.ndarray, source: PromptSource,
                 created_by: str, language: str | None = None) -> Prompt:
    """Fingerprint ``samples`` and store the prompt (audio first; its record in the caller's transaction)."""
    text = " ".join(text.split())
    if not text:
        raise InvalidInput(f"prompt {name}: the text is empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"prompt {name}: the text is longer than {MAX_TEXT} characters")
    seconds = len(samples) / SAMPLE_RATE
    if seconds > MAX_PROMPT_S:
        raise InvalidInput(f"prompt {name}: {seconds:.0f} s of audio; a prompt is at most {MAX_PROMPT_S:.0f} s")
    fp = fingerprint(samples)
    if fp.n_frames < MIN_FRAMES or not np.any(samples):
        raise PromptTooShort(f"{name}: {seconds:.1f} s")
    key = prompt_key(name)
    data = wav_bytes(samples)
    prompt = add_prompt(session, Prompt(
        name=name, text=text, language=language, source=source, audio_key=key, duration_s=fp.duration_s,
        fingerprint=fp.to_bytes(), sha256=hashlib.sha256(data).hexdigest(), created_by=created_by))
    store, bucket = get_store(), get_settings().bucket_models
    store.put_stream(bucket, key, io.BytesIO(data), length=len(data), content_type="audio/wav")
    return prompt


def register_file(session: Session, path: Path, *, name: str, text: str, created_by: str,
                  language: str | None = None) -> Prompt:
    """Register the prompt recorded in ``path`` (any format the recorder accepts; the first channel)."""
    prompt_key(name)  # a bad name is refused before the file is read
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    audio = decode(path, name=path.name)
    if not audio.channels:
        raise PromptTooShort(f"{name}: no audio")
    return store_prompt(session, name=name, text=text, samples=audio.channels[0], source=PromptSource.registered,
                        created_by=created_by, language=language)


def forget(session: Session, name: str) -> Prompt:
    """Remove the prompt ``name`` and its audio."""
    prompt = remove_prompt(session, name)
    session.flush()
    get_store().delete(get_settings().bucket_models, prompt.audio_key)
    return prompt
