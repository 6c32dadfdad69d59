"""Check kinds on built transcripts with known outcomes; every answer's evidence time is checked (±1 s)."""

from __future__ import annotations

import pytest

from scoring.autoscore import evaluate
from scoring.checks import Env, run_item
from scoring.metrics import compute
from scoring.rubric import Answer, Item, load_rubric, parse_rubric
from tests.scoring_calls import call, good_call, seg
from tests.test_scoring_rubric import CONTRACT

RUBRIC = parse_rubric(CONTRACT, "contract.yaml")


def answer(conv, check: dict, env: Env | None = None, **item):
    it = Item.model_validate({"id": "x", "title": "x", "points": 1, "check": check, **item})
    return run_item(it, conv, compute(conv), env or Env())


def near(t: float, want: float) -> bool:
    return abs(t - want) <= 1.0


def test_greeting_said_is_yes_with_its_time():
    """The greeting at 0.5 s answers yes, evidence starting within 1 s of it."""
    res = evaluate(RUBRIC, call(good_call())).item("greeting").result
    assert res.answer is Answer.yes
    assert res.evidence[0].speaker == "agent" and near(res.evidence[0].start, 0.5)
    assert "thank you for calling" in res.evidence[0].quote.lower()


def test_greeting_missing_is_no_with_the_span_searched():
    """Without a greeting the answer is no, and the evidence is the first 20 s that were searched."""
    segs = [seg("agent", 0.5, 3.0, "Yeah, what do you want?"), *good_call()[1:]]
    res = evaluate(RUBRIC, call(segs)).item("greeting").result
    assert res.answer is Answer.no
    where = res.evidence[0]
    assert where.kind == "searched" and near(where.start, 0) and near(where.end, 20)


def test_greeting_after_the_window_does_not_count():
    """A greeting said at 25 s is outside within_s: 20."""
    segs = [seg("agent", 25.0, 28.0, "Thank you for calling Acme.")]
    assert answer(call(segs, duration=40), {"kind": "phrase", "any": ["thank you for calling"],
                                            "within_s": 20}).answer is Answer.no


def test_mandarin_greeting_is_found_character_by_character():
    """您好 inside unspaced Chinese is found, evidence at its time (1.0 s)."""
    segs = [seg("agent", 1.0, 5.0, "您好，很高兴为您服务，我是工号一二三四"),
            seg("customer", 5.5, 8.0, "你好，我想查一下话费")]
    res = evaluate(RUBRIC, call(segs)).item("greeting").result
    assert res.answer is Answer.yes and near(res.evidence[0].start, 1.0)


def test_phrase_tolerates_an_asr_error():
    """'thank you for calling' still matches 'thank you for coling' (one ASR slip)."""
    segs = [seg("agent", 0.5, 3.0, "Thank you for coling Acme")]
    res = answer(call(segs), {"kind": "phrase", "any": ["thank you for calling"]})
    assert res.answer is Answer.yes


def test_short_phrase_needs_an_exact_match():
    """A short forbidden word does not fire inside a longer one ('hell' vs 'hello')."""
    segs = [seg("agent", 0.5, 3.0, "Hello there")]
    assert answer(call(segs), {"kind": "forbidden", "any": ["hell"]}).answer is Answer.yes


def test_forbidden_word_said_is_no_and_zeroes_the_call():
    """'shut up' at ~30 s answers no (critical), with evidence at that time; the total is 0."""
    segs = good_call() + [seg("agent", 40.0, 42.0, "Oh shut up and listen")]
    ev = evaluate(RUBRIC, call(segs))
    res = ev.item("no-abuse").result
    assert res.answer is Answer.no and near(res.evidence[0].start, 40.5)
    assert ev.score.total == 0.0 and ev.score.passed is False


def test_forbidden_word_said_by_customer_does_not_count():
    """Only the agent's speech is checked for forbidden words."""
    segs = good_call() + [seg("customer", 40.0, 42.0, "You are stupid")]
    assert evaluate(RUBRIC, call(segs)).item("no-abuse").answer is Answer.yes


def test_fifteen_seconds_of_dead_air_is_no_at_its_time():
    """A 15 s silence between 38 s and 53 s fails max_silence 10 s; the evidence is that gap."""
    segs = good_call() + [seg("agent", 53.0, 55.0, "Sorry for the wait.")]
    res = evaluate(RUBRIC, call(segs)).item("dead-air").result
    assert res.answer is Answer.no
    assert near(res.evidence[0].start, 38.0) and near(res.evidence[0].end, 53.0)


def test_overtalk_is_no_at_its_time():
    """Agent 40-46 s over customer 42-47 s: 4 s of overtalk > 3 s, evidence 42-46 s."""
    segs = good_call() + [seg("agent", 40.0, 46.0, "Let me explain the fees in detail now"),
                          seg("customer", 42.0, 47.0, "No wait that is not what I asked")]
    res = evaluate(RUBRIC, call(segs)).item("overtalk").result
    assert res.answer is Answer.no
    assert near(res.evidence[0].start, 42.0) and near(res.evidence[0].end, 46.0)
    assert {e.speaker for e in res.evidence[1:]} == {"agent", "customer"}


def test_closing_missing_is_no_with_the_last_minute_searched():
    """No 'anything else' in the last 60 s: no, evidence the searched span ending at the call's end."""
    segs = [s for s in good_call() if "anything else" not in s.text]
    res = evaluate(RUBRIC, call(segs, duration=120)).item("closing").result
    assert res.answer is Answer.no
    assert near(res.evidence[0].start, 60) and near(res.evidence[0].end, 120)


def test_low_confidence_makes_absence_insufficient_not_no():
    """An unclear segment where the greeting could be gives insufficient evidence, never 'no'."""
    segs = [seg("agent", 0.5, 3.0, "thang few for clling", logprob=-1.6), *good_call()[1:]]
    ev = evaluate(RUBRIC, call(segs))
    assert ev.item("greeting").answer is Answer.insufficient
    assert ev.score.needs_review is True


def test_mono_call_cannot_attribute_a_match_or_measure_overtalk():
    """On mono a phrase or forbidden word that was said may be the customer's: insufficient, not yes/no."""
    segs = [seg("unknown", 0.5, 3.0, "Thank you for calling"), seg("unknown", 4.0, 6.0, "You stupid machine")]
    conv = call(segs, stereo=False)
    said = answer(conv, {"kind": "phrase", "any": ["thank you for calling"]})
    assert said.answer is Answer.insufficient and near(said.evidence[0].start, 0.5)
    swore = answer(conv, {"kind": "forbidden", "any": ["stupid"]})
    assert swore.answer is Answer.insufficient and near(swore.evidence[0].start, 4.7)
    assert answer(conv, {"kind": "max_overtalk", "seconds": 3}).answer is Answer.insufficient
    assert answer(conv, {"kind": "talk_speed", "min_wpm": 1, "min_speech_s": 1}).answer is Answer.insufficient


def test_mono_call_decides_what_nobody_said():
    """On mono, a phrase nobody said is a 'no' for the agent, and no forbidden word is a 'yes'."""
    conv = call([seg("unknown", 0.5, 3.0, "Hello, what is it"), seg("unknown", 3.5, 6.0, "My bill is wrong")],
                stereo=False, duration=30)
    missing = answer(conv, {"kind": "phrase", "any": ["thank you for calling"], "within_s": 20})
    assert missing.answer is Answer.no
    where = missing.evidence[0]
    assert where.kind == "searched" and near(where.start, 0) and near(where.end, 20) and "mono" in where.note
    assert answer(conv, {"kind": "forbidden", "any": ["shut up"]}).answer is Answer.yes
    assert answer(conv, {"kind": "regex", "pattern": r"\bcase \d+"}).answer is Answer.no


def test_forbidden_word_heard_on_both_channels_is_crosstalk_not_a_no():
    """A customer's insult leaking into the agent channel at the same moment is insufficient, not a critical no."""
    segs = [*good_call(), seg("customer", 40.0, 43.0, "You are so stupid"),
            seg("agent", 40.1, 43.1, "you are so stupid", logprob=-0.6)]
    res = evaluate(RUBRIC, call(segs)).item("no-abuse").result
    assert res.answer is Answer.insufficient and "crosstalk" in res.reason
    assert near(res.evidence[0].start, 42.3)


def test_agent_goodbye_after_the_customers_is_not_crosstalk():
    """The same word said in turn on both channels (a reply) still counts for the agent."""
    segs = [seg("customer", 10.0, 11.0, "goodbye now"), seg("agent", 11.2, 12.5, "goodbye now")]
    res = answer(call(segs), {"kind": "phrase", "any": ["goodbye now"]})
    assert res.answer is Answer.yes and near(res.evidence[0].start, 11.2)


def test_dead_air_ignores_announced_pbx_holds():
    """A 40 s PBX hold is not dead air; a 15 s silence outside it still is."""
    base = good_call() + [seg("agent", 78.0, 80.0, "Thanks for holding.")]
    held = call(base, meta={"holds": [[38.5, 77.5]]})
    assert answer(held, {"kind": "max_silence", "seconds": 10}).answer is Answer.yes
    gap = call(base + [seg("agent", 95.0, 97.0, "Let me check once more.")], meta={"holds": [[38.5, 77.5]]})
    res = answer(gap, {"kind": "max_silence", "seconds": 10})
    assert res.answer is Answer.no and near(res.evidence[0].start, 80) and near(res.evidence[0].end, 95)


def test_regex_present_and_absent():
    """regex finds a case number; expect: absent turns a hit into a no."""
    conv = call(good_call() + [seg("agent", 40, 43, "Your case number is AB-12345.")])
    assert answer(conv, {"kind": "regex", "pattern": r"[A-Z]{2}-\d{5}"}).answer is Answer.yes
    res = answer(conv, {"kind": "regex", "pattern": r"\bcase number\b", "expect": "absent"})
    assert res.answer is Answer.no and near(res.evidence[0].start, 40)


def test_talk_speed_in_words_and_in_chinese_characters():
    """180 wpm passes 120-190; Chinese speech is judged in characters a minute."""
    conv = call(good_call())
    assert answer(conv, {"kind": "talk_speed", "min_wpm": 120, "max_wpm": 190}).answer is Answer.yes
    assert answer(conv, {"kind": "talk_speed", "min_wpm": 200}).answer is Answer.no
    # 60 characters in 12 s = 300 characters a minute
    zh = call([seg("agent", 0, 12, "您好" * 30), seg("customer", 12.5, 14, "好的")])
    assert answer(zh, {"kind": "talk_speed", "min_cpm": 150, "max_cpm": 320}).answer is Answer.yes
    assert answer(zh, {"kind": "talk_speed", "min_cpm": 150, "max_cpm": 250}).answer is Answer.no
    assert answer(zh, {"kind": "talk_speed", "min_wpm": 120}).answer is Answer.na


def test_talk_ratio_and_hold():
    """Agent share 22/33.5 passes 0.5-0.8; a 40 s silence is a hold over a 30 s limit."""
    conv = call(good_call())
    assert answer(conv, {"kind": "talk_ratio", "min": 0.5, "max": 0.8}).answer is Answer.yes
    assert answer(conv, {"kind": "talk_ratio", "max": 0.5}).answer is Answer.no
    held = call(good_call() + [seg("agent", 78.0, 80.0, "Thanks for holding.")])
    res = answer(held, {"kind": "hold", "max_s": 30})
    assert res.answer is Answer.no and near(res.evidence[0].start, 38) and near(res.evidence[0].end, 78)
    pbx = call(good_call(), meta={"holds": [[10, 20]]})
    assert answer(pbx, {"kind": "hold", "max_s": 30}).answer is Answer.yes


def test_na_conditions_on_direction_and_metadata():
    """applies_when and na_when read direction and metadata (equals or one of a list)."""
    chk = {"kind": "phrase", "any": ["thank you for calling"]}
    conv = call(good_call(), direction="inbound", meta={"product": "card"})
    assert answer(conv, chk, applies_when={"direction": "outbound"}).answer is Answer.na
    assert answer(conv, chk, applies_when={"direction": ["inbound", "outbound"]}).answer is Answer.yes
    assert answer(conv, chk, na_when={"meta": {"product": ["card", "loan"]}}).answer is Answer.na
    assert answer(conv, chk, na_when={"meta": {"product": "loan"}}).answer is Answer.yes


def test_model_and_manual_items_without_a_model():
    """A model item without a trained model is insufficient; a manual item has no automatic answer."""
    conv = call(good_call())
    assert answer(conv, {"kind": "model", "model": "empathy"}).answer is Answer.insufficient
    assert answer(conv, {"kind": "manual"}).answer is None


@pytest.mark.parametrize("zh", [False, True])
def test_default_rubric_passes_a_good_call(zh):
    """A good call passes the default rubric in English and in Mandarin."""
    if zh:
        segs = [seg("agent", 0.5, 6.0, "您好，很高兴为您服务，我是工号一二三四，请问有什么可以帮您"),
                seg("customer", 6.5, 10.0, "你好，我的话费扣了两次"),
                seg("agent", 10.5, 18.0, "非常抱歉给您带来不便，我帮您核实一下，请确认一下您的身份证后四位"),
                seg("customer", 18.5, 20.0, "一二三四"),
                seg("agent", 20.5, 27.0, "谢谢，已经为您退款，三个工作日内到账，还有什么可以帮您"),
                seg("customer", 27.5, 29.0, "没有了，谢谢"),
                seg("agent", 29.5, 32.0, "感谢您的来电，祝您生活愉快，再见")]
    else:
        segs = good_call()
    ev = evaluate(load_rubric(), call(segs))
    bad = {r.item_id: r.result.reason for r in ev.items if r.answer in (Answer.no, Answer.insufficient)}
    assert bad == {}
    assert ev.score.passed is True


def test_default_rubric_does_not_punish_innocent_phrases_but_catches_a_brush_off():
    """'I don't know, let me check' is no brush-off and 'am I speaking with' no self-ID; 不归我管 is."""
    rubric = load_rubric()
    segs = [seg("agent", 0.5, 3.0, "Good morning, am I speaking with the account holder?"),
            seg("customer", 3.5, 5.0, "Yes."),
            seg("agent", 5.5, 9.0, "I don't know offhand, let me check. Please call back later if it fails.")]
    ev = evaluate(rubric, call(segs))
    assert ev.item("no-service-error").answer is Answer.yes
    assert ev.item("self-id").answer is Answer.no
    zh = evaluate(rubric, call([seg("agent", 0.5, 3.0, "您好，这个不归我管，你找别人吧"),
                                seg("customer", 3.5, 5.0, "啊？")]))
    brush_off = zh.item("no-service-error").result
    assert brush_off.answer is Answer.no and near(brush_off.evidence[0].start, 1.3)
    errors = next(s for s in zh.score.sections if s.id == "errors")
    assert errors.zeroed and errors.percent == 0.0


def test_every_automatic_answer_has_evidence():
    """Every yes, no and insufficient answer of the default rubric carries evidence, on stereo and mono calls."""
    rubric = load_rubric()
    quiet = [seg("agent", 0.5, 8.0, "Thank you for calling, my name is Anna, how can I help you?")]
    mono = [seg("unknown", s.start, s.end, s.text) for s in good_call()]
    for conv in (call(good_call()), call(quiet), call(mono, stereo=False)):
        for r in evaluate(rubric, conv).items:
            if r.answer in (Answer.yes, Answer.no, Answer.insufficient):
                assert r.result.evidence, (r.item_id, r.answer, r.result.reason)
