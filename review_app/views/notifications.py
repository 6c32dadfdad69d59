"""My notifications: which events reach me, by e-mail or webhook; admins also see the outbox."""

import pandas as pd
import streamlit as st

from review_app.i18n import local_time, t
from review_app.session import dbs, principal
from review_app.workflow.notify import kinds_for, my_prefs, outbox_for_admin, set_my_pref
from storage.access import Perm, can
from storage.errors import CallqcError
from storage.notifications import Channel

who = principal()
st.title(t("page_notifications"))
st.caption(t("notify_intro"))
with dbs() as s:
    prefs = my_prefs(s, who)
if prefs:
    st.dataframe(pd.DataFrame([{t("notify_kind"): t(f"notify_{p.kind}"), t("notify_channel"): t(f"channel_{p.channel}"),
                                t("notify_address"): p.address, t("active"): p.enabled} for p in prefs]),
                 hide_index=True)
with st.form("notify_pref"):
    kind = st.selectbox(t("notify_kind"), [k.value for k in kinds_for(who)], format_func=lambda v: t(f"notify_{v}"))
    channel = st.selectbox(t("notify_channel"), [c.value for c in Channel], format_func=lambda v: t(f"channel_{v}"))
    address = st.text_input(t("notify_address"))
    enabled = st.checkbox(t("active"), value=True)
    if st.form_submit_button(t("save")):
        try:
            with dbs() as s:
                set_my_pref(s, who, kind, channel, address, enabled=enabled)
            st.rerun()
        except CallqcError as exc:
            st.error(str(exc))
if can(who, Perm.audit):
    st.subheader(t("notify_outbox"))
    with dbs() as s:
        rows = outbox_for_admin(s, who)
    if rows:
        st.dataframe(pd.DataFrame([{
            "id": n.id, t("state"): n.state, t("notify_attempts"): n.attempts, t("notify_kind"): t(f"notify_{n.kind}"),
            t("notify_channel"): n.channel, t("user_name"): n.user_name, t("notify_subject"): n.subject,
            t("notify_error"): n.last_error or "", t("notify_sent_at"): local_time(n.sent_at),
        } for n in rows]), hide_index=True)
