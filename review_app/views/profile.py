"""My profile: the time zone every time on these pages is shown in (none chosen: the site's)."""

from zoneinfo import available_timezones

import streamlit as st

from review_app.i18n import error_text, t, zone_name
from review_app.safe import md
from review_app.session import dbs, principal
from storage.errors import CallqcError
from storage.settings import get_settings
from storage.users import set_timezone

who = principal()
st.title(t("page_profile"))
st.caption(md(t("profile_zone_now", zone=zone_name())))
SITE = ""  # the choice "the site's zone" (stored as none)
choices = [SITE, *sorted(available_timezones())]
with st.form("profile"):
    chosen = st.selectbox(
        t("profile_zone"), choices, index=choices.index(who.timezone) if who.timezone in choices else 0,
        format_func=lambda z: z or t("profile_zone_default", zone=get_settings().timezone), key="profile_zone",
    )
    if st.form_submit_button(t("save")):
        try:
            with dbs() as s:
                set_timezone(s, who.name, chosen or None)
        except CallqcError as exc:
            st.error(md(error_text(exc)))
        else:
            st.session_state["profile_saved"] = True
            st.rerun()  # the next run reads the user row again, with the new zone
if st.session_state.pop("profile_saved", False):
    st.success(t("profile_saved"))
