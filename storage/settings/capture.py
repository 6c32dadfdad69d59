"""How recordings come in: file drops, the HTTP ingest API, live SIPREC and media streams.

Part of :class:`storage.settings.Settings`, the one settings class. Its fields are grouped by layer in
these modules, each class a link of one chain, so the README table keeps the order of declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from storage.settings.core import CoreFields


class CaptureFields(CoreFields):
    """Fields of :class:`storage.settings.Settings`; never instantiated on its own."""

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
