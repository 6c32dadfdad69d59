"""Every table module, imported once so ``SQLModel.metadata`` knows the whole schema.

Add one import line here when a module adds a table (and an Alembic migration for it).
"""

from __future__ import annotations

from sqlmodel import SQLModel

import storage.agent_items  # noqa: F401  day_agent_items
import storage.agreement_days  # noqa: F401  agreement_days, agreement_call_days
import storage.app_sessions  # noqa: F401  app_sessions, sign_in_failures
import storage.archive.tables  # noqa: F401  archive runs, images, entries, holds
import storage.call_metrics  # noqa: F401  call_metrics
import storage.calls  # noqa: F401  calls
import storage.cdr  # noqa: F401  cdr_records
import storage.day_rollups  # noqa: F401  day_stats, day_shifts
import storage.evaluations  # noqa: F401  evaluations, evaluation_items
import storage.item_stats  # noqa: F401  hour_items
import storage.jobs  # noqa: F401  jobs
import storage.live_levels  # noqa: F401  live_levels
import storage.live_picks  # noqa: F401  live_plans, live_picks
import storage.live_segments  # noqa: F401  live_segments
import storage.live_watches  # noqa: F401  live_watches
import storage.models  # noqa: F401  audit_log
import storage.notifications  # noqa: F401  notifications outbox, notify_prefs
import storage.pauses  # noqa: F401  call_pauses
import storage.prompts  # noqa: F401  prompts
import storage.redactions  # noqa: F401  call_redactions, redactions, transcript_originals
import storage.repeats  # noqa: F401  hour_repeats, day_repeats; ix_calls_caller_started, ix_calls_callee_started
import storage.review_days  # noqa: F401  review_days
import storage.reviews  # noqa: F401  reviews, disputes, calibration, sampling
import storage.rollups  # noqa: F401  hour_stats, rollup_state
import storage.routing  # noqa: F401  routing rules, routed calls
import storage.rubric_rules  # noqa: F401  rubric_rules
import storage.rubrics  # noqa: F401  rubrics
import storage.schedules  # noqa: F401  sampling_claims, report_claims, live_claims
import storage.sync_drafts  # noqa: F401  sync_drafts
import storage.transcripts  # noqa: F401  transcripts, segments
import storage.users  # noqa: F401  users
import storage.voices  # noqa: F401  channel_voices, agent_voices

metadata = SQLModel.metadata
