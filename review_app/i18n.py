"""The review app's words and formats in the configured locale (settings.locale: zh-CN or en).

Terms follow the QC glossary in docs/review_app.md (质检员 inspector, 坐席 agent, 回炉 back to retraining,
监听分值 ...).

Every user-visible string goes through :func:`t`; the tables are review_app/strings_en.py and
review_app/strings_zh.py. Values the domain stores in English (sampling reasons, evidence notes,
error messages, audit actions) are turned into the locale here, and times are shown in the
signed-in user's time zone (their own, set on the Profile page or with `callqc user timezone`,
else settings.timezone).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import date, tzinfo

from review_app import i18n_loop
from review_app.strings_en import EN as _EN
from review_app.strings_zh import ZH as _ZH
from storage.settings import get_settings

EN: dict[str, str] = _EN | i18n_loop.EN
ZH: dict[str, str] = _ZH | i18n_loop.ZH
STRINGS = {"en": EN, "zh-CN": ZH}


def t(key: str, **kw: object) -> str:
    """The text for ``key`` in the configured locale (English, then the key itself, as fallbacks)."""
    table = STRINGS.get(get_settings().locale, EN)
    text = table.get(key) or EN.get(key) or key
    return text.format(**kw) if kw else text


_REASON = re.compile(
    r"^(?:least sure \(uncertainty (?P<u>[\d.]+)\)|random (?P<n>\d+) of (?P<m>\d+))"
    r"(?: for (?P<agent>\S+) (?:week of (?P<week>\S+)|(?P<day>\d{4}-\d{2}-\d{2})))?$"
)


def reason_label(reason: str) -> str:
    """A sampling reason (stored in English by review_app.workflow.sampling) in the configured locale."""
    m = _REASON.match(reason or "")
    if m is None:
        return reason
    what = t("reason_unsure", u=m["u"]) if m["u"] else t("reason_random", n=m["n"], m=m["m"])
    if not m["agent"]:
        return what
    period = t("week_of", day=m["week"]) if m["week"] else m["day"]
    return t("reason_for", what=what, agent=m["agent"], period=period)


def answer_label(answer: str | None) -> str:
    return t(f"answer_{answer}" if answer else "answer_none")


def action_label(action: str) -> str:
    """An audit action (stored as its English value) in the configured locale."""
    return t(f"action_{action}") if f"action_{action}" in EN else action


def error_text(exc: BaseException) -> str:
    """A one-line message for a domain error in the configured locale.

    English shows the error's own message (``str(exc)``). Other locales choose the message by the
    error's class (its own, else the nearest base with a catalogue entry), with its detail only
    where the entry asks for it (an ID, a name, a number of seconds).
    """
    if get_settings().locale == "en":
        return str(exc)
    for cls in type(exc).__mro__:
        key = f"err_{cls.__name__}"
        if key in EN:
            params = {"detail": str(exc), **{k: v for k, v in vars(exc).items() if not k.startswith("_")}}
            return t(key, **params)
    return str(exc)


# the signed-in user's own zone for this run of the app (review_app.session.restore sets it on every
# run: Streamlit runs each session's script in its own thread, so one user's zone never shows another)
_user_zone: ContextVar[str | None] = ContextVar("callqc_user_zone", default=None)


def use_zone(name: str | None) -> None:
    """Show this run's times in ``name`` (None: the configured zone)."""
    _user_zone.set(name)


def zone_name() -> str:
    """The zone times are shown in: the user's own, else the configured one."""
    return _user_zone.get() or get_settings().timezone


def zone() -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(zone_name())
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(when: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time in the configured time zone; naive times are taken as UTC."""
    from datetime import UTC, datetime

    if not isinstance(when, datetime):
        return "" if when is None else str(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(zone()).strftime(fmt)


def local_day(when: object) -> str:
    return local_time(when, "%Y-%m-%d")


def local_today() -> date:
    from datetime import datetime

    return datetime.now(zone()).date()


_NOTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^low ASR confidence$"), "ev_low_confidence"),
    (re.compile(r"^matched (?P<phrase>.+) \((?P<pct>\d+%)\)$"), "ev_matched"),
    (re.compile(r"^longest silence (?P<s>[\d.]+) s outside holds$"), "ev_silence_outside_holds"),
    (re.compile(r"^longest silence (?P<s>[\d.]+) s$"), "ev_silence"),
    (re.compile(r"^no silence between speech$"), "ev_no_silence"),
    (re.compile(r"^longest overtalk (?P<s>[\d.]+) s, (?P<total>[\d.]+) s in all$"), "ev_overtalk"),
    (re.compile(r"^no overtalk$"), "ev_no_overtalk"),
    (re.compile(r"^(?P<n>\d+) wpm$"), "ev_wpm"),
    (re.compile(r"^(?P<n>\d+) cpm$"), "ev_cpm"),
    (re.compile(r"^agent talks (?P<pct>\d+%) of the time$"), "ev_talk_ratio"),
    (re.compile(r"^hold$"), "ev_hold"),
    (re.compile(r"^no hold$"), "ev_no_hold"),
    (re.compile(r"^(?P<n>\d+) hold\(s\), longest (?P<s>\d+) s$"), "ev_holds"),
    (re.compile(r"^mono recording: everyone's speech searched for the (?P<who>\w+)$"), "ev_mono"),
    (re.compile(r"^most indicative turn \(p=(?P<p>[\d.]+)\)$"), "ev_indicative"),
]


def evidence_note(note: str) -> str:
    """An evidence note written by scoring (English) in the configured locale; unknown notes as they are."""
    for pattern, key in _NOTES:
        m = pattern.match(note or "")
        if m:
            kw = dict(m.groupdict())
            if "who" in kw:
                kw["who"] = t(f"speaker_{kw['who']}") if kw["who"] in ("agent", "customer") else kw["who"]
            return t(key, **kw)
    return note


# Vega's time and number format locale: axis labels and tooltips of the charts
_ZH_TIME = {
    "dateTime": "%x %A %X",
    "date": "%Y/%-m/%-d",
    "time": "%H:%M:%S",
    "periods": ["上午", "下午"],
    "days": ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
    "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
    "months": [f"{m}月" for m in ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")],
    "shortMonths": [f"{m}月" for m in range(1, 13)],
}
_ZH_NUMBER = {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["¥", ""]}


def chart_locale() -> dict[str, object] | None:
    """The chart locale for Altair's ``configure(locale=...)``, or None for English."""
    return {"time": _ZH_TIME, "number": _ZH_NUMBER} if get_settings().locale == "zh-CN" else None
