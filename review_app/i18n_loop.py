"""The words of the closed loop (auto-submit, routing, teams, schedules, KPIs, reports, notifications),
in English and Simplified Chinese; review_app/i18n.py merges them into its tables."""

from __future__ import annotations

EN: dict[str, str] = {
    "auto_submitted_trust": "Auto-submitted (machine answers trusted: {trust})",
    # routing
    "page_routed": "Team queue",
    "routed_empty": "Nothing routed to your teams.",
    "sort_by": "Sort by",
    "sort_priority": "priority",
    "sort_due": "due time",
    "sort_score": "score",
    "priority": "Priority",
    "due": "Due",
    "threshold": "Threshold",
    "due_hours": "Hours to review",
    "active": "Active",
    "all_teams": "all teams",
    "routing_rules": "Routing rules",
    "add_rule": "Add rule",
    "deactivate_rule": "Switch rule {id} off",
    "activate_rule": "Switch rule {id} on",
    "route_critical_fail": "critical fail",
    "route_score_below": "score under threshold",
    "route_insufficient": "insufficient evidence",
    "route_low_confidence": "learned item unsure",
    # scheduled sampling
    "schedule_cron": "Schedule (cron, UTC; empty: run by hand)",
    "schedule_help": "Five fields: minute hour day month weekday, e.g. '0 2 * * *' runs every night at 02:00 "
    "for the day before. Each period runs exactly once.",
}

ZH: dict[str, str] = {
    "auto_submitted_trust": "自动提交（机器答案可信：{trust}）",
    "page_routed": "团队质检队列",
    "routed_empty": "没有分派到您团队的通话。",
    "sort_by": "排序",
    "sort_priority": "优先级",
    "sort_due": "截止时间",
    "sort_score": "分数",
    "priority": "优先级",
    "due": "截止",
    "threshold": "阈值",
    "due_hours": "处理时限（小时）",
    "active": "启用",
    "all_teams": "全部团队",
    "routing_rules": "分派规则",
    "add_rule": "添加规则",
    "deactivate_rule": "停用规则 {id}",
    "activate_rule": "启用规则 {id}",
    "route_critical_fail": "致命项不合格",
    "route_score_below": "分数低于阈值",
    "route_insufficient": "证据不足",
    "route_low_confidence": "学习项把握不足",
    "schedule_cron": "定时（cron，UTC；留空为手动运行）",
    "schedule_help": "五个字段：分 时 日 月 星期，例如 '0 2 * * *' 每晚 02:00 抽取前一天的通话。每个周期只运行一次。",
}
