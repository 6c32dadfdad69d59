"""Calibration: supervisors set up sessions and read deviations; participants score blind."""

import altair as alt
import pandas as pd
import streamlit as st

from review_app.i18n import answer_label, error_text, t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.widgets import chart, player
from review_app.workflow.calibration import ANSWERS, blind_items, create_session, deviations, my_sessions, submit
from storage.access import Perm, can
from storage.errors import CallqcError
from storage.users import Role, list_users

who = principal()
st.title(t("page_calibration"))
manager = can(who, Perm.calibrate)
if manager:
    with dbs() as s:
        people = [u.name for u in list_users(s) if u.role in (Role.inspector, Role.supervisor)]
    with st.expander(t("new_calibration")), st.form("new_calibration"):
        title = st.text_input(t("title"))
        calls = st.text_area(t("call_ids_lines"))
        chosen = st.multiselect(t("inspectors"), people)
        expert = st.selectbox(t("expert"), people)
        if st.form_submit_button(t("create")):
            try:
                with dbs() as s:
                    cs = create_session(
                        s, who, title=title, call_ids=calls.split(), inspectors=chosen, expert=expert or ""
                    )
                st.success(t("calibration_created", id=cs.id))
            except CallqcError as exc:
                st.error(md(error_text(exc)))
with dbs() as s:
    sessions = my_sessions(s, who)
if not sessions:
    st.info(t("no_calibrations"))
    st.stop()
sid = st.selectbox(
    t("calibration"),
    [c.id for c in sessions],
    format_func=lambda i: next(f"#{c.id} {c.title}" for c in sessions if c.id == i),  # plain text
    key="cal_sid",
)
cs = next(c for c in sessions if c.id == sid)
if who.name in cs.inspectors or who.name == cs.expert:
    call_id = st.selectbox(t("call_id"), cs.call_ids, key="cal_call")
    player(who, call_id)
    try:
        with dbs() as s:
            items = blind_items(s, who, cs.id or 0, call_id)
    except CallqcError as exc:
        st.error(md(error_text(exc)))
        st.stop()
    for item_id, title in items:
        # no default: an item nobody answered stays unanswered, it does not become "yes"
        st.radio(
            md(title), ANSWERS, index=None, horizontal=True, key=f"cal:{sid}:{call_id}:{item_id}",
            format_func=answer_label,
        )
    if st.button(t("submit_calibration"), key="cal_submit"):
        answers = {i: st.session_state.get(f"cal:{sid}:{call_id}:{i}") for i, _ in items}
        try:
            with dbs() as s:
                submit(s, who, cs.id or 0, call_id, answers=answers)
            st.success(t("saved"))
        except CallqcError as exc:
            st.error(md(error_text(exc)))
if manager:
    st.subheader(t("deviation_title", expert=md(cs.expert)))
    with dbs() as s:
        rows = deviations(s, who, cs.id or 0)
    if rows:
        df = pd.DataFrame(
            [
                {
                    "inspector": d.inspector,
                    "item": d.item_title,
                    "compared": d.compared,
                    "agreement": round(100 * d.agreement, 1),
                    "points_diff": d.points_diff,
                }
                for d in rows
            ]
        )
        chart(
            alt.Chart(df)
            .mark_rect()
            .encode(
                x=alt.X("item:N", title=None),
                y=alt.Y("inspector:N", title=None),
                color=alt.Color(
                    "points_diff:Q", title=t("points_diff"), scale=alt.Scale(scheme="redblue", domainMid=0)
                ),
                tooltip=[
                    alt.Tooltip("inspector:N", title=t("inspector")),
                    alt.Tooltip("item:N", title=t("item")),
                    alt.Tooltip("compared:Q", title=t("compared")),
                    alt.Tooltip("agreement:Q", title=t("agreement_pct")),
                    alt.Tooltip("points_diff:Q", title=t("points_diff")),
                ],
            )
        )
        st.dataframe(
            df.rename(
                columns={
                    "inspector": t("inspector"),
                    "item": t("item"),
                    "compared": t("compared"),
                    "agreement": t("agreement_pct"),
                    "points_diff": t("points_diff"),
                }
            ),
            hide_index=True,
        )
    else:
        st.info(t("no_calibration_answers"))
