"""Rubric-aware decoding: the words a call is likely to contain, given to Whisper as hotwords.

A small model mishears exactly the phrases quality inspection looks for (很高兴为您服务 → 等到现为您
服务). faster-whisper can be primed with ``hotwords``: text put before each chunk as "previous
text", which makes the decoder prefer those words and that script. callqc primes each call with,
for the call's language:

- the phrases of the active rubric's ``phrase`` checks (greetings, closings, product names);
  not its forbidden words, which a primed decoder writes where nobody said them (measured), and
- the operator's word list (``CALLQC_ASR_HOTWORDS``: product names, place names, jargon).

The rubric is read as YAML (not through ``scoring``: transcription sits below scoring and must
not import it): ``CALLQC_RUBRIC_PATH``, else the bundled default rubric file. Phrases are sorted
by language by their script (Chinese characters → ``zh``, Latin letters → ``en``). The prompt is
capped (:data:`MAX_CHARS`) because Whisper keeps at most half its context for it; operator words
come first, so they are never the ones cut. Measured in docs/benchmarks.md ("Mandarin scoring"):
phrase recall with and without, and false positives on calls that lack the phrases.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

# The bundled default rubric (the scoring package's data file; read as a file, not imported).
DEFAULT_RUBRIC = Path(__file__).resolve().parent.parent / "scoring" / "rubrics" / "default.yaml"
# Whisper's context is 448 tokens and a Chinese character is one or two of them: the prompt must
# leave room for a fast-spoken 30 s chunk (about 150 characters) after it.
MAX_CHARS = {"zh": 72, "en": 200}
# Tried on five calls: with the full-width comma "，" between phrases the base model echoed the
# prompt into a call that lacked the phrases and wrote broken full-width characters (Ｇ, ４) for
# its own commas; "、" did neither.
SEPARATOR = {"zh": "、", "en": ", "}
# Forbidden words are not primed: primed, the decoder wrote 闭嘴 or 笨蛋 into 8 of 26 clean calls
# of the evaluation set (docs/benchmarks.md, "Mandarin scoring").
PRIMED_CHECKS: tuple[str, ...] = ("phrase",)


def _cjk(ch: str) -> bool:
    return "CJK" in unicodedata.name(ch, "")


def language_of(phrase: str) -> str:
    """``zh`` for a phrase written in Chinese characters, else ``en``."""
    return "zh" if any(_cjk(c) for c in phrase) else "en"


def _walk(node: Any, kinds: tuple[str, ...]) -> Iterable[list[str]]:
    """The phrase list of every check of ``kinds`` in a rubric's YAML, in the order written."""
    if isinstance(node, dict):
        if node.get("kind") in kinds:
            for key in ("any", "all"):
                yield [p for p in node.get(key) or [] if isinstance(p, str)]
        for value in node.values():
            yield from _walk(value, kinds)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, kinds)


@lru_cache(maxsize=8)
def rubric_phrases(path: Path, kinds: tuple[str, ...] = PRIMED_CHECKS) -> tuple[tuple[str, ...], ...]:
    """The phrase list of each check of ``kinds`` in a rubric file (empty if it cannot be read)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        # Scoring reports a broken rubric; transcription goes on without hotwords rather than fail.
        log.warning("hotwords: cannot read rubric %s: %s", path, exc)
        return ()
    return tuple(tuple(ps) for ps in _walk(data, kinds) if ps)


def language_rubric(path: Path, lang: str) -> Path:
    """The rubric file that scores calls in ``lang``: the one ``path``'s ``languages_from`` names for
    it (a file beside it), else ``path`` itself; so a Mandarin call under the bundled default is
    primed with zh.yaml's phrases, the ones it is scored with. Only the first step is followed
    (scoring validates the chain when it loads the rubric)."""
    try:
        stat = path.stat()
    except OSError:
        return path  # rubric_phrases reports it
    return _language_rubric(path, lang, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _language_rubric(path: Path, lang: str, _mtime_ns: int, _size: int) -> Path:
    # Asked for every call (twice with both languages primed): the file is parsed again only when
    # it changed, not at every call.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return path  # rubric_phrases reports it
    named = data.get("languages_from") if isinstance(data, dict) else None
    other = named.get(lang) if isinstance(named, dict) else None
    return path.parent / other if isinstance(other, str) else path


def _in_turns(lists: Iterable[Iterable[str]], lang: str) -> list[str]:
    """First phrase in ``lang`` of every check, then the second…: when the prompt is capped, every
    item still has its first phrases in it (so a rubric lists its most telling phrase first)."""
    mine = [[p.strip() for p in ps if p.strip() and language_of(p) == lang] for ps in lists]
    return [ps[k] for k in range(max(map(len, mine), default=0)) for ps in mine if k < len(ps)]


def build(phrase_lists: Iterable[Iterable[str]], words: Iterable[str] = (),
          separator: Mapping[str, str] = SEPARATOR) -> dict[str, str]:
    """Language → hotword text: operator ``words`` first, then the checks' phrases, capped per language."""
    lists = [list(ps) for ps in phrase_lists]
    words = [w.strip() for w in words if w.strip()]
    out: dict[str, str] = {}
    for lang in ("zh", "en"):
        sep = separator[lang]
        group: list[str] = []
        for p in [*(w for w in words if language_of(w) == lang), *_in_turns(lists, lang)]:
            # a single character primes nothing; a phrase inside one already given adds nothing
            if len(p) < 2 or any(p in g for g in group):
                continue
            if len(sep.join([*group, p])) <= MAX_CHARS[lang]:
                group.append(p)
        if group:
            out[lang] = sep.join(group)
    return out


# A run of this many prompt phrases in a row is the decoder copying its prompt, not speech: a real
# greeting says two at most ("您好、很高兴为您服务"); the copies on the Mandarin evaluation set ran
# 3 to 30 ("您好、欢迎致电、号话务员、还有其他问题吗,…", docs/benchmarks.md "Prompt-echo catch").
ECHO_RUN = 3
_PUNCT = re.compile(r"[、,，。？?！!；;：:.]+")


def prompt_run(text: str, hotwords: str) -> int:
    """The longest run of consecutive pieces of ``text`` (cut at punctuation) that are whole phrases of
    the ``hotwords`` prompt."""
    phrases = {p.strip().casefold() for p in _PUNCT.split(hotwords) if p.strip()}
    best = run = 0
    for raw in _PUNCT.split(text):
        piece = raw.strip().casefold()
        if not piece:
            continue
        run = run + 1 if piece in phrases else 0
        best = max(best, run)
    return best


def echoes(text: str, hotwords: str | None) -> bool:
    """Whether decoded ``text`` copies the ``hotwords`` prompt (:data:`ECHO_RUN` phrases in a row)."""
    return bool(hotwords) and prompt_run(text, hotwords or "") >= ECHO_RUN


def decoding_hotwords() -> Mapping[str, str]:
    """Hotwords per language from the settings: the active rubric's phrases and the operator's words."""
    from storage.settings import get_settings

    s = get_settings()
    path = Path(s.rubric_path or DEFAULT_RUBRIC)
    langs = set(s.asr_rubric_hotwords_languages) if s.asr_rubric_hotwords else set()
    out = {}
    for lang in ("zh", "en"):
        phrases = rubric_phrases(language_rubric(path, lang)) if lang in langs else ()
        if text := build(phrases, s.asr_hotwords).get(lang):
            out[lang] = text
    return out
