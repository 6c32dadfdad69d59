"""Call metadata: validation, sidecar JSON files, and the channel map.

Metadata arrives as a flat mapping (sidecar JSON, ``--meta key=value``, an API form field). Keys that
are columns of :class:`storage.models.Call` are validated and become columns; every other key goes to
``meta`` (JSON). Every refusal is one line naming the field.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.calls import Direction
from storage.errors import InvalidInput
from storage.keys import validate_call_id

log = logging.getLogger(__name__)

TEXT_MAX = 64  # the Call columns' width
META_MAX_BYTES = 64 * 1024
SIDECAR_MAX_BYTES = 256 * 1024
DEFAULT_CHANNEL_MAP: dict[str, int] = {"agent": 0, "customer": 1}
MONO_CHANNEL_MAP: dict[str, int] = {"unknown": 0}
ROLES = ("agent", "customer")
_CHANNELS = {"left": 0, "l": 0, "0": 0, "right": 1, "r": 1, "1": 1}
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TEXT_FIELDS = ("agent_id", "team", "queue", "caller", "callee")
# Other names PBX scripts commonly use for the same thing.
_ALIASES = {"agent": "agent_id", "id": "call_id", "start": "started_at", "end": "ended_at"}
# Some future date a clock could be wrong by; beyond it a timestamp is a typo or a unit mistake (ms).
_FUTURE_SLACK = timedelta(days=1)


class InvalidMetadata(InvalidInput):
    """invalid metadata"""


@dataclass(frozen=True)
class CallMeta:
    """What a recording's sender tells us about the call. None = not given."""

    call_id: str | None = None
    tenant: str | None = None
    agent_id: str | None = None
    team: str | None = None
    queue: str | None = None
    direction: Direction | None = None
    caller: str | None = None
    callee: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    channel_map: dict[str, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def merged(self, over: CallMeta) -> CallMeta:
        """This metadata with every field ``over`` gives replacing ours (``meta`` merged key by key)."""
        changes = {
            name: getattr(over, name)
            for name in self.__dataclass_fields__
            if name != "meta" and getattr(over, name) is not None
        }
        return replace(self, **changes, meta={**self.meta, **over.meta})


def parse_meta(raw: dict[str, Any]) -> CallMeta:
    """Validate a flat metadata mapping; known keys become fields, the rest goes to ``meta``."""
    if not isinstance(raw, dict):
        raise InvalidMetadata(f"expected a JSON object, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > TEXT_MAX or _has_control(key):
            raise InvalidMetadata(f"key {str(key)[:TEXT_MAX]!r} is not a valid field name")
        name = _ALIASES.get(key, key)
        if name == "meta":
            if not isinstance(value, dict):
                raise InvalidMetadata("meta: expected a JSON object")
            extra.update(value)
        elif name in values:
            raise InvalidMetadata(f"{name}: given twice (as {key!r})")
        elif name in CallMeta.__dataclass_fields__:
            if value is not None and value != "":
                values[name] = _parse_field(name, value)
        else:
            extra[key] = value
    if "started_at" in values and "ended_at" in values and values["ended_at"] < values["started_at"]:
        raise InvalidMetadata("ended_at: before started_at")
    try:
        size = len(json.dumps(extra, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidMetadata(f"meta: not JSON ({exc})") from None
    if size > META_MAX_BYTES:
        raise InvalidMetadata(f"meta: {size} bytes of extra fields, at most {META_MAX_BYTES}")
    return CallMeta(**values, meta=extra)


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` (the CLI's ``--meta``) as a mapping."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidMetadata(f"--meta {pair!r}: expected key=value")
        out[key.strip()] = value
    return out


def _parse_field(name: str, value: Any) -> Any:
    if name == "call_id":
        return validate_call_id(value)
    if name == "tenant":
        text = _text(name, value)
        if not _TENANT.fullmatch(text):
            raise InvalidMetadata(f"tenant: {text!r}: use up to 64 letters, digits, '.', '_' and '-'")
        return text
    if name in _TEXT_FIELDS:
        return _text(name, value)
    if name == "direction":
        try:
            return Direction(_text(name, value).lower())
        except ValueError:
            raise InvalidMetadata(
                f"direction: {value!r}; use one of {', '.join(d.value for d in Direction)}"
            ) from None
    if name in ("started_at", "ended_at"):
        return parse_time(name, value)
    if name == "channel_map":
        return parse_channel_map(value)
    raise AssertionError(name)  # pragma: no cover - every CallMeta field is handled above


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidMetadata(f"{name}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > TEXT_MAX:
        raise InvalidMetadata(f"{name}: {len(text)} characters, at most {TEXT_MAX}")
    if _has_control(text):
        raise InvalidMetadata(f"{name}: contains control characters")
    return text


def parse_time(name: str, value: Any) -> datetime:
    """ISO 8601 text or Unix seconds; a time without an offset is taken as UTC."""
    if isinstance(value, bool):
        raise InvalidMetadata(f"{name}: expected a time, got a boolean")
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value)):
            when = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str):
            when = datetime.fromisoformat(value.strip())
        elif isinstance(value, datetime):
            when = value
        else:
            raise InvalidMetadata(
                f"{name}: expected ISO 8601 text or Unix seconds, got {type(value).__name__}"
            )
    except (ValueError, OverflowError, OSError):
        raise InvalidMetadata(f"{name}: {str(value)[:40]!r} is not ISO 8601 or Unix seconds") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when.year < 1990 or when > datetime.now(UTC) + _FUTURE_SLACK:
        raise InvalidMetadata(f"{name}: {when.isoformat()} is out of range")
    return when


def parse_channel_map(value: Any) -> dict[str, int]:
    """``agent=left,customer=right`` (or a JSON object) as ``{"agent": 0, "customer": 1}``."""
    if isinstance(value, str):
        items: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            role, sep, channel = part.partition("=")
            if not sep:
                raise InvalidMetadata(f"channel_map: {part!r}: expected role=left|right")
            items[role.strip()] = channel.strip()
    elif isinstance(value, dict):
        items = value
    else:
        raise InvalidMetadata(
            f"channel_map: expected 'agent=left,customer=right', got {type(value).__name__}"
        )
    out: dict[str, int] = {}
    for role, channel in items.items():
        if role not in ROLES:
            raise InvalidMetadata(
                f"channel_map: unknown role {str(role)[:TEXT_MAX]!r}; use agent and customer"
            )
        key = str(channel).strip().lower() if not isinstance(channel, bool) else ""
        if key not in _CHANNELS:
            raise InvalidMetadata(f"channel_map: {role}={channel!r}; use left, right, 0 or 1")
        out[role] = _CHANNELS[key]
    if set(out) != set(ROLES) or out["agent"] == out["customer"]:
        raise InvalidMetadata(f"channel_map: {out}: give agent and customer on different channels")
    return out


def channel_map_for(channels: int, requested: dict[str, int] | None) -> dict[str, int]:
    """The stored map: the requested (or default) one for stereo, ``{"unknown": 0}`` for mono."""
    if channels == 1:
        if requested is not None and requested != DEFAULT_CHANNEL_MAP:
            log.warning("channel map %s ignored: the recording is mono", requested)
        return dict(MONO_CHANNEL_MAP)
    return dict(requested or DEFAULT_CHANNEL_MAP)


def sidecar_for(audio: Path) -> Path | None:
    """The metadata file next to ``audio``: ``<name>.json`` (``call1.wav.json``) or ``<stem>.json``."""
    for candidate in (audio.with_name(audio.name + ".json"), audio.with_suffix(".json")):
        if candidate != audio and candidate.is_file():
            return candidate
    return None


def read_sidecar(path: Path) -> CallMeta:
    """Parse a sidecar JSON file; its errors name the file."""
    size = path.stat().st_size
    if size > SIDECAR_MAX_BYTES:
        raise InvalidMetadata(f"{path.name}: {size} bytes, at most {SIDECAR_MAX_BYTES}")
    try:
        raw = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMetadata(f"{path.name}: not valid JSON ({exc})") from None
    try:
        return parse_meta(raw)
    except InvalidMetadata as exc:
        raise InvalidMetadata(f"{path.name}: {exc.detail}") from None


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)
