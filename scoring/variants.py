"""Forbidden words' variants and ASR confusions, as data (``rubrics/forbidden_variants.yaml``).

A `forbidden` check lists words; this file adds, per word, other wordings (``variants``: as
certain as the word) and what speech recognition writes for it by mistake (``confusions``: a hit
is uncertain and goes to an inspector). Operators point ``CALLQC_FORBIDDEN_VARIANTS_PATH`` at their
own copy to extend it; the rubric itself stays unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from storage.errors import InvalidInput

DEFAULT_VARIANTS = Path(__file__).with_name("rubrics") / "forbidden_variants.yaml"


class VariantsInvalid(InvalidInput):
    """invalid forbidden-word variants file"""


@dataclass(frozen=True)
class WordForms:
    variants: tuple[str, ...] = ()
    confusions: tuple[str, ...] = ()


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise VariantsInvalid(f"{where}: expected a list of words")
    return tuple(value)


@lru_cache(maxsize=8)
def load_variants(path: Path | None = None) -> dict[str, WordForms]:
    """Word → its forms, from ``path`` (None: the bundled file)."""
    p = path or DEFAULT_VARIANTS
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise VariantsInvalid(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise VariantsInvalid(f"{p}: expected a mapping of word → {{variants, confusions}}")
    out: dict[str, WordForms] = {}
    for word, forms in data.items():
        if not isinstance(forms, dict) or set(forms) - {"variants", "confusions"}:
            raise VariantsInvalid(f"{p}: {word}: give only 'variants' and 'confusions' lists")
        out[str(word)] = WordForms(_strings(forms.get("variants"), f"{p}: {word}.variants"),
                                   _strings(forms.get("confusions"), f"{p}: {word}.confusions"))
    return out


def active_variants() -> dict[str, WordForms]:
    """The variants in force: ``settings.forbidden_variants_path`` or the bundled file."""
    from storage.settings import get_settings

    return load_variants(get_settings().forbidden_variants_path)


def expand(words: list[str], table: dict[str, WordForms]) -> tuple[dict[str, str], dict[str, str]]:
    """(certain form → word, uncertain form → word) for a forbidden check's words."""
    certain: dict[str, str] = {w: w for w in words}
    uncertain: dict[str, str] = {}
    for w in words:
        forms = table.get(w, WordForms())
        for v in forms.variants:
            certain.setdefault(v, w)
        for c in forms.confusions:
            if c not in certain:
                uncertain.setdefault(c, w)
    return certain, uncertain
