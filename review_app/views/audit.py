"""Admin: the audit log (who played, downloaded or retrieved which call, when, from where)."""

import pandas as pd
import streamlit as st

from review_app.i18n import action_label, error_text, local_time, t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.workflow.text import checked_text
from storage.access import audit_events
from storage.errors import CallqcError
from storage.models import AuditAction

PAGE_SIZE = 200
who = principal()
st.title(t("page_audit"))
c1, c2, c3, c4 = st.columns(4)
actor = c1.text_input(t("actor"), key="au_actor").strip() or None
action = (
    c2.selectbox(
        t("action"),
        ["", *[a.value for a in AuditAction]],
        key="au_action",
        format_func=lambda v: action_label(v) if v else t("all_actions"),
    )
    or None
)
call_id = c3.text_input(t("call_id"), key="au_call").strip() or None
page = c4.number_input(t("page"), min_value=1, value=1, key="au_page")
try:
    actor = checked_text(actor, field="actor", limit=128, one_line=True) or None
    with dbs() as s:
        rows = audit_events(
            s,
            who,
            actor=actor,
            action=action,
            call_id=call_id,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
st.dataframe(
    pd.DataFrame(
        [
            {
                t("at"): local_time(e.at, "%Y-%m-%d %H:%M:%S"),
                t("actor"): e.actor,
                t("action"): action_label(e.action),
                t("call_id"): e.call_id or "",
                t("source"): e.source or "",
                t("detail"): ", ".join(f"{k}={v}" for k, v in (e.detail or {}).items()),
            }
            for e in rows
        ]
    ),
    hide_index=True,
)
