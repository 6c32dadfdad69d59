"""Team queue: calls the routing rules sent to a human, with score, reason, priority and due time;
supervisors also manage the rules here."""

import pandas as pd
import streamlit as st

from review_app.i18n import local_time, t
from review_app.session import dbs, principal
from review_app.workflow.routing import QueueSort, add_rule, list_rules, set_rule_active, team_queue
from storage.access import Perm, can
from storage.errors import CallqcError
from storage.routing import RouteReason

PAGE_SIZE = 50
who = principal()
st.title(t("page_routed"))
sort = st.segmented_control(t("sort_by"), [s.value for s in QueueSort], default="priority", key="routed_sort",
                            format_func=lambda v: t(f"sort_{v}")) or "priority"
page = st.number_input(t("page"), min_value=1, value=1, key="routed_page")
try:
    with dbs() as s:
        rows = team_queue(s, who, sort=sort, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
except CallqcError as exc:
    st.error(str(exc))
    st.stop()
if not rows:
    st.info(t("routed_empty"))
else:
    st.dataframe(pd.DataFrame([{
        t("priority"): r.priority, t("due"): local_time(r.due_at) + (" ⚠" if r.overdue else ""),
        t("score"): r.score, t("reason"): t(f"route_{r.reason}"), t("detail"): r.detail,
        t("call_id"): r.call_id, t("agent_id"): r.agent_id, t("team"): r.team or "",
    } for r in rows]), hide_index=True)
    for r in rows:
        if st.button(t("open_call", call=r.call_id), key=f"routed_open:{r.routed_id}"):
            st.session_state["call_id"] = r.call_id
            st.switch_page("pages/call.py")

if can(who, Perm.route):
    st.subheader(t("routing_rules"))
    with dbs() as s:
        rules = list_rules(s, who)
    if rules:
        st.dataframe(pd.DataFrame([{
            "id": rule.id, t("reason"): t(f"route_{rule.reason}"), t("threshold"): rule.threshold,
            t("priority"): rule.priority, t("due_hours"): rule.due_hours, t("team"): rule.team or t("all_teams"),
            t("active"): rule.active,
        } for rule in rules]), hide_index=True)
    with st.form("routing_add"):
        reason = st.selectbox(t("reason"), [r.value for r in RouteReason if r is not RouteReason.disputed],
                              format_func=lambda v: t(f"route_{v}"))
        threshold = st.number_input(t("threshold"), value=None, key="routing_threshold")
        priority = st.number_input(t("priority"), min_value=1, max_value=9, value=3)
        due_hours = st.number_input(t("due_hours"), min_value=1.0, value=24.0)
        team = st.text_input(t("team"), value=who.team or "") or None
        if st.form_submit_button(t("add_rule")):
            try:
                with dbs() as s:
                    add_rule(s, who, reason=reason, priority=int(priority), due_hours=float(due_hours),
                             threshold=threshold, team=team)
                st.rerun()
            except CallqcError as exc:
                st.error(str(exc))
    for rule in rules:
        label = t("deactivate_rule" if rule.active else "activate_rule", id=rule.id)
        if st.button(label, key=f"rule_toggle:{rule.id}"):
            with dbs() as s:
                set_rule_active(s, who, rule.id or 0, not rule.active)
            st.rerun()
