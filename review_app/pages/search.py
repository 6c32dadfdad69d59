"""Retrieval by call ID: search, open on the call page, download where the role allows (audited)."""

import streamlit as st

from review_app.i18n import t
from review_app.session import dbs, principal, source
from storage.access import Perm, can, recording, search_calls
from storage.errors import CallqcError

who = principal()
st.title(t("page_search"))
text = st.text_input(t("call_id_prefix"), key="search_text").strip()
try:
    with dbs() as s:
        calls = search_calls(s, who, text, limit=50)
except CallqcError as exc:
    st.error(str(exc))
    st.stop()
if not calls:
    st.info(t("no_calls_found"))
for c in calls:
    cols = st.columns([3, 2, 2, 1, 1])
    cols[0].write(f"`{c.call_id}`")
    cols[1].write(f"{c.started_at:%Y-%m-%d %H:%M}")
    cols[2].write(c.agent_id or "-")
    if cols[3].button(t("open"), key=f"open:{c.call_id}"):
        st.session_state["call_id"] = c.call_id
        st.switch_page("pages/call.py")
    if can(who, Perm.download) and cols[4].button(t("download"), key=f"dl:{c.call_id}"):
        try:
            rec = recording(who, c.call_id, source=source(), download=True)
            st.session_state["download"] = (rec.filename, rec.data)
        except CallqcError as exc:
            st.error(str(exc))
got = st.session_state.get("download")
if got:
    st.download_button(t("save_file", name=got[0]), got[1], file_name=got[0], key="save_download")
