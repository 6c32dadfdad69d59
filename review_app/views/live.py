"""Inspector, supervisor: the calls in progress (Live now) and "give me a live call" by a live plan."""

import pandas as pd
import streamlit as st

from review_app.i18n import t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.widgets import clock, player, request_play, speaker_label
from review_app.workflow import live_transcript
from review_app.workflow.inspection import segments_for
from review_app.workflow.live import list_plans, live_now, pick_live_call
from review_app.workflow.live_flags import LiveFlags, live_flags
from storage.errors import CallqcError

LAST_LINES = 30
FLAGS_EVERY_S = 5
who = principal()
st.title(t("page_live"))
st.caption(t("live_help"))


def _flag_text(f: LiveFlags | None) -> str:
    """The call's flags as one plain-text cell (badges separated by " · ")."""
    if f is None:
        return ""
    out = []
    if f.audio is not None and f.audio.silent_now:
        out.append(t("live_flag_silent_now", s=round(f.audio.silence_now_s)))
    elif f.audio is not None and f.audio.long_silence:
        out.append(t("live_flag_silence", s=round(f.audio.longest_silence_s)))
    if f.audio is not None and f.audio.overtalk:
        out.append(t("live_flag_overtalk", s=round(f.audio.longest_overtalk_s, 1)))
    if f.audio is not None and f.audio.raised:
        out.append(t("live_flag_raised", who=", ".join(speaker_label(r) for r in f.audio.raised)))
    if f.forbidden:
        out.append(t("live_flag_forbidden", words=", ".join(f.forbidden)))
    return " · ".join(out)


try:
    with dbs() as s:
        calls = live_now(s, who)
        plans = [(p.id, p.name) for p in list_plans(s, who)]
except CallqcError as exc:
    st.error(str(exc))
    st.stop()


@st.fragment(run_every=FLAGS_EVERY_S)
def _live_table() -> None:
    try:
        with dbs() as s:
            now_calls = live_now(s, who)  # only the calls this user may see get flags computed
            flags = live_flags(s, [c.call_id for c in now_calls])
    except CallqcError as exc:
        st.error(str(exc))
        return
    if not now_calls:
        st.info(t("live_none"))
        return
    # a dataframe shows cells as text: metadata from a PBX is never rendered as Markdown or HTML
    st.dataframe(pd.DataFrame([{
        t("call_id"): c.call_id, t("agent"): c.agent_id or "", t("queue"): c.queue or "",
        t("direction"): c.direction, t("duration_so_far"): round(c.duration_s),
        t("live_flags"): _flag_text(flags.get(c.call_id)),
    } for c in now_calls]), hide_index=True)


_live_table()

if not plans:
    st.info(t("live_no_plan"))
    st.stop()
names = dict(plans)
plan_id = st.selectbox(t("live_plan"), list(names), format_func=lambda i: names.get(i, ""), key="live_plan")
if st.button(t("give_me_live_call"), key="give_me_live_call", type="primary") and plan_id is not None:
    try:
        with dbs() as s:
            pick = pick_live_call(s, who, plan_id)
            st.session_state["live_pick"] = (pick.call_id, pick.agent_id or "", dict(pick.reason))
    except CallqcError as exc:
        st.error(str(exc))

picked = st.session_state.get("live_pick")
if picked:
    call_id, agent, reason = picked
    st.success(t("live_picked", call_id=call_id, agent=agent))
    st.caption(t("live_reason", eligible=reason.get("eligible"), live=reason.get("live"),
                 n=reason.get("picks_today"), cap=reason.get("cap")))
    now = next((c for c in calls if c.call_id == call_id), None)
    if st.session_state.get("play", {}).get("call") != call_id:
        request_play(call_id)  # the pick is the ask to listen: the player starts at once
    player(who, call_id, live_from_s=now.duration_s if now else 0.0)
    live_transcript.follow(call_id)

    @st.fragment(run_every=3)
    def _live_words() -> None:
        with dbs() as s:
            said = segments_for(s, who, call_id)
        st.subheader(t("live_transcript"))
        if not said:
            st.caption(t("live_transcript_none"))
        for seg in said[-LAST_LINES:]:
            st.markdown(f"`{clock(seg.start)}` **{md(speaker_label(seg.speaker))}**: {md(seg.text)}")

    _live_words()
    if st.button(t("live_open_call"), key="live_open_call"):
        st.session_state["call_id"] = call_id
        st.switch_page("views/call.py")
