"""Free text people type into the app (names, titles, comments, reasons): checked before it is stored.

Refused, with a one-line error and nothing stored: control characters other than line breaks and
tabs (a NUL byte alone makes PostgreSQL fail the whole transaction), unpaired surrogates (not valid
Unicode, they break every reader later), and text longer than the field allows.
"""

from __future__ import annotations

from storage.errors import InvalidInput


class BadText(InvalidInput):
    """text contains characters that cannot be stored"""


class TextTooLong(InvalidInput):
    """text is too long"""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field}: at most {limit} characters")
        self.limit = limit


def checked_text(value: str | None, *, field: str, limit: int = 4000, one_line: bool = False) -> str:
    """``value`` stripped, if it is storable text of at most ``limit`` characters."""
    text = (value or "").strip()
    if len(text) > limit:
        raise TextTooLong(field, limit)
    allowed = "\t" if one_line else "\n\r\t"
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF or ((code < 32 or code == 127) and ch not in allowed):
            raise BadText(field)
    return text
