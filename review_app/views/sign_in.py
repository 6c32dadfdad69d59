"""Sign-in: local account (name + password), or the configured OIDC provider through st.login.

Kept light on purpose: it is the first page anyone loads, so it imports no charts or data frames.
Every failure reads the same (wrong name or password), whether the name exists or not.
"""

import streamlit as st

from review_app.i18n import error_text, t
from review_app.safe import md
from review_app.session import oidc_configured, sign_in, sign_in_oidc
from storage.app_sessions import SignInThrottled
from storage.errors import CallqcError

st.title(t("page_sign_in"))
try:
    if sign_in_oidc() is not None:
        st.rerun()
except CallqcError as exc:
    st.error(md(error_text(exc)))
if oidc_configured() and st.button(t("sign_in_sso"), key="sso"):
    st.login()
with st.form("sign_in"):
    name = st.text_input(t("user_name"), key="name", max_chars=64)
    password = st.text_input(t("password"), type="password", key="password", max_chars=256)
    submitted = st.form_submit_button(t("sign_in"))
if submitted:
    try:
        sign_in(name, password)
    except SignInThrottled as exc:
        st.error(error_text(exc))
    except CallqcError:
        st.error(t("bad_credentials"))
    else:
        st.rerun()
