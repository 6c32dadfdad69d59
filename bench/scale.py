"""Page queries at scale on PostgreSQL: p50/p95/p99 of each page the review app serves (not a test).

Populates the database with ``callqc dev populate`` when it holds no calls (or reuses what is there),
then calls the app's own functions, as the pages do, ``--runs`` times each (the monthly report
``--report-runs`` times) with varying agents, teams, calls and words. Each run uses a fresh session
that is rolled back, so the pages that write (the call page's audit row, a sampling run's
assignments) leave nothing behind. The baseline is one call read by primary key in the same run: the
ratio column says how many primary-key reads a page costs, which stays meaningful when other load
on the shared machine slows everything down.

``python -m bench.scale --database-url postgresql+psycopg://postgres@127.0.0.1:5432/callqc_bench
[--calls 100000] [--runs 200] [--report-runs 5] [--month 2026-06] [--only kpis,report]``
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from callqc.populate import Plan, populate
from review_app.workflow import (
    agent_summary,
    dashboard,
    feedback,
    inspection,
    kpis,
    report,
    review_days,
    rollup,
    sampling,
)
from scoring import agreement_rollup
from storage import db as dbmod
from storage import heap
from storage.access import audit_events, search_calls
from storage.calls import Call
from storage.settings import reset_settings
from storage.transcripts import search_segments
from storage.users import Principal, Role

WORDS = ("invoice", "premium channel", "cancel the contract", "confirmation email", "宽带", "account", "credit")


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


class Bench:
    def __init__(self, engine: sa.Engine, month: str, rng: random.Random) -> None:
        self.engine, self.rng = engine, rng
        _, self.start, self.end = report.month_window(month)
        self.month = month
        with engine.connect() as c:
            self.agents = [a for (a,) in c.execute(sa.text("SELECT DISTINCT agent_id FROM calls "
                                                           "WHERE agent_id IS NOT NULL ORDER BY 1"))]
            self.teams = sorted({a for (a,) in c.execute(sa.text("SELECT DISTINCT team FROM calls WHERE team "
                                                                 "IS NOT NULL"))})
            self.call_ids = [cid for (cid,) in c.execute(sa.text(
                "SELECT call_id FROM calls WHERE started_at >= :s AND started_at < :e ORDER BY random() LIMIT 2000"),
                {"s": self.start, "e": self.end})]
            self.actors = [a for (a,) in c.execute(sa.text("SELECT DISTINCT actor FROM audit_log LIMIT 50"))]
        self.sup = Principal("bench-sup", Role.supervisor)
        self.admin = Principal("bench-admin", Role.admin)
        self.plans = {team: self._plan(team) for team in self.teams}

    def _plan(self, team: str) -> int:
        """A team supervisor's plan: two calls per agent per week."""
        with dbmod.session(self.engine) as s:
            name = f"bench-{team}-{time.time_ns()}"
            plan = sampling.create_plan(s, Principal("bench", Role.supervisor, team=team), name=name,
                                        mode="per_agent", count=2, period_days=7, inspectors=["qa00", "qa01", "qa02"],
                                        daily_cap=500, seed=7)
            assert plan.id is not None
            return plan.id

    def team_sup(self) -> Principal:
        return Principal("bench-team", Role.supervisor, team=self.rng.choice(self.teams))

    # --- the pages ---------------------------------------------------------------------------------
    def baseline(self, s: Session) -> Any:
        return s.get(Call, self.rng.choice(self.call_ids))

    def scorecard(self, s: Session) -> Any:
        agent = self.rng.choice(self.agents)
        who = Principal(f"agent-{agent}", Role.agent, agent_id=agent)
        return (agent_summary.summary(s, who, agent, now=self.end), feedback.scorecard(s, who),
                feedback.trend(s, who))

    def scorecard_part(self, part: str) -> Callable[[Session], Any]:
        """One part of the scorecard (summary, list or trend) for a random agent: what each costs."""
        def page(s: Session) -> Any:
            agent = self.rng.choice(self.agents)
            who = Principal(f"agent-{agent}", Role.agent, agent_id=agent)
            return {"summary": lambda: agent_summary.summary(s, who, agent, now=self.end),
                    "list": lambda: feedback.scorecard(s, who), "trend": lambda: feedback.trend(s, who)}[part]()
        return page

    def agreement(self, s: Session) -> Any:
        who = self.team_sup()
        return dashboard.agreement(s, who, start=self.start, end=self.end, team=who.team)

    def dashboard(self, s: Session) -> Any:
        who = self.team_sup()
        w = {"start": self.start, "end": self.end}
        # as the page: tiles and trend from one read of the hour rollup, agreement of the team shown
        return (dashboard.tiles_and_trend(s, who, team=who.team, **w), dashboard.workload(s, who, **w),
                dashboard.agreement(s, who, team=who.team, **w))

    def kpis_team(self, s: Session) -> Any:
        who = self.team_sup()
        return kpis.kpi_rows(s, who, start=self.start, end=self.end, by="agent", period="day", team=who.team)

    def kpis_tenant(self, s: Session) -> Any:
        return kpis.kpi_rows(s, self.sup, start=self.start, end=self.end, by="team", period="month")

    def kpis_local(self, s: Session) -> Any:
        """The team KPIs for a month of local days in Kolkata (+05:30): both window edges inside an hour."""
        who = self.team_sup()
        zone = ZoneInfo("Asia/Kolkata")
        start, end = (datetime(d.year, d.month, d.day, tzinfo=zone) for d in (self.start, self.end))
        return kpis.kpi_rows(s, who, start=start, end=end, by="agent", period="month", team=who.team)

    def sampling_run(self, s: Session) -> Any:
        who = self.team_sup()
        assert who.team is not None
        return sampling.run_plan(s, who, self.plans[who.team], start=self.start, end=self.end,
                                 first_day=self.end.date())

    def call_page(self, s: Session) -> Any:
        return inspection.open_call(s, self.sup, self.rng.choice(self.call_ids), source="bench")

    def search_id(self, s: Session) -> Any:
        return search_calls(s, self.sup, self.rng.choice(self.call_ids)[:-2], limit=50)

    def search_text(self, s: Session) -> Any:
        return search_segments(s, self.rng.choice(WORDS), limit=100)

    def audit_filter(self, s: Session) -> Any:
        r = self.rng.random()
        if r < 0.4:
            return audit_events(s, self.admin, call_id=self.rng.choice(self.call_ids))
        if r < 0.7:
            return audit_events(s, self.admin, actor=self.rng.choice(self.actors))
        return audit_events(s, self.admin, action=self.rng.choice(("view", "play", "ingest")))

    def report(self, s: Session) -> Any:
        return report.monthly_report(s, self.sup, self.month, source="bench")


def timed(engine: sa.Engine, page: Callable[[Session], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with Session(engine, expire_on_commit=False) as s:
            t0 = time.perf_counter()
            page(s)
            out.append((time.perf_counter() - t0) * 1000)
            s.rollback()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True, help="A PostgreSQL URL (postgresql+psycopg://...).")
    ap.add_argument("--calls", type=int, default=100_000, help="Calls to populate when the database has none.")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--report-runs", type=int, default=5)
    ap.add_argument("--month", default=None, help="The month the pages look at (default: the populated "
                    "months' middle one).")
    ap.add_argument("--only", default="", help="Comma-separated page names.")
    ap.add_argument("--no-settle", action="store_true", help="Time pages without the app's freeze of its "
                    "start-up objects (storage/heap.py), for comparison.")
    args = ap.parse_args()
    os.environ["CALLQC_DATABASE_URL"] = args.database_url
    reset_settings()
    engine = dbmod.get_engine()
    dbmod.migrate(engine)
    with engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM calls")).scalar_one()
    if n == 0:
        done = populate(engine, Plan(calls=args.calls), progress=lambda d: print(f"  {d.calls} calls", flush=True))
        print(f"populated {done.calls} calls in {done.seconds:.0f} s ({done.calls / done.seconds:.0f} calls/s)")
    with engine.connect() as c:
        counts = {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("calls", "segments", "evaluations", "evaluation_items", "reviews", "audit_log")}
        first, last = c.execute(sa.text("SELECT min(started_at), max(started_at) FROM calls")).one()
    month = args.month or f"{first + (last - first) / 2:%Y-%m}"
    print(f"database: {counts}; month {month}")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for what in ("rollup refresh (hours touched since the last one)", "rollup refresh again (nothing new)"):
        for name, refresh in (("hour", rollup.refresh), ("agreement", agreement_rollup.refresh),
                              ("review-day", review_days.refresh)):
            t0 = time.perf_counter()
            with dbmod.session(engine, write=True) as s:
                done = refresh(s)
            print(f"{name} {what}: {done.hours} hours or days, {done.rows} rows in {time.perf_counter() - t0:.1f} s",
                  flush=True)
    bench = Bench(engine, month, random.Random(20))
    if not args.no_settle:
        heap.settle_once()  # as the app does after its first page (storage/heap.py)
    pages: dict[str, tuple[Callable[[Session], Any], int]] = {
        "baseline (call by key)": (bench.baseline, args.runs),
        "agent scorecard": (bench.scorecard, args.runs),
        "agent scorecard: summary": (bench.scorecard_part("summary"), args.runs),
        "agent scorecard: list": (bench.scorecard_part("list"), args.runs),
        "agent scorecard: trend": (bench.scorecard_part("trend"), args.runs),
        "team dashboard (month)": (bench.dashboard, args.runs),
        "team dashboard: agreement": (bench.agreement, args.runs),
        "KPIs per agent, team (month)": (bench.kpis_team, args.runs),
        "KPIs per team, tenant (month)": (bench.kpis_tenant, max(1, args.runs // 10)),
        "KPIs per agent, team, +05:30 days": (bench.kpis_local, args.runs),
        "sampling run (team, month)": (bench.sampling_run, args.runs),
        "call page": (bench.call_page, args.runs),
        "search by call ID": (bench.search_id, args.runs),
        "search by text": (bench.search_text, args.runs),
        "audit filter": (bench.audit_filter, args.runs),
        "monthly report (tenant)": (bench.report, args.report_runs),
    }
    only = {o.strip() for o in args.only.split(",") if o.strip()}
    base = None
    print(f"{'page':32} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'p50/base':>9}")
    for name, (page, runs) in pages.items():
        if only and name != "baseline (call by key)" and not any(o in name for o in only):
            continue
        ms = timed(engine, page, runs)
        p50 = statistics.median(ms)
        base = base or p50
        print(f"{name:32} {runs:5d} {p50:9.1f} {_pct(ms, 95):9.1f} {_pct(ms, 99):9.1f} {p50 / base:9.0f}",
              flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{datetime.now(UTC) - timedelta(0):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
