"""A FreePBX-shaped day: recordings in monitor/YYYY/MM/DD/ under FreePBX's file names, and the
matching Asterisk cdr_csv Master.csv rows."""

from __future__ import annotations

import csv
import io
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

# Asterisk cdr_csv columns, in Master.csv order (no header row in the file).
CDR_COLUMNS = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
               "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
               "uniqueid", "userfield"]


def wav_bytes(seed: int, seconds: float = 0.6) -> bytes:
    """A short mono 8 kHz WAV, different for each seed (distinct SHA-256)."""
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(8000 * seconds)) * 800).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


@dataclass(frozen=True)
class PbxCall:
    uniqueid: str
    kind: str  # in, out, exten, q, rg, external
    caller: str
    callee: str
    queue: str | None
    extension: str  # the agent's extension
    start: datetime  # PBX local time, naive
    ring_s: int
    talk_s: int

    def file_name(self) -> str:
        d, t = f"{self.start:%Y%m%d}", f"{self.start:%H%M%S}"
        if self.kind == "q":
            return f"q-{self.queue}-{self.caller}-{d}-{t}-{self.uniqueid}.wav"
        if self.kind == "rg":
            return f"rg-600-{self.caller}-{d}-{t}-{self.uniqueid}.wav"
        return f"{self.kind}-{self.callee}-{self.caller}-{d}-{t}-{self.uniqueid}.wav"

    def cdr_row(self) -> list[str]:
        answer = self.start + timedelta(seconds=self.ring_s)
        end = answer + timedelta(seconds=self.talk_s)
        ts = "%Y-%m-%d %H:%M:%S"
        inbound = self.kind in ("in", "q", "rg")
        channel = f"PJSIP/trunk-{self.uniqueid[-4:]}" if inbound else f"PJSIP/{self.extension}-0000{self.uniqueid[-2:]}"
        dst_channel = f"PJSIP/{self.extension}-0000{self.uniqueid[-2:]}" if inbound else "PJSIP/trunk-00a1"
        return ["", self.caller, self.callee if self.kind != "q" else self.queue or "", "from-internal",
                f'"{self.caller}" <{self.caller}>', channel, dst_channel,
                "Queue" if self.kind == "q" else "Dial", self.queue or "", self.start.strftime(ts),
                answer.strftime(ts), end.strftime(ts), str(self.ring_s + self.talk_s), str(self.talk_s),
                "ANSWERED", "DOCUMENTATION", self.uniqueid, ""]


def make_day(n: int, day: datetime) -> list[PbxCall]:
    kinds = ["in", "out", "exten", "q", "rg", "external"]
    calls = []
    for i in range(n):
        ext = str(2001 + i % 7)
        kind = kinds[i % len(kinds)]
        start = day.replace(hour=8) + timedelta(seconds=97 * i)
        uid = f"{int(start.timestamp())}.{100 + i}"
        caller = ext if kind in ("out", "exten") else f"55512{i:05d}"
        callee = {"out": f"44207{i:06d}", "exten": str(2001 + (i + 1) % 7), "external": f"49301{i:06d}"}.get(kind, ext)
        queue = "400" if kind == "q" else None
        calls.append(PbxCall(uid, kind, caller, callee, queue, ext, start, 3 + i % 9, 60 + i % 120))
    return calls


def write_recordings(monitor: Path, calls: list[PbxCall]) -> list[Path]:
    paths = []
    for i, c in enumerate(calls):
        folder = monitor / f"{c.start:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / c.file_name()
        path.write_bytes(wav_bytes(i))
        paths.append(path)
    return paths


def write_master_csv(path: Path, calls: list[PbxCall], extra_rows: list[list[str]] | None = None) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for c in calls:
            w.writerow(c.cdr_row())
        for row in extra_rows or []:
            w.writerow(row)
    return path


def write_agent_map(path: Path, extensions: range = range(2001, 2008)) -> Path:
    path.write_text("extension,agent_id\n" + "".join(f"{e},agent-{e}\n" for e in extensions))
    return path
