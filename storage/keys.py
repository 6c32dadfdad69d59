"""Call IDs and object keys: the only place raw input becomes a path or a key.

A call ID is validated before it touches a path or an object key; keys are built from sanitised
parts only (``recordings/YYYY/MM/DD/<call-id>.<ext>``).
"""

from __future__ import annotations

import re
from datetime import datetime

from storage.errors import InvalidInput

CALL_ID_MAX = 128
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXT = re.compile(r"[a-z0-9]{1,8}")
_ATTEMPT = re.compile(r"[a-z0-9]{1,16}")


class InvalidCallId(InvalidInput):
    """invalid call ID"""


def validate_call_id(raw: object) -> str:
    """Return ``raw`` if it is a valid call ID, else raise :class:`InvalidCallId` saying why."""
    if not isinstance(raw, str):
        raise InvalidCallId(f"expected text, got {type(raw).__name__}")
    if not raw:
        raise InvalidCallId("empty")
    if len(raw) > CALL_ID_MAX:
        raise InvalidCallId(f"{len(raw)} characters, at most {CALL_ID_MAX} allowed")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InvalidCallId("contains control characters")
    if "/" in raw or "\\" in raw:
        raise InvalidCallId(f"{raw!r} contains a slash")
    if ".." in raw:
        raise InvalidCallId(f"{raw!r} contains '..'")
    if not _CALL_ID.fullmatch(raw):
        raise InvalidCallId(
            f"{raw!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    return raw


def recording_key(call_id: str, started_at: datetime, ext: str, *, attempt: str | None = None) -> str:
    """Object key of a call's original audio: ``recordings/YYYY/MM/DD/<call-id>.<ext>``, or with an
    upload attempt's tag ``recordings/YYYY/MM/DD/<call-id>~<attempt>.<ext>``.

    Ingest tags every upload: two senders racing with the same call ID then never write the same
    object, and the loser's object can be removed without touching the winner's (``~`` is not a
    call-ID character, so the tag is never mistaken for part of the ID).
    """
    cid = validate_call_id(call_id)
    ext = ext.lower().lstrip(".")
    if not _EXT.fullmatch(ext):
        raise InvalidInput(f"file extension {ext!r} is not allowed")
    if attempt is not None:
        if not _ATTEMPT.fullmatch(attempt):
            raise InvalidInput(f"upload tag {attempt!r} is not allowed")
        cid = f"{cid}~{attempt}"
    return f"recordings/{started_at:%Y/%m/%d}/{cid}.{ext}"


def redacted_key(call_id: str, started_at: datetime) -> str:
    """Object key of a call's redacted audio copy: ``redacted/YYYY/MM/DD/<call-id>.wav``."""
    return f"redacted/{started_at:%Y/%m/%d}/{validate_call_id(call_id)}.wav"


_MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def model_key(name: str, version: int, ext: str = "joblib") -> str:
    """Object key of a learned-item model file: ``models/<name>/v<version>.<ext>`` (version zero-padded)."""
    if not _MODEL_NAME.fullmatch(name):
        raise InvalidInput(f"model name {name!r}: use lower-case letters, digits, '-' and '_'")
    if version < 1 or not _EXT.fullmatch(ext):
        raise InvalidInput(f"model version {version} / extension {ext!r} is not allowed")
    return f"models/{name}/v{version:06d}.{ext}"


def prompt_key(name: str) -> str:
    """Object key of a known prompt's audio (16 kHz WAV): ``prompts/<name>.wav``."""
    if not _MODEL_NAME.fullmatch(name):
        raise InvalidInput(f"prompt name {name!r}: use lower-case letters, digits, '-' and '_' (at most 64)")
    return f"prompts/{name}.wav"
