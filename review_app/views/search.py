"""Retrieval by call ID: search, open on the call page, download where the role allows (audited).

A prepared download lives in this tab's session state only, so signing out (or in as someone else)
drops it; its bytes are embedded in the page, never behind an unauthenticated /media address.
"""

import streamlit as st

from review_app.i18n import error_text, local_time, t
from review_app.safe import md
from review_app.session import dbs, principal, source
from review_app.widgets import embed_download
from review_app.workflow.text import checked_text
from storage.access import Perm, can, recording, search_calls
from storage.errors import CallqcError

who = principal()
st.title(t("page_search"))
text = st.text_input(t("call_id_prefix"), key="search_text").strip()
try:
    text = checked_text(text, field="search", limit=128, one_line=True)
    with dbs() as s:
        calls = search_calls(s, who, text, limit=50)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
if not calls:
    st.info(t("no_calls_found"))
for c in calls:
    cols = st.columns([3, 2, 2, 1, 1])
    cols[0].markdown(md(c.call_id))
    cols[1].markdown(md(local_time(c.started_at)))
    cols[2].markdown(md(c.agent_id or "-"))
    if cols[3].button(t("open"), key=f"open:{c.call_id}"):
        st.session_state["call_id"] = c.call_id
        st.switch_page("views/call.py")
    if can(who, Perm.download) and cols[4].button(t("download"), key=f"dl:{c.call_id}"):
        try:
            rec = recording(who, c.call_id, source=source(), download=True)
            st.session_state["download"] = (who.name, rec.filename, rec.data)
        except CallqcError as exc:
            st.error(md(error_text(exc)))
got = st.session_state.get("download")
if got and got[0] == who.name:
    st.caption(t("download_ready", name=md(got[1])))
    embed_download(got[2], got[1], t("save_file", name=got[1]))
