"""The monthly quality audit report: XLSX and CSV figures equal what the database says."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlmodel import select

from review_app.i18n import t
from review_app.report_files import to_csv
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.inspection import submit_review
from review_app.workflow.report import month_window, monthly_report
from storage.db import session
from storage.errors import InvalidInput
from storage.models import AuditEvent
from storage.settings import reset_settings
from storage.users import Principal, Role
from tests import review_world
from tests.review_world import good_call, rude_call

NOV = datetime(2026, 11, 3, 9, tzinfo=UTC)
OCT = datetime(2026, 10, 20, 9, tzinfo=UTC)
INSP = Principal("insp", Role.inspector)
SUP = Principal("sup", Role.supervisor)


@pytest.fixture
def month(sqlite_db):
    """November: A1 (T1) 3 calls, A2 (T1) 2, A3 (T2) 1; October: A1 1; tenant B's A1 1 in November."""
    plan = [("n-a1-0", "A1", "T1", NOV, good_call, "pass"), ("n-a1-1", "A1", "T1", NOV + timedelta(hours=1),
             rude_call, "retraining"), ("n-a1-2", "A1", "T1", NOV + timedelta(days=5), good_call, None),
            ("n-a2-0", "A2", "T1", NOV + timedelta(days=1), rude_call, "fail"),
            ("n-a2-1", "A2", "T1", NOV + timedelta(days=2), good_call, "pass"),
            ("n-a3-0", "A3", "T2", NOV + timedelta(days=3), good_call, "pass"),
            ("o-a1-0", "A1", "T1", OCT, rude_call, "fail")]
    for cid, agent, team, when, segs, _ in plan:
        review_world.add_call(cid, agent, started_at=when, segments=segs(), team=team)
    review_world.add_call("b-a1-0", "A1", started_at=NOV, segments=good_call(), tenant="bank-b")
    with session() as s:
        for cid, *_, verdict in plan:
            if verdict:
                submit_review(s, INSP, cid, human=HumanAnswers(answers={}), verdict=verdict)
        submit_review(s, Principal("insp-b", Role.inspector, tenant="bank-b"), "b-a1-0",
                      human=HumanAnswers(answers={}), verdict="fail")


def db_figures(group_col: str, name: str, start: datetime, end: datetime) -> tuple[int, int, float | None, int]:
    """(calls, reviewed, mean review score, retraining) straight from SQL, tenant 'default' only."""
    with session() as s:
        calls = s.execute(sa.text(f"SELECT count(*) FROM calls WHERE {group_col} = :n AND tenant = 'default' "
                                  "AND started_at >= :a AND started_at < :b"),
                          {"n": name, "a": start, "b": end}).scalar_one()
        n, avg, retr = s.execute(sa.text(
            f"SELECT count(*), avg(r.score), sum(CASE WHEN r.verdict = 'retraining' THEN 1 ELSE 0 END) "
            f"FROM reviews r JOIN calls c ON c.call_id = r.call_id WHERE c.{group_col} = :n AND c.tenant = 'default' "
            "AND c.started_at >= :a AND c.started_at < :b"), {"n": name, "a": start, "b": end}).one()
    return calls, n, None if avg is None else round(float(avg), 2), int(retr or 0)


def test_xlsx_from_the_cli_matches_the_database(month, tmp_path):
    out = tmp_path / "nov.xlsx"
    r = subprocess.run([sys.executable, "-m", "callqc", "report", "monthly", "--month", "2026-11", "--out", str(out)],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.returncode == 0, r.stderr
    wb = load_workbook(out)
    assert wb.sheetnames == [t("report_agents"), t("report_teams"), t("report_items"), t("report_calibration"),
                             t("report_about")]
    assert t("report_agents") == "坐席"  # the default locale: Chinese headers
    _, start, end = month_window("2026-11")
    for sheet, col, names in ((t("report_agents"), "agent_id", ["A1", "A2", "A3"]),
                              (t("report_teams"), "team", ["T1", "T2"])):
        ws = wb[sheet]
        head = [c.value for c in ws[1]]
        assert head[0] == t("report_group") and ws["A1"].font.bold
        rows = {row[0]: dict(zip(head, row, strict=True)) for row in ws.iter_rows(min_row=2, values_only=True)}
        assert sorted(rows) == names
        for name in names:
            calls, reviewed, avg, retraining = db_figures(col, name, start, end)
            got = rows[name]
            assert (got[t("kpi_calls")], got[t("kpi_score_human")], got[t("kpi_retraining")]) == (
                calls, avg, retraining), name
            assert got[t("kpi_evaluated")] >= reviewed
            assert got[t("kpi_aht_s")] == t("report_not_known")  # no ACD wrap-up time in these records
    a1 = {row[0]: row for row in wb[t("report_agents")].iter_rows(min_row=2, values_only=True)}["A1"]
    head = [c.value for c in wb[t("report_agents")][1]]
    oct_calls, _, oct_avg, _ = db_figures("agent_id", "A1", *month_window("2026-10")[1:])
    assert oct_calls == 1 and a1[head.index(t("report_last_month"))] == oct_avg
    assert a1[head.index(t("report_change"))] == pytest.approx(a1[head.index(t("kpi_score_combined"))] - oct_avg)
    items = {(r[0], r[1]): r for r in wb[t("report_items")].iter_rows(min_row=2, values_only=True)}
    with session() as s:  # greeting in T1: yes answers of the reviewed calls' human evaluations
        yes, n = s.execute(sa.text(
            "SELECT sum(CASE WHEN i.final_answer = 'yes' THEN 1 ELSE 0 END), count(*) FROM evaluation_items i "
            "JOIN reviews r ON r.evaluation_id = i.evaluation_id JOIN calls c ON c.call_id = r.call_id "
            "WHERE c.team = 'T1' AND c.tenant = 'default' AND i.item_id = 'greeting' AND c.started_at >= :a "
            "AND c.started_at < :b AND i.final_answer IN ('yes', 'no')"), {"a": start, "b": end}).one()
    # T1's unreviewed n-a1-2 counts only if auto-submitted (it is not: nobody built trust here)
    assert items[("T1", "greeting")][2:4] == (n, yes)
    with session() as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "report")).all()
    assert [a.detail["month"] for a in audit] == ["2026-11"]


def test_csv_in_english_matches_the_xlsx_rows(month, monkeypatch):
    monkeypatch.setenv("CALLQC_LOCALE", "en")
    reset_settings()
    with session() as s:
        rep = monthly_report(s, SUP, "2026-11", team="T1")
    rows = list(csv.reader(io.StringIO(to_csv(rep).decode("utf-8-sig"))))
    assert rows[0][:3] == ["View", "Agent / team", "Calls"]
    body = {(r[0], r[1]): r for r in rows[1:]}
    assert sorted(body) == [("agents", "A1"), ("agents", "A2"), ("teams", "T1")]
    _, start, end = month_window("2026-11")
    calls, _, avg, _ = db_figures("team", "T1", start, end)
    assert int(body[("teams", "T1")][2]) == calls and float(body[("teams", "T1")][4]) == avg


def test_bad_month_and_wrong_role_are_refused(month):
    with session() as s:
        with pytest.raises(InvalidInput, match="YYYY-MM"):
            monthly_report(s, SUP, "2026-13")
        from storage.access import NotPermitted

        with pytest.raises(NotPermitted):
            monthly_report(s, INSP, "2026-11")


def test_cli_writes_into_a_folder_by_month_and_refuses_other_suffixes(month, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-m", "callqc", "report", "monthly", "--month", "2026-11", "--team", "T2",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "qc-report-2026-11-T2.xlsx").exists() and "1 agents" in r.stdout
    r = subprocess.run([sys.executable, "-m", "callqc", "report", "monthly", "--month", "2026-11",
                        "--out", str(tmp_path / "r.pdf")], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [
        f"error: invalid input: --out {tmp_path / 'r.pdf'}: the file must end in .xlsx or .csv"]
