"""Routing rules put critical fails, low scores and insufficient evidence in the right team's queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from review_app.workflow import routing
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.inspection import submit_review
from scoring.handler import score_call
from scoring.rubric import parse_rubric
from storage.calls import Call
from storage.db import session
from storage.errors import Forbidden, InvalidInput
from storage.models import utcnow
from storage.routing import RoutedCall, RoutedState
from storage.users import Principal, Role
from tests.scoring_calls import good_call, seg, store_call
from tests.test_loop_autosubmit import RUBRIC, rude

SUP = Principal("sup", Role.supervisor)
SUP_T2 = Principal("sup2", Role.supervisor, team="T2")
INSP_T1 = Principal("insp-t1", Role.inspector, team="T1")
INSP_T2 = Principal("insp-t2", Role.inspector, team="T2")
INSP_B = Principal("insp-b", Role.inspector, tenant="bank-b")
V1 = parse_rubric(RUBRIC.format(version=1, phrase='"thank you for calling"'), "short.yaml")


def mumbled():
    return [seg("agent", 0.5, 4.5, good_call()[0].text, logprob=-3.0), *good_call()[1:]]


def greeting_less():
    return [seg("agent", 0.5, 3.0, "Yeah, what is it?"), *good_call()[1:]]


def scored(s, call_id, segments, *, team="T1", tenant="default"):
    store_call(s, call_id, segments)
    call = s.get(Call, call_id)
    call.agent_id, call.team, call.tenant = "A1", team, tenant
    s.add(call)
    return score_call(s, call_id, V1)


@pytest.fixture
def rules(db_url):
    with session() as s:
        routing.add_rule(s, SUP, reason="critical_fail", priority=1, due_hours=4)
        routing.add_rule(s, SUP, reason="insufficient", priority=2, due_hours=24)
        routing.add_rule(s, SUP_T2, reason="score_below", threshold=70, priority=3, due_hours=48)


def routed(s, call_id):
    return s.exec(select(RoutedCall).where(RoutedCall.call_id == call_id).order_by(RoutedCall.priority)).all()


def test_rules_route_each_call_into_its_teams_queue_with_priority_and_due_time(rules):
    """A critical fail in T1 is due in 4 h at priority 1; insufficient evidence at 2; T2's rule skips T1."""
    with session() as s:
        scored(s, "t1-rude", rude())
        scored(s, "t1-mumble", mumbled())
        scored(s, "t1-good", good_call())
        scored(s, "t2-nogreet", greeting_less(), team="T2")  # 50 points of 100: under T2's 70
        scored(s, "t1-nogreet", greeting_less())  # same score, but T1 has no score rule
        scored(s, "b-rude", rude(), tenant="bank-b")  # tenant A's rules never touch tenant B
    with session() as s:
        rude_rows = routed(s, "t1-rude")
        assert [(r.reason, r.priority, r.team) for r in rude_rows] == [("critical_fail", 1, "T1")]
        assert rude_rows[0].detail == "critical: no-abuse" and rude_rows[0].score == 0.0
        assert abs(rude_rows[0].due_at - (utcnow() + timedelta(hours=4))) < timedelta(minutes=5)
        mumble = [(r.reason, r.detail) for r in routed(s, "t1-mumble")]
        assert mumble == [("insufficient", "insufficient: greeting, no-abuse")]
        assert routed(s, "t1-good") == [] and routed(s, "t1-nogreet") == [] and routed(s, "b-rude") == []
        assert [(r.reason, r.detail) for r in routed(s, "t2-nogreet")] == [("score_below", "score 50.0 < 70")]
        # the queues: each inspector sees their team's rows only, most urgent first
        assert [r.call_id for r in routing.team_queue(s, INSP_T1)] == ["t1-rude", "t1-mumble"]
        assert [r.call_id for r in routing.team_queue(s, INSP_T2)] == ["t2-nogreet"]
        assert routing.team_queue(s, INSP_B) == []
        assert [r.call_id for r in routing.team_queue(s, SUP, sort="score")] == ["t1-rude", "t2-nogreet", "t1-mumble"]
        assert [r.call_id for r in routing.team_queue(s, SUP, sort="due")] == ["t1-rude", "t1-mumble", "t2-nogreet"]


def test_rescoring_does_not_route_a_call_twice_and_a_review_closes_it(rules):
    with session() as s:
        scored(s, "t1-rude", rude())
    with session() as s:
        from scoring.routing import route_evaluation
        from storage.evaluations import current_evaluation

        call = s.get(Call, "t1-rude")
        assert route_evaluation(s, call, current_evaluation(s, "t1-rude", kind="auto")) == []
        submit_review(s, INSP_T1, "t1-rude", human=HumanAnswers(answers={}), verdict="fail")
    with session() as s:
        (row,) = routed(s, "t1-rude")
        assert (row.state, row.done_by) == (RoutedState.done, "insp-t1")
        assert routing.team_queue(s, INSP_T1) == []


def test_rule_management_is_for_supervisors_of_that_team(db_url):
    with session() as s:
        with pytest.raises(Forbidden):
            routing.add_rule(s, INSP_T1, reason="critical_fail")
        with pytest.raises(Forbidden):
            routing.add_rule(s, SUP_T2, reason="critical_fail", team="T1")
        with pytest.raises(InvalidInput):
            routing.add_rule(s, SUP, reason="angry customer")
        rule = routing.add_rule(s, SUP_T2, reason="critical_fail")
        assert rule.team == "T2" and [r.id for r in routing.list_rules(s, SUP)] == [rule.id]
        assert routing.list_rules(s, Principal("sup-b", Role.supervisor, tenant="bank-b")) == []


def test_low_confidence_rule_routes_a_learned_item_near_a_coin_toss():
    """p(yes)=0.55 is 0.55 sure (under 0.7): routed; p(yes)=0.1 is 0.9 sure of 'no': not; rule-based items never."""
    from scoring.routing import reasons
    from storage.evaluations import Evaluation, EvaluationItem
    from storage.routing import RoutingRule

    ev = Evaluation(call_id="c", rubric_id="r", rubric_version=1, total=90.0)
    items = [EvaluationItem(evaluation_id=1, item_id="empathy", section_id="s", check_kind="model", points=1,
                            auto_answer="yes", confidence=0.55),
             EvaluationItem(evaluation_id=1, item_id="upsell", section_id="s", check_kind="model", points=1,
                            auto_answer="no", confidence=0.1),
             EvaluationItem(evaluation_id=1, item_id="greeting", section_id="s", check_kind="phrase", points=1,
                            auto_answer="yes", confidence=0.5)]
    rule = RoutingRule(reason="low_confidence", created_by="sup")
    assert reasons(rule, ev, items) == "low confidence: empathy 0.55"
    assert reasons(RoutingRule(reason="low_confidence", threshold=0.5, created_by="sup"), ev, items) is None
    assert reasons(RoutingRule(reason="score_below", created_by="sup"), ev, items) is None  # 90 ≥ pass mark 80
