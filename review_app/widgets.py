"""Presentation pieces shared by pages: the player, downloads, the speaker timeline, charts, time labels."""

from __future__ import annotations

import base64
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from review_app.i18n import chart_locale, error_text, evidence_note, t
from review_app.safe import md
from review_app.session import source
from review_app.workflow.evalview import Evidence, Segment
from review_app.workflow.playback import playable
from storage.access import recording
from storage.errors import CallqcError
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


def embed_audio(data: bytes, mime: str, *, start_s: float = 0.0, nonce: int = 0) -> None:
    """An <audio> element whose bytes are inside the page (a data: URI), starting at ``start_s``.

    Streamlit's own ``st.audio`` puts the bytes behind ``/media/<hash>`` where anyone holding the
    address can fetch them, unaudited, for as long as the session lives. Embedding them means the
    only way to the audio is the audited retrieval that produced this page (review_app/server.py
    refuses audio under /media outright). Until the authenticated streaming endpoint exists this
    is how the app plays; very long calls make large pages.
    """
    import streamlit.components.v1 as components

    b64 = base64.b64encode(data).decode("ascii")
    components.html(
        f"""<!-- play {nonce} -->
<audio id="p" controls autoplay preload="auto" style="width:100%" src="data:{mime};base64,{b64}"></audio>
<script>
const a = document.getElementById("p");
a.addEventListener("loadedmetadata", () => {{
  a.currentTime = {float(start_s)!r};
  a.play().catch(() => {{}});
}}, {{once: true}});
</script>""",
        height=60,
    )


def embed_download(data: bytes, filename: str, label: str) -> None:
    """A save link whose bytes are inside the page (no /media address), for a download already audited."""
    import html

    import streamlit.components.v1 as components

    b64 = base64.b64encode(data).decode("ascii")
    name = html.escape(filename, quote=True)
    components.html(
        f'<a id="dl" download="{name}" href="data:application/octet-stream;base64,{b64}" '
        'style="font-family:sans-serif;font-size:15px">'
        f"{html.escape(label)}</a>",
        height=40,
    )


def player(who: Principal, call_id: str, *, audio_format: dict[str, Any] | None = None) -> None:
    """The audio player; audio is fetched only when someone asks to play (each ask is audited)."""
    want = st.session_state.get(_PLAY)
    if not want or want.get("call") != call_id:
        if st.button(f"▶ {t('play')}", key="play_from_start"):
            request_play(call_id, 0.0)
            st.rerun()
        return
    cache_key = f"audio:{call_id}:{want['n']}"
    if cache_key not in st.session_state:
        for k in [k for k in st.session_state if str(k).startswith("audio:")]:
            del st.session_state[k]  # one call's audio in memory at a time
        # GSM, WAV49 and headerless PBX formats are decoded to WAV here: browsers cannot play them
        try:
            st.session_state[cache_key] = playable(recording(who, call_id, source=source()).data,
                                                   audio_format=audio_format, name=call_id)
        except CallqcError as exc:
            st.error(md(error_text(exc)))
            return
    data, mime = st.session_state[cache_key]
    embed_audio(data, mime, start_s=float(want["start"]), nonce=int(want["n"]))
    st.caption(t("playing_from", at=clock(want["start"])))


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
