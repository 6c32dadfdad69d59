"""Numbers the ASR wrote as sound-alike words, and runs that hold a phone pattern inside a longer number."""

from __future__ import annotations

from storage.segments import Segment
from tests.redaction_helpers import en, zh
from transcribe.redaction.detect import detect
from transcribe.redaction.rules import Kind, load_rules
from transcribe.redaction.transcript import redact_segments


def found(segments: list[Segment]) -> list[tuple[str, str]]:
    return [(str(h.kind), h.rule) for h in detect(segments, load_rules())]


def test_a_phone_number_heard_as_sound_alike_words_after_its_cue_is_redacted() -> None:
    """"seven oh oh five three five two oh oh seven" as tiny.en wrote it, after "contact number": no
    digit written, six digit-like words in fourteen; the words from the first to the last go, the
    audio cut runs to the end of the answer."""
    segs = [en("agent", 0, "Could I get a contact number?"),
            en("customer", 3, "My hum were in heaven, not only a rope.", channel=1),
            en("customer", 7.7, "I'm free, I'm too, not only a rope, heaven. Thank you.", channel=1)]
    [hit] = detect(segs, load_rules())
    assert (hit.kind, hit.rule, hit.channel) == (Kind.phone, "soundalike", 1)
    assert hit.start <= segs[1].words[4].start and hit.end == segs[2].words[-1].end
    texts = [s.text for s in redact_segments(segs, [hit])]
    assert texts[1].startswith("My hum were in [PHONE:") and texts[2].endswith("Thank you.")


def test_sound_alike_words_without_a_cue_or_too_sparse_are_left_alone() -> None:
    """The same words with no cue for a number, and an ordinary answer after a phone cue."""
    segs = [en("agent", 0, "How was the weekend?"),
            en("customer", 3, "My hum were in heaven, not only a rope. I'm free, I'm too, not only a rope, heaven.",
               channel=1)]
    assert found(segs) == []
    segs = [en("agent", 0, "What is the best phone number to reach you?"),
            en("customer", 4, "I am free on Monday, so call me at home in the morning or after work, I want to go "
                              "for a walk too", channel=1)]
    assert found(segs) == []


def test_a_mandarin_id_number_written_as_homophones_after_its_cue_is_redacted() -> None:
    """四 as 司, 零 as 林, 三 as 山, 幺 as 要, 九 as 就, 二 as 而, after "身份证号码" (an ID cue, not a
    phone's 号码): one digit written, the rest homophones."""
    segs = [zh("agent", 0, ["请", "提供", "身份证", "号码"], channel=0),
            zh("customer", 3, ["好的", "是", "司司", "林山林武", "要就八林", "林要林要", "要而山", "而", "谢谢"])]
    assert found(segs) == [("id", "soundalike")]
    segs[1] = zh("customer", 3, ["好的", "我", "就", "把", "它", "拿", "起来", "看", "一下", "谢谢"])
    assert found(segs) == []


def test_a_long_run_after_a_card_cue_is_one_card_number_not_a_mobile_inside_it() -> None:
    """Fifteen digits holding a mobile's pattern (…18207837174), with or without the card cue: the
    whole run goes, not the mobile alone with four digits left in the text."""
    said = "5 3 3 6 1 8 2 0 7 8 3 7 1 7 4. Thank you"
    for agent in ("Can I have the long number on your card please?", "Can I come from the long time we're on"):
        segs = [en("agent", 0, agent), en("customer", 5, "Sure, it is " + said, channel=1)]
        [hit] = detect(segs, load_rules())
        assert hit.digits == 15 and hit.kind in (Kind.card, Kind.account)
        assert redact_segments(segs, [hit])[1].text.startswith("Sure, it is [")
    segs = [en("agent", 0, "Your phone number?"), en("customer", 3, "1 3 8 0 0 1 3 8 0 0 0", channel=1)]
    assert found(segs) == [("phone", "pattern")]


def test_count_number_is_a_cue_for_an_account() -> None:
    """"account number" as tiny.en heard it: eleven digits after it are an account number."""
    segs = [en("agent", 0, "Can I come?"),
            en("customer", 3, "Yes, there are count number 2, 3, 0, 10, and 2, 9, 8, 4, 1, and 2.", channel=1)]
    assert found(segs) == [("account", "cue")]


def test_ten_digits_said_one_by_one_with_no_cue_heard_are_a_phone_number() -> None:
    """"You control me on one side to four two five four one eight five seven": the agent's question
    and "call me on" misheard, ten digits left; nine digits (an order number's length) stay."""
    segs = [en("agent", 0, "What is the best home in the trees?"),
            en("customer", 3, "You control me on one side to four two five four one eight five seven and you",
               channel=1)]
    assert found(segs) == [("phone", "long")]
    segs[1] = en("customer", 3, "You control me on side to four two five four one eight five seven and you",
                 channel=1)
    assert found(segs) == []
