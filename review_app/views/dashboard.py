"""Dashboard: KPIs from recordings, score trends, inspector workload, AI-vs-human agreement.

The window selects calls by the day they took place, for the KPIs and the trend alike.
"""

from datetime import datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from review_app.i18n import error_text, local_today, t
from review_app.i18n import zone as user_zone
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.widgets import chart, day_x
from review_app.workflow.coverage import coverage_tile
from review_app.workflow.dashboard import agreement, tiles_and_trend, workload
from review_app.workflow.redactions import redaction_report
from review_app.workflow.text import checked_text
from storage.errors import CallqcError
from storage.settings import get_settings

who = principal()
st.title(t("page_dashboard"))
today = local_today()
zone = user_zone()
c1, c2, c3, c4 = st.columns(4)
start = datetime.combine(c1.date_input(t("from"), today - timedelta(days=30), key="db_from"), time(), zone)
end = datetime.combine(c2.date_input(t("to"), today, key="db_to") + timedelta(days=1), time(), zone)
team = c3.text_input(t("team"), key="db_team") or None
by = c4.selectbox(t("trend_by"), ["team", "agent", "queue"], format_func=lambda v: t(v), key="db_by")
try:
    team = checked_text(team, field="team", limit=64, one_line=True) or None
    with dbs() as s:
        k, trend = tiles_and_trend(s, who, start=start, end=end, by=by, team=team)
        load = workload(s, who, start=start, end=end)
        agree = agreement(s, who, start=start, end=end, team=team)
        cover = coverage_tile(s, who, start=start, end=end)
        redacted = redaction_report(s, who, start=start, end=end)
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
cols = st.columns(6)
cols[0].metric(t("monitoring_score"), "-" if k.monitoring_score is None else k.monitoring_score)
cols[1].metric(t("pass_rate"), "-" if k.pass_rate is None else f"{k.pass_rate}%")
cols[2].metric(t("critical_fail_rate"), "-" if k.critical_fail_rate is None else f"{k.critical_fail_rate}%")
cols[3].metric(t("avg_talk_time"), "-" if k.avg_talk_s is None else t("n_seconds", n=f"{k.avg_talk_s:.0f}"))
cols[4].metric(t("fcr"), "-" if k.fcr_rate is None else f"{k.fcr_rate}%")
cols[5].metric(t("reviewed_calls"), f"{k.reviewed} / {k.calls}")
st.subheader(t("coverage_title"))
if cover.pct is None:
    st.caption(t("coverage_none"))
else:
    st.metric(t("coverage_recorded"), f"{cover.recorded} / {cover.expected} ({cover.pct}%)")
    if cover.alert:
        st.warning(t("coverage_alert", pct=cover.pct, limit=get_settings().coverage_alert_pct))
    st.dataframe(pd.DataFrame([{t("day"): r["day"], t("queue"): r["queue"], t("expected"): r["expected"],
                                t("recorded"): r["recorded"], "%": r["pct"]} for r in cover.rows]),
                 hide_index=True, key="db_coverage")
    if cover.missing:
        with st.expander(t("coverage_missing", n=cover.expected - cover.recorded)):
            st.dataframe(pd.DataFrame([{t("uniqueid"): m["uniqueid"], t("started"): m["started"],
                                        t("queue"): m["queue"], t("agent"): m["agent"]} for m in cover.missing]),
                         hide_index=True, key="db_missing")
if redacted.per_day:
    st.subheader(t("redactions_per_day"))
    rdf = pd.DataFrame(redacted.per_day)
    rdf["kind"] = [t(f"kind_{k}") for k in rdf["kind"]]
    chart(alt.Chart(rdf).mark_bar().encode(x=day_x(), y=alt.Y("n:Q", title=t("redactions_total")),
                                           color=alt.Color("kind:N", title=t("redaction_kind"))))
if trend:
    st.subheader(t("score_trend"))
    chart(
        alt.Chart(pd.DataFrame(trend))
        .mark_line(point=True)
        .encode(
            x=day_x(),
            y=alt.Y("score:Q", title=t("score"), scale=alt.Scale(domain=[0, 100])),
            color=alt.Color(f"{by}:N", title=t(by)),
        )
    )
if load:
    st.subheader(t("inspector_workload"))
    df = pd.DataFrame(load).melt("inspector", var_name="kind", value_name="n")
    df["kind"] = [t(f"workload_{k}") for k in df["kind"]]
    chart(
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("n:Q", title=t("count")),
            y=alt.Y("inspector:N", title=t("inspector")),
            color=alt.Color("kind:N", title=None),
        )
    )
if agree:
    st.subheader(t("ai_agreement"))
    df = pd.DataFrame(agree)
    df["item"] = df["title"]
    chart(
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("agreement:Q", title="%", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("item:N", title=None),
            tooltip=[
                alt.Tooltip("item:N", title=t("item")),
                alt.Tooltip("reviewed:Q", title=t("reviewed")),
                alt.Tooltip("agreement:Q", title=t("agreement_pct")),
                alt.Tooltip("kappa:Q", title="κ"),
            ],
        )
    )
