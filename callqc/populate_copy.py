"""The COPY text of `callqc dev populate` (callqc/populate.py): each table's columns in COPY order and
a batch's lines per table, in PostgreSQL's text format."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def ts(d: datetime) -> str:
    return d.isoformat()


def j(v: Any) -> str:
    # COPY's text format reads backslashes as escapes; generated text has no tab or newline
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).replace("\\", "\\\\")


def line(*values: Any) -> str:
    return "\t".join("\\N" if v is None else str(v) for v in values) + "\n"


class Batch:
    """The COPY lines of one batch, per table."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def add(self, table: str, *values: Any) -> None:
        self.lines.setdefault(table, []).append(line(*values))


COLUMNS = {
    "calls": "call_id, tenant, agent_id, team, queue, direction, caller, callee, started_at, ended_at, duration_s, "
             "codec, sample_rate, channels, channel_map, meta, audio_key, size_bytes, sha256, status, last_error, "
             "hot_present, archived_at, created_at, updated_at",
    "transcripts": "call_id, language, language_probability, model_name, model_version, model_source, compute, "
                   "duration_s, mono, word_count, created_at, call_started_at",
    "segments": "call_id, idx, speaker, channel, start_s, end_s, text, words, avg_logprob, no_speech_prob, "
                "call_started_at",
    "call_metrics": "call_id, duration_s, agent_talk_s, customer_talk_s, non_talk_s, longest_silence_s, "
                    "overtalk_count, overtalk_s, agent_rate, customer_rate, talk_ratio, metrics, updated_at",
    "evaluations": "id, call_id, rubric_id, rubric_version, kind, evaluator, total, passed, critical_score, "
                   "pass_mark, needs_review, auto_submitted, active, superseded_by, sections, comment, created_at, "
                   "updated_at, trust, auto_insufficient, auto_critical_no",
    "evaluation_items": "evaluation_id, item_id, section_id, check_kind, critical, points, earned, possible, "
                        "auto_answer, human_answer, final_answer, final_source, reason, evidence, confidence, "
                        "model_version, comment",
    "reviews": "call_id, evaluation_id, auto_evaluation_id, inspector, verdict, comment, score, passed, "
               "assignment_id, form_token, created_at",
    "audit_log": "at, actor, action, call_id, source, detail",
    "archive_entries": "call_id, image_id, path, \"offset\", length, sha256, audio",
}
ORDER = tuple(COLUMNS)  # parents before children
