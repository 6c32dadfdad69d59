"""KPIs of the plan per agent, team or queue and period, each with its definition; score trends by
call date and by evaluation date."""

from datetime import datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from review_app import kpi_labels
from review_app.i18n import local_today, t
from review_app.i18n import zone as user_zone
from review_app.session import dbs, principal
from review_app.widgets import day_x
from review_app.workflow.kpis import GroupBy, Period, kpi_rows, score_trend
from storage.errors import CallqcError

who = principal()
st.title(t("page_kpis"))
today, zone = local_today(), user_zone()
c1, c2, c3, c4, c5 = st.columns(5)
start = datetime.combine(c1.date_input(t("from"), today - timedelta(days=30), key="kpi_from"), time(), zone)
end = datetime.combine(c2.date_input(t("to"), today, key="kpi_to") + timedelta(days=1), time(), zone)
by = c3.selectbox(t("kpi_group_by"), [g.value for g in GroupBy], format_func=lambda v: t(f"group_{v}"),
                  key="kpi_by")
period = c4.selectbox(t("period"), [p.value for p in Period], index=2, format_func=lambda v: t(f"period_{v}"),
                      key="kpi_period")
team = c5.text_input(t("team"), key="kpi_team") or None
try:
    with dbs() as s:
        rows = kpi_rows(s, who, start=start, end=end, by=by, period=period, team=team)
        by_call = score_trend(s, who, start=start, end=end, by_date="call")
        by_eval = score_trend(s, who, start=start, end=end, by_date="evaluation")
except CallqcError as exc:
    st.error(str(exc))
    st.stop()
if not rows:
    st.info(t("kpi_none"))
else:
    st.dataframe(pd.DataFrame([
        {t("kpi_group"): r.group, t("period"): r.period,
         **{kpi_labels.name(f): kpi_labels.shown(r.kpis, f, unit, why) for f, unit, why in kpi_labels.FIELDS}}
        for r in rows]), hide_index=True)
for title, points in ((t("trend_by_call_date"), by_call), (t("trend_by_evaluation_date"), by_eval)):
    if points:
        st.subheader(title)
        st.altair_chart(alt.Chart(pd.DataFrame(points)).mark_line(point=True).encode(
            x=day_x(t("day")), y=alt.Y("score:Q", title=t("score"), scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("series:N", title=None)), width="stretch")
with st.expander(t("kpi_definitions")):
    for f, _, _ in kpi_labels.FIELDS:
        st.markdown(f"**{kpi_labels.name(f)}**")
        st.text(kpi_labels.definition(f))
