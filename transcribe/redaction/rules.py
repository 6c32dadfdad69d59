"""Redaction rules as data: cue words, look-alike cues, fillers and placeholders per language.

The bundled files are ``transcribe/redaction/rules/<language>.yaml``; a folder named by the
``redaction_rules_dir`` setting replaces any of them file by file (same name) or adds languages.
Detection uses every language's cues at once: callers mix languages ("CVV" in a Mandarin call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml

from storage.errors import InvalidInput

BUNDLED = Path(__file__).parent / "rules"


class Kind(StrEnum):
    card = "card"
    cvv = "cvv"
    expiry = "expiry"
    id = "id"
    phone = "phone"
    account = "account"
    email = "email"


# Digit counts are kept where they help a reader (a 16-digit card, an 11-digit mobile) and say
# nothing about the value.
PLACEHOLDERS = {
    Kind.card: "[CARD:{n}]", Kind.cvv: "[CVV]", Kind.expiry: "[EXPIRY]", Kind.id: "[ID:{n}]",
    Kind.phone: "[PHONE:{n}]", Kind.account: "[ACCOUNT:{n}]", Kind.email: "[EMAIL]",
}


class BadRules(InvalidInput):
    """redaction rules file is not valid"""


@dataclass(frozen=True)
class Rules:
    cues: dict[Kind, tuple[str, ...]]
    not_pii: tuple[str, ...]
    fillers: frozenset[str]
    email_at: frozenset[str]
    email_dot: frozenset[str]
    email_tlds: frozenset[str]
    email_stop: frozenset[str]
    units: frozenset[str] = field(default=frozenset())  # words after a number that make it a quantity
    # words that end the lead-in to a number ("it is", "是"): a number's spoken start is after them
    lead_ins: frozenset[str] = field(default=frozenset())
    # words (Chinese: characters) the ASR writes for digits it misheard ("heaven", 林): see soundalike.py
    soundalikes: frozenset[str] = field(default=frozenset())
    # words that make the next two words a menu option ("press one for sales", 按一): not a number's digits
    options: frozenset[str] = field(default=frozenset())
    # what an agent says to ask for a number ("card number", 手机号): the customer's answer after it is
    # redacted as that type (answer.py)
    asks: dict[Kind, tuple[str, ...]] = field(default_factory=dict)
    # what a customer says when done ("thank you", 谢谢): an answer window's audio cut stops before it
    closings: tuple[str, ...] = field(default=())
    # pinyin syllable (toneless) → the digits it sounds like ("yi": "1", "lin": "0"): sounds.py reads
    # Chinese characters the ASR wrote for digits by their sound
    soundalike_syllables: dict[str, str] = field(default_factory=dict)
    # cue words as syllables ("shou ji"), matched on the sound of what was said: 收集 for 手机 (sounds.py)
    cues_by_sound: dict[Kind, tuple[str, ...]] = field(default_factory=dict)
    languages: tuple[str, ...] = field(default=())


def _strs(doc: dict, key: str, where: str) -> list[str]:
    raw = doc.get(key) or []
    if not isinstance(raw, list) or not all(isinstance(x, str | int) for x in raw):
        raise BadRules(f"{where}: {key} must be a list of words")
    return [str(x).lower() for x in raw]


def _files(override: Path | None) -> list[Path]:
    files = {p.name: p for p in sorted(BUNDLED.glob("*.yaml"))}
    if override is not None:
        if not override.is_dir():
            raise BadRules(f"{override}: not a folder")
        files.update({p.name: p for p in sorted(override.glob("*.yaml"))})
    return [files[k] for k in sorted(files)]


@lru_cache(maxsize=4)
def load_rules(override: Path | None = None) -> Rules:
    """The merged rules of every language file (bundled, then ``override`` file by file)."""
    cues: dict[Kind, list[str]] = {k: [] for k in Kind}
    asks: dict[Kind, list[str]] = {k: [] for k in Kind}
    not_pii: list[str] = []
    fillers: set[str] = set()
    at: set[str] = set()
    dot: set[str] = set()
    tlds: set[str] = set()
    stop: set[str] = set()
    units: set[str] = set()
    lead_ins: set[str] = set()
    soundalikes: set[str] = set()
    options: set[str] = set()
    closings: set[str] = set()
    syllables: dict[str, set[str]] = {}
    by_sound: dict[Kind, list[str]] = {k: [] for k in Kind}
    langs = []
    for path in _files(override):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BadRules(f"{path}: {' '.join(str(exc).split())}") from exc
        if not isinstance(doc, dict):
            raise BadRules(f"{path}: expected a mapping")
        langs.append(str(doc.get("language") or path.stem))
        for name in doc.get("cues") or {}:
            if name not in Kind.__members__:
                raise BadRules(f"{path}: unknown entity type {name!r} (known: {', '.join(Kind)})")
            cues[Kind(name)].extend(_strs(doc["cues"], name, str(path)))
        for name in doc.get("asks") or {}:
            if name not in Kind.__members__:
                raise BadRules(f"{path}: unknown entity type {name!r} in asks (known: {', '.join(Kind)})")
            asks[Kind(name)].extend(_strs(doc["asks"], name, str(path)))
        not_pii.extend(_strs(doc, "not_pii", str(path)))
        fillers.update(_strs(doc, "fillers", str(path)))
        units.update(_strs(doc, "units", str(path)))
        lead_ins.update(_strs(doc, "lead_ins", str(path)))
        soundalikes.update(_strs(doc, "soundalikes", str(path)))
        options.update(_strs(doc, "options", str(path)))
        closings.update(_strs(doc, "closings", str(path)))
        for digit in doc.get("soundalike_syllables") or {}:
            if not re.fullmatch(r"[0-9X]", str(digit)):
                raise BadRules(f"{path}: soundalike_syllables: {digit!r} is not a digit")
            for syl in _strs(doc["soundalike_syllables"], digit, str(path)):
                syllables.setdefault(syl, set()).add(str(digit))
        for name in doc.get("cues_by_sound") or {}:
            if name not in Kind.__members__:
                raise BadRules(f"{path}: unknown entity type {name!r} in cues_by_sound (known: {', '.join(Kind)})")
            by_sound[Kind(name)].extend(" ".join(c.split()) for c in _strs(doc["cues_by_sound"], name, str(path)))
        email = doc.get("email") or {}
        at.update(_strs(email, "at", str(path)))
        dot.update(_strs(email, "dot", str(path)))
        tlds.update(_strs(email, "tlds", str(path)))
        stop.update(_strs(email, "stop", str(path)))
    # Longest cue first, so "card number" wins over "card" at the same place
    return Rules(
        cues={k: tuple(sorted(set(v), key=len, reverse=True)) for k, v in cues.items()},
        not_pii=tuple(sorted(set(not_pii), key=len, reverse=True)), fillers=frozenset(fillers),
        email_at=frozenset(at), email_dot=frozenset(dot), email_tlds=frozenset(tlds),
        email_stop=frozenset(stop), units=frozenset(units), lead_ins=frozenset(lead_ins),
        soundalikes=frozenset(soundalikes), options=frozenset(options), languages=tuple(langs),
        closings=tuple(sorted(closings, key=len, reverse=True)),
        asks={k: tuple(sorted(set(v), key=len, reverse=True)) for k, v in asks.items() if v},
        soundalike_syllables={s: "".join(sorted(d)) for s, d in syllables.items()},
        cues_by_sound={k: tuple(sorted(set(v), key=len, reverse=True)) for k, v in by_sound.items() if v},
    )
