"""All of callqc's settings, declared once.

Every setting is read from the environment with the prefix ``CALLQC_`` (or from a ``.env`` file in the
working directory), e.g. ``CALLQC_DATABASE_URL``. Read them only through :func:`get_settings`.
The README's configuration table is generated from this class and a test keeps the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """callqc configuration (environment variables ``CALLQC_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="CALLQC_", env_file=".env", extra="ignore")

    # --- embedded default: one local data folder ---------------------------------------------
    data_dir: Path = Field(
        Path("data"),
        description="Data folder of the embedded default: SQLite database, object folder, model cache.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite (WAL) file `<data_dir>/callqc.db`. "
        "PostgreSQL: `postgresql+psycopg://user@host:5432/callqc`.",
    )
    db_pool_size: int = Field(
        5, ge=1, description="PostgreSQL connections each process keeps open (SQLite ignores the pool settings)."
    )
    db_max_overflow: int = Field(5, ge=0, description="Extra PostgreSQL connections a process may open under load.")
    db_pool_timeout_s: float = Field(
        10.0, gt=0, description="How long a request waits for a free database connection before it is answered "
        "503 (busy, retry later).",
    )
    log_level: str = Field("WARNING", description="Python logging level (workers and servers log at INFO when asked).")

    # --- object store -----------------------------------------------------------------------------
    store: Literal["local", "s3"] = Field("local", description="Object store: `local` folder or `s3`.")
    store_dir: Path | None = Field(None, description="Folder of the local store; default `<data_dir>/objects`.")
    s3_endpoint: str | None = Field(None, description="S3 endpoint `host:port` (MinIO, Ceph RGW, AWS).")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key.")
    s3_region: str | None = Field(None, description="S3 region (AWS); leave empty for MinIO/Ceph.")
    s3_secure: bool = Field(True, description="Use TLS for the S3 endpoint.")
    s3_cert_check: bool = Field(True, description="Verify the S3 server's TLS certificate.")
    bucket_recordings: str = Field("callqc-recordings", description="Bucket (or local sub-folder) of hot audio.")
    bucket_archive: str = Field(
        "callqc-archive", description="Bucket (or local sub-folder) of archive images; Object Lock on S3."
    )
    bucket_models: str = Field("callqc-models", description="Bucket (or local sub-folder) of learned-item models.")
    presign_ttl_s: int = Field(300, ge=10, le=86400, description="Lifetime of presigned GET URLs, seconds.")
    multipart_part_bytes: int = Field(
        16 * 1024 * 1024, ge=5 * 1024 * 1024, description="Part size of S3 multipart uploads, bytes."
    )

    # --- recorder ---------------------------------------------------------------------------------
    max_duration_s: float = Field(4 * 3600, gt=0, description="Longest recording accepted, seconds.")
    max_upload_bytes: int = Field(2 * 1024**3, gt=0, description="Largest recording accepted, bytes.")
    api_host: str = Field("127.0.0.1", description="Address the HTTP ingest API listens on.")
    api_port: int = Field(8080, description="Port of the HTTP ingest API.")
    api_token: SecretStr | None = Field(
        None, description="Bearer token the ingest API requires (at least 16 characters); the API refuses to "
        "start without one.",
    )
    api_docs: bool = Field(
        False, description="Serve the API's `/openapi.json` (to clients with the token only; there is no `/docs` "
        "page, which would load Swagger UI from the internet).",
    )
    api_header_timeout_s: float = Field(
        10.0, gt=0, description="A client must send a request's headers within this many seconds, else the "
        "connection is closed (slow senders would hold connections for good).",
    )
    api_body_timeout_s: float = Field(
        30.0, gt=0, description="Longest pause between two pieces of an upload's body, seconds (then 408)."
    )
    media_token_key: SecretStr | None = Field(
        None, description="Key (at least 32 characters) signing the short-lived media tokens of `/v1/media`; "
        "default: a random key kept in `<data_dir>/media_token.key` (mode 0600), created on first use.",
    )
    api_public_url: str | None = Field(
        None, description="Address browsers reach the recorder API at (e.g. `https://rec.example.com`); the "
        "review app's player fetches `<it>/v1/media/<call>` from there. Unset: from the review app's own server.",
    )
    media_token_ttl_s: int = Field(
        300, ge=10, le=86400, description="How long a media token minted by the review app stays valid, seconds.",
    )
    api_max_header_bytes: int = Field(16 * 1024, ge=1024, description="Largest request head (request line and "
                                      "headers) the API reads, bytes.")
    api_max_connections: int = Field(
        500, ge=1, description="Open connections plus requests in progress the API takes; past it, 503 with "
        "`Retry-After`.",
    )
    min_duration_s: float = Field(
        0.5, ge=0, description="Shortest recording accepted, seconds (shorter ones cannot be transcribed)."
    )
    spool_stable_s: float = Field(
        2.0, ge=0, description="With `recorder watch --no-require-done`: a spool file without a `.done` marker "
        "is finished when its size has not changed for this long.",
    )
    spool_poll_s: float = Field(1.0, gt=0, description="How often the spool watcher looks, seconds.")
    spool_max_attempts: int = Field(
        5, ge=1, description="Looks at which a spool file fails with a passing error before it is rejected."
    )
    spool_layout: Literal["plain", "asterisk", "freepbx", "freeswitch"] = Field(
        "plain", description="How the PBX names and places recordings in the spool folder (`recorder/layouts.yaml`): "
        "`freepbx` reads `monitor/YYYY/MM/DD/in-<to>-<from>-<date>-<time>-<uniqueid>.wav` and looks in "
        "sub-folders; `plain` takes the call ID from the file name only. `recorder watch --layout` overrides it.",
    )
    pbx_timezone: str = Field(
        "UTC", description="Time zone of the PBX's clock: the dates and times in its file names and CDR "
        "records are read in it (e.g. `Europe/Berlin`).",
    )
    agent_map_csv: Path | None = Field(
        None, description="Agent table: a CSV of `extension,agent_id` rows mapping PBX extensions (from file "
        "names and CDR channels) to agent IDs.",
    )
    cdr_csv: Path | None = Field(
        None, description="The PBX's call records: Asterisk `cdr_csv` `Master.csv` (read by `callqc coverage`).",
    )
    cdr_dsn: SecretStr | None = Field(
        None, description="FreePBX's CDR database, read by `callqc coverage --cdr-format freepbx-db`: an "
        "SQLAlchemy URL to the `asteriskcdrdb` database, e.g. `mysql+pymysql://user:pass@pbx/asteriskcdrdb` "
        "(needs `pip install 'callqc[mysql]'`). A secret: never printed.",
    )
    cdr_json_dir: Path | None = Field(
        None, description="Folder where FreeSWITCH `mod_json_cdr` writes one JSON file per call (its `log-dir`); "
        "read by `callqc coverage --cdr-format freeswitch-json`.",
    )
    coverage_alert_pct: float = Field(
        99.5, ge=0, le=100, description="`callqc coverage` exits 1 when the recorded share of answered calls "
        "is below this.",
    )

    # --- live capture (SIPREC recording server, media streams) -------------------------------------
    siprec_host: str = Field("127.0.0.1", description="Address the SIPREC server listens on (SIP over UDP and TCP).")
    siprec_port: int = Field(5060, ge=1, le=65535, description="SIP port of the SIPREC server (UDP and TCP).")
    siprec_tls_port: int = Field(5061, ge=1, le=65535, description="SIP over TLS port (only with a certificate).")
    siprec_tls_cert: Path | None = Field(
        None, description="PEM certificate (chain) for SIP over TLS; set it and `siprec_tls_key` to listen for TLS."
    )
    siprec_tls_key: Path | None = Field(None, description="PEM private key of `siprec_tls_cert`.")
    siprec_media_ip: str | None = Field(
        None, description="Address put in SDP answers for RTP; default `siprec_host` (set it when that is 0.0.0.0)."
    )
    siprec_rtp_port_min: int = Field(20000, ge=1024, le=65534, description="Lowest local RTP port (even).")
    siprec_rtp_port_max: int = Field(
        29999, ge=1025, le=65535, description="Highest local RTP port; a two-stream call takes P and P+2 (open "
        "this UDP range in firewalls).",
    )
    siprec_allow_plain: bool = Field(
        False, description="Record a plain (non-SIPREC) INVITE as one mono stream with the fallback speaker map "
        "instead of answering 421.",
    )
    siprec_agent_aor: str = Field(
        r"^sips?:(agent[\w.-]*|\d{3,6})@",
        description="Regular expression: a participant whose AOR matches is the agent; the stream it sends "
        "is the agent channel (default: `agent…` users and 3-6 digit extensions).",
    )
    siprec_codecs: list[str] = Field(
        default_factory=lambda: ["PCMU", "PCMA"],
        description='Codecs the SIPREC server answers and records, JSON: `["PCMU", "PCMA", "G722", "opus"]`. '
        "G.711 is decoded by table; G.722 and Opus by PyAV's FFmpeg (checked at start). A call with any "
        "G.722 or Opus packet is stored as 16 kHz 16-bit PCM.",
    )
    siprec_max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest SIP body (SDP + metadata) accepted; larger gets 413."
    )
    siprec_rtp_timeout_s: float = Field(
        60.0, gt=0, description="A live call with no RTP for this long ends as if hung up (marked rtp_timeout)."
    )
    siprec_flush_s: float = Field(
        0.2, gt=0, le=1.0, description="How often live audio is written to the call journal (the tap's delay)."
    )
    live_transcript: bool = Field(
        True, description="Transcribe live calls in short windows cut at pauses (`callqc live-transcribe`, started "
        "by `callqc up`; it runs on the recorder host: it reads the live audio tap). Off: no live transcript.",
    )
    live_transcript_all: bool = Field(
        False, description="Transcribe every live call on this host, not only the ones someone has opened in the "
        "review app (then the live flags hear forbidden words on every call; cost per call: docs/benchmarks.md).",
    )
    live_asr_model: str = Field(
        "tiny.en", description="Whisper model of the live transcript (greedy, `asr_num_workers` windows at once). "
        "Small keeps lines a few seconds behind the speech; `base` for other languages than English.",
    )
    siprec_fsync_s: float = Field(
        1.0, gt=0, le=2.0, description="How often call journals are fsynced (what a machine crash can lose)."
    )
    siprec_jitter_packets: int = Field(
        4, ge=0, le=50, description="Packets the jitter buffer holds per stream to put reordered packets back."
    )
    siprec_retry_s: float = Field(
        30.0, gt=0, description="How often finished calls whose upload failed are retried (and dead recorders' "
        "journals recovered).",
    )

    # --- job queue and workers --------------------------------------------------------------------
    job_max_attempts: int = Field(5, ge=1, description="Attempts before a job goes `dead`.")
    job_backoff_s: float = Field(5.0, ge=0, description="First retry delay; doubles per attempt.")
    job_backoff_max_s: float = Field(900.0, ge=0, description="Longest retry delay, seconds.")
    job_heartbeat_s: float = Field(10.0, gt=0, description="How often a running job renews its lease.")
    job_stall_s: float = Field(
        60.0, gt=0, description="A running job whose heartbeat is older than this is requeued."
    )
    worker_concurrency: int = Field(
        1, ge=1, description="Worker processes started by `callqc work`/`up` (each loads the model once)."
    )
    worker_slots: int = Field(
        2, ge=1, description="Jobs one worker process runs at once, sharing its model: one call is fetched, "
        "decoded and stored while another is transcribed.",
    )
    worker_poll_s: float = Field(1.0, gt=0, description="Idle worker poll interval, seconds.")
    worker_drain_s: float = Field(
        20.0, ge=0, description="On SIGTERM a worker stops claiming and lets its running jobs finish for up to "
        "this long, then hands them back to the queue (claimable at once, the attempt not counted) and exits. "
        "Keep it below the kill grace period (Kubernetes `terminationGracePeriodSeconds`, default 30).",
    )

    # --- transcription ----------------------------------------------------------------------------
    asr_model: str = Field(
        "base",
        description="Whisper model: `tiny.en` or `base` (pinned packages, offline), a local CTranslate2 "
        "folder, or a hub name (needs `asr_allow_download`).",
    )
    asr_allow_download: bool = Field(False, description="Allow fetching a hub model at run time.")
    asr_device: str = Field("cpu", description="CTranslate2 device.")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type.")
    asr_cpu_threads: int = Field(1, ge=0, description="Threads per model replica.")
    asr_num_workers: int = Field(2, ge=1, description="Model replicas (parallel streams) per worker.")
    asr_batch_size: int = Field(
        1, ge=1, description="Chunks (≤30 s of speech) per batched decode. On CPU replicas of one thread each, 1 "
        "is fastest (measured: `python -m bench.asr_batch`); larger batches are for GPUs (not measured here).",
    )
    asr_beam_size: int = Field(
        5, ge=1, le=10, description="Beam width of decoding; 1 (greedy) is cheaper and less accurate (measured: "
        "`python -m bench.asr_beam`, docs/benchmarks.md).",
    )
    asr_cascade: bool = Field(
        False, description="Cascade decoding: every chunk greedily (beam 1) first, decoded again with the beam "
        "(`asr_beam_size`) only where the greedy pass is unsure (low log-probability, too few words, a loop). "
        "Measured with `python -m bench.asr_cascade` and `python -m bench.pbx_speed` (docs/benchmarks.md).",
    )
    asr_exact_chunks: bool = Field(
        True, description="Voice detection by Silero over each whole channel (its state carried across windows) "
        "and speech packed into chunks across window edges: the chunks, and so the text, of bare faster-whisper "
        "over the whole call. Off: Silero only where an energy gate hears sound, window by window (less CPU, "
        "other chunk edges). Measured with `python -m bench.pbx_speed` (docs/benchmarks.md).",
    )
    asr_language: str | None = Field(None, description="Fixed language (`zh`, `en`); empty = detect per call.")
    asr_language_by_queue: dict[str, str] = Field(
        default_factory=dict, description='Language per queue, JSON: `{"cn-support": "zh"}`.'
    )
    asr_language_by_number: dict[str, str] = Field(
        default_factory=dict, description='Language per number prefix (the callee, then the caller; longest '
        'prefix wins), JSON: `{"400": "zh", "+86": "zh", "+44": "en"}`. The queue\'s language comes first.',
    )
    asr_languages: list[str] = Field(
        default_factory=list, description='Languages detection chooses among, JSON: `["zh", "en"]`; empty = '
        "any Whisper language. Stops 8 kHz Mandarin being taken for Cantonese or Japanese.",
    )
    asr_simplified_chinese: bool = Field(True, description="Convert Chinese output to Simplified (opencc).")
    asr_rubric_hotwords: bool = Field(
        True, description="Prime decoding with the active rubric's phrases, for the languages of "
        "`asr_rubric_hotwords_languages`. A chunk that copies the prompt is decoded again without it "
        "(transcribe/fallback.py). On by default for Mandarin: on a fresh held-out seed it gave more rubric "
        "agreement than plain decoding, with forced verification on top or without, at the same phrase false "
        "positives and less CPU (docs/benchmarks.md, \"Default Mandarin pipeline\").",
    )
    asr_rubric_hotwords_languages: list[str] = Field(
        default_factory=lambda: ["zh"], description='Languages whose calls are primed with the rubric\'s phrases, '
        'JSON: `["zh", "en"]`. English priming was never measured, so it is not primed by default.',
    )
    asr_hotwords: list[str] = Field(
        default_factory=list, description='Operator words to prime decoding with (product and place names), '
        'JSON: `["宽带", "光猫"]`.',
    )

    # --- redaction of personal data (docs/redaction.md) ------------------------------------------
    redaction_enabled: bool = Field(
        True, description="Find card, ID and phone numbers, bank accounts and e-mail addresses in each transcript "
        "and store the text and a copy of the audio with them cut out.",
    )
    redaction_keep_original: bool = Field(
        False, description="Also keep the original text of redacted segments (readable only with the `pii` "
        "permission). Off: the original text is never stored.",
    )
    pii_roles: list[str] = Field(
        default_factory=lambda: ["admin"], description='Roles with the `pii` permission: original text and audio, '
        'audited. JSON: `["admin", "archivist"]`.',
    )
    redaction_rules_dir: Path | None = Field(
        None, description="Folder of `<language>.yaml` files replacing the bundled cue words (file by file).",
    )
    redaction_margin_s: float = Field(
        0.3, ge=0, le=5, description="Audio cut before and after each hit, seconds (word times are approximate).",
    )
    redaction_audio: Literal["tone", "silence"] = Field(
        "tone", description="What replaces a hit in the redacted audio: a 1 kHz tone or silence.",
    )
    redaction_fade_ms: int = Field(20, ge=0, le=500, description="Fade in and out at each cut, milliseconds.")
    redaction_answer_window: bool = Field(
        True, description="When the agent asks for a number (`asks:` in the redaction rules: \"card number\", "
        "手机号), redact the customer's answer: the whole answer in the audio, its digit-like words in the text, "
        "however the ASR wrote the digits (docs/redaction.md, *Answer windows*).",
    )
    redaction_answer_pause_s: float = Field(
        3.0, gt=0, le=10, description="An answer window ends where the customer stops for longer than this, "
        "seconds (a number's groups are said with shorter pauses).",
    )
    redaction_answer_max_s: float = Field(
        20.0, gt=0, le=120, description="An answer window is at most this long from the customer's first word, "
        "seconds.",
    )
    redaction_redecode: bool = Field(
        False, description="Decode each answer window of a card, ID or phone ask again on its own, primed with the "
        "ask and an answer in digits, and redact the answer when what comes back passes that type's check (ID "
        "check character, card Luhn, mobile/landline form). Off: it found nothing more on the benchmark's "
        "espeak-ng Mandarin and English sets, for ~1.6 s of CPU per window (docs/redaction.md, *Primed "
        "re-decoding*).",
    )
    redaction_soundalike_uncued_units: int = Field(
        10, ge=1, le=19, description="Mandarin numbers the ASR wrote as sound-alike characters (伊林 for 一零) are "
        "read back by their pinyin and kept only when they pass an ID, card or mobile check; a card or mobile "
        "that no cue asked for (not even one heard as a homophone) also needs this many characters that sound "
        "exactly like a digit (docs/redaction.md, *Sound-alike characters*).",
    )

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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'callqc.db').resolve()}"

    @property
    def resolved_store_dir(self) -> Path:
        return (self.store_dir or self.data_dir / "objects").resolve()

    @property
    def model_cache_dir(self) -> Path:
        return (self.data_dir / "models").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
