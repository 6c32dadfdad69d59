"""Channel check: agent and customer channels swapped or not, told from the transcript."""

from __future__ import annotations

from scoring.channel_check import Verdict, check
from storage.segments import Segment

MAP = {"agent": 0, "customer": 1}


def _seg(channel: int, start: float, text: str) -> Segment:
    return Segment(speaker=("agent", "customer")[channel], start=start, end=start + 2, text=text, channel=channel)


def _call(agent_ch: int) -> list[Segment]:
    cust = 1 - agent_ch
    return [_seg(agent_ch, 0.5, "Thank you for calling Acme, how can I help you?"),
            _seg(cust, 3.0, "Hi, I have a problem with my bill."),
            _seg(agent_ch, 6.0, "Let me check that for you, one moment please."),
            _seg(cust, 9.0, "Okay.")]


def test_agent_phrases_on_the_agent_channel_say_ok() -> None:
    result = check(_call(0), MAP, "inbound")
    assert result is not None
    assert result.verdict is Verdict.ok
    assert result.confidence > 0.9
    assert any("thank you for calling" in r for r in result.reasons)


def test_agent_phrases_on_the_customer_channel_say_swapped() -> None:
    result = check(_call(1), MAP, "inbound")
    assert result is not None
    assert result.verdict is Verdict.swapped
    assert result.score < 0
    assert any("on the customer channel" in r for r in result.reasons)


def test_little_evidence_is_unsure() -> None:
    segs = [_seg(0, 0.5, "Hello."), _seg(1, 2.0, "Yes."), _seg(0, 4.0, "Okay.")]
    result = check(segs, MAP, "inbound")
    assert result is not None
    assert (result.verdict, result.score) == (Verdict.unsure, 1.0)
    assert result.reasons == ["the agent channel speaks first on an inbound call (+1)"]


def test_who_speaks_first_depends_on_the_direction() -> None:
    segs = [_seg(1, 0.2, "Hello?"), _seg(0, 1.0, "Hi, this is Sam from Acme.")]
    inbound, outbound = check(segs, MAP, "inbound"), check(segs, MAP, "outbound")
    assert inbound is not None and outbound is not None
    assert (inbound.score, outbound.score) == (-1.0, 1.0)


def test_chinese_script_phrases_count() -> None:
    segs = [_seg(0, 0.5, "您好，工号一二三，很高兴为您服务"), _seg(1, 3.0, "我要投诉我的订单")]
    result = check(segs, MAP, None)
    assert result is not None
    assert result.verdict is Verdict.ok


def test_mono_calls_get_no_verdict() -> None:
    assert check([_seg(0, 0, "thank you for calling")], {"unknown": 0}, "inbound") is None
