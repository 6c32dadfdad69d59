"""Supervisor: open disputes; uphold the score or change it. History stays on the scorecard."""

import streamlit as st

from review_app.i18n import error_text, t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.workflow.feedback import open_disputes, resolve_dispute
from storage.errors import CallqcError

who = principal()
st.title(t("page_disputes"))
try:
    with dbs() as s:
        rows = open_disputes(s, who)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
if not rows:
    st.info(t("no_disputes"))
for r in rows:
    d = r.dispute
    with st.container(border=True):
        st.markdown(f"**\\#{d.id}** · {md(r.call_id)} · {t('score')} {r.score} · {md(d.opened_by)}: {md(d.reason)}")
        if r.auto:
            st.caption(t("dispute_of_auto"))
        if d.item_id:
            st.text(t("disputed_item", item=d.item_id))
        if st.button(t("open_call", call=md(r.call_id)), key=f"d_open:{d.id}"):
            st.session_state["call_id"] = r.call_id
            st.switch_page("views/call.py")
        note = st.text_input(t("your_comment"), key=f"d_note:{d.id}")
        new = st.number_input(t("new_score"), 0.0, 100.0, float(r.score or 0.0), key=f"d_score:{d.id}")
        a, b = st.columns(2)
        try:
            if a.button(t("uphold"), key=f"uphold:{d.id}"):
                with dbs() as s:
                    resolve_dispute(s, who, d.id or 0, comment=note)
                st.rerun()
            if r.auto:
                pass  # changing a machine score is a review of the call (the button above)
            elif d.item_id:
                answer = b.selectbox(t("new_answer"), ["yes", "no", "n/a"], key=f"d_answer:{d.id}")
                if b.button(t("set_answer"), key=f"answer:{d.id}"):
                    with dbs() as s:
                        resolve_dispute(s, who, d.id or 0, new_answer=answer, comment=note)
                    st.rerun()
            elif b.button(t("change_score"), key=f"change:{d.id}"):
                with dbs() as s:
                    resolve_dispute(s, who, d.id or 0, new_score=new, comment=note)
                st.rerun()
        except CallqcError as exc:
            st.error(md(error_text(exc)))
