"""PBX layouts: what a recording's file name (and folder) says about its call.

A layout is data (``recorder/layouts.yaml``): regular expressions per PBX whose named groups give the
call ID (Asterisk's ``uniqueid``), direction, numbers, queue and start time. The agent comes from the
agent table, a CSV of ``extension,agent_id`` rows an administrator keeps (``CALLQC_AGENT_MAP_CSV``).
What a file name says is a default: a sidecar JSON or ``--meta`` wins over it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from storage.errors import InvalidInput

LAYOUTS_FILE = Path(__file__).with_name("layouts.yaml")


class BadLayout(InvalidInput):
    """bad PBX layout"""


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    direction: str | None = None
    extension: str | None = None  # which group holds the agent's extension


@dataclass(frozen=True)
class LayoutSpec:
    name: str
    recursive: bool
    patterns: tuple[Pattern, ...] = field(default_factory=tuple)


@cache
def load_layouts(path: Path = LAYOUTS_FILE) -> dict[str, LayoutSpec]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {}
    for name, spec in raw.items():
        pats = tuple(
            Pattern(re.compile(p["regex"]), p.get("direction"), p.get("extension")) for p in spec.get("patterns") or ()
        )
        out[name] = LayoutSpec(name, bool(spec.get("recursive")), pats)
    return out


def get_layout(name: str) -> LayoutSpec:
    layouts = load_layouts()
    if str(name) not in layouts:
        raise BadLayout(f"{name!r}; known: {', '.join(layouts)}")
    return layouts[str(name)]


def fields_from_name(layout: LayoutSpec, file_name: str, *, timezone: str = "UTC",
                     agents: dict[str, str] | None = None) -> dict[str, Any]:
    """The call fields ``file_name`` states under ``layout`` (empty when no pattern matches), in the
    shape :func:`recorder.metadata.parse_meta` takes; the PBX's own facts go under ``pbx``."""
    for pat in layout.patterns:
        m = pat.regex.fullmatch(file_name)
        if m is None:
            continue
        g = {k: v for k, v in m.groupdict().items() if v}
        out: dict[str, Any] = {"call_id": g["uniqueid"]}
        for key in ("caller", "callee", "queue"):
            if key in g:
                out[key] = g[key]
        if pat.direction:
            out["direction"] = pat.direction
        if "date" in g and "time" in g:
            out["started_at"] = _local_time(g["date"], g["time"], timezone).isoformat()
        pbx: dict[str, Any] = {"layout": layout.name, "uniqueid": g["uniqueid"]}
        if "ringgroup" in g:
            pbx["ringgroup"] = g["ringgroup"]
        ext = g.get(pat.extension) if pat.extension else None
        if ext:
            pbx["extension"] = ext
            if agents and ext in agents:
                out["agent_id"] = agents[ext]
        out["pbx"] = pbx
        return out
    return {}


def _local_time(date: str, time: str, timezone: str) -> datetime:
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadLayout(f"unknown time zone {timezone!r}") from None
    try:
        return datetime.strptime(date + time, "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        raise BadLayout(f"bad date/time {date}-{time} in a file name") from None


def read_agent_map(path: Path | None) -> dict[str, str]:
    """The agent table: CSV rows ``extension,agent_id`` (a header row ``extension,agent_id`` is allowed)."""
    if path is None:
        return {}
    out: dict[str, str] = {}
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.reader(fh), 1):
                if not row or row[0].strip().startswith("#"):
                    continue
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise BadLayout(f"{path}: line {n}: expected extension,agent_id")
                ext, agent = row[0].strip(), row[1].strip()
                if n == 1 and ext.lower() == "extension":
                    continue
                out[ext] = agent
    except OSError as exc:
        raise BadLayout(f"agent table {path}: {exc.strerror}") from None
    return out
