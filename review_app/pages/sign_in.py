"""Sign-in: local account (name + password), or the configured OIDC provider through st.login."""

import streamlit as st

from review_app.i18n import t
from review_app.session import oidc_configured, sign_in, sign_in_oidc
from storage.errors import CallqcError

st.title(t("page_sign_in"))
try:
    if sign_in_oidc() is not None:
        st.rerun()
except CallqcError as exc:
    st.error(str(exc))
if oidc_configured() and st.button(t("sign_in_sso"), key="sso"):
    st.login()
with st.form("sign_in"):
    name = st.text_input(t("user_name"), key="name")
    password = st.text_input(t("password"), type="password", key="password")
    submitted = st.form_submit_button(t("sign_in"))
if submitted:
    try:
        sign_in(name, password)
    except CallqcError:
        st.error(t("bad_credentials"))
    else:
        st.rerun()
