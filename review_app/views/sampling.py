"""Supervisor: sampling plans, runs (reproducible from their seed), and reviews needed per agent."""

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from review_app.i18n import error_text, local_today, reason_label, t
from review_app.i18n import zone as user_zone
from review_app.safe import md
from review_app.session import dbs, principal
from review_app.workflow.sampling import create_plan, list_plans, margin_table, run_assignments, run_plan
from storage.errors import CallqcError
from storage.reviews import SamplingMode
from storage.users import Role, list_users

who = principal()
st.title(t("page_sampling"))


def _words(raw: str) -> list[str]:
    return [w.strip() for w in raw.replace("，", ",").split(",") if w.strip()]


with dbs() as s:
    inspectors = [u.name for u in list_users(s, role=Role.inspector, tenant=who.tenant)]
with st.expander(t("new_plan")), st.form("new_plan"):
    name = st.text_input(t("plan_name"))
    mode = st.radio(
        t("plan_mode"), [m.value for m in SamplingMode], format_func=lambda v: t(f"mode_{v}"), horizontal=True
    )
    c1, c2, c3, c4 = st.columns(4)
    count = c1.number_input(t("per_agent_count"), 0, 1000, 2)
    period = c2.selectbox(t("period"), [1, 7], format_func=lambda v: t("per_day" if v == 1 else "per_week"))
    percent = c3.number_input(t("percent"), 0.0, 100.0, 5.0)
    minimum = c4.number_input(t("minimum"), 0, 10000, 1)
    chosen = st.multiselect(t("inspectors"), inspectors, default=inspectors)
    cap = st.number_input(t("daily_cap"), 1, 1000, 50)
    f1, f2, f3 = st.columns(3)
    queues = f1.text_input(t("queues"))
    direction = f2.selectbox(
        t("direction"),
        ["", "inbound", "outbound", "internal"],
        format_func=lambda v: t(f"direction_{v}") if v else t("any"),
    )
    score_below = f3.number_input(t("score_below"), 0.0, 100.0, 0.0, help=t("zero_is_off"))
    g1, g2, g3, g4 = st.columns(4)
    min_dur = g1.number_input(t("min_duration"), 0.0, 36000.0, 0.0)
    max_dur = g2.number_input(t("max_duration"), 0.0, 36000.0, 0.0, help=t("zero_is_off"))
    critical = g3.checkbox(t("critical_fail"))
    insufficient = g4.checkbox(t("insufficient_evidence"))
    words = st.text_input(t("words_in_transcript"))
    seed = st.text_input(t("seed_optional"))
    schedule = st.text_input(t("schedule_cron"), help=t("schedule_help"))
    if st.form_submit_button(t("create_plan")):
        filters = {
            "queues": _words(queues),
            "direction": direction or None,
            "words": _words(words),
            "min_duration_s": min_dur or None,
            "max_duration_s": max_dur or None,
            "score_below": score_below or None,
            "critical_fail": critical,
            "insufficient_evidence": insufficient,
        }
        try:
            with dbs() as s:
                plan = create_plan(
                    s,
                    who,
                    name=name,
                    mode=mode,
                    count=int(count),
                    period_days=int(period),
                    percent=float(percent),
                    minimum=int(minimum),
                    inspectors=chosen,
                    daily_cap=int(cap),
                    filters=filters,
                    seed=int(seed) if seed.strip() else None,
                    schedule=schedule or None,
                )
            st.success(t("plan_created", name=md(plan.name), seed=plan.seed))
        except CallqcError as exc:
            st.error(md(error_text(exc)))
        except ValueError:
            st.error(t("seed_not_a_number"))

with dbs() as s:
    plans = list_plans(s, who)
if plans:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("id"): p.id,
                    t("plan_name"): p.name,
                    t("plan_mode"): t(f"mode_{p.mode}"),
                    t("seed"): p.seed,
                    t("inspectors"): ", ".join(p.inspectors),
                }
                for p in plans
            ]
        ),
        hide_index=True,
    )
    plan_id = st.selectbox(
        t("plan"), [p.id for p in plans], format_func=lambda i: next(p.name for p in plans if p.id == i)
    )
    today = local_today()
    zone = user_zone()
    d_from, d_to = st.columns(2)
    start = d_from.date_input(t("from"), today - timedelta(days=1), key="run_from")
    end = d_to.date_input(t("to"), today, key="run_to")
    if st.button(t("run_plan"), key="run_plan"):
        try:
            with dbs() as s:
                run = run_plan(
                    s,
                    who,
                    int(plan_id or 0),
                    start=datetime.combine(start, time(), zone),
                    end=datetime.combine(end + timedelta(days=1), time(), zone),
                )
                got = run_assignments(s, run.id or 0)
            st.success(t("run_done", run=run.id, picked=len(got), seed=run.seed))
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("call_id"): a.call_id,
                            t("inspector"): a.inspector,
                            t("day"): a.day,
                            t("reason"): reason_label(a.reason),
                        }
                        for a in got
                    ]
                ),
                hide_index=True,
            )
        except CallqcError as exc:
            st.error(md(error_text(exc)))

st.subheader(t("margin_title"))
m1, m2 = st.columns(2)
margin = m1.number_input(t("margin_points"), 0.5, 50.0, 5.0)
confidence = m2.selectbox(t("confidence"), [0.8, 0.9, 0.95, 0.99], index=1)
try:
    with dbs() as s:
        table = margin_table(s, who, margin=margin, confidence=confidence)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("agent_id"): r["agent_id"],
                    t("scored_calls"): r["scored_calls"],
                    t("stdev"): "-" if r["stdev"] is None else r["stdev"],
                    t("reviews_needed"): t("not_enough_scores") if r["reviews_needed"] is None else r["reviews_needed"],
                }
                for r in table
            ]
        ),
        hide_index=True,
    )
except CallqcError as exc:
    st.error(md(error_text(exc)))
