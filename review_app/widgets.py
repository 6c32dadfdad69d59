"""Presentation pieces shared by pages: the player, the speaker timeline, time labels."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from review_app.i18n import t
from review_app.session import source
from review_app.workflow.evalview import Evidence, Segment
from storage.access import recording
from storage.users import Principal

_PLAY = "play"  # session_state: {"call": id, "start": s, "n": click counter}
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


_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
}


def player(who: Principal, call_id: str, *, audio_key: str = "") -> None:
    """The audio player; audio is fetched only when someone asks to play (each ask is audited)."""
    want = st.session_state.get(_PLAY)
    if not want or want.get("call") != call_id:
        if st.button(t("play"), key="play_from_start", icon=":material/play_arrow:"):
            request_play(call_id, 0.0)
            st.rerun()
        return
    cache_key = f"audio:{call_id}:{want['n']}"
    if cache_key not in st.session_state:
        for k in [k for k in st.session_state if str(k).startswith("audio:")]:
            del st.session_state[k]  # one call's audio in memory at a time
        st.session_state[cache_key] = recording(who, call_id, source=source()).data
    fmt = _MIME.get(audio_key.rsplit(".", 1)[-1].lower(), "audio/wav")
    st.audio(st.session_state[cache_key], format=fmt, start_time=int(want["start"]), autoplay=True)
    st.caption(t("playing_from", at=clock(want["start"])))


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
        {"lane": t("evidence"), "start": e.start, "end": max(e.end, e.start + 0.5), "text": e.label[:80]}
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
            tooltip=[alt.Tooltip("lane:N", title=" "), "start", "end", "text"],
        )
    )
    st.altair_chart(bars.properties(height=36 * len(lanes) + 40), width="stretch")
