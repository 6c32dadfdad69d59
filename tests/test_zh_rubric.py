"""The bundled Mandarin rubric (scoring/rubrics/zh.yaml) on built Mandarin transcripts."""

from __future__ import annotations

from pathlib import Path

from scoring.autoscore import evaluate
from scoring.rubric import Answer, LocalText, load_rubric
from tests.scoring_calls import call, seg

ZH = load_rubric(Path(__file__).resolve().parents[1] / "scoring" / "rubrics" / "zh.yaml")


def test_every_section_and_item_has_a_chinese_and_an_english_title():
    r = ZH.rubric
    assert isinstance(r.title, LocalText) and r.title.zh and r.title.en
    for sec, it in r.items():
        for title in (sec.title, it.title):
            assert isinstance(title, LocalText) and title.zh and title.en, it.id
    assert [s.title.zh for s in r.sections if isinstance(s.title, LocalText)] == ["服务用语", "服务态度"]


def good_zh_call(**swap: str) -> list:
    lines = {
        "open": "您好，很高兴为您服务，我是八号客服，请问有什么可以帮您？",
        "problem": "我的宽带从今天早上开始就不能上网了。",
        "sorry": "非常抱歉给您带来不便，请告诉我您的账号。",
        "account": "我的账号是四五七二一九。",
        "solve": "已经帮您查到了，3到5个工作日内会处理好。",
        "thanks": "好的，谢谢。",
        "more": "请问还有什么可以帮您？",
        "none": "没有了。",
        "bye": "感谢您的来电，再见。",
    } | swap
    return [
        seg("agent", 0.5, 6.0, lines["open"]), seg("customer", 6.5, 10.0, lines["problem"]),
        seg("agent", 10.5, 14.0, lines["sorry"]), seg("customer", 14.5, 17.0, lines["account"]),
        seg("agent", 17.5, 22.0, lines["solve"]), seg("customer", 22.5, 24.0, lines["thanks"]),
        seg("agent", 24.5, 27.0, lines["more"]), seg("customer", 27.5, 28.5, lines["none"]),
        seg("agent", 29.0, 31.0, lines["bye"]),
    ]


def test_a_good_mandarin_call_with_asr_homophone_errors_passes():
    """高兴 written 高现 and 帮您 written 唤您, as the base model does: the phrases still count."""
    segs = good_zh_call(open="您好，很高现为您服务，我是八号客服。", more="请问还有什么可以唤您？")
    ev = evaluate(ZH, call(segs))
    answers = ev.answers()
    assert answers["greeting"] is Answer.yes and answers["more-help"] is Answer.yes, answers
    assert answers["self-id"] is Answer.yes and answers["farewell"] is Answer.yes
    assert answers["no-abuse"] is Answer.yes and answers["empathy"] is Answer.yes
    assert ev.score.passed


def test_an_insult_zeroes_the_call_and_a_customer_insult_does_not():
    ev = evaluate(ZH, call(good_zh_call(solve="你闭嘴，听我说完。")))
    assert ev.item("no-abuse").result.answer is Answer.no and ev.score.total == 0
    ev = evaluate(ZH, call(good_zh_call(thanks="你们都是笨蛋！")))
    assert ev.item("no-abuse").result.answer is Answer.yes and ev.score.total and ev.score.total > 0


def test_no_greeting_and_no_closing_are_no():
    ev = evaluate(ZH, call(good_zh_call(open="喂，说吧，什么事？", more="好的。", bye="行了，挂了。")))
    answers = ev.answers()
    assert answers["greeting"] is Answer.no and answers["more-help"] is Answer.no
    assert answers["farewell"] is Answer.no
