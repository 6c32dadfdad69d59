"""Redactions: what personal data was cut from the calls of a window, per day and kind, and each mark
(kind, speaker, time span, digit count) — never the value."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from review_app.i18n import error_text, local_time, local_today, t
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.widgets import chart, day_x, speaker_label
from review_app.workflow.redactions import redaction_report
from storage.errors import CallqcError
from storage.settings import get_settings

who = principal()
st.title(t("page_redactions"))
st.caption(t("redactions_help"))
today = local_today()
zone = ZoneInfo(get_settings().timezone)
c1, c2 = st.columns(2)
start = datetime.combine(c1.date_input(t("from"), today - timedelta(days=30), key="red_from"), time(), zone)
end = datetime.combine(c2.date_input(t("to"), today, key="red_to") + timedelta(days=1), time(), zone)
try:
    with dbs() as s:
        rep = redaction_report(s, who, start=start, end=end)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
cols = st.columns(3)
cols[0].metric(t("redactions_checked"), rep.checked_calls)
cols[1].metric(t("redactions_with_marks"), rep.calls_with_marks)
cols[2].metric(t("redactions_total"), sum(rep.by_kind.values()))
if not rep.per_day:
    st.info(t("no_redactions"))
    st.stop()
st.subheader(t("redactions_per_day"))
df = pd.DataFrame(rep.per_day)
df["kind"] = [t(f"kind_{k}") for k in df["kind"]]
chart(alt.Chart(df).mark_bar().encode(x=day_x(), y=alt.Y("n:Q", title=t("redactions_total")),
                                      color=alt.Color("kind:N", title=t("redaction_kind"))))
st.dataframe(df.pivot_table(index="day", columns="kind", values="n", fill_value=0, aggfunc="sum").reset_index()
             .rename(columns={"day": t("day")}), hide_index=True, key="red_per_day")
st.subheader(t("redaction_marks"))
st.dataframe(pd.DataFrame([{
    t("call_id"): m.call_id, t("started"): local_time(m.started), t("redaction_kind"): t(f"kind_{m.kind}"),
    t("redaction_speaker"): speaker_label(m.speaker), t("redaction_from"): round(m.start_s, 1),
    t("redaction_to"): round(m.end_s, 1), t("redaction_digits"): m.digits or None,
    t("redaction_rule"): m.rule} for m in rep.marks]), hide_index=True, key="red_marks")
