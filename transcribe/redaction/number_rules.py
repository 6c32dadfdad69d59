"""What a digit string must look like to be a card number (issuer prefix, Luhn), a resident ID
number (birth date, ISO 7064 check digit), an expiry date or a phone number (mainland mobiles and
landlines, North American and international numbers)."""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    """An issuer prefix of the big card schemes (Visa, Mastercard, Amex, UnionPay, JCB, Discover, Diners)."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 == 62 or p2 == 81:
        return 16 <= n <= 19
    if p2 == 35 or p2 in (36, 38, 30):
        return 14 <= n <= 19
    return digits[:4] == "6011" or p2 == 65 or 644 <= int(digits[:3]) <= 649


def cn_id_ok(value: str) -> bool:
    """A mainland resident ID number: 17 digits, a birth date that exists, the ISO 7064 MOD 11-2 check."""
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    return _ID_CHECK[sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11] == value[17]


def month_ok(seg: str) -> bool:
    """An expiry said as MMYY, MYY, MMYYYY or YYMM."""
    return any(m and 1 <= int(m) <= 12 for m in (seg[:2], seg[:1], seg[-2:]))


MOBILE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
LANDLINE = re.compile(r"0(?:10|2\d|[3-9]\d\d)[2-9]\d{6,7}")
NANP = re.compile(r"1?[2-9]\d\d[2-9]\d{6}")


def phone_matches(text: str, plus: bool, cue: str | None) -> list[tuple[int, int]]:
    """Spans of ``text`` that are phone numbers: mainland mobiles anywhere; landlines and North
    American numbers when the whole run is one; international numbers when said with "plus"/"00"."""
    out = [(m.start(), m.end()) for m in MOBILE.finditer(text)
           if not text[m.end():m.end() + 1].isdigit() or len(text) == m.end()]
    if out:
        return out
    if (plus or text.startswith("00")) and 8 <= len(text) <= 17 and text.isdigit():
        return [(0, len(text))]
    if LANDLINE.fullmatch(text) and (len(text) >= 11 or cue == "phone"):
        return [(0, len(text))]
    if NANP.fullmatch(text) and cue == "phone":
        return [(0, len(text))]
    return []
