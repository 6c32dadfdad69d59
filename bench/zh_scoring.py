"""Mandarin scoring benchmark (not a test): rubric agreement, phrase recall and false positives, CER.

On the evaluation set of :mod:`bench.zh_calls` (made first if missing), with the bundled
multilingual ``base`` model, language ``zh``:

1. every call is transcribed twice, plain and primed with the Mandarin rubric's hotwords
   (:mod:`transcribe.vocabulary`); transcripts are cached in ``OUT/transcripts-<mode>.json`` so
   scoring can be re-run without the model (``--score-only``);
2. each transcript is scored with ``scoring/rubrics/zh.yaml``, matching by characters only and by
   characters + pinyin, and the answers compared with the labels per item: agreement, answers
   sent to review (``insufficient``), phrase recall (said → yes) and false positives (not said →
   yes; for forbidden words: not said → no);
3. a sweep of the sound-alike threshold (``scoring.matching.SOUND_ALIKE``) on the same transcripts
   (the rubric's items without labels, courtesy, overtalk, pace and brush-off, are not scored);
4. CER of the Mandarin talk, raw and with numbers normalised (:func:`scoring.numerals.to_digits`);
5. with ``--detect``: the language detected per call, by the first 30 s of speech (callqc's old
   rule) and by speech spread over the window (:meth:`Transcriber.detect_language`);
6. with ``--verify``: the phrases the transcript missed tried on the audio by forced decoding, over a
   sweep of its thresholds, and its CPU cost (:mod:`bench.zh_verify`).

Transcripts are saved call by call (``transcripts-<mode>.partial.json``), so a run stopped on a
busy machine resumes. ``--calls N`` scores the first N calls of a set; ``--seed`` builds another set
(a held-out one: other voices, speeds and noise, the same scripts).

Run: ``python -m bench.zh_scoring [--out /tmp/callqc-zh] [--markdown FILE] [--detect] [--verify]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from bench import zh_verify
from bench.zh_calls import ITEMS, PHRASE_ITEMS, SEED, build
from scoring import matching, prompt_echo, verification
from scoring.autoscore import evaluate
from scoring.check_base import ForcedScore
from scoring.checks import Env
from scoring.conversation import CallFacts, Conversation
from scoring.numerals import to_digits
from scoring.rubric import Answer, LoadedRubric, parse_rubric
from scoring.variants import load_variants
from storage.segments import Segment, Word

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "scoring" / "rubrics" / "zh.yaml"
# plain: no prompt; hotwords: the zh rubric's phrase checks as callqc primes them ("、" between).
# Optional (--modes): hotwords-forbidden (forbidden words primed too) and hotwords-fullwidth ("，"
# between phrases); each costs another transcription of the whole set.
MODES = ("plain", "hotwords")
# hotwords-unprimed: chunks that copy the prompt re-decoded without hotwords (transcribe/fallback.py);
# "hotwords" runs without that re-decode, so the two compare the catch on the same calls.
ALL_MODES = (*MODES, "hotwords-unprimed", "hotwords-forbidden", "hotwords-fullwidth")
SWEEP: tuple[float | None, ...] = (0.8, 0.85, 0.9, None)  # None: characters only
# prompt-echo catch (scoring.prompt_echo): mean word probability under which a phrase beside "、" is a copy
ECHO_SWEEP: tuple[float | None, ...] = (None, 0.05, 0.1, 0.2, 0.3)  # None: no catch


def _seg_json(s: Segment) -> dict[str, Any]:
    return {"speaker": s.speaker, "channel": s.channel, "start": s.start, "end": s.end, "text": s.text,
            "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob,
            "words": [[w.start, w.end, w.word, w.probability] for w in s.words]}


def _seg(d: dict[str, Any]) -> Segment:
    return Segment(speaker=d["speaker"], channel=d["channel"], start=d["start"], end=d["end"], text=d["text"],
                   words=[Word(*w) for w in d["words"]], avg_logprob=d["avg_logprob"],
                   no_speech_prob=d["no_speech_prob"])


class _FallbackKept(logging.Handler):
    count = 0
    thin = 0  # chunks sent back for too few words (fallback.thin)

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "kept as decoded" in record.getMessage()
        self.thin += "thin chunk" in record.getMessage()


def transcribe_all(calls: list[dict], out: Path, mode: str, *, coverage: bool = True) -> dict[str, Any]:
    from transcribe.audio import decode
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model
    from transcribe.vocabulary import SEPARATOR, rubric_phrases
    from transcribe.vocabulary import build as hotwords_of

    cache = out / f"transcripts-{mode}.json"
    if cache.exists():
        done = json.loads(cache.read_text(encoding="utf-8"))
        if all(c["name"] in done["calls"] for c in calls):
            return done
    partial = out / f"transcripts-{mode}.partial.json"  # a run stopped part-way resumes here (shared machine)
    tr = Transcriber(resolve_model("base"), ComputeSettings(unprime=mode == "hotwords-unprimed", coverage=coverage))
    hotwords = {
        "plain": None,
        "hotwords": hotwords_of(rubric_phrases(RUBRIC)),
        "hotwords-unprimed": hotwords_of(rubric_phrases(RUBRIC)),
        "hotwords-fullwidth": hotwords_of(rubric_phrases(RUBRIC), separator={**SEPARATOR, "zh": "，"}),
        "hotwords-forbidden": hotwords_of(rubric_phrases(RUBRIC, ("phrase", "forbidden"))),
    }[mode]
    result: dict[str, Any] = (json.loads(partial.read_text(encoding="utf-8")) if partial.exists()
                              else {"hotwords": hotwords, "calls": {}, "wall_s": 0.0, "cpu_s": 0.0})
    kept = _FallbackKept()  # chunks whose re-decode was not taken (transcribe.fallback.improves), per call
    logging.getLogger("transcribe.fallback").addHandler(kept)
    logging.getLogger("transcribe.fallback").setLevel(logging.INFO)
    for c in calls:
        if c["name"] in result["calls"]:
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        kept.count = kept.thin = 0
        t = tr.transcribe(decode(Path(c["path"])), channel_map={"agent": 0, "customer": 1}, language="zh",
                          hotwords=hotwords)
        result["calls"][c["name"]] = [_seg_json(s) for s in t.segments]
        result.setdefault("fallback_kept", {})[c["name"]] = kept.count
        result.setdefault("fallback_thin", {})[c["name"]] = kept.thin
        result["wall_s"] += time.perf_counter() - t0
        result["cpu_s"] += time.process_time() - c0
        partial.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        print(f"  {mode} {c['name']}: " + " | ".join(s.text for s in t.segments if s.speaker == "agent")[:160],
              flush=True)
    cache.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return result


def conversation(segs: list[dict], duration: float) -> Conversation:
    return Conversation.build([_seg(d) for d in segs], CallFacts(duration_s=duration,
                                                                 channels=frozenset({"agent", "customer"})))


def _scored_items() -> LoadedRubric:
    """The zh rubric with only the items the labels cover (the others cost time and are not judged)."""
    data = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    for sec in data["sections"]:
        sec["items"] = [it for it in sec["items"] if it["id"] in ITEMS]
    return parse_rubric(yaml.safe_dump(data, allow_unicode=True), str(RUBRIC))


def score(calls: list[dict], transcripts: dict[str, Any], *, sound: float | None = matching.SOUND_ALIKE["zh"],
          echo: float | None = None, forced: Callable[[str], ForcedScore] | None = None) -> dict[str, Any]:
    """Answers vs labels per item, with the sound-alike threshold ``sound`` (None: characters only),
    the prompt-echo catch at mean word probability ``echo`` (None: no catch) and, with ``forced``
    (call name → its forced decoder), phrases verified on the audio (bench/zh_verify.py)."""
    loaded = _scored_items()
    saved = dict(matching.SOUND_ALIKE)
    matching.SOUND_ALIKE.clear()
    if sound is not None:
        matching.SOUND_ALIKE["zh"] = sound
    saved_echo, prompt_echo.LOW_PROBABILITY = prompt_echo.LOW_PROBABILITY, echo or 0.0
    env = Env(low_logprob=-1.0, variants=load_variants(), prompt_echo=echo is not None)
    rivals = verification.rivals_of(parse_rubric(RUBRIC.read_text(encoding="utf-8"), str(RUBRIC)).rubric)
    rows: list[dict[str, Any]] = []
    try:
        for c in calls:
            # rivals from the whole rubric, as callqc scores (the items scored here are a subset)
            call_env = replace(env, forced=forced(c["name"]), rivals=rivals) if forced else env
            ev = evaluate(loaded, conversation(transcripts["calls"][c["name"]], c["duration"]), env=call_env)
            for item in ITEMS:
                res = ev.item(item).result
                rows.append({"call": c["name"], "item": item, "label": c["labels"][item],
                             "answer": str(res.answer), "reason": res.reason,
                             "note": res.evidence[0].note if res.evidence else None})
    finally:
        matching.SOUND_ALIKE.clear()
        matching.SOUND_ALIKE.update(saved)
        prompt_echo.LOW_PROBABILITY = saved_echo
    return summarise(rows)


def routed_right(r: dict[str, Any]) -> bool:
    """An answer that agrees once routing is counted: the label itself, or an abusive call sent to an
    inspector (``insufficient`` where the agent swore: the abuse is caught and a human answers "no",
    which is what the issue asks of an uncertain forbidden-word hit). Any other routed answer still
    disagrees: on a clean call it is a false alarm, on a phrase item a question the machine could
    not answer."""
    return r["answer"] == r["label"] or (r["item"] == "no-abuse" and r["label"] == "no"
                                         and r["answer"] == str(Answer.insufficient))


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    per_item = {}
    for item in ITEMS:
        rs = [r for r in rows if r["item"] == item]
        per_item[item] = {"n": len(rs), "agree": sum(r["answer"] == r["label"] for r in rs),
                          "routed_right": sum(routed_right(r) for r in rs),
                          "review": sum(r["answer"] == str(Answer.insufficient) for r in rs)}
    said = [r for r in rows if r["item"] in PHRASE_ITEMS and r["label"] == "yes"]
    unsaid = [r for r in rows if r["item"] in PHRASE_ITEMS and r["label"] == "no"]
    abuse_said = [r for r in rows if r["item"] == "no-abuse" and r["label"] == "no"]
    abuse_clean = [r for r in rows if r["item"] == "no-abuse" and r["label"] == "yes"]
    return {
        "rows": rows, "per_item": per_item, "n": len(rows), "agree": sum(r["answer"] == r["label"] for r in rows),
        "routed_right": sum(routed_right(r) for r in rows),
        "review": sum(r["answer"] == str(Answer.insufficient) for r in rows),
        "recall": (sum(r["answer"] == "yes" for r in said), len(said)),
        "fp": (sum(r["answer"] == "yes" for r in unsaid), len(unsaid)),
        "abuse_caught": (sum(r["answer"] in ("no", str(Answer.insufficient)) for r in abuse_said), len(abuse_said)),
        "abuse_no": (sum(r["answer"] == "no" for r in abuse_said), len(abuse_said)),
        "abuse_fp": (sum(r["answer"] == "no" for r in abuse_clean), len(abuse_clean)),
        "abuse_review": (sum(r["answer"] == str(Answer.insufficient) for r in abuse_clean), len(abuse_clean)),
    }


_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def _chars(text: str) -> str:
    return _DROP.sub("", text)


def cer(calls: list[dict], transcripts: dict[str, Any], *, numerals: bool) -> float:
    """Character error rate of the Mandarin talk (IVR prompts left out), punctuation dropped."""
    from rapidfuzz.distance import Levenshtein

    errors = total = 0
    for c in calls:
        talk = [p for p in c["placed"] if not p["ivr"]]
        after = min(p["start"] for p in talk) - 0.5
        ref = "".join(p["text"] for p in sorted(talk, key=lambda p: p["start"]))
        hyp = "".join(s["text"] for s in sorted(transcripts["calls"][c["name"]], key=lambda s: s["start"])
                      if s["start"] >= after)
        ref, hyp = (_chars(to_digits(ref)), _chars(to_digits(hyp))) if numerals else (_chars(ref), _chars(hyp))
        errors += Levenshtein.distance(ref, hyp)
        total += len(ref)
    return 100 * errors / total


def detect(calls: list[dict]) -> list[dict[str, Any]]:
    """Language per call by the old rule (first 30 s of speech, most confident channel) and the new."""
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    from transcribe.audio import decode, to_float
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model

    tr = Transcriber(resolve_model("base"), ComputeSettings())
    out = []
    for c in calls:
        window = next(iter(decode(Path(c["path"])).windows(window_s=tr.compute.window_s)))
        old = []
        for ch in window.channels:
            audio = to_float(ch)
            speech = get_speech_timestamps(audio[: 60 * 16000], tr._vad())
            if speech:
                chunks, _ = collect_chunks(audio, speech, max_duration=30)
                lang, prob, _ = tr.whisper.detect_language(audio=chunks[0])
                old.append((lang, prob))
        old_lang = max(old, key=lambda lp: lp[1])[0] if old else None
        votes: dict[str, float] = {}
        for ch in window.channels:
            for lang, v in tr._detect_channel(ch).items():
                votes[lang] = votes.get(lang, 0.0) + v
        # as Transcriber.detect_language decides, without and with CALLQC_ASR_LANGUAGES=["zh","en"]
        new_any = max(votes, key=lambda k: votes[k]) if votes else None
        new_zh_en = max(("zh", "en"), key=lambda k: votes.get(k, 0.0)) if votes else None
        out.append({"call": c["name"], "ivr": "ivr" in c["spec"]["traps"], "old": old_lang, "new": new_any,
                    "new_zh_en": new_zh_en})
        print(f"  detect {c['name']}: old {old_lang} new {new_any} new(zh,en) {new_zh_en}", flush=True)
    return out


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "–"


def report(calls: list[dict], results: dict[str, Any], detection: list[dict] | None, command: str) -> str:
    modes = list(results)
    lines = [f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
             f"({os.cpu_count()} cores, {platform.processor() or platform.machine()}), `{command}`; "
             f"{len(calls)} calls, {sum(c['duration'] for c in calls):.0f} s of audio, "
             f"{len(calls) * len(ITEMS)} rubric answers ({len(ITEMS)} items per call); load average at the end "
             f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min).", ""]
    for mode in modes:
        tr = results[mode]["transcripts"]
        lines.append(f"- `{mode}`: transcribed in {tr['wall_s']:.0f} s wall, {tr['cpu_s']:.0f} s CPU"
                     + (f"; hotwords `{tr['hotwords'].get('zh')}`" if tr.get("hotwords") else ""))
    lines += ["", "| decoding | matching | agreement | sent to review | phrase recall | phrase false positives "
              "| abuse caught (no or review) | abuse false alarms (no) | clean calls sent to review (abuse) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for mode in modes:
        for how, s in (("characters", results[mode]["chars"]), ("characters + pinyin", results[mode]["sound"])):
            lines.append(f"| {mode} | {how} | {pct(s['agree'], s['n'])} | {pct(s['review'], s['n'])} "
                         f"| {pct(*s['recall'])} | {pct(*s['fp'])} | {pct(*s['abuse_caught'])} "
                         f"| {pct(*s['abuse_fp'])} | {pct(*s['abuse_review'])} |")
    lines += ["", "Per item (characters + pinyin):", "", "| item | " + " | ".join(modes) + " |",
              "|---|" + "---|" * len(modes)]
    for item in ITEMS:
        cells = []
        for mode in modes:
            p = results[mode]["sound"]["per_item"][item]
            cells.append(f"{pct(p['agree'], p['n'])}" + (f", {p['review']} to review" if p["review"] else ""))
        lines.append(f"| {item} | " + " | ".join(cells) + " |")
    lines += ["", "Sound-alike threshold (`SOUND_ALIKE['zh']`) on the same transcripts (None = characters only):",
              "",
              "| threshold | " + " | ".join(f"{m}: agreement / recall / false positives" for m in modes) + " |",
              "|---|" + "---|" * len(modes)]
    for th in SWEEP:
        cells = [f"{pct(s['agree'], s['n'])} / {pct(*s['recall'])} / {pct(*s['fp'])}"
                 for s in (results[m]["sweep"][str(th)] for m in modes)]
        lines.append(f"| {th} | " + " | ".join(cells) + " |")
    lines += ["", "Prompt-echo catch (`scoring.prompt_echo`, characters + pinyin; None = no catch): a phrase beside "
              "\"、\" whose words' mean probability is under the threshold is unsure (sent to review):", "",
              "| threshold | " + " | ".join(f"{m}: agreement / review / recall / false positives"
                                          for m in modes) + " |",
              "|---|" + "---|" * len(modes)]
    for lp in ECHO_SWEEP:
        cells = [f"{pct(s['agree'], s['n'])} / {pct(s['review'], s['n'])} / {pct(*s['recall'])} / {pct(*s['fp'])}"
                 for s in (results[m]["echo"][str(lp)] for m in modes)]
        lines.append(f"| {lp}{' (callqc: off)' if lp is None else ''} | " + " | ".join(cells) + " |")
    lines += ["", "| decoding | CER raw | CER, numbers normalised |", "|---|---|---|"]
    for mode in modes:
        lines.append(f"| {mode} | {results[mode]['cer_raw']:.1f}% | {results[mode]['cer_num']:.1f}% |")
    if detection:
        ivr = [d for d in detection if d["ivr"]]
        lines += ["", "| language detection | all calls right (zh) | calls with an English IVR prompt |",
                  "|---|---|---|"]
        for key, name in (("old", "first 30 s of speech (before)"), ("new", "speech over the window"),
                          ("new_zh_en", "speech over the window, among zh/en")):
            lines.append(f"| {name} | {pct(sum(d[key] == 'zh' for d in detection), len(detection))} "
                         f"| {pct(sum(d[key] == 'zh' for d in ivr), len(ivr))} |")
    best = "hotwords" if "hotwords" in results else modes[-1]
    wrong = Counter((r["item"], r["label"], r["answer"]) for r in results[best]["sound"]["rows"]
                    if r["answer"] != r["label"])
    lines += ["", f"Disagreements ({best}, characters + pinyin): "
              + ", ".join(f"{i} {lab}→{a} ×{n}" for (i, lab, a), n in sorted(wrong.items())) or "none"]
    lines += zh_verify.report(calls, results, pct, ITEMS)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/callqc-zh"))
    ap.add_argument("--calls", type=int, default=34)
    ap.add_argument("--seed", type=int, default=SEED, help="the set's seed when it is built (another: held out)")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--detect", action="store_true")
    ap.add_argument("--verify", action="store_true", help="also score with phrases verified by forced decoding")
    ap.add_argument("--modes", nargs="+", choices=ALL_MODES, default=list(MODES))
    ap.add_argument("--no-coverage", action="store_true",
                    help="transcribe without re-decoding thin chunks (transcribe/fallback.py, thin): a baseline")
    args = ap.parse_args()
    labels = args.out / "labels.json"
    made = json.loads(labels.read_text(encoding="utf-8")) if labels.exists() else build(args.out, args.calls, args.seed)
    calls = made[:args.calls]  # the first n calls of a larger set are the same (one seeded stream, call by call)
    results: dict[str, Any] = {}
    for mode in args.modes:
        tr = transcribe_all(calls, args.out, mode, coverage=not args.no_coverage)
        sweep = {str(th): score(calls, tr, sound=th) for th in SWEEP}
        echo = {str(lp): score(calls, tr, sound=matching.SOUND_ALIKE["zh"], echo=lp) for lp in ECHO_SWEEP}
        results[mode] = {"transcripts": tr, "chars": sweep["None"], "sound": sweep[str(matching.SOUND_ALIKE["zh"])],
                         "sweep": sweep, "echo": echo,
                         "cer_raw": cer(calls, tr, numerals=False), "cer_num": cer(calls, tr, numerals=True)}
        if args.verify:
            results[mode]["verify"] = zh_verify.sweep(calls, tr, args.out, mode, score, conversation)
    detection = None
    if args.detect:
        cache = args.out / "detection.json"
        detection = json.loads(cache.read_text()) if cache.exists() else detect(calls)
        cache.write_text(json.dumps(detection))
    (args.out / "rows.json").write_text(json.dumps({m: results[m]["sound"]["rows"] for m in args.modes},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")
    if args.verify:
        (args.out / "rows-verify.json").write_text(json.dumps(
            {m: {th: s["rows"] for th, s in results[m]["verify"]["by_threshold"].items()} for m in args.modes},
            ensure_ascii=False, indent=1), encoding="utf-8")
    text = report(calls, results, detection, "python -m bench.zh_scoring" + (" --detect" if args.detect else "")
                  + (f" --calls {args.calls}" if args.calls != ap.get_default("calls") else "")
                  + (f" --seed {args.seed}" if args.seed != SEED else "") + (" --verify" if args.verify else "")
                  + (" --no-coverage" if args.no_coverage else "")
                  + ("" if args.modes == list(MODES) else " --modes " + " ".join(args.modes)))
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
