"""Scoring runs on redacted text and answers as it does on the original: a greeting or a forbidden
word said in the same breath as a number never hides behind a placeholder."""

from __future__ import annotations

from scoring.autoscore import evaluate
from scoring.rubric import active_rubric
from tests.scoring_calls import call, good_call, seg
from transcribe.redaction.detect import detect
from transcribe.redaction.rules import load_rules
from transcribe.redaction.transcript import redact_segments


def _with_numbers() -> list:
    segs = good_call()
    # the greeting and a rude word share segments with a mobile, a card and an ID number
    segs[0] = seg("agent", 0.5, 4.5, "Thank you for calling Acme, my name is Anna, is 13800138000 still your "
                  "mobile, how can I help you?")
    segs[3] = seg("customer", 14.5, 18.0, "Sure, the card is 4111 1111 1111 1111, thanks.")
    segs[6] = seg("agent", 29.5, 33.0, "Shut up, that is stupid, the number 13900139000 is blocked.")
    return segs


def test_every_automatic_answer_is_the_same_on_the_redacted_text() -> None:
    segs = _with_numbers()
    redacted = redact_segments(segs, detect(segs, load_rules()))
    assert "[PHONE:11]" in redacted[0].text and "[CARD:16]" in redacted[3].text
    assert "Thank you for calling Acme" in redacted[0].text and "[PHONE:11] is blocked" in redacted[6].text
    rubric = active_rubric()
    before = evaluate(rubric, call(segs)).answers()
    after = evaluate(rubric, call(redacted)).answers()
    assert (str(after["greeting"]), str(after["no-abuse"])) == ("yes", "no")
    assert after == before
    assert evaluate(rubric, call(redacted)).score.total == evaluate(rubric, call(segs)).score.total
