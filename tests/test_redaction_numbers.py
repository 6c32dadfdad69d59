"""The redaction's own spoken-number reader: English and Mandarin, words, digits and mixes."""

from __future__ import annotations

import pytest

from transcribe.redaction.spoken_numbers import number_tokens, words_to_digits, zh_numeral


@pytest.mark.parametrize(("said", "digits"), [
    ("four one one one", "4111"),
    ("double five", "55"),
    ("triple seven", "777"),
    ("oh five two seven", "0527"),
    ("zero nought nil", "000"),
    ("twenty one", "21"),
    ("twenty-one", "21"),
    ("nineteen ninety", "1990"),
    ("double oh seven", "007"),
    ("Four, one. One-one", "4111"),
    ("4111 1111", "41111111"),
    ("4111-1111-1111-1111", "4111111111111111"),
    ("+86 138 0013 8000", "8613800138000"),
])
def test_english_numbers_read_as_their_digits(said: str, digits: str) -> None:
    """Digits said one by one, doubled, tripled, as teens or tens, or written with separators."""
    assert words_to_digits(said) == digits


@pytest.mark.parametrize(("said", "digits"), [
    ("幺三八", "138"),
    ("一三八零零一三八零零零", "13800138000"),
    ("〇二〇", "020"),
    ("两两", "22"),
    ("十", "10"),
    ("十五", "15"),
    ("二十", "20"),
    ("二十三", "23"),
    ("三百", "300"),
    ("三百零五", "305"),
    ("一百二", "120"),
    ("一千零一", "1001"),
    ("两千", "2000"),
    ("十二十三", "1213"),
    ("零五", "05"),
])
def test_mandarin_numerals_read_digit_by_digit_or_by_value(said: str, digits: str) -> None:
    """一/幺, 二/两 and 零/〇 as digits; 十/百/千 forms by their value."""
    assert zh_numeral(said) == digits


@pytest.mark.parametrize("text", ["$1,250.00", "3:45", "15%", "三百五十块", "三点五", "20 dollars"])
def test_amounts_and_times_are_not_read_as_reference_numbers(text: str) -> None:
    """Look-alike numbers never become digits of a run."""
    assert [p for p in number_tokens(text) if p.digits] == []


@pytest.mark.parametrize(("text", "digits"), [("9.21", "921"), ("1,250", "1250"), ("12.50", "1250")])
def test_decimals_and_comma_groups_are_soft_digits(text: str, digits: str) -> None:
    """Whisper writes "nine two one" as "9.21": such pieces are digits only where a cue asks for one."""
    [piece] = number_tokens(text)
    assert piece.digits == digits and piece.soft and piece.weak


def test_a_word_with_text_and_digits_gives_the_digits_place_in_the_word() -> None:
    """The character range lets the hit be cut out and the rest of the word kept."""
    [piece] = number_tokens("号码是13800138000")
    assert piece.digits == "13800138000"
    assert "号码是13800138000"[piece.lo:piece.hi] == "13800138000"


def test_an_id_check_character_x_follows_its_digits() -> None:
    """18 characters: 17 digits and X, written together or said apart."""
    assert [p.digits for p in number_tokens("11010519491231002X")] == ["11010519491231002X"]
    assert [p.digits for p in number_tokens("叉")] == ["X"]
    assert number_tokens(" ex")[0].weak


def test_oh_and_plus_are_marked_so_the_detector_can_judge_them() -> None:
    """"oh" is a digit only among digits; "plus" starts an international number."""
    assert number_tokens(" oh")[0].weak
    assert number_tokens(" plus")[0].plus
    assert number_tokens(" double")[0].repeat == 2
    assert number_tokens(" hello") == []
