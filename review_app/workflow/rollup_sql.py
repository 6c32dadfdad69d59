"""The hour rollup's rows computed in the database (PostgreSQL): one ``INSERT … SELECT … GROUP BY`` per range.

The full (first) refresh of ``hour_stats`` used to compute every month in Python with
``rollup.raw_rows``: a read of the calls, then of their reviews, evaluations and answers batch by batch
(hundreds of round trips a month, most of the time the database's). Here the same per-call facts are
computed by one statement per range, set-based, and written where they are computed:

- the counted evaluation of a call: its newest review (the highest id), else its active
  auto-submitted auto-evaluation (of several, the newest; ``evaluations.supersede`` keeps one per
  evaluator);
- that evaluation's facts from its answers (the final one, else the inspector's, else the machine's):
  a critical item answered "no", the FCR item (of several FCR items, the last written) and the
  complaint item;
- the PBX holds (``meta.holds``: ``[[start, end], …]``, malformed entries skipped), the after-call
  work (``meta.acw_s``), the complaint tag (``meta.complaint``, ``meta.tags``), read from the JSON
  as ``kpi_calls`` reads them;
- the dashboard's own: every review, the newest active auto-evaluation's critical "no", the FCR items'
  final answers of the active human evaluations of reviewed calls.

``kpi_calls._number`` reads ``acw_s`` with Python's ``float()``, which accepts strings that no SQL
cast matches the same way (``"1_000"``, ``"nan"``, digits of other scripts). Calls whose ``acw_s``
is a string other than a plain decimal number are found first (:func:`odd_hours`) and their hours
are computed by ``rollup.raw_rows`` instead, so every row is the same as the Python path's.

tests/test_rollup_sql.py proves the rows equal ``rollup.raw_rows``'s on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from review_app.workflow.kpi_calls import COMPLAINT_ITEMS, COMPLAINT_TAGS, FCR_ITEMS
from storage.rollups import KEY, SUMS

# a string float8 reads as Python's float() does (ASCII digits and white space only)
_PLAIN_NUMBER = r"^[ \t\n\r\f\v]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\f\v]*$"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


_HOUR = """to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')"""

# a JSON scalar as Python's float() of json.loads would give it (a boolean is an int there)
_NUM = "(CASE json_typeof({x}) WHEN 'boolean' THEN (({x})::text = 'true')::int::float8 ELSE (({x})::text)::float8 END)"

_ACW = f"""(CASE json_typeof(c.meta -> 'acw_s')
    WHEN 'number' THEN (c.meta ->> 'acw_s')::float8
    WHEN 'boolean' THEN (c.meta ->> 'acw_s' = 'true')::int::float8
    WHEN 'string' THEN CASE WHEN c.meta ->> 'acw_s' ~ '{_PLAIN_NUMBER}' THEN (c.meta ->> 'acw_s')::float8 END
  END)"""

_TAG_COMPLAINT = f"""(CASE
    WHEN json_typeof(c.meta -> 'complaint') = 'boolean' THEN (c.meta ->> 'complaint') = 'true'
    WHEN json_typeof(c.meta -> 'tags') = 'array' THEN EXISTS (
      SELECT 1 FROM json_array_elements(c.meta -> 'tags') t
      WHERE json_typeof(t) = 'string' AND lower(t #>> '{{}}') IN {_in(COMPLAINT_TAGS)})
  END)"""

_ANSWER = "coalesce(nullif(i.final_answer, ''), nullif(i.human_answer, ''), i.auto_answer)"

# per call: its key, its facts as KpiCall holds them, and the dashboard's
_PER_CALL = f"""
WITH c AS MATERIALIZED (
  SELECT call_id, tenant, coalesce(team, '') AS team, coalesce(agent_id, '') AS agent_id,
         coalesce(queue, '') AS queue, {_HOUR} AS hour, duration_s, meta
  FROM calls WHERE started_at >= :a AND started_at < :b AND NOT ({_HOUR} = ANY(CAST(:odd AS text[])))
),
nr AS (
  SELECT DISTINCT ON (r.call_id) r.call_id, r.evaluation_id, r.score, r.passed, r.verdict
  FROM reviews r JOIN c ON c.call_id = r.call_id ORDER BY r.call_id, r.id DESC
),
rs AS (
  SELECT r.call_id, count(*) AS n, count(r.score) AS scored, coalesce(sum(r.score), 0) AS score_sum,
         count(r.passed) AS pass_known, count(*) FILTER (WHERE r.passed) AS passed,
         count(*) FILTER (WHERE r.verdict = 'retraining') AS retraining
  FROM reviews r JOIN c ON c.call_id = r.call_id GROUP BY r.call_id
),
sub AS (
  SELECT DISTINCT ON (e.call_id) e.call_id, e.id, e.total, e.passed, e.rubric_id
  FROM evaluations e JOIN c ON c.call_id = e.call_id
  WHERE e.kind = 'auto' AND e.active AND e.auto_submitted ORDER BY e.call_id, e.id DESC
),
aa AS (
  SELECT DISTINCT ON (e.call_id) e.call_id, e.id
  FROM evaluations e JOIN c ON c.call_id = e.call_id
  WHERE e.kind = 'auto' AND e.active ORDER BY e.call_id, e.id DESC
),
counted AS (
  SELECT c.call_id, (nr.call_id IS NOT NULL) AS reviewed,
         CASE WHEN nr.call_id IS NOT NULL THEN nr.evaluation_id ELSE sub.id END AS ev,
         nr.score AS human_score,
         CASE WHEN nr.call_id IS NULL THEN sub.total END AS auto_score,
         CASE WHEN nr.call_id IS NOT NULL THEN nr.passed ELSE sub.passed END AS passed,
         CASE WHEN nr.call_id IS NOT NULL THEN coalesce(er.rubric_id, '') ELSE coalesce(sub.rubric_id, '') END
           AS rubric,
         coalesce(nr.verdict = 'retraining', false) AS retraining
  FROM c LEFT JOIN nr ON nr.call_id = c.call_id LEFT JOIN sub ON sub.call_id = c.call_id
  LEFT JOIN evaluations er ON er.id = nr.evaluation_id
),
f AS (
  SELECT i.evaluation_id,
         bool_or(i.critical <> '' AND i.answer = 'no') AS critical_fail,
         (array_agg(i.answer = 'yes' ORDER BY i.id DESC)
            FILTER (WHERE i.item_id IN {_in(FCR_ITEMS)} AND i.answer IN ('yes', 'no')))[1] AS fcr,
         (array_agg(i.answer = 'yes' ORDER BY i.id DESC)
            FILTER (WHERE i.item_id IN {_in(COMPLAINT_ITEMS)} AND i.answer IN ('yes', 'no')))[1] AS complaint
  FROM (SELECT i.id, i.evaluation_id, i.item_id, i.critical, {_ANSWER} AS answer
        FROM evaluation_items i
        WHERE i.evaluation_id IN (SELECT ev FROM counted WHERE ev IS NOT NULL)
          AND (i.critical <> '' OR i.item_id IN {_in((*FCR_ITEMS, *COMPLAINT_ITEMS))})) i
  GROUP BY i.evaluation_id
),
acf AS (
  SELECT DISTINCT i.evaluation_id FROM evaluation_items i
  WHERE i.evaluation_id IN (SELECT id FROM aa) AND i.auto_answer = 'no' AND i.critical <> ''
),
fa AS (
  SELECT e.call_id, count(*) AS n, count(*) FILTER (WHERE i.final_answer = 'yes') AS yes
  FROM evaluations e JOIN rs ON rs.call_id = e.call_id JOIN evaluation_items i ON i.evaluation_id = e.id
  WHERE e.kind = 'human' AND e.active AND i.item_id IN {_in(FCR_ITEMS)} AND i.final_answer IN ('yes', 'no')
  GROUP BY e.call_id
),
pc AS (
  SELECT c.hour, c.tenant, c.team, c.agent_id, c.queue,
         CASE WHEN coalesce(k.human_score, k.auto_score) IS NOT NULL THEN k.rubric ELSE '' END AS rubric_id,
         c.duration_s,
         greatest(0.0, c.duration_s - coalesce(h.hold_s, 0.0)) AS talk_s,
         k.human_score, k.auto_score, coalesce(k.human_score, k.auto_score) AS score, k.passed, k.retraining,
         h.hold_s, h.hold_count,
         m.non_talk_s, m.overtalk_s, m.overtalk_count,
         {_ACW} AS acw_s,
         f.fcr, coalesce(f.complaint, {_TAG_COMPLAINT}) AS complaint, coalesce(f.critical_fail, false) AS critical_fail,
         rs.n AS reviews, rs.scored, rs.score_sum, rs.pass_known, rs.passed AS review_passed,
         rs.retraining AS review_retraining,
         (aa.id IS NOT NULL) AS auto, (acf.evaluation_id IS NOT NULL) AS auto_critical_fail,
         coalesce(fa.n, 0) AS fcr_answers, coalesce(fa.yes, 0) AS fcr_answers_yes
  FROM c
  JOIN counted k ON k.call_id = c.call_id
  LEFT JOIN f ON f.evaluation_id = k.ev
  LEFT JOIN call_metrics m ON m.call_id = c.call_id
  LEFT JOIN rs ON rs.call_id = c.call_id
  LEFT JOIN aa ON aa.call_id = c.call_id
  LEFT JOIN acf ON acf.evaluation_id = aa.id
  LEFT JOIN fa ON fa.call_id = c.call_id
  LEFT JOIN LATERAL (
    SELECT CASE WHEN json_typeof(c.meta -> 'holds') = 'array' THEN coalesce(sum(greatest(0.0, {_NUM.format(x="x -> 1")}
                - {_NUM.format(x="x -> 0")})), 0.0) END AS hold_s,
           CASE WHEN json_typeof(c.meta -> 'holds') = 'array' THEN count(*) END AS hold_count
    FROM json_array_elements(CASE WHEN json_typeof(c.meta -> 'holds') = 'array' THEN c.meta -> 'holds' END) x
    WHERE json_typeof(x) = 'array' AND json_array_length(x) = 2
      AND json_typeof(x -> 0) IN ('number', 'boolean') AND json_typeof(x -> 1) IN ('number', 'boolean')
  ) h ON true
)"""

# each SUMS column as an aggregate over pc
_AGGREGATES = {
    "calls": "count(*)",
    "duration_s": "sum(duration_s)",
    "talk_s": "sum(talk_s)",
    "human_n": "count(human_score)",
    "human_sum": "coalesce(sum(human_score), 0)",
    "auto_n": "count(*) FILTER (WHERE human_score IS NULL AND auto_score IS NOT NULL)",
    "auto_sum": "coalesce(sum(auto_score) FILTER (WHERE human_score IS NULL), 0)",
    "held_n": "count(hold_s)",
    "held_hold_s": "coalesce(sum(hold_s), 0)",
    "held_duration_s": "coalesce(sum(duration_s) FILTER (WHERE hold_s IS NOT NULL), 0)",
    "held_count": "coalesce(sum(hold_count), 0)",
    "metric_n": "count(non_talk_s)",
    "metric_non_talk_s": "coalesce(sum(non_talk_s), 0)",
    "metric_overtalk_s": "coalesce(sum(coalesce(overtalk_s, 0)) FILTER (WHERE non_talk_s IS NOT NULL), 0)",
    "metric_duration_s": "coalesce(sum(duration_s) FILTER (WHERE non_talk_s IS NOT NULL), 0)",
    "metric_overtalk_count": "coalesce(sum(coalesce(overtalk_count, 0)) FILTER (WHERE non_talk_s IS NOT NULL), 0)",
    "acw_n": "count(acw_s)",
    "acw_s": "coalesce(sum(acw_s), 0)",
    "acw_talk_s": "coalesce(sum(talk_s) FILTER (WHERE acw_s IS NOT NULL), 0)",
    "fcr_item_n": "count(fcr)",
    "fcr_item_yes": "count(*) FILTER (WHERE fcr)",
    "complaint_n": "count(complaint)",
    "complaint_yes": "count(*) FILTER (WHERE complaint)",
    "passed_n": "count(*) FILTER (WHERE score IS NOT NULL AND passed IS NOT NULL)",
    "passed_yes": "count(*) FILTER (WHERE score IS NOT NULL AND passed)",
    "critical_fails": "count(*) FILTER (WHERE score IS NOT NULL AND critical_fail)",
    "retraining": "count(*) FILTER (WHERE retraining)",
    "reviews": "coalesce(sum(reviews), 0)",
    "review_scored": "coalesce(sum(scored), 0)",
    "review_score_sum": "coalesce(sum(score_sum), 0)",
    "review_pass_known": "coalesce(sum(pass_known), 0)",
    "review_passed": "coalesce(sum(review_passed), 0)",
    "review_retraining": "coalesce(sum(review_retraining), 0)",
    "autos": "count(*) FILTER (WHERE auto)",
    "auto_critical_fails": "count(*) FILTER (WHERE auto_critical_fail)",
    "fcr_answers": "sum(fcr_answers)",
    "fcr_answers_yes": "sum(fcr_answers_yes)",
}
assert set(_AGGREGATES) == set(SUMS), "every hour_stats column has its aggregate"

INSERT = sa.text(
    f"INSERT INTO hour_stats ({', '.join((*KEY, *SUMS))})\n{_PER_CALL}\n"
    f"SELECT {', '.join(KEY)}, {', '.join(_AGGREGATES[c] for c in SUMS)}\n"
    f"FROM pc GROUP BY {', '.join(KEY)}")

_ODD = sa.text(
    f"SELECT DISTINCT {_HOUR} FROM calls c WHERE started_at >= :a AND started_at < :b "
    f"AND json_typeof(c.meta -> 'acw_s') = 'string' AND c.meta ->> 'acw_s' <> '' "
    f"AND c.meta ->> 'acw_s' !~ '{_PLAIN_NUMBER}'")


def odd_hours(session: Session, start: datetime, end: datetime) -> list[str]:
    """Hours in [start, end) with a call whose ``acw_s`` only Python's ``float()`` can read (see the module doc)."""
    return sorted(h for (h,) in session.execute(_ODD, {"a": start, "b": end}))


def insert_rows(session: Session, start: datetime, end: datetime, *, skip: list[str]) -> int:
    """Write the ``hour_stats`` rows of the calls that started in [start, end), but in the hours ``skip``;
    the rows written. The range's old rows must be deleted first."""
    # the planner's row estimates through the CTEs are far too high (10^14), which makes it JIT-compile
    # the statement: 29 s of a 48 s month on callqc_scale_dev, for a statement that then runs in 15 s
    session.execute(sa.text("SET LOCAL jit = off"))
    return int(getattr(session.execute(INSERT, {"a": start, "b": end, "odd": skip}), "rowcount", 0) or 0)
