"""What goes on a disc besides the audio: per-call JSON, the manifest, the month index, a readme.

Layout of every disc (Rock Ridge / Joliet names)::

    README.TXT                                  what this disc is, how to read it without callqc
    index.json                                  every call of the month's run and its disc number
    manifest.json                               every file on this disc: path, byte offset, length, SHA-256
    calls/YYYY-MM-DD/<call-id>.<ext>            original audio, byte for byte (archive_audio original/both)
    calls/YYYY-MM-DD/<call-id>.redacted.wav     audio with personal data cut out (archive_audio redacted/both)
    calls/YYYY-MM-DD/<call-id>.metadata.json    the call's database row
    calls/YYYY-MM-DD/<call-id>.transcript.json  transcript, when the call has one
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session

from storage.calls import Call, CallPublic
from storage.keys import validate_call_id
from storage.redactions import CallRedaction
from storage.settings import get_settings
from storage.transcripts import transcript_json

log = logging.getLogger(__name__)

FORMAT = "callqc-archive/1"
INDEX_PATH = "index.json"
README_PATH = "README.TXT"


@dataclass(frozen=True)
class ExtraFile:
    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def audio_path(call: Call) -> str:
    cid = validate_call_id(call.call_id)
    ext = call.audio_key.rpartition("/")[2].rpartition(".")[2].lower() or "bin"
    return f"calls/{call.started_at:%Y-%m-%d}/{cid}.{ext}"


@dataclass(frozen=True)
class DiscAudio:
    """One audio file of a call on a disc: the original, or the redacted copy."""

    path: str
    key: str  # object in the recordings bucket
    size: int
    sha256: str
    audio: str  # "original", "redacted" or "clean" (the original; redaction found nothing to cut)


def disc_audio(session: Session, call: Call) -> list[DiscAudio]:
    """The call's audio files for a disc per the ``archive_audio`` setting, the one its archive entry
    points at first. A call never checked for personal data (transcription off, or failed) can only
    be archived as its original, and a warning says so."""
    original = DiscAudio(audio_path(call), call.audio_key, call.size_bytes, call.sha256, "original")
    red = session.get(CallRedaction, call.call_id)
    if red is None or (red.hits and red.audio_key is None):
        log.warning("archive: %s has no redacted audio (never checked, or its copy was never made); its "
                    "original goes on the disc", call.call_id)
        return [original]
    if red.audio_key is None or red.audio_sha256 is None or red.audio_size is None:
        return [replace(original, audio="clean")]
    copy = DiscAudio(f"{audio_path(call).rpartition('.')[0]}.redacted.wav", red.audio_key, red.audio_size,
                     red.audio_sha256, "redacted")
    mode = get_settings().archive_audio
    return {"original": [original], "redacted": [copy], "both": [original, copy]}[mode]


def call_extras(session: Session, call: Call) -> list[ExtraFile]:
    """The call's metadata JSON, and its transcript JSON when one can be had."""
    base = audio_path(call).rpartition(".")[0]
    meta = CallPublic.model_validate(call).model_dump(mode="json")
    files = [ExtraFile(f"{base}.metadata.json", _json(meta))]
    transcript = transcript_json(session, call.call_id)
    if transcript is not None:
        files.append(ExtraFile(f"{base}.transcript.json", _json(transcript)))
    return files


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True).encode()


def index_entry(call: Call, *, disc: int, audio: list[DiscAudio] | None = None) -> dict[str, Any]:
    first = (audio or [DiscAudio(audio_path(call), call.audio_key, call.size_bytes, call.sha256, "original")])[0]
    row = {
        "call_id": call.call_id,
        "disc": disc,
        "path": first.path,
        "length": first.size,
        "sha256": first.sha256,
        "audio": first.audio,
        "started_at": call.started_at.isoformat(),
        "tenant": call.tenant,
    }
    if audio and len(audio) > 1:
        row["also"] = [{"path": a.path, "length": a.size, "sha256": a.sha256, "audio": a.audio} for a in audio[1:]]
    return row


def index_bytes(month: str, *, seq: int, discs: int, entries: list[dict[str, Any]]) -> bytes:
    head = {"format": FORMAT, "kind": "month-index", "month": month, "run": seq, "discs": discs}
    return _lines(head, "calls", entries)


def manifest_bytes(month: str, *, seq: int, disc: int, discs: int, files: list[dict[str, Any]]) -> bytes:
    """Manifest: one JSON object, each file on one line (call_id, path, offset, length, sha256)."""
    head = {
        "format": FORMAT,
        "kind": "disc-manifest",
        "month": month,
        "run": seq,
        "disc": disc,
        "discs": discs,
        "label": f"callqc {month} run {seq}: disc {disc} of {discs}",
    }
    return _lines(head, "files", files)


def _lines(head: dict[str, Any], key: str, rows: list[dict[str, Any]]) -> bytes:
    # one row per line keeps multi-megabyte indexes readable with grep on any computer
    body = ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    text = json.dumps(head, ensure_ascii=False, sort_keys=True)[:-1] + f', "{key}": [\n{body}\n]}}\n'
    return text.encode()


def readme_bytes(month: str, *, seq: int, disc: int, discs: int) -> bytes:
    return (
        f"callqc archive, {month}, run {seq}: disc {disc} of {discs}\r\n"
        "\r\n"
        "This is a standard ISO 9660 disc (Joliet and Rock Ridge names); any computer can read it.\r\n"
        "calls/<date>/<call-id>.<ext>              original recording, byte for byte (when archived)\r\n"
        "calls/<date>/<call-id>.redacted.wav       recording with personal data replaced by a tone\r\n"
        "calls/<date>/<call-id>.metadata.json      the call's record\r\n"
        "calls/<date>/<call-id>.transcript.json    transcript, when there was one\r\n"
        "manifest.json   every file on this disc: path, byte offset in the image, length, SHA-256\r\n"
        "index.json      every call of this month's run and the disc it is on\r\n"
        "Check a file:   sha256sum calls/<date>/<call-id>.<ext>  (compare with manifest.json)\r\n"
    ).encode()
