"""Monthly quality audit report (品质稽核报表): build it (audited), then download XLSX or CSV."""

from datetime import UTC, datetime

import streamlit as st

from review_app.i18n import t
from review_app.report_files import to_csv, to_xlsx
from review_app.session import dbs, principal, source
from review_app.workflow.report import monthly_report
from storage.errors import CallqcError

who = principal()
st.title(t("page_report"))
st.caption(t("report_intro"))
c1, c2 = st.columns(2)
month = c1.text_input(t("report_month"), value=f"{datetime.now(UTC):%Y-%m}", key="report_month")
team = c2.text_input(t("team"), value=who.team or "", key="report_team") or None
if st.button(t("report_prepare"), key="report_prepare"):
    try:
        with dbs() as s:
            rep = monthly_report(s, who, month.strip(), team=team, source=source())
        st.session_state["report_files"] = (f"{rep.month}{'-' + rep.team if rep.team else ''}",
                                            to_xlsx(rep), to_csv(rep))
    except CallqcError as exc:
        st.error(str(exc))
if files := st.session_state.get("report_files"):
    name, xlsx, csv_bytes = files
    a, b = st.columns(2)
    a.download_button(t("report_download_xlsx"), xlsx, file_name=f"qc-report-{name}.xlsx", key="report_xlsx",
                      mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    b.download_button(t("report_download_csv"), csv_bytes, file_name=f"qc-report-{name}.csv", key="report_csv",
                      mime="text/csv")
