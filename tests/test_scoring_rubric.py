# ruff: noqa: E501  -- CONTRACT is the issue's rubric, verbatim
"""Rubric loading: the contract shape loads; errors name file, line and field; hashes ignore layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.rubric import DEFAULT_RUBRIC, RubricInvalid, load_rubric, parse_rubric, title_text

CONTRACT = """\
id: inbound-service
version: 1
title: Inbound service call
pass_mark: 80            # percent
sections:
  - id: opening
    title: Opening
    weight: 30           # renormalised over the sections that apply
    items:
      - id: greeting
        title: Greets the customer and gives name or agent ID
        points: 10
        check: {kind: phrase, speaker: agent, any: ["thank you for calling", "您好"], within_s: 20}
      - id: no-abuse
        title: No rude or forbidden language
        points: 10
        critical: true   # a "no" sets the whole evaluation to 0
        check: {kind: forbidden, speaker: agent, any: ["shut up", "stupid"]}
  - id: conduct
    title: Conduct
    weight: 70
    items:
      - {id: dead-air, title: No silence over 10 s, points: 5, check: {kind: max_silence, seconds: 10}}
      - {id: overtalk, title: Does not talk over the customer, points: 5, check: {kind: max_overtalk, seconds: 3}}
      - {id: pace, title: Speaks at 120-190 words a minute, points: 5, check: {kind: talk_speed, speaker: agent, min_wpm: 120, max_wpm: 190}}
      - {id: closing, title: Offers more help and closes politely, points: 10, check: {kind: phrase, speaker: agent, any: ["anything else"], in_last_s: 60}}
      - {id: empathy, title: Shows empathy, points: 10, check: {kind: model, model: empathy}}
      - {id: resolved, title: Resolves on first contact, points: 10, check: {kind: manual}}
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_contract_example_from_the_issue_loads():
    """The rubric shape given in the issue (plain string titles) is accepted unchanged."""
    loaded = parse_rubric(CONTRACT, "contract.yaml")
    r = loaded.rubric
    assert (r.id, r.version, r.pass_mark) == ("inbound-service", 1, 80)
    assert [it.id for _, it in r.items()] == [
        "greeting", "no-abuse", "dead-air", "overtalk", "pace", "closing", "empathy", "resolved"]
    assert r.item("greeting").check.any_ == ["thank you for calling", "您好"]
    assert r.item("no-abuse").critical is True


def test_default_rubric_loads_with_chinese_and_english_titles():
    """The bundled default rubric validates and carries titles in both languages."""
    r = load_rubric(DEFAULT_RUBRIC).rubric
    glossary = {"wording", "attitude", "accuracy", "handling", "complaints", "errors"}
    assert {s.id for s in r.sections} >= glossary
    for _sec, it in r.items():
        assert title_text(it.title, "zh-CN") != title_text(it.title, "en"), it.id


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("within_s: 20}", "within_s: -20}", 13, "sections[0].items[0].check.within_s"),
        ("weight: 70", "weight: heavy", 21, "sections[1].weight"),
        ("check: {kind: max_silence, seconds: 10}", "check: {kind: max_silence}", 23,
         "sections[1].items[0].check.seconds"),
        ("check: {kind: manual}", "check: {kind: telepathy}", 28, "sections[1].items[5].check"),
        ("critical: true ", "critical: maybe ", 17, "sections[0].items[1].critical"),
    ],
)
def test_validation_error_names_file_line_and_field(tmp_path, old, new, line, field):
    """A bad value is reported as file:line: field: message, on one line."""
    assert old in CONTRACT
    path = write(tmp_path, CONTRACT.replace(old, new, 1))
    with pytest.raises(RubricInvalid) as info:
        load_rubric(path)
    msg = str(info.value)
    assert f"{path}:{line}: {field}:" in msg
    assert "\n" not in msg


def test_duplicate_item_id_is_an_error(tmp_path):
    """Two items with one id are refused (answers are keyed by item id)."""
    path = write(tmp_path, CONTRACT.replace("id: resolved", "id: greeting"))
    with pytest.raises(RubricInvalid, match="item id 'greeting' used twice"):
        load_rubric(path)


def test_yaml_syntax_error_names_the_line(tmp_path):
    """Broken YAML is reported with the line of the problem."""
    path = write(tmp_path, CONTRACT.replace("weight: 70", "weight: [70"))
    with pytest.raises(RubricInvalid, match=rf"{path}:2\d: not valid YAML"):
        load_rubric(path)


def test_content_hash_ignores_comments_but_not_content():
    """Layout and comments do not change the hash; a changed value does."""
    base = parse_rubric(CONTRACT).content_hash
    assert parse_rubric(CONTRACT.replace("# percent", "# the pass mark")).content_hash == base
    assert parse_rubric(CONTRACT.replace("pass_mark: 80", "pass_mark: 85")).content_hash != base


def test_localised_title_needs_a_language():
    """A title mapping with neither zh nor en is refused."""
    with pytest.raises(RubricInvalid, match="give zh, en or both"):
        parse_rubric(CONTRACT.replace("title: Opening", "title: {}"), "x.yaml")
