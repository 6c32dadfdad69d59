"""Split recordings of one call, joined into one two-channel recording before ingest.

A PBX may write one call as several files:

- **legs**: one file per direction. Asterisk ``MixMonitor(<name>.wav,r(<name>-in.wav)t(<name>-out.wav))``
  writes what the recorded channel *sends* (``-in``, its "read" side) and what it *hears* (``-out``);
  FreeSWITCH ``RECORD_READ_ONLY``/``RECORD_WRITE_ONLY`` (or per-leg ``record_session``) does the same.
  Which of the two is the agent depends on the channel MixMonitor runs on: on an inbound call the
  recorded channel is the caller's (``-in`` = customer), on an outbound or internal call it is the
  agent's extension (``-in`` = agent).
- **parts**: a transferred call recorded again after the transfer, under the same ``uniqueid`` (FreePBX
  names both files with the caller's uniqueid) — one file per stretch of the call, in time order.

Both are placed on one timeline by their start (from the sidecar or the file name when it says,
else the file's modification time minus its length: a PBX writes until the call ends) and written
as one 16-bit PCM WAV, agent left and customer right, at the highest rate among the files. The joined
file is what is stored; every source file's name, role, SHA-256, offset and length go to
``meta.legs`` so the join can be checked against the originals (which the watcher moves to ``done/``).
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import av
import numpy as np

from recorder.probe import decode_tolerant, raw_format_for
from storage.errors import InvalidInput
from storage.objectstore import sha256_file

# <base>-in.<ext> / <base>_out.<ext> ... : the suffix names the direction (MixMonitor r()/t(),
# FreeSWITCH read/write legs).
_LEG = re.compile(r"^(?P<base>.+?)[-_](?P<leg>in|out|rx|tx|read|write)(?P<ext>\.[A-Za-z0-9]+)$")
_SENDS = {"in", "rx", "read"}  # the recorded channel's own voice
CHANNELS = {"agent": 0, "customer": 1}
SNAP_S = 1.0


class Role(StrEnum):
    sends = "sends"  # what the recorded channel says
    hears = "hears"  # what the recorded channel hears (the other party)
    both = "both"  # a whole-call file (mono mix or stereo)


class CannotJoin(InvalidInput):
    """split recordings cannot be joined"""


@dataclass(frozen=True)
class Piece:
    path: Path
    role: Role
    start: datetime | None = None  # when it started, if the sidecar or the file name says


def split_name(name: str) -> tuple[str, Role]:
    """The file name without its leg suffix (what names the call), and the file's role."""
    m = _LEG.fullmatch(name)
    if m is None:
        return name, Role.both
    return m["base"] + m["ext"], Role.sends if m["leg"].lower() in _SENDS else Role.hears


def sends_is_agent(direction: str | None) -> bool:
    """On an inbound call MixMonitor runs on the caller's channel; otherwise on the agent's."""
    return direction in ("outbound", "internal")


@dataclass(frozen=True)
class Joined:
    channels: int
    channel_map: dict[str, int]
    started_at: datetime
    legs: list[dict[str, object]]


def join(pieces: list[Piece], out: Path, *, direction: str | None) -> Joined:
    """Write ``pieces`` as one WAV at ``out``; say how it was put together."""
    if not pieces:
        raise CannotJoin("nothing to join")
    decoded = [(p, *_decode(p.path)) for p in pieces]  # (piece, samples [channels, n], rate)
    rate = max(r for _, _, r in decoded)
    starts = _snap([_start(p, a.shape[1] / r) for p, a, r in decoded], [p.start is None for p in pieces])
    t0 = min(starts)
    split = any(p.role is not Role.both for p in pieces)
    if split and any(p.role is Role.both and a.shape[0] == 1 for p, a, _ in decoded):
        raise CannotJoin(f"{pieces[0].path.name}: a mixed (mono) recording cannot be joined with split legs")
    stereo = split or any(a.shape[0] == 2 for _, a, _ in decoded)
    channels = 2 if stereo else 1
    placed = []
    for (p, a, r), start in zip(decoded, starts, strict=True):
        a = _resample(a, r, rate)
        offset = round((start - t0).total_seconds() * rate)
        placed.append((p, a, offset, _targets(p.role, a.shape[0], channels, direction)))
    length = max(off + a.shape[1] for _, a, off, _ in placed)
    mix = np.zeros((channels, length), dtype=np.float32)
    legs: list[dict[str, object]] = []
    for p, a, off, targets in placed:
        for src, dst in enumerate(targets):
            mix[dst, off : off + a.shape[1]] += a[src]
        legs.append({"name": p.path.name, "role": str(p.role), "sha256": sha256_file(p.path),
                     "offset_s": round(off / rate, 3), "duration_s": round(a.shape[1] / rate, 3),
                     "channels": [("agent", "customer")[c] if channels == 2 else "mix" for c in targets]})
    _write_wav(out, mix, rate)
    cmap = dict(CHANNELS) if channels == 2 else {"unknown": 0}
    return Joined(channels, cmap, t0, legs)


def _targets(role: Role, have: int, channels: int, direction: str | None) -> list[int]:
    """Which output channel each of the piece's channels goes to."""
    if channels == 1:
        return [0]
    if role is Role.both:
        return [0, 1] if have == 2 else [0]  # a stereo part keeps the default map (agent left)
    agent = (role is Role.sends) == sends_is_agent(direction)
    return [CHANNELS["agent" if agent else "customer"]]


def _start(piece: Piece, duration_s: float) -> datetime:
    if piece.start is not None:
        return piece.start
    # The PBX writes until the call (or its stretch) ends: the last write is its end.
    return datetime.fromtimestamp(piece.path.stat().st_mtime - duration_s, UTC)


def _snap(starts: list[datetime], guessed: list[bool]) -> list[datetime]:
    """A start guessed from the file's modification time is off by the writer's last flush: within
    ``SNAP_S`` of an earlier start it is taken as that start (MixMonitor opens both legs at once)."""
    out = list(starts)
    for i in sorted(range(len(out)), key=lambda k: out[k]):
        if guessed[i]:
            earlier = [out[k] for k in range(len(out)) if k != i and out[k] <= out[i]]
            if earlier and (out[i] - max(earlier)).total_seconds() < SNAP_S:
                out[i] = max(earlier)
    return out


def _decode(path: Path) -> tuple[np.ndarray, int]:
    with path.open("rb") as fh:
        riff = fh.read(4) == b"RIFF"
    raw = None if riff else raw_format_for(path.name)
    try:
        if raw is not None:
            container = av.open(str(path), format=raw[1].format, options={"sample_rate": str(raw[1].sample_rate)})
        else:
            container = av.open(str(path))
    except av.error.FFmpegError:
        raise CannotJoin(f"{path.name}: not a recognised audio file") from None
    with container:
        if not container.streams.audio:
            raise CannotJoin(f"{path.name}: no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        layout = "stereo" if stream.codec_context.channels == 2 else "mono"
        if stream.codec_context.channels > 2:
            raise CannotJoin(f"{path.name}: {stream.codec_context.channels} channels")
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        planes = [f.to_ndarray() for frame in decode_tolerant(container, stream) for f in resampler.resample(frame)]
        planes += [f.to_ndarray() for f in resampler.resample(None)]
    if not planes:
        raise CannotJoin(f"{path.name}: no audio")
    a = np.concatenate(planes, axis=1).astype(np.float32)
    return a, rate


def _resample(a: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return a
    n = round(a.shape[1] * target / rate)
    x_new = np.arange(n) * (rate / target)
    return np.stack([np.interp(x_new, np.arange(a.shape[1]), ch) for ch in a]).astype(np.float32)


def _write_wav(out: Path, mix: np.ndarray, rate: int) -> None:
    # × 32768, PyAV's own scale: a 16-bit recording joined again (a late leg, recorder/late_legs.py)
    # comes back sample for sample
    pcm = np.clip((mix * 32768).round(), -32768, 32767).astype("<i2").T.tobytes()
    with wave.open(str(out), "wb") as w:
        w.setnchannels(mix.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
