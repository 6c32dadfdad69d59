"""Rubrics: the YAML contract as pydantic models, loading with errors that name file, line and field.

The shape (see docs/scoring.md) is a contract: fields may be added, never removed or renamed. A
rubric's identity is ``id`` + ``version``; its content hash (SHA-256 of the validated content in
canonical JSON, so comments and layout do not count) lets storage refuse a changed rubric that kept
its version number.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from storage.errors import InvalidInput

DEFAULT_RUBRIC = Path(__file__).with_name("rubrics") / "default.yaml"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class RubricInvalid(InvalidInput):
    """invalid rubric"""

    def __init__(self, detail: str = "", problems: list[str] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or [self.detail]


class Answer(StrEnum):
    yes = "yes"
    no = "no"
    na = "n/a"
    insufficient = "insufficient"  # insufficient evidence: never a "no"; a human decides


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class LocalText(Strict):
    """A text in Chinese and/or English."""

    zh: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one(self) -> LocalText:
        if not (self.zh or self.en):
            raise ValueError("give zh, en or both")
        return self


Title = str | LocalText


def title_text(title: Title, locale: str = "en") -> str:
    """The title in ``locale`` (``zh-CN``/``zh``/``en``), falling back to the other language."""
    if isinstance(title, str):
        return title
    first, second = (title.zh, title.en) if locale.startswith("zh") else (title.en, title.zh)
    return first or second or ""


class Condition(Strict):
    """Call facts to match: every field given must match (values: one or a list of allowed)."""

    direction: str | list[str] | None = None
    queue: str | list[str] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


SpeakerName = Literal["agent", "customer", "any"]


class Windowed(Strict):
    speaker: SpeakerName = "agent"
    within_s: float | None = Field(None, gt=0, description="Only the first N seconds of the call.")
    in_last_s: float | None = Field(None, gt=0, description="Only the last N seconds of the call.")


class PhraseCheck(Windowed):
    kind: Literal["phrase"]
    any_: list[str] | None = Field(None, alias="any", min_length=1)
    all_: list[str] | None = Field(None, alias="all", min_length=1)
    fuzzy: float = Field(0.85, ge=0.5, le=1.0, description="Similarity a match needs (1.0 = exact).")

    @model_validator(mode="after")
    def _one_list(self) -> PhraseCheck:
        if (self.any_ is None) == (self.all_ is None):
            raise ValueError("give exactly one of 'any' or 'all'")
        return self


class ForbiddenCheck(Windowed):
    kind: Literal["forbidden"]
    any_: list[str] = Field(alias="any", min_length=1)
    fuzzy: float = Field(0.9, ge=0.5, le=1.0)


class RegexCheck(Windowed):
    kind: Literal["regex"]
    pattern: str
    expect: Literal["present", "absent"] = "present"
    ignore_case: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class MaxSilenceCheck(Strict):
    kind: Literal["max_silence"]
    seconds: float = Field(gt=0)


class MaxOvertalkCheck(Strict):
    kind: Literal["max_overtalk"]
    seconds: float = Field(gt=0, description="Longest single stretch of both talking at once.")
    max_total_s: float | None = Field(None, gt=0, description="Optional cap on all overtalk together.")


class TalkSpeedCheck(Strict):
    kind: Literal["talk_speed"]
    speaker: Literal["agent", "customer"] = "agent"
    min_wpm: float | None = Field(None, gt=0)
    max_wpm: float | None = Field(None, gt=0)
    min_cpm: float | None = Field(None, gt=0, description="Chinese: characters a minute.")
    max_cpm: float | None = Field(None, gt=0)
    min_speech_s: float = Field(10, ge=0, description="Less speech than this is insufficient evidence.")


class TalkRatioCheck(Strict):
    kind: Literal["talk_ratio"]
    min: float | None = Field(None, ge=0, le=1, description="Least agent share of agent+customer talk.")
    max: float | None = Field(None, ge=0, le=1)


class HoldCheck(Strict):
    kind: Literal["hold"]
    max_s: float | None = Field(None, gt=0, description="Longest hold allowed.")
    max_count: int | None = Field(None, ge=0)
    min_gap_s: float = Field(30, gt=0, description="Without PBX hold events: silence this long is a hold.")


class ModelCheck(Strict):
    kind: Literal["model"]
    model: str = Field(pattern=SLUG)
    threshold: float = Field(0.5, gt=0, lt=1)
    margin: float = Field(0.1, ge=0, lt=0.5, description="Probabilities this near the threshold are unsure.")


class ManualCheck(Strict):
    kind: Literal["manual"]


Check = Annotated[
    PhraseCheck | ForbiddenCheck | RegexCheck | MaxSilenceCheck | MaxOvertalkCheck | TalkSpeedCheck
    | TalkRatioCheck | HoldCheck | ModelCheck | ManualCheck,
    Field(discriminator="kind"),
]


class Applicability(Strict):
    applies_when: Condition | None = None  # N/A unless the call matches
    na_when: Condition | None = None  # N/A when the call matches


class Item(Applicability):
    id: str = Field(pattern=SLUG)
    title: Title
    description: Title | None = None
    points: float = Field(gt=0)
    critical: bool | Literal["section"] = False  # true: a "no" zeroes the call; "section": its section
    check: Check


class Section(Applicability):
    id: str = Field(pattern=SLUG)
    title: Title
    weight: float = Field(gt=0)
    items: list[Item] = Field(min_length=1)


class Rubric(Strict):
    id: str = Field(pattern=SLUG)
    version: int = Field(ge=1)
    title: Title
    description: Title | None = None
    pass_mark: float = Field(80, ge=0, le=100)
    sections: list[Section] = Field(min_length=1)
    # None, not {}: an absent field must not change the content hash of rubrics stored before it existed.
    languages_from: dict[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")], str] | None = Field(
        None, description="Language -> rubric file (beside this one) whose items score calls in that language.")

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        seen: set[str] = set()
        for s in self.sections:
            if s.id in seen:
                raise ValueError(f"section id {s.id!r} used twice")
            seen.add(s.id)
        items: set[str] = set()
        for s in self.sections:
            for it in s.items:
                if it.id in items:
                    raise ValueError(f"item id {it.id!r} used twice")
                items.add(it.id)
        return self

    def items(self) -> list[tuple[Section, Item]]:
        return [(s, it) for s in self.sections for it in s.items]

    def item(self, item_id: str) -> Item | None:
        return next((it for _, it in self.items() if it.id == item_id), None)


@dataclass(frozen=True)
class LoadedRubric:
    rubric: Rubric
    source: str
    yaml_text: str
    content_hash: str
    # The rubrics ``languages_from`` names, loaded (only when this one was loaded from a file).
    by_language: Mapping[str, LoadedRubric] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        return self.rubric.id, self.rubric.version

    def for_language(self, language: str | None) -> LoadedRubric:
        """The rubric a call in ``language`` is scored with: the one ``languages_from`` names for it
        (the bundled default scores Mandarin calls with zh.yaml), else this one."""
        return self.by_language.get(language or "", self)


def content_hash(rubric: Rubric) -> str:
    data = rubric.model_dump(mode="json", by_alias=True, exclude_none=True)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node along a pydantic error location."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if nxt is None:
                nxt = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            continue  # a union tag or a missing field: stay on the parent
        node = nxt
        line = node.start_mark.line + 1
    return line


def _is_tag(part: str) -> bool:
    """A pydantic union/validator tag in an error location rather than a field name."""
    return part in _UNION_TAGS or bool(re.search(r"[\[\](),' ]", part))


def _field_path(loc: tuple[int | str, ...], root: yaml.Node | None) -> str:
    out = ""
    node: Any = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            seq = isinstance(node, yaml.SequenceNode) and part < len(node.value)
            node = node.value[part] if seq else None
            continue
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        if child is None and _is_tag(part):
            continue
        node = child
        out += ("." if out else "") + part
    return out or "(top level)"


_UNION_TAGS = {"phrase", "forbidden", "regex", "max_silence", "max_overtalk", "talk_speed", "talk_ratio",
               "hold", "model", "manual", "str", "bool", "int", "float", "LocalText"}


def parse_rubric(text: str, source: str = "<rubric>") -> LoadedRubric:
    """Validate YAML text; :class:`RubricInvalid` names ``source``, the line and the field."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise RubricInvalid(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RubricInvalid(f"{source}:1: expected a mapping with id, version, title, sections")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        grouped: dict[tuple[int | None, str], list[str]] = {}
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            msgs = grouped.setdefault((_node_line(root, loc), _field_path(loc, root)), [])
            if msg not in msgs:
                msgs.append(msg)
        problems = [f"{source}:{line}: {path}: {' or '.join(m)}" for (line, path), m in grouped.items()]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RubricInvalid(problems[0] + more, problems) from None
    return LoadedRubric(rubric=rubric, source=source, yaml_text=text, content_hash=content_hash(rubric))


def load_rubric(path: Path | str | None = None) -> LoadedRubric:
    """Load and validate a rubric file (None: the bundled default), with the rubrics its
    ``languages_from`` names (files beside it; a missing file or a cycle is a one-line error)."""
    p = Path(path) if path is not None else DEFAULT_RUBRIC
    return _with_languages(parse_rubric(_read(p), str(p)), p, (p.resolve(),))


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricInvalid(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricInvalid(f"{p}: cannot read: {exc}") from None


def _with_languages(loaded: LoadedRubric, p: Path, chain: tuple[Path, ...]) -> LoadedRubric:
    """``loaded`` with its ``languages_from`` rubrics loaded; ``chain``: the files that led here."""
    named = loaded.rubric.languages_from or {}
    if not named:
        return loaded
    out: dict[str, LoadedRubric] = {}
    for lang, name in named.items():
        other = (p.parent / name).resolve()
        if other in chain:
            loop = " -> ".join(c.name for c in (*chain, other))
            raise RubricInvalid(f"{p}: languages_from.{lang}: {name} leads back to itself ({loop})")
        if not other.is_file():
            raise RubricInvalid(f"{p}: languages_from.{lang}: {name}: no such rubric file beside it")
        out[lang] = _with_languages(_parsed(_read(other), str(other)), other, (*chain, other))
    return replace(loaded, by_language=out)


def active_rubric() -> LoadedRubric:
    """The rubric new calls are scored with: ``settings.rubric_path`` or the bundled default.

    The file is read for every call (an edit takes effect on the next call) but parsed again only
    when its text changed: parsing and validating the default rubric took ~100 ms a call, the
    largest part of a warm worker's per-call overhead (``python -m bench.overhead``).
    """
    from storage.settings import get_settings

    path = get_settings().rubric_path
    p = Path(path) if path is not None else DEFAULT_RUBRIC
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return load_rubric(path)  # the same one-line error as a first load
    loaded = _parsed(text, str(p))
    if not loaded.rubric.languages_from:
        return loaded
    # the language rubrics are files of their own: read again too, so an edit to them counts as well
    return _with_languages(loaded, p, (p.resolve(),))


@functools.lru_cache(maxsize=8)
def _parsed(text: str, source: str) -> LoadedRubric:
    return parse_rubric(text, source)
