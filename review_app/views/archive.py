"""Admins and archivists: archive images whose last fixity check failed (the disc must be re-made).

"All passed" is said only when there are discs and every one of them was checked.
"""

import pandas as pd
import streamlit as st

from review_app.i18n import error_text, local_time, t
from review_app.safe import md
from review_app.session import dbs, principal
from storage.access import failed_archive_images
from storage.archive.verify import list_images
from storage.errors import CallqcError

who = principal()
st.title(t("page_archive"))
st.caption(t("archive_help"))
try:
    with dbs() as s:
        failed = failed_archive_images(s, who)  # the access check; list_images has none of its own
        images = list_images(s)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
if not images:
    st.info(t("archive_none"))
    st.stop()
unchecked = sum(1 for i in images if i.fixity_ok is None)
if unchecked:
    st.warning(t("archive_unchecked", n=unchecked))
if not failed:
    if not unchecked:
        st.success(t("archive_all_ok"))
    st.stop()
st.error(t("archive_failed_count", n=len(failed)))
st.dataframe(
    pd.DataFrame(
        [
            {
                t("month"): i.month,
                t("disc"): f"{i.disc}/{i.disc_count}",
                t("calls"): i.call_count,
                t("checked_at"): local_time(i.fixity_checked_at),
                t("fixity_error"): i.fixity_error or "",
                t("object_key"): i.object_key,
            }
            for i in failed
        ]
    ),
    hide_index=True,
)
