"""`callqc dev populate`: realistic rows at scale on PostgreSQL, written with COPY.

Every generated call is complete: the call row, its transcript (``SEGMENTS`` segments), its
conversation metrics, an active auto-evaluation with one answer per rubric item, and two or three
audit rows. About one call in twenty is reviewed (a human evaluation with its items and a review);
calls of months at least two months old are archived (an archive run per month, one image per
``PER_DISC`` calls, an entry per call). No audio object is written: ``hot_present`` and the archive
offsets describe audio that is not there, which is all the page queries read.

Calls are spread evenly over ``months`` months ending with ``end_month``, across agents, teams and
queues sized like a contact center (about 3,300 calls per agent, 15 agents per team). The data is a
function of ``seed``: the same seed gives the same rows, and the call IDs carry the seed so two
populations with different seeds sit side by side.

Rows go in batches of ``batch`` calls, each batch one transaction with all its rows, so the
database never holds a call without its children. Evaluation IDs are taken from the table's own
sequence, so normal inserts keep working afterwards. The rows carry past timestamps (a call's
``updated_at`` is its end), so the day rollup is told to recompute every day at its next refresh.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from callqc.populate_copy import COLUMNS, ORDER, Batch, j, ts
from scoring.rubric import LoadedRubric, active_rubric
from scoring.versions import register_rubric
from storage import partitions, rollups
from storage.db import session as db_session
from storage.errors import Conflict, InvalidInput
from storage.keys import recording_key
from storage.partitions import Month

SEGMENTS = 20
PER_DISC = 4000  # calls per archive image (a 25 GB disc of 6 MB calls)
REVIEWED_EVERY = 20  # one call in this many is reviewed by an inspector
AGENTS_PER_TEAM = 15
CALLS_PER_AGENT = 3300
QUEUES = ("billing", "sales", "support", "retention", "moves", "outages", "vip", "general")
AGENT_LINES = ("Thank you for calling, my name is {name}, how can I help you today?",
               "I understand, let me check your account for you.", "Could you please confirm your date of birth?",
               "Thank you, I can see the invoice from last month here.", "I am sorry for the trouble this caused.",
               "I have applied the credit, it will show on your next bill.", "Is there anything else I can help with?",
               "您好，很高兴为您服务，请问有什么可以帮您？", "请您稍等，我帮您查询一下。",
               "感谢您的来电，祝您生活愉快，再见。")
CUSTOMER_LINES = ("Hi, I have a question about my bill.", "It is higher than usual this month.",
                  "Sure, it is the third of March.", "Yes that one, I never ordered the premium channel.",
                  "Okay, thank you very much.", "No, that is all, goodbye.", "我的宽带从昨天开始就断了。",
                  "好的，谢谢你。", "I want to cancel the contract.", "Can you send me a confirmation email?")
ANSWERS = ("yes", "yes", "yes", "yes", "yes", "yes", "no", "n/a", "insufficient")


class NotPostgres(InvalidInput):
    """`callqc dev populate` needs PostgreSQL (set CALLQC_DATABASE_URL=postgresql+psycopg://...)"""


class AlreadyPopulated(Conflict):
    """calls of this seed are already in the database: use another --seed"""


@dataclass(frozen=True)
class Plan:
    calls: int
    seed: int = 1
    months: int = 12
    end_month: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y-%m}")
    batch: int = 5000
    # None sizes the center from the calls (a year's load per agent); set it to write one month of a
    # big center's calls without a big center's year
    staff: int | None = None

    @property
    def start(self) -> datetime:
        y, m = (int(x) for x in self.end_month.split("-"))
        m0 = y * 12 + m - 1 - (self.months - 1)
        return datetime(m0 // 12, m0 % 12 + 1, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        y, m = (int(x) for x in self.end_month.split("-"))
        return datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)

    @property
    def agents(self) -> int:
        if self.staff is not None:
            return self.staff
        return max(AGENTS_PER_TEAM, min(300, self.calls // CALLS_PER_AGENT))

    def call_id(self, i: int) -> str:
        return f"pop{self.seed}-{i:08d}"


@dataclass
class Populated:
    calls: int = 0
    segments: int = 0
    evaluations: int = 0
    items: int = 0
    reviews: int = 0
    audit: int = 0
    archived: int = 0
    seconds: float = 0.0


def _check(plan: Plan) -> None:
    if plan.calls < 1:
        raise InvalidInput("--calls must be at least 1")
    if not 1 <= plan.months <= 120:
        raise InvalidInput("--months must be between 1 and 120")
    if plan.staff is not None and not 1 <= plan.staff <= 100_000:
        raise InvalidInput("--agents must be between 1 and 100000")
    if plan.batch < 1:
        raise InvalidInput("--batch must be at least 1")
    try:
        y, m = (int(x) for x in plan.end_month.split("-"))
        datetime(y, m, 1)
    except ValueError:
        raise InvalidInput(f"--end-month {plan.end_month!r}: use YYYY-MM") from None




class Generator:
    """Rows of one population, call by call (deterministic in the plan's seed)."""

    def __init__(self, plan: Plan, rubric: LoadedRubric, image_of: Callable[[str, int], int]) -> None:
        self.plan = plan
        self.rubric_id, self.rubric_version = rubric.key
        self.pass_mark = float(rubric.rubric.pass_mark)
        self.items = [(sec.id, it.id, it.check.kind, "call" if it.critical is True else (it.critical or ""),
                       float(it.points)) for sec, it in rubric.rubric.items()]
        self.image_of = image_of
        self.archive_before = self._month_start(plan.end, -2)
        self.span = (plan.end - plan.start).total_seconds()
        self.month_counts: dict[str, int] = {}
        self.offsets: dict[int, int] = {}

    @staticmethod
    def _month_start(d: datetime, delta: int) -> datetime:
        m0 = d.year * 12 + d.month - 1 + delta
        return datetime(m0 // 12, m0 % 12 + 1, 1, tzinfo=UTC)

    def call(self, i: int, out: Batch, ev_ids: list[int], result: Populated) -> None:
        p = self.plan
        r = random.Random(p.seed * 1_000_003 + i)
        cid = p.call_id(i)
        started = p.start + timedelta(seconds=self.span * (i + r.random()) / p.calls)
        started = started.replace(microsecond=0)
        agent_n = r.randrange(p.agents)
        agent, team = f"a{agent_n:04d}", f"team{agent_n // AGENTS_PER_TEAM:02d}"
        queue = QUEUES[(agent_n + r.randrange(3)) % len(QUEUES)]
        duration = round(r.uniform(60, 600), 1)
        ended = started + timedelta(seconds=duration)
        inbound = r.random() < 0.8
        customer = f"+1555{r.randrange(max(10, p.calls // 3)):07d}"
        line = f"+1800{agent_n:07d}"
        size = int(duration * 32000) + 44
        sha = hashlib.sha256(cid.encode()).hexdigest()
        archived = started < self.archive_before
        archived_at = ts(self._month_start(started, 1) + timedelta(days=3)) if archived else None
        out.add("calls", cid, "default", agent, team, queue, "inbound" if inbound else "outbound",
                customer if inbound else line, line if inbound else customer, ts(started), ts(ended), duration,
                "pcm_s16le", 8000, 2, '{"agent":0,"customer":1}', "{}", recording_key(cid, started, "wav"), size,
                sha, "scored", None, "t", archived_at, ts(started), ts(ended))
        scored_at = ended + timedelta(minutes=r.randrange(2, 30))
        self._transcript(cid, started, duration, r, out, scored_at)
        auto_id = ev_ids.pop()
        self._evaluation(auto_id, cid, "auto", "auto", r, out, scored_at)
        out.add("audit_log", ts(started), "cli:recorder", "ingest", cid, "cli", "{}")
        result.audit += 1
        if i % REVIEWED_EVERY == 0:
            human_id = ev_ids.pop()
            at = scored_at + timedelta(hours=r.randrange(2, 72))
            inspector = f"qa{r.randrange(max(2, p.agents // 20)):02d}"
            score = self._evaluation(human_id, cid, "human", inspector, r, out, at)
            verdict = "pass" if score >= self.pass_mark else ("retraining" if score < 60 else "fail")
            out.add("reviews", cid, human_id, auto_id, inspector, verdict, "", score, "t" if verdict == "pass" else "f",
                    None, None, ts(at))
            out.add("audit_log", ts(at - timedelta(minutes=5)), inspector, "view", cid, "10.0.0.7", "{}")
            result.reviews += 1
            result.audit += 1
        elif r.random() < 0.3:
            out.add("audit_log", ts(scored_at + timedelta(hours=1)), f"sup{agent_n // AGENTS_PER_TEAM:02d}", "play",
                    cid, "10.0.0.9", j({"from": "hot", "audio": "original"}))
            result.audit += 1
        if archived:
            self._archive(cid, started, size, sha, out)
            result.archived += 1
        result.calls += 1

    def _transcript(self, cid: str, started: datetime, duration: float, r: random.Random, out: Batch,
                    at: datetime) -> None:
        step = duration / SEGMENTS
        talk = {"agent": 0.0, "customer": 0.0}
        for k in range(SEGMENTS):
            speaker = "agent" if k % 2 == 0 else "customer"
            bank = AGENT_LINES if speaker == "agent" else CUSTOMER_LINES
            text = bank[(k // 2 + r.randrange(3)) % len(bank)].format(name=f"Agent {cid[-4:]}")
            start = round(k * step + r.uniform(0, 0.2 * step), 2)
            end = round(start + step * r.uniform(0.5, 0.8), 2)
            talk[speaker] += end - start
            out.add("segments", cid, k, speaker, 0 if speaker == "agent" else 1, start, end, text, "[]",
                    round(r.uniform(-0.6, -0.1), 3), round(r.uniform(0, 0.1), 3), ts(started))
        non_talk = round(max(0.0, duration - talk["agent"] - talk["customer"]), 2)
        ratio = round(talk["agent"] / max(0.1, talk["agent"] + talk["customer"]), 3)
        out.add("transcripts", cid, "en", 0.98, "tiny.en", "populate", "bundled", "{}", duration, "f",
                SEGMENTS * 9, ts(at), ts(started))
        overtalk = r.randrange(4)
        out.add("call_metrics", cid, duration, round(talk["agent"], 2), round(talk["customer"], 2), non_talk,
                round(r.uniform(2, 15), 2), overtalk, round(overtalk * 0.8, 2), round(r.uniform(2, 4), 2),
                round(r.uniform(2, 4), 2), ratio, j({"talk_ratio": ratio}), ts(at))

    def _evaluation(self, ev_id: int, cid: str, kind: str, by: str, r: random.Random, out: Batch,
                    at: datetime) -> float:
        earned_sum = possible_sum = 0.0
        critical_no = False
        n_ins = n_crit = 0  # the stored counts of storage.evaluations (a COPY passes no ORM hook)
        for sec, item, check, critical, points in self.items:
            answer = r.choice(ANSWERS)
            n_ins += answer == "insufficient"
            n_crit += answer == "no" and critical != ""
            counts = answer in ("yes", "no")
            earned = points if answer == "yes" else 0.0
            possible = points if counts else 0.0
            earned_sum, possible_sum = earned_sum + earned, possible_sum + possible
            critical_no |= critical == "call" and answer == "no"
            human = answer if kind == "human" else None
            final = answer if kind == "human" else (answer if answer != "insufficient" else None)
            out.add("evaluation_items", ev_id, item, sec, check, critical, points, earned, possible,
                    answer, human, final, "human" if kind == "human" else "auto", "", "[]",
                    round(r.uniform(0.5, 1.0), 3), "populate", None)
        total = 0.0 if critical_no else round(100.0 * earned_sum / possible_sum, 1) if possible_sum else 0.0
        passed = total >= self.pass_mark
        auto_submitted = kind == "auto" and not critical_no and r.random() < 0.4
        out.add("evaluations", ev_id, cid, self.rubric_id, self.rubric_version, kind, by, total,
                "t" if passed else "f", None, self.pass_mark, "f" if kind == "human" else "t",
                "t" if auto_submitted else "f", "t", None, "[]", None, ts(at), ts(at), None, n_ins, n_crit)
        return total

    def _archive(self, cid: str, started: datetime, size: int, sha: str, out: Batch) -> None:
        month = f"{started:%Y-%m}"
        n = self.month_counts.get(month, 0)
        self.month_counts[month] = n + 1
        image = self.image_of(month, n // PER_DISC)
        offset = self.offsets.get(image, 0)
        self.offsets[image] = offset + size + (-size % 2048)
        out.add("archive_entries", cid, image, f"/{started:%Y/%m/%d}/{cid}.wav", offset, size, sha, "original")


def _images(conn: Any, plan: Plan) -> Callable[[str, int], int]:
    """``image_of(month, disc)``: the archive image ID, its run and image rows made on first use."""
    known: dict[tuple[str, int], int] = {}
    runs: dict[str, int] = {}

    def image_of(month: str, disc: int) -> int:
        if (month, disc) in known:
            return known[(month, disc)]
        now = datetime.now(UTC)
        if month not in runs:
            seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM archive_runs WHERE month = %s",
                               (month,)).fetchone()[0]
            runs[month] = conn.execute(
                "INSERT INTO archive_runs (month, seq, media_bytes, disc_count, call_count, total_bytes, state, "
                "actor, created_at, finished_at) VALUES (%s, %s, 25000000000, 0, 0, 0, 'done', 'populate', %s, %s) "
                "RETURNING id", (month, seq, now, now)).fetchone()[0]
        key = f"archive/{month}/pop{plan.seed}-disc{disc + 1:04d}.iso"
        known[(month, disc)] = conn.execute(
            "INSERT INTO archive_images (run_id, month, disc, disc_count, object_key, state, call_count, size_bytes, "
            "sha256, retention_mode, retain_until, legal_hold, stored_at, verified_at) VALUES "
            "(%s, %s, %s, 0, %s, 'verified', 0, 0, %s, 'COMPLIANCE', %s, false, %s, %s) RETURNING id",
            (runs[month], month, disc + 1, key, hashlib.sha256(key.encode()).hexdigest(),
             now + timedelta(days=3650), now, now)).fetchone()[0]
        return known[(month, disc)]

    return image_of


def _finish_archive(conn: Any, plan: Plan) -> None:
    """Counts and sizes of the images and runs this population made, from their entries."""
    like = f"archive/%/pop{plan.seed}-disc%"
    conn.execute(
        "UPDATE archive_images i SET call_count = e.n, size_bytes = e.bytes FROM (SELECT image_id, count(*) n, "
        "max(\"offset\" + length) bytes FROM archive_entries GROUP BY image_id) e "
        "WHERE e.image_id = i.id AND i.object_key LIKE %s", (like,))
    conn.execute(
        "UPDATE archive_images i SET disc_count = d.n FROM (SELECT run_id, count(*) n FROM archive_images "
        "GROUP BY run_id) d WHERE d.run_id = i.run_id AND i.object_key LIKE %s", (like,))
    conn.execute(
        "UPDATE archive_runs r SET disc_count = s.discs, call_count = s.calls, total_bytes = s.bytes FROM "
        "(SELECT run_id, count(*) discs, sum(call_count) calls, sum(size_bytes) bytes FROM archive_images "
        "WHERE object_key LIKE %s GROUP BY run_id) s WHERE s.run_id = r.id", (like,))


def populate(engine: Engine, plan: Plan, *, progress: Callable[[Populated], None] | None = None) -> Populated:
    """Write ``plan.calls`` calls and everything around them (see the module docstring)."""
    _check(plan)
    if engine.dialect.name != "postgresql":
        raise NotPostgres()
    with engine.connect() as c:
        if c.execute(sa.text("SELECT 1 FROM calls WHERE call_id = :a OR call_id = :b"),
                     {"a": plan.call_id(0), "b": plan.call_id(plan.calls - 1)}).first() is not None:
            raise AlreadyPopulated(f"seed {plan.seed}")
    rubric = active_rubric()
    with db_session(engine) as s:
        register_rubric(s, rubric)
    with engine.begin() as c:  # the populated months' partitions (and the next: late audit rows), none in default
        partitions.ensure_months(c, Month.of(plan.start), Month.of(plan.end))
    result, t0 = Populated(), time.monotonic()
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        # a crash loses at most the last few whole batches, never part of one
        conn.execute("SET synchronous_commit = off")
        gen = Generator(plan, rubric, _images(conn, plan))
        for first in range(0, plan.calls, plan.batch):
            ids = range(first, min(plan.calls, first + plan.batch))
            wanted = len(ids) + sum(1 for i in ids if i % REVIEWED_EVERY == 0)
            ev_ids = [row[0] for row in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('evaluations', 'id')) FROM generate_series(1, %s)",
                (wanted,))]
            ev_ids.reverse()
            out = Batch()
            for i in ids:
                gen.call(i, out, ev_ids, result)
            with conn.cursor() as cur:
                for table in ORDER:
                    lines = out.lines.get(table)
                    if not lines:
                        continue
                    with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                        copy.write("".join(lines))
            result.segments += len(out.lines.get("segments", []))
            result.evaluations += len(out.lines.get("evaluations", []))
            result.items += len(out.lines.get("evaluation_items", []))
            conn.commit()
            result.seconds = time.monotonic() - t0
            if progress:
                progress(result)
        _finish_archive(conn, plan)
        conn.commit()
        with engine.begin() as c:
            partitions.analyze(c)
        with db_session(engine) as s:
            rollups.recompute_all(s)  # the rows carry past timestamps, which a refresh would not look back to
    except BaseException:
        raw.driver_connection.rollback()  # type: ignore[union-attr]
        raise
    finally:
        raw.close()
    result.seconds = time.monotonic() - t0
    return result
