"""What the workers do with a call: the job queue, transcription, redaction.

Part of :class:`storage.settings.Settings`, the one settings class. Its fields are grouped by layer in
these modules, each class a link of one chain, so the README table keeps the order of declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from storage.settings.capture import CaptureFields


class PipelineFields(CaptureFields):
    """Fields of :class:`storage.settings.Settings`; never instantiated on its own."""

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
