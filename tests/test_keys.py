"""Call-ID validation and object keys: raw input never reaches a path or key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.errors import InvalidInput
from storage.keys import CALL_ID_MAX, InvalidCallId, recording_key, validate_call_id


@pytest.mark.parametrize("good", ["1700000000.42", "call-0001", "A_b.c-9", "x" * CALL_ID_MAX])
def test_valid_call_ids_are_accepted_unchanged(good: str) -> None:
    """IDs PBXs produce (Asterisk uniqueid, UUID-ish) pass through unchanged."""
    assert validate_call_id(good) == good


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("../etc/passwd", "slash"),
        ("..", "'..'"),
        ("a/b", "slash"),
        ("a\\b", "slash"),
        ("abc\x00", "control"),
        ("ab\ncd", "control"),
        ("x" * (CALL_ID_MAX + 1), "at most"),
        (".hidden", "starting with a letter or digit"),
        ("caf\u00e9", "letters, digits"),
        ("a b", "letters, digits"),
    ],
)
def test_invalid_call_ids_are_refused_with_the_reason(bad: str, reason: str) -> None:
    """Each kind of bad ID is refused with a one-line message saying why."""
    with pytest.raises(InvalidCallId) as exc:
        validate_call_id(bad)
    msg = str(exc.value)
    assert msg.startswith("invalid call ID")
    assert reason in msg
    assert "\n" not in msg


@given(st.text(max_size=200))
def test_any_accepted_call_id_is_a_single_safe_path_component(raw: str) -> None:
    """Whatever is accepted cannot climb out of its folder or hide a separator."""
    try:
        cid = validate_call_id(raw)
    except InvalidInput:
        return
    assert "/" not in cid and "\\" not in cid and ".." not in cid
    assert cid[0].isalnum() and len(cid) <= CALL_ID_MAX


def test_recording_key_is_built_from_date_and_validated_id() -> None:
    """Keys follow recordings/YYYY/MM/DD/<id>.<ext>; bad IDs or extensions never become keys."""
    when = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
    assert recording_key("c-1", when, "WAV") == "recordings/2026/03/07/c-1.wav"
    assert recording_key("c-1", when, "wav", attempt="0a1b2c3d") == "recordings/2026/03/07/c-1~0a1b2c3d.wav"
    with pytest.raises(InvalidInput):
        recording_key("c-1", when, "wav", attempt="../x")
    with pytest.raises(InvalidCallId):
        recording_key("../c-1", when, "wav")
    with pytest.raises(InvalidInput):
        recording_key("c-1", when, "wav/../x")
