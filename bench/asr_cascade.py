"""Cascade decoding, chunk by chunk (not a test): what greedy-then-beam costs and keeps on the PBX corpus.

Every channel of the corpus calls (:mod:`bench.pbx_corpus`) is listened to as callqc does (non-speech
classifier, gated VAD), packed into the batched pipeline's ≤30 s chunks, and each chunk is encoded
once and decoded both greedily (beam 1) and with the wide beam, on the same encoder output. The
CPU time of each step is measured per chunk (process CPU time, one chunk at a time). Then each rule of a sweep over the
cascade's thresholds (:class:`transcribe.cascade.CascadeRule`) is applied to the recorded outputs:
the chunks it would decode again take the beam's text, the others keep the greedy text, and the
result is scored against the corpus references (WER per channel) and costed (encode + greedy +
beam where re-decoded, against encode + beam for every chunk).

``python -m bench.asr_cascade --corpus DIR [--calls 12] [--model tiny.en] [--beam 5] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.machine import loadavg, machine
from bench.pbx_speed import SPEAKERS, wer

# Sweep of (min_logprob, max_compression_ratio, no_speech_prob, min_words_per_s); the first is "never re-decode".
RULES = [(-99.0, 99.0, 1.1, 0.0)] + [(lp, cr, 0.5, wps) for lp in (-0.2, -0.25, -0.3, -0.35, -0.4, -0.5, -0.7)
                                     for cr in (1.8, 2.4) for wps in (0.0, 1.0)]


ALWAYS = (99.0, 0.0, -1.0, 0.0)


def study(corpus: Path, calls: int | None, model_name: str, beam: int) -> dict:
    """Per chunk of every channel: greedy and beam outputs and what each step cost."""
    import numpy as np
    from faster_whisper import decode_audio
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.vad import collect_chunks

    from bench.pbx_corpus import load
    from transcribe.cascade import CascadePipeline
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model

    items = load(corpus)[:calls]
    engine = Transcriber(resolve_model(model_name), ComputeSettings(), simplified_chinese=False)
    whisper = engine.whisper
    tokenizer = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language="en")
    pipe = CascadePipeline(whisper)

    def options(beam_size: int) -> object:
        # The options the batched pipeline builds for callqc's decode (defaults of its transcribe()).
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        return TranscriptionOptions(
            beam_size=beam_size, best_of=5, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, log_prob_threshold=-1.0, no_speech_threshold=0.6,
            compression_ratio_threshold=2.4, condition_on_previous_text=False, prompt_reset_on_temperature=0.5,
            temperatures=[0.0], initial_prompt=None, prefix=None, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), without_timestamps=True,
            max_initial_timestamp=0.0, word_timestamps=False, prepend_punctuations="\"'“¿([{-",
            append_punctuations="\"'.。,，!！?？:：”)]}、", multilingual=False, max_new_tokens=None,
            clip_timestamps=[], hallucination_silence_threshold=None, hotwords=None)

    greedy_opts, beam_opts = options(1), options(beam)
    prompt = whisper.get_prompt(tokenizer, previous_tokens=[], without_timestamps=True)

    def channel(job: tuple[int, int]) -> list[dict]:
        i, ch = job
        audio = decode_audio(items[i]["path"], split_stereo=True)[ch]
        t = time.process_time()
        spans, _found = engine.listen(audio, channel=ch, offset_s=0.0)
        listen_s = time.process_time() - t
        if not spans:
            return []
        chunks, _meta = collect_chunks(audio, spans, max_duration=30)
        out = []
        for k, chunk in enumerate(chunks):
            t0 = time.process_time()
            feats = np.stack([pad_or_trim(whisper.feature_extractor(chunk)[..., :-1])])
            enc = whisper.encode(feats)
            t1 = time.process_time()
            g = pipe._generate(enc, [prompt.copy()], greedy_opts, whisper.max_length)[0]
            t2 = time.process_time()
            b = pipe._generate(enc, [prompt.copy()], beam_opts, whisper.max_length)[0]
            t3 = time.process_time()

            def text(o: dict) -> str:
                return tokenizer.decode([x for x in o["tokens"] if x < tokenizer.eot])

            out.append({"call": i, "speaker": SPEAKERS[ch], "chunk": k, "seconds": len(chunk) / 16000,
                        "encode_s": t1 - t0, "greedy_s": t2 - t1, "beam_s": t3 - t2,
                        "listen_s": listen_s if k == 0 else 0.0,
                        "greedy": {"text": text(g), "avg_logprob": g["avg_logprob"],
                                   "no_speech_prob": g["no_speech_prob"]},
                        "beam": {"text": text(b), "avg_logprob": b["avg_logprob"]}})
        return out

    jobs = [(i, ch) for i in range(len(items)) for ch in (0, 1)]
    # One channel at a time: the model's own threads do the work, so the process's CPU time around a
    # step is that step's cost only while nothing else runs in the process.
    chunks = [c for job in jobs for c in channel(job)]
    return {"calls": items, "chunks": chunks}


def evaluate(data: dict, rule: tuple[float, float, float, float]) -> dict:
    """What the cascade with ``rule`` gives on the recorded chunks: WER per channel, chunks re-decoded, cost."""
    from transcribe.cascade import CascadeRule, unsure

    r = CascadeRule(min_logprob=rule[0], max_compression_ratio=rule[1], no_speech_prob=rule[2],
                    min_words_per_s=rule[3])
    calls, chunks = data["calls"], data["chunks"]
    hyp: dict[tuple[int, str], list[str]] = {}
    redo = cost = full = 0.0
    for c in chunks:
        again = unsure(c["greedy"], c["greedy"]["text"], r, seconds=c["seconds"]) is not None
        redo += again
        hyp.setdefault((c["call"], c["speaker"]), []).append(c["beam" if again else "greedy"]["text"])
        cost += c["encode_s"] + c["greedy_s"] + (c["beam_s"] if again else 0.0)
        full += c["encode_s"] + c["beam_s"]
    out = {"rule": rule, "redecoded": redo / max(1, len(chunks)), "cost": cost / full if full else 0.0}
    for sp in (*SPEAKERS, None):
        keys = [(i, s) for i in range(len(calls)) for s in SPEAKERS if sp in (None, s)]
        out[f"wer_{sp or 'all'}"] = wer([calls[i]["refs"][s] for i, s in keys],
                                        [" ".join(hyp.get((i, s), [])) for i, s in keys])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--calls", type=int)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--json", type=Path, help="Write (or with --load, read) the per-chunk records here.")
    ap.add_argument("--load", action="store_true", help="Re-score the records in --json without decoding.")
    args = ap.parse_args()
    before = loadavg()
    if args.load and args.json:
        data = json.loads(args.json.read_text())
    else:
        data = study(args.corpus, args.calls, args.model, args.beam)
        if args.json:
            args.json.write_text(json.dumps(data))
    chunks = data["chunks"]
    tot = {k: sum(c[k] for c in chunks) for k in ("listen_s", "encode_s", "greedy_s", "beam_s")}
    print(f"machine: {machine()}; load average {before} → {loadavg()}")
    print(f"{len(data['calls'])} calls, {len(chunks)} chunks, {sum(c['seconds'] for c in chunks) / 60:.1f} min "
          f"of speech; CPU s: listen {tot['listen_s']:.1f}, encode {tot['encode_s']:.1f}, "
          f"greedy {tot['greedy_s']:.1f}, beam {args.beam} {tot['beam_s']:.1f}")
    print("| min log-prob | max compression | min words/s | re-decoded | model CPU vs beam | WER | agent | customer |")
    print("|---|---|---|---|---|---|---|---|")
    beam_all = evaluate(data, ALWAYS)
    for rule in [*RULES, ALWAYS]:
        e = evaluate(data, rule)
        name = "never (greedy)" if rule == RULES[0] else "always (beam)" if rule[0] == 99.0 else f"{rule[0]}"
        print(f"| {name} | {rule[1] if 0 < rule[1] < 99 else '—'} | {rule[3] or '—'} | {100 * e['redecoded']:.0f} % | "
              f"{e['cost']:.2f} | {e['wer_all']:.1f} % ({e['wer_all'] - beam_all['wer_all']:+.1f}) | "
              f"{e['wer_agent']:.1f} % ({e['wer_agent'] - beam_all['wer_agent']:+.1f}) | "
              f"{e['wer_customer']:.1f} % ({e['wer_customer'] - beam_all['wer_customer']:+.1f}) |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
