"""A rubric that names another for a language (``languages_from``): the bundled default scores
Mandarin calls with zh.yaml; a missing file or a cycle is a one-line error at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.autoscore import evaluate
from scoring.rubric import DEFAULT_RUBRIC, Answer, RubricInvalid, load_rubric
from tests.scoring_calls import call, seg
from transcribe.vocabulary import language_rubric, rubric_phrases

ZH_FILE = DEFAULT_RUBRIC.with_name("zh.yaml")

SMALL = """\
id: {id}
version: 1
title: {id}
{extra}
sections:
  - id: s
    title: s
    weight: 1
    items:
      - id: greeting
        title: greets
        points: 1
        check: {{kind: phrase, speaker: agent, any: ["{phrase}"]}}
"""


def _write(folder: Path, name: str, *, phrase: str = "hello", extra: str = "") -> Path:
    path = folder / name
    path.write_text(SMALL.format(id=name.removesuffix(".yaml"), phrase=phrase, extra=extra), encoding="utf-8")
    return path


def test_the_default_rubric_scores_mandarin_calls_with_the_mandarin_rubric() -> None:
    default = load_rubric()
    assert default.key == ("default", 3)
    assert default.for_language("zh").rubric == load_rubric(ZH_FILE).rubric
    assert default.for_language("en") is default and default.for_language(None) is default


def test_a_greeting_without_an_agent_number_is_no_self_id_for_a_mandarin_call() -> None:
    """The default's own Chinese list took 为您服务 ("号为您服务") and 我是 for an agent number;
    the Mandarin rubric it hands zh calls to does not."""
    segs = [seg("agent", 0.5, 5.0, "您好，这里是客服中心，我是小王，很高兴为您服务。"),
            seg("customer", 5.5, 8.0, "我想查一下订单。"), seg("agent", 8.5, 12.0, "感谢您的来电，再见。")]
    default = load_rubric()
    assert evaluate(default, call(segs)).answers()["self-id"] is Answer.yes
    assert evaluate(default.for_language("zh"), call(segs)).answers()["self-id"] is Answer.no


def test_a_language_rubric_that_is_not_there_is_a_one_line_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.yaml", extra="languages_from: {zh: nowhere.yaml}")
    with pytest.raises(RubricInvalid) as err:
        load_rubric(path)
    assert "nowhere.yaml" in str(err.value) and "languages_from.zh" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_cycle_of_language_rubrics_is_a_one_line_error(tmp_path: Path) -> None:
    _write(tmp_path, "b.yaml", extra="languages_from: {en: a.yaml}")
    a = _write(tmp_path, "a.yaml", extra="languages_from: {zh: b.yaml}")
    with pytest.raises(RubricInvalid) as err:
        load_rubric(a)
    assert "a.yaml -> b.yaml -> a.yaml" in str(err.value) and "\n" not in str(err.value)


def test_a_chain_of_language_rubrics_is_followed(tmp_path: Path) -> None:
    _write(tmp_path, "c.yaml", phrase="ni hao")
    _write(tmp_path, "b.yaml", phrase="hi", extra="languages_from: {zh: c.yaml}")
    a = _write(tmp_path, "a.yaml", extra="languages_from: {zh: b.yaml}")
    b = load_rubric(a).for_language("zh")
    assert b.rubric.id == "b" and b.for_language("zh").rubric.id == "c"


def test_a_rubric_without_languages_keeps_its_content_hash_shape() -> None:
    """The new field is left out of the hashed content when absent, so rubrics stored before it
    existed still match their files."""
    zh = load_rubric(ZH_FILE).rubric
    assert "languages_from" not in zh.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_mandarin_calls_under_the_default_are_primed_with_the_mandarin_rubric_phrases() -> None:
    assert language_rubric(DEFAULT_RUBRIC, "zh") == ZH_FILE
    assert language_rubric(DEFAULT_RUBRIC, "en") == DEFAULT_RUBRIC
    primed = {p for ps in rubric_phrases(language_rubric(DEFAULT_RUBRIC, "zh")) for p in ps}
    assert "号客服" in primed and "号为您服务" not in primed


def test_the_scoring_job_stores_a_mandarin_call_under_the_mandarin_rubric(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the bundled default, the job scores a zh call with zh.yaml and an English one with the default."""
    from scoring.evaluations import evaluation_json
    from scoring.handler import handle
    from storage.db import session
    from storage.jobs import JobContext
    from storage.settings import reset_settings
    from tests.scoring_calls import good_call, store_call

    monkeypatch.setenv("CALLQC_SCORE_FORCED_VERIFICATION", "false")  # these calls have no audio to verify on
    reset_settings()

    zh = [seg("agent", 0.5, 5.0, "您好，很高兴为您服务，我是八号客服。"), seg("customer", 5.5, 8.0, "我想查一下订单。"),
          seg("agent", 8.5, 12.0, "感谢您的来电，再见。")]
    with session() as s:
        store_call(s, "zh-1", zh, language="zh")
        store_call(s, "en-1", good_call())
    for call_id in ("zh-1", "en-1"):
        handle(JobContext(job_id=1, kind="score", call_id=call_id, payload={}))
    with session() as s:
        assert evaluation_json(s, "zh-1")["rubric"]["id"] == "zh-default"
        assert evaluation_json(s, "en-1")["rubric"]["id"] == "default"


def test_the_rubric_a_language_is_primed_from_follows_an_edited_file(tmp_path: Path) -> None:
    main = _write(tmp_path, "main.yaml")
    other = _write(tmp_path, "other.yaml", phrase="good morning")
    assert language_rubric(main, "zh") == main
    _write(tmp_path, "main.yaml", extra="languages_from: {zh: other.yaml}")
    assert language_rubric(main, "zh") == other
