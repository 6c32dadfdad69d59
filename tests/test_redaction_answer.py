"""Answer windows: the customer's answer to the agent's ask for a number is redacted as that type."""

from __future__ import annotations

from storage.segments import Segment
from tests.redaction_helpers import en, zh
from transcribe.redaction.answer import AnswerWindow
from transcribe.redaction.detect import detect
from transcribe.redaction.hits import Hit
from transcribe.redaction.rules import Kind, load_rules
from transcribe.redaction.transcript import redact_segments

WINDOW = AnswerWindow(pause_s=3.0, max_s=20.0)


def answers(segments: list[Segment]) -> list[Hit]:
    return [h for h in detect(segments, load_rules(), WINDOW) if h.rule == "answer"]


def test_a_phone_number_the_asr_wrote_wrong_is_redacted_from_the_lead_in_to_the_thank_you() -> None:
    """"Did it last? Or 4? Fix I'm Evan. Nero Free won." after "contact number": one digit written,
    too few digit-like words for the partial and sound-alike rules; the window's audio cut runs from
    the customer's first word (no lead-in heard) to where "Thank you" starts, the text loses the
    digit-like words only."""
    segs = [en("agent", 0, "Could I get a contact number?"),
            en("customer", 3.5, "Did it last? Or 4? Fix I'm Evan. Nero Free won. Thank you.", channel=1)]
    [hit] = answers(segs)
    words = segs[1].words
    assert (hit.kind, hit.channel, hit.speaker) == (Kind.phone, 1, "customer")
    assert hit.start == words[0].start and hit.end == words[-2].start  # "Thank" starts where the cut ends
    all_hits = detect(segs, load_rules(), WINDOW)
    text = redact_segments(segs, all_hits)[1].text
    assert text == "Did it last? Or [PHONE:4] Fix I'm Evan. Thank you."
    assert detect(segs, load_rules()) == []  # without the window nothing is found


def test_the_cut_starts_after_the_lead_in_and_a_card_found_by_luhn_is_not_cut_twice() -> None:
    segs = [en("agent", 0, "Can I have the long number on your card please?"),
            en("customer", 5, "Sure, it is 4111 1111 1111 1111 I mean yes. Thank you.", channel=1)]
    hits = detect(segs, load_rules(), WINDOW)
    assert {h.rule for h in hits} == {"luhn", "answer"}
    [ans] = [h for h in hits if h.rule == "answer"]
    assert ans.kind is Kind.card and ans.refs == ()  # its digits are the Luhn hit's
    assert ans.start == segs[1].words[2].end  # after "is"
    assert redact_segments(segs, hits)[1].text == "Sure, it is [CARD:16] I mean yes. Thank you."


def test_an_answer_without_the_number_is_left_alone() -> None:
    """The agent asks, the customer does not give it: too little that is digit-like (a number said
    with a unit word counts for nothing)."""
    for said in ("I would rather not give that out, sorry.", "It is the same one you have on file.",
                 "I have had it for about two years.", "Can I call you back with it later?"):
        for ask in ("What is the best phone number to reach you?", "And the security code on the back of the card?"):
            segs = [en("agent", 0, ask), en("customer", 4, said, channel=1)]
            assert answers(segs) == [], (ask, said)


def test_no_ask_or_a_look_alike_ask_opens_no_window() -> None:
    said = "Sure, it is nine five six two two one four eight. Thank you."
    for ask in ("Can you give me your order number?", "How are you today?"):
        segs = [en("agent", 0, ask), en("customer", 4, said, channel=1)]
        assert answers(segs) == [], ask


def test_the_window_ends_at_a_long_pause_or_when_the_agent_speaks() -> None:
    segs = [en("agent", 0, "And your telephone number?"),
            en("customer", 3, "It is four four seven one", channel=1),
            en("customer", 5.6, "two three nine nine", channel=1),  # 0.6 s pause: same answer
            en("customer", 12, "one two three four five", channel=1)]  # 4.4 s pause: not the answer
    [hit] = answers(segs)
    assert hit.end <= segs[2].end and hit.refs == ()  # its digits are the phone pattern's hit
    segs[3] = en("agent", 7.7, "Okay and what is the reason for your call today?")
    segs.append(en("customer", 11, "one two three four five", channel=1))
    [hit] = answers(segs)
    assert hit.end <= segs[2].end


def test_only_the_customers_digit_like_words_go_agent_words_and_courtesy_stay() -> None:
    """A greeting or a forbidden word is never hidden: the agent's words are not read for cutting,
    and the customer's other words stay in the text."""
    segs = [en("agent", 0, "Good morning, thank you for calling. Shut up and give me your card number."),
            en("customer", 6, "Okay it is heaven free near rope five six seven, you idiot. Goodbye.", channel=1)]
    hits = detect(segs, load_rules(), WINDOW)
    out = redact_segments(segs, hits)
    assert out[0] is segs[0]
    assert any(h.rule == "answer" and h.kind is Kind.card for h in hits)
    assert "idiot" in out[1].text and "Goodbye." in out[1].text and "heaven" not in out[1].text


def test_an_email_answer_is_cut_from_the_misheard_name_to_the_domain() -> None:
    segs = [en("agent", 0, "What is your email address?"),
            en("customer", 3, "It is may we have to email.com Thank you.", channel=1)]
    hits = detect(segs, load_rules(), WINDOW)
    assert [(h.kind, h.rule) for h in hits] == [(Kind.email, "answer")]
    assert redact_segments(segs, hits)[1].text == "It is [EMAIL] Thank you."


def test_a_mandarin_id_number_misheard_after_the_agents_ask_is_redacted() -> None:
    """身份证号码 asked; base wrote homophones and a few digits (not enough for the other rules): the
    answer after 是 is cut to 谢谢; 两年 after 手机号 is a quantity."""
    segs = [zh("agent", 0, ["请您", "提供", "一下", "身份证", "号码"], channel=0),
            zh("customer", 3, ["好的", "我的", "身份证", "号码", "是", "乳", "机", "一二", "绿", "连", "五", "谢谢"])]
    [hit] = answers(segs)
    assert hit.kind is Kind.id and hit.start == segs[1].words[4].end and hit.end == segs[1].words[-1].start
    assert redact_segments(segs, [hit])[1].text.endswith("谢谢")
    segs = [zh("agent", 0, ["请问", "您的", "手机", "号码", "是", "多少"], channel=0),
            zh("customer", 3, ["这个", "手机", "我", "用了", "两年", "了"])]
    assert answers(segs) == []


def test_the_answer_window_can_be_turned_off() -> None:
    segs = [en("agent", 0, "What is your email address?"),
            en("customer", 3, "It is may we have to email.com Thank you.", channel=1)]
    assert detect(segs, load_rules()) == []


def test_running_again_on_the_redacted_text_finds_nothing_new() -> None:
    """``callqc redact`` without the original text reads the stored text: the placeholders' counts
    ("[CARD:16]", "[PHONE:4]") are not digits said, so no answer is found in them and the text stays."""
    segs = [en("agent", 0, "Can I have the long number on your card please?"),
            en("customer", 5, "Sure, it is 4111 1111 1111 1111 I mean nine nine. Thank you.", channel=1),
            en("agent", 14, "And the email address?"),
            en("customer", 17, "It is may we have to email.com Thank you.", channel=1)]
    once = redact_segments(segs, detect(segs, load_rules(), WINDOW))
    assert once[1].text.startswith("Sure, it is [CARD:16]") and once[3].text == "It is [EMAIL] Thank you."
    again = detect(once, load_rules(), WINDOW)
    assert again == [] and redact_segments(once, again) == once
