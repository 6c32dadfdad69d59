"""Presentation pieces shared by pages: the player, downloads, the speaker timeline, charts, time labels."""

from __future__ import annotations

import base64
import logging

import altair as alt
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from review_app.i18n import chart_locale, error_text, evidence_note, t
from review_app.player import PlayerText, document, height, media_src, seek_document
from review_app.safe import md
from review_app.session import source
from review_app.workflow.evalview import Evidence, Segment
from review_app.workflow.waveform import envelope
from storage import media_tokens
from storage.errors import CallqcError
from storage.settings import get_settings
from storage.users import Principal

log = logging.getLogger(__name__)

_PLAY = "play"  # session_state: {"call": id, "start": s, "n": click counter}
_SEEK = "seek"  # session_state: {"call": id, "at": s, "k": seek counter} for the player already loaded
DAY_FORMAT = "%m-%d"  # numeric, so it reads the same in every locale


def speaker_label(speaker: str) -> str:
    return t("speaker_" + speaker) if speaker in ("agent", "customer") else speaker


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def request_play(call_id: str, start_s: float = 0.0) -> None:
    """Ask the player to (re)load at ``start_s``: one retrieval, one audit row per request."""
    prev = st.session_state.get(_PLAY) or {}
    st.session_state[_PLAY] = {"call": call_id, "start": max(0.0, start_s), "n": prev.get("n", 0) + 1}
    st.session_state.pop(_SEEK, None)  # a new player: earlier seeks were for the old one


def seek(call_id: str, start_s: float) -> None:
    """A transcript line or evidence link: move this call's recorded player to ``start_s`` in place (no
    reload, no new grant); the first ask, or a live call (a stream cannot seek), loads the player there."""
    want = st.session_state.get(_PLAY) or {}
    if want.get("call") != call_id or f"grant:{call_id}:{want.get('n')}:False" not in st.session_state:
        request_play(call_id, start_s)
        return
    prev = st.session_state.get(_SEEK) or {}
    st.session_state[_SEEK] = {"call": call_id, "at": max(0.0, start_s), "k": prev.get("k", 0) + 1}


def embed_download(data: bytes, filename: str, label: str) -> None:
    """A save link whose bytes are inside the page (no /media address), for a download already audited."""
    import html

    b64 = base64.b64encode(data).decode("ascii")
    name = html.escape(filename, quote=True)
    components.html(
        f'<a id="dl" download="{name}" href="data:application/octet-stream;base64,{b64}" '
        'style="font-family:sans-serif;font-size:15px">'
        f"{html.escape(label)}</a>",
        height=40,
    )


def player(who: Principal, call_id: str, *, duration_s: float = 0.0, channel_map: dict[str, int] | None = None,
           live_from_s: float | None = None) -> None:
    """The audio player (review_app/player.py); nothing is granted until someone asks to play.

    Each ask mints one media token for this user and call (audited as ``play``) and draws the
    waveform of a stored call; the browser then fetches the audio itself from the media endpoint.
    ``live_from_s`` set: the call is in progress and the player streams it live from that second.
    """
    want = st.session_state.get(_PLAY)
    if not want or want.get("call") != call_id:
        if st.button(f"▶ {t('play')}", key="play_from_start"):
            request_play(call_id, 0.0)
            st.rerun()
        return
    live = live_from_s is not None
    grant_key = f"grant:{call_id}:{want['n']}:{live}"
    if grant_key not in st.session_state:
        for k in [k for k in st.session_state if str(k).startswith("grant:")]:
            del st.session_state[k]  # one grant (and one waveform) held at a time
        try:
            # the token must outlive the listening: seeking late in a long call asks again with it
            ttl = get_settings().media_token_ttl_s + int(duration_s)
            token = media_tokens.grant(who, call_id, source=source(), ttl_s=ttl)
        except CallqcError as exc:
            st.error(md(error_text(exc)))
            return
        env = None
        if not live:
            try:
                env = envelope(who, call_id)
            except CallqcError as exc:
                log.warning("waveform of %s: %s", call_id, exc)  # the player still plays without it
        st.session_state[grant_key] = (token, env, live_from_s)
    # the document stays the same from rerun to rerun (a mark, a click), so the player is not reloaded
    token, env, live_from_s = st.session_state[grant_key]
    by_channel = {ch: speaker_label(name) for name, ch in (channel_map or {}).items()}
    labels = [by_channel.get(ch, f"{t('channel')} {ch + 1}") for ch in range(len(env.peaks) if env else 0)]
    text = PlayerText(speed=t("speed"), live=t("live_clock"), joined=t("joined_at"))
    # live: both speakers in one channel instead of agent left / customer right (a mono headset)
    mixed = bool(st.toggle(t("mixed_channels"), key=f"mixed:{call_id}")) if live else False
    doc = document(media_src(call_id, token, mixed=mixed), call_id=call_id, start_s=float(want["start"]),
                   duration_s=env.duration_s if env else duration_s, labels=labels, text=text, envelope=env,
                   live_from_s=live_from_s, nonce=int(want["n"]))
    components.html(doc, height=height(env, live=live))
    if not live:
        # the seek channel: a slot always here (so nothing on the page moves when it fills, and an open
        # transcript stays open), a frame in it from the first seek on, unchanged until the next seek
        slot = st.empty()
        moved = st.session_state.get(_SEEK) or {}
        moved = moved if moved.get("call") == call_id else {}
        if moved:
            with slot:
                components.html(seek_document(call_id, moved["at"], int(moved["k"])), height=0)
        st.caption(t("playing_from", at=clock(moved.get("at", want["start"]))))


def chart(spec: alt.Chart) -> None:
    """An Altair chart in the page, its dates and numbers in the configured locale."""
    loc = chart_locale()
    st.altair_chart(spec.configure(locale=loc) if loc else spec, width="stretch")


def day_x(title: str | None = None) -> alt.X:
    """The x axis of a daily chart: UTC days (as the domain groups them) labelled month-day.

    Vega-Lite's default time labels name weekdays and months in English, whatever the locale.
    """
    return alt.X(
        "day:T",
        title=title,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format=DAY_FORMAT, formatType="utc", labelAngle=0),
    )


_SPEAKER_COLOURS = ["#1f6fb4", "#7fb8e6", "#5b9e5b", "#9c7fc9"]


def _colours(lanes: list[str]) -> list[str]:
    speakers = iter(_SPEAKER_COLOURS * len(lanes))
    return ["#f0a030" if lane == t("evidence") else next(speakers) for lane in lanes]


def timeline(segments: list[Segment], evidence: list[Evidence], duration_s: float) -> None:
    """Both speakers' speech over time, evidence spans marked."""
    if not segments:
        st.info(t("no_transcript"))
        return
    rows = [
        {"lane": speaker_label(s.speaker), "start": s.start, "end": s.end, "text": s.text[:80]} for s in segments
    ]
    # evidence gets a lane of its own: drawn over the speakers, whole-call evidence hid them
    rows += [
        {"lane": t("evidence"), "start": e.start, "end": max(e.end, e.start + 0.5), "text": evidence_text(e)[:80]}
        for e in evidence
    ]
    df = pd.DataFrame(rows)
    lanes = list(dict.fromkeys(df["lane"]))
    x = alt.X("start:Q", title=t("seconds"), scale=alt.Scale(domain=[0, max(duration_s, 1.0)]))
    bars = (
        alt.Chart(df)
        .mark_bar(height=18)
        .encode(
            x=x,
            x2="end:Q",
            y=alt.Y("lane:N", title=None, sort=lanes),
            color=alt.Color("lane:N", legend=None, scale=alt.Scale(domain=lanes, range=_colours(lanes))),
            opacity=alt.value(0.8),
            tooltip=[
                alt.Tooltip("lane:N", title=" "),
                alt.Tooltip("start:Q", title=t("from")),
                alt.Tooltip("end:Q", title=t("to")),
                alt.Tooltip("text:N", title=" "),
            ],
        )
    )
    chart(bars.properties(height=36 * len(lanes) + 40))


def evidence_text(e: Evidence) -> str:
    """What an evidence link says: the quoted speech, else scoring's note in the locale."""
    return e.quote or evidence_note(e.note or "")
