"""Inspector queue: the calls sampling assigned to me, oldest day first."""

import pandas as pd
import streamlit as st

from review_app.i18n import error_text, reason_label, t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.workflow.inspection import my_queue
from storage.errors import CallqcError
from storage.reviews import AssignmentState

PAGE_SIZE = 50
who = principal()
st.title(t("page_queue"))
state = (
    st.segmented_control(
        t("state"),
        [s.value for s in AssignmentState],
        default="open",
        key="queue_state",
        format_func=lambda v: t(f"state_{v}"),
    )
    or "open"
)
page = st.number_input(t("page"), min_value=1, value=1, key="queue_page")
try:
    with dbs() as s:
        rows = my_queue(s, who, state=AssignmentState(state), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
if not rows:
    st.info(t("queue_empty"))
    st.stop()
st.dataframe(  # a dataframe shows its cells as plain text
    pd.DataFrame(
        [
            {
                t("day"): a.day,
                t("call_id"): c.call_id,
                t("agent_id"): c.agent_id,
                t("queue"): c.queue,
                t("duration"): round(c.duration_s),
                t("reason"): reason_label(a.reason),
            }
            for a, c in rows
        ]
    ),
    hide_index=True,
)
for a, c in rows:
    if st.button(t("open_call", call=md(c.call_id)), key=f"open:{a.id}"):
        st.session_state["call_id"] = c.call_id
        st.switch_page("views/call.py")
