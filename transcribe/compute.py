"""How a Transcriber decodes: the compute and decoding choices of one loaded model, from the settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from transcribe.audio import WINDOW_S

VAD_MIN_SILENCE_MS = 160  # the batched pipeline's own default
VAD_THRESHOLD = 0.5


@dataclass(frozen=True)
class ComputeSettings:
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    num_workers: int = 2
    batch_size: int = 1
    beam_size: int = 5
    word_timestamps: bool = True
    vad_threshold: float = VAD_THRESHOLD
    vad_min_silence_ms: int = VAD_MIN_SILENCE_MS
    window_s: float = WINDOW_S
    fallback: bool = True  # re-decode failed chunks with temperature fallback (transcribe/fallback.py)
    vad_gate: bool = True  # Silero only where the energy gate hears something (transcribe/vad.py)
    nonspeech: bool = True  # find music on hold and tones, keep them from Whisper (transcribe/nonspeech.py)
    unprime: bool = True  # re-decode without hotwords a chunk that copies the hotword prompt (fallback.py)
    coverage: bool = True  # re-decode a chunk with far too few words for its speech (fallback.py, thin)
    cascade: bool = False  # greedy first, the beam only on chunks the greedy pass is unsure of (cascade.py)
    exact_chunks: bool = True  # Silero over the whole channel, chunks packed across windows (chunker.py)

    @classmethod
    def from_settings(cls) -> ComputeSettings:
        from storage.settings import get_settings

        s = get_settings()
        return cls(device=s.asr_device, compute_type=s.asr_compute_type, cpu_threads=s.asr_cpu_threads,
                   num_workers=s.asr_num_workers, batch_size=s.asr_batch_size, beam_size=s.asr_beam_size,
                   cascade=s.asr_cascade, exact_chunks=s.asr_exact_chunks)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
