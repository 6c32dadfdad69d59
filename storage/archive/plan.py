"""Planning a month's discs: which call goes on which disc, sized for real media.

Packing is next-fit in call order (by start time), so each disc holds a contiguous stretch of the
month and a person can find a call's disc by date. A call is never split across discs. Sizes are
estimated conservatively (every file rounded up to a 2048-byte sector plus one sector per file
for its directory records); the built image is checked against the media size afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.errors import InvalidInput

BLOCK = 2048
MEDIA = {"dvd": 4_700_372_992, "bd": 25_025_314_816}
MIN_MEDIA = 64 * 1024
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# system area, volume descriptors, path tables, root and one directory per day (ISO + Joliet)
_FIXED_SECTORS = 64 + 2 * 33


class TooBigForMedia(InvalidInput):
    """a call does not fit on the chosen disc"""


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, raw: str) -> Month:
        m = _MONTH.fullmatch(raw.strip()) if isinstance(raw, str) else None
        if not m:
            raise InvalidInput(f"month {raw!r}: use YYYY-MM, e.g. 2024-05")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def previous(cls, now: datetime | None = None) -> Month:
        now = now or datetime.now(UTC)
        return cls(now.year - 1, 12) if now.month == 1 else cls(now.year, now.month - 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        nxt = Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)
        return nxt.start


def parse_media(raw: str | int) -> int:
    """``dvd``, ``bd`` or a size in bytes (``700M``, ``4g`` and plain numbers accepted)."""
    if isinstance(raw, int):
        size = raw
    else:
        text = raw.strip().lower()
        if text in MEDIA:
            return MEDIA[text]
        m = re.fullmatch(r"(\d+)\s*([kmg]?)i?b?", text)
        if not m:
            raise InvalidInput(f"media {raw!r}: use dvd, bd or a size in bytes such as 700M")
        size = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)]
    if size < MIN_MEDIA:
        raise InvalidInput(f"media size {size} bytes is below the minimum of {MIN_MEDIA}")
    return size


def sectors(n: int) -> int:
    """Bytes ``n`` takes on disc, rounded up to whole sectors."""
    return -(-n // BLOCK) * BLOCK


@dataclass(frozen=True)
class PlanItem:
    call_id: str
    footprint: int  # estimated bytes on disc, every file of the call and its share of the manifest


def footprint(file_sizes: Sequence[int], *, manifest_bytes: int) -> int:
    """Estimated disc bytes of one call: its files in whole sectors, directory records, manifest share."""
    return sum(sectors(s) + BLOCK for s in file_sizes) + manifest_bytes


def fixed_bytes(*, index_bytes: int, readme_bytes: int) -> int:
    """Bytes every disc spends before any call: structures, the month index, the readme, manifest head."""
    return _FIXED_SECTORS * BLOCK + sectors(index_bytes) + sectors(readme_bytes) + 2 * BLOCK


def pack(items: Sequence[PlanItem], *, media_bytes: int, fixed: int) -> list[list[PlanItem]]:
    """Next-fit packing in the given order; raises TooBigForMedia if one call cannot fit alone."""
    room = media_bytes - fixed
    if room <= 0:
        raise TooBigForMedia(
            f"the month's index alone needs {fixed} bytes, more than the disc's {media_bytes}"
        )
    discs: list[list[PlanItem]] = []
    used = room + 1
    for item in items:
        if item.footprint > room:
            raise TooBigForMedia(
                f"call {item.call_id} needs {item.footprint} bytes, a disc has room for {room}"
            )
        if used + item.footprint > room:
            discs.append([])
            used = 0
        discs[-1].append(item)
        used += item.footprint
    return discs


def image_key(month: Month, *, seq: int, disc: int, discs: int) -> str:
    """Object key of a disc image, from validated parts only."""
    if not (1 <= disc <= discs and seq >= 1):
        raise InvalidInput(f"disc {disc} of {discs}, run {seq}")
    return f"archive/{month.year:04d}/{month.month:02d}/callqc-{month}-r{seq}-disc{disc:03d}of{discs:03d}.iso"
