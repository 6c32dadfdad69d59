"""Agent scorecard: own reviews, trend against the team, acknowledge or dispute (within the window)."""

import altair as alt
import pandas as pd
import streamlit as st

from review_app.i18n import error_text, local_day, local_time, t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.widgets import chart, day_x
from review_app.workflow import auto_disputes
from review_app.workflow.agent_summary import summary
from review_app.workflow.evalview import item_titles
from review_app.workflow.feedback import acknowledge, history, open_dispute, scorecard, trend
from review_app.workflow.item_disputes import disputable_items
from review_app.workflow.text import checked_text
from storage.errors import CallqcError
from storage.users import Role

who = principal()
st.title(t("page_scorecard"))
agent = None if who.role == Role.agent else st.text_input(t("agent_id"), key="sc_agent") or None
try:
    agent = checked_text(agent, field="agent", limit=64, one_line=True) or None if agent else None
    with dbs() as s:
        rows = scorecard(s, who, agent)
        points = trend(s, who, agent)
        top = summary(s, who, agent)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
m1, m2, m3, m4 = st.columns(4)
m1.metric(t("sc_my_score"), "-" if top.score is None else top.score,
          None if top.trend is None else top.trend, help=t("sc_window"))
m2.metric(t("sc_team_score"), "-" if top.team_score is None else top.team_score)
m3.metric(t("sc_evaluations"), top.evaluations)
m4.metric(t("sc_open_feedback"), len(top.open_feedback))
if top.strongest or top.weakest:
    titles = item_titles()
    s1, s2 = st.columns(2)
    s1.caption(t("sc_strongest") + ": "
               + ", ".join(f"{md(titles.get(i.item_id, i.item_id))} {i.yes_pct:.0f}%" for i in top.strongest))
    s2.caption(t("sc_weakest") + ": "
               + ", ".join(f"{md(titles.get(i.item_id, i.item_id))} {i.yes_pct:.0f}%" for i in top.weakest))
if points:
    for p in points:
        p["series"] = t(f"series_{p['series']}")
    line = (
        alt.Chart(pd.DataFrame(points))
        .mark_line(point=True)
        .encode(
            x=day_x(t("day")),
            y=alt.Y("score:Q", title=t("score"), scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("series:N", title=None),
        )
    )
    chart(line)
if not rows:
    st.info(t("no_reviews"))
for r in rows:
    with st.container(border=True):
        st.markdown(
            f"**{md(local_day(r.at))}** · {md(r.call_id)} · {t('score')} {r.score} · "
            f"{t('verdict_' + r.verdict)} · {md(r.inspector)}"
        )
        if r.source == "auto":
            st.caption(t("auto_submitted_trust", trust=r.trust))
        elif r.source == "sync":
            st.caption(t("review_mode_sync") + ("" if r.auto_score is None else
                                                " · " + t("sync_auto_score", score=round(r.auto_score, 1))))
        if r.comment:
            st.text(r.comment)
        auto = r.source == "auto"
        key = f"auto{r.evaluation_id}" if auto else str(r.review_id)
        if st.button(t("open_call", call=md(r.call_id)), key=f"sc_open:{key}:{r.call_id}"):
            st.session_state["call_id"] = r.call_id
            st.switch_page("views/call.py")
        if r.dispute:
            st.caption(t("dispute_state", state=t("dispute_" + r.dispute)))
            with dbs() as s:
                events = (auto_disputes.history(s, who, r.evaluation_id) if auto else history(s, who, r.review_id))
            for e in events:
                st.caption(f"{md(local_time(e.at))} {md(e.actor)}: {t('dispute_event_' + e.action)} {md(e.comment)}")
        if who.role != Role.agent:
            continue
        note = st.text_input(t("your_comment"), key=f"sc_note:{key}")
        with dbs() as s:
            item_ids = (auto_disputes.disputable_items(s, who, r.evaluation_id) if auto
                        else disputable_items(s, who, r.review_id))
        item = st.selectbox(t("dispute_item"), ["", *item_ids], key=f"sc_item:{key}",
                            format_func=lambda v: item_titles().get(v, v) if v else t("whole_evaluation"))
        a, b = st.columns(2)
        try:
            if not auto and not r.acknowledged and a.button(t("acknowledge"), key=f"ack:{key}"):
                with dbs() as s:
                    acknowledge(s, who, r.review_id, comment=note)
                st.rerun()
            if b.button(t("dispute"), key=f"dispute:{key}"):
                with dbs() as s:
                    if auto:
                        auto_disputes.open_dispute(s, who, r.evaluation_id, reason=note, item_id=item or None)
                    else:
                        open_dispute(s, who, r.review_id, reason=note, item_id=item or None)
                st.rerun()
        except CallqcError as exc:
            st.error(md(error_text(exc)))
