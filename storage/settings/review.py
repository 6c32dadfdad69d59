"""What people see and keep: scoring, the review app, notifications, the archive.

Part of :class:`storage.settings.Settings`, the one settings class. Its fields are grouped by layer in
these modules, each class a link of one chain, so the README table keeps the order of declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from storage.settings.pipeline import PipelineFields


class ReviewFields(PipelineFields):
    """Fields of :class:`storage.settings.Settings`; never instantiated on its own."""

    # --- scoring ----------------------------------------------------------------------------------
    rubric_path: Path | None = Field(None, description="Rubric YAML; default the bundled default rubric.")
    forbidden_variants_path: Path | None = Field(
        None, description="Forbidden words' variants and ASR confusions (YAML); default the bundled "
        "`scoring/rubrics/forbidden_variants.yaml`.",
    )
    low_confidence_logprob: float = Field(
        -1.0, description="Segments below this average log-probability are too uncertain to decide an item."
    )
    channel_auto_flip: bool = Field(
        False, description="A two-channel call the channel check finds `swapped` with at least "
        "`channel_flip_confidence` gets its agent/customer map flipped before scoring (audited; speakers "
        "re-attributed). Off: the verdict is only shown (docs/scoring.md, \"Channel check\").",
    )
    channel_flip_confidence: float = Field(
        0.95, ge=0.5, le=1, description="Confidence a `swapped` verdict needs for `channel_auto_flip` to act on it.",
    )
    score_forced_verification: bool = Field(
        True, description="Mandarin calls: a rubric phrase the transcript missed is tried on the call's audio by "
        "forced decoding with the ASR model, and counts as said when the model finds it about as likely as what it "
        "wrote (a margin per phrase length) and likelier than the rubric's other phrases; an absence or a "
        "forbidden-word doubt in low-confidence speech is settled when the audio rules the phrases out "
        "(docs/scoring.md). On by default: on a fresh held-out seed it raised rubric agreement from 47 % to 58 % "
        "with no phrase false positive (docs/benchmarks.md). A scoring worker then needs the ASR model, and it "
        "costs 35-80 % of the transcription's CPU; off: the transcript alone decides.",
    )
    auto_submit_kappa: float = Field(0.8, ge=0, le=1, description="κ an item needs to auto-submit.")
    auto_submit_min_reviews: int = Field(25, ge=1, description="Reviewed calls an item needs to auto-submit.")
    agreement_window_days: int = Field(90, ge=1, description="Rolling window of the agreement statistics.")
    model_min_labels: int = Field(20, ge=2, description="Labels a learned item needs before it answers.")
    fcr_days: float = Field(
        7, gt=0, description="First-contact resolution: a call is resolved when the same customer number does not "
        "call again within this many days. After a change the pages compute FCR from the call rows until the next "
        "`callqc db rollup` recomputes the repeat-call rollup with it (no `--all` needed).",
    )
    shift_gap_min: float = Field(
        60, gt=0, description="Calls per hour: a gap longer than this between an agent's calls ends a shift "
        "(breaks between shifts are not worked hours).",
    )

    # --- review app -------------------------------------------------------------------------------
    locale: Literal["zh-CN", "en"] = Field("zh-CN", description="Language of the review app.")
    app_host: str = Field("127.0.0.1", description="Address the review app listens on.")
    app_port: int = Field(8501, description="Port of the review app.")
    dispute_window_days: int = Field(7, ge=0, description="Days an agent has to dispute an evaluation.")
    timezone: str = Field(
        "Asia/Shanghai", description="Time zone the review app shows times in (IANA name, e.g. `UTC`) to users "
        "who have not chosen their own (Profile page, `callqc user timezone`).",
    )
    app_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="A review-app sign-in lasts at most this long, hours."
    )
    app_session_idle_minutes: float = Field(
        120.0, gt=0, description="A review-app sign-in unused for this long ends, minutes."
    )
    sign_in_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins per user name before it must wait (an address gets 4 times as many)."
    )
    sign_in_window_s: int = Field(900, ge=1, description="Failed sign-ins older than this are forgotten, seconds.")
    sign_in_delay_s: int = Field(
        30, ge=1, description="First wait after too many failed sign-ins; doubles with each further failure."
    )
    sign_in_delay_max_s: int = Field(900, ge=1, description="Longest wait after failed sign-ins, seconds.")
    schedule_poll_s: float = Field(
        30.0, gt=0, description="How often the scheduler (`callqc schedule loop`, part of `callqc up`) looks "
        "for sampling plans whose period has ended.",
    )
    report_dir: Path | None = Field(
        None, description="Folder the scheduler writes each month's quality audit report to "
        "(`<tenant>/qc-report-YYYY-MM.xlsx` and `.csv`); default `<data_dir>/reports`.",
    )
    schedule_catch_up: int = Field(
        100, ge=1, description="Most missed periods of one plan run after a restart (older ones are skipped, logged).",
    )

    # --- notifications ----------------------------------------------------------------------------
    app_url: str = Field(
        "http://127.0.0.1:8501", description="The review app's address as people reach it, for links in notifications.",
    )
    notify_webhook_secret: SecretStr | None = Field(
        None, description="Key of the HMAC-SHA256 signature on webhook notifications (header X-Callqc-Signature); "
        "webhooks are not sent without one.",
    )
    notify_webhook_allow: list[str] = Field(
        default_factory=list, description="Networks (CIDR) webhooks may reach although they are private, loopback or "
        "link-local, e.g. a receiver inside the company network. Default: none, only public addresses. "
        'JSON: `["10.20.0.0/16"]`.',
    )
    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications; none: no e-mail is sent.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS on the SMTP connection.")
    smtp_user: str | None = Field(None, description="SMTP user name (empty: no login).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("callqc@localhost", description="Sender address of e-mail notifications.")
    notify_poll_s: float = Field(2.0, gt=0, description="How often the notification sender looks for due messages.")
    notify_lease_s: float = Field(
        120.0, gt=0, description="A message being sent is taken back after this long (the sender died).",
    )
    notify_backoff_s: float = Field(10.0, ge=0, description="First retry delay of a failed notification; doubles.")
    notify_max_attempts: int = Field(8, ge=1, description="Attempts before a notification is marked dead.")

    # --- archive ----------------------------------------------------------------------------------
    archive_retention_days: int = Field(3650, ge=1, description="WORM retention of archive images, days.")
    archive_retention_by_tenant: dict[str, int] = Field(
        default_factory=dict, description='Retention per tenant, JSON: `{"gz-bank": 5475}`.'
    )
    archive_audio: Literal["original", "redacted", "both"] = Field(
        "redacted", description="Audio written to archive discs: the redacted copy, the original, or both (the "
        "manifest says which each file is). Originals go to the archive only when set so.",
    )
    archive_delete_hot: bool = Field(
        False, description="Delete hot copies once their archive image is verified."
    )
    hot_retention_days: int | None = Field(
        None, ge=1, description="Days after a call started before `callqc dispose` deletes its hot audio and "
        "transcript (only once a verified archive image holds it; never under legal hold or WORM retention). "
        "Empty: kept until then only where a tenant or queue entry names a period.",
    )
    hot_retention_by_tenant: dict[str, int] = Field(
        default_factory=dict, description='Hot retention per tenant, days, JSON: `{"gz-bank": 730}`. A call keeps '
        "the longest of the periods that name it (default, tenant, queue).",
    )
    hot_retention_by_queue: dict[str, int] = Field(
        default_factory=dict, description='Hot retention per queue, days, JSON: `{"complaints": 1095}`.'
    )
    partition_months_ahead: int = Field(
        3, ge=1, le=24, description="PostgreSQL: months ahead whose partitions (segments, transcripts, audit log) "
        "the workers create, so a new month's rows never land in the default partition.",
    )

    # --- tests --------------------------------------------------------------------------------
    require_services: bool = Field(
        False,
        description="Tests fail (instead of skipping) when PostgreSQL, the S3 server or a system tool is missing.",
    )
