"""Call metadata: validation, sidecar JSON files, and the channel map.

Metadata arrives as a flat mapping (sidecar JSON, ``--meta key=value``, an API form field). Keys that
are columns of :class:`storage.models.Call` are validated and become columns; every other key goes to
``meta`` (JSON). Every refusal is one line naming the field.

What is stored must be readable by every later reader (the review app, the archive's JSON files, other
languages' JSON parsers), so the extra fields are held to limits: at most ``META_MAX_DEPTH`` levels of
nesting, ``META_MAX_ITEMS`` keys and list items in all, ``META_MAX_BYTES`` as JSON, finite numbers within
64 bits, and text that is valid Unicode without NUL (a lone surrogate cannot be written as UTF-8).
:func:`check_meta` applies the same rules to a whole :class:`CallMeta` and is the last gate of every
ingest path.
"""

from __future__ import annotations

import errno
import json
import logging
import math
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
META_MAX_DEPTH = 8
META_MAX_ITEMS = 500
_INT_LIMIT = 2**63  # JSON readers outside Python (JavaScript, PostgreSQL's bigint) lose larger integers
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
    if len(raw) > META_MAX_ITEMS:
        raise InvalidMetadata(f"{len(raw)} fields, at most {META_MAX_ITEMS}")
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if (
            not isinstance(key, str)
            or not key
            or len(key) > TEXT_MAX
            or _has_control(key)
            or _bad_unicode(key)
        ):
            raise InvalidMetadata(f"key {_shown(key)} is not a valid field name")
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
    check_json(extra)
    return CallMeta(**values, meta=extra)


def check_meta(meta: CallMeta) -> CallMeta:
    """Check a whole :class:`CallMeta` (however it was built or merged) before anything is stored."""
    for name in _TEXT_FIELDS + ("tenant",):
        value = getattr(meta, name)
        if value is not None:
            _text(name, value)
    if meta.call_id is not None:
        validate_call_id(meta.call_id)
    if meta.channel_map is not None:
        parse_channel_map(meta.channel_map)
    check_json(meta.meta)
    return meta


def check_json(value: Any, where: str = "meta") -> None:
    """Refuse extra fields later readers would choke on (see the module's docstring); iterative, so a
    deeply nested value fails here with a message instead of with a RecursionError somewhere else."""
    if not isinstance(value, dict):
        raise InvalidMetadata(f"{where}: expected a JSON object")
    items = 0
    stack: list[tuple[Any, int, str]] = [(value, 1, where)]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list):
            if depth > META_MAX_DEPTH:
                raise InvalidMetadata(f"{where}: nested deeper than {META_MAX_DEPTH} levels (at {path})")
            items += len(node)
            if items > META_MAX_ITEMS:
                raise InvalidMetadata(f"{where}: more than {META_MAX_ITEMS} keys and list items")
            if isinstance(node, dict):
                for key, child in node.items():
                    if not isinstance(key, str) or not key or _has_control(key) or _bad_unicode(key):
                        raise InvalidMetadata(f"{path}: key {_shown(key)} is not valid text")
                    stack.append((child, depth + 1, f"{path}.{_shown(key, 24)[1:-1]}"))
            else:
                stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(node))
        elif isinstance(node, str):
            if "\x00" in node or _bad_unicode(node):
                raise InvalidMetadata(f"{path}: text with NUL or invalid Unicode (a lone surrogate)")
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if not -_INT_LIMIT <= node < _INT_LIMIT:
                raise InvalidMetadata(f"{path}: integer out of the 64-bit range")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidMetadata(f"{path}: {node} is not a JSON number")
        else:
            raise InvalidMetadata(f"{path}: {type(node).__name__} is not a JSON value")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > META_MAX_BYTES:
        raise InvalidMetadata(f"{where}: {size} bytes of extra fields, at most {META_MAX_BYTES}")


def loads_json(data: bytes | str, where: str) -> Any:
    """Parse JSON text from outside: one-line errors for every way it can be bad (also too deep for
    Python's parser, huge integers, NaN, and a key given twice)."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidMetadata(f"{where}: nested deeper than {META_MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise InvalidMetadata(f"{where}: not UTF-8 text") from None
    except InvalidMetadata as exc:
        raise InvalidMetadata(f"{where}: {exc.detail}") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing thousands of digits
        raise InvalidMetadata(f"{where}: not valid JSON ({' '.join(str(exc).split())[:120]})") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidMetadata(f"key {_shown(key)} given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise InvalidMetadata(f"{name} is not a JSON number")


def safe_text(text: str, limit: int = 200) -> str:
    """``text`` (a file name, say) fit for messages, logs and audit rows: invalid Unicode and control
    characters become ``?``, cut to ``limit`` characters."""
    fixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    fixed = "".join("?" if _has_control(c) else c for c in fixed)
    return fixed if len(fixed) <= limit else fixed[: limit - 1] + "…"


def _shown(value: Any, limit: int = TEXT_MAX) -> str:
    return repr(str(value)[:limit])


def _bad_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` (the CLI's ``--meta``) as a mapping."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidMetadata(f"--meta {_shown(pair)}: expected key=value")
        if key.strip() in out:
            raise InvalidMetadata(f"--meta {_shown(key.strip())}: given twice")
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
    if _bad_unicode(text):
        raise InvalidMetadata(f"{name}: not valid Unicode (a lone surrogate)")
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
        try:
            # a link is returned so that read_sidecar refuses it, rather than being quietly ignored
            if candidate != audio and (candidate.is_symlink() or candidate.is_file()):
                return candidate
        except OSError as exc:  # a name too long to exist has no sidecar
            if exc.errno != errno.ENAMETOOLONG:
                raise
    return None


def read_sidecar(path: Path) -> CallMeta:
    """Parse a sidecar JSON file; its errors name the file. A symbolic link is refused: whoever can
    write the spool folder must not make us read files elsewhere."""
    label = safe_text(path.name)
    if path.is_symlink():
        raise InvalidMetadata(f"{label}: is a symbolic link")
    with path.open("rb") as fh:
        data = fh.read(SIDECAR_MAX_BYTES + 1)
    if len(data) > SIDECAR_MAX_BYTES:
        raise InvalidMetadata(f"{label}: more than {SIDECAR_MAX_BYTES} bytes")
    raw = loads_json(data, label)
    try:
        return parse_meta(raw)
    except InvalidMetadata as exc:
        raise InvalidMetadata(f"{safe_text(path.name)}: {exc.detail}") from None


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)
