"""`callqc bench tune` on two tiny calls with a tiny sweep: the fastest setting that keeps WER is
written as CALLQC_ lines the settings class reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callqc.cli.bench import _layouts
from demo.synth import Line, synth_call
from storage.errors import InvalidInput
from storage.settings import Settings
from transcribe.tuning import Setting, Trial, choose, env_lines, settings_grid, wer, write_env

ROOT = Path(__file__).resolve().parents[1]


def _callqc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLQC_ASR_MODEL": "tiny.en", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "callqc", *args], capture_output=True, text=True, timeout=600,
                          env=env, cwd=cwd)


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tune")
    said = [("Thank you for calling, how can I help you?", "I would like to pay my bill."),
            ("Good morning, what can I do for you?", "My internet is not working today.")]
    for k, (agent, customer) in enumerate(said):
        synth_call([Line("agent", 0.3, agent), Line("customer", 3.5, customer)], d / f"call{k}.wav")
        (d / f"call{k}.txt").write_text(f"{agent} {customer}\n")
    return d


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
def test_tune_writes_the_fastest_setting_that_keeps_wer(calls: Path, tmp_path: Path) -> None:
    """Two calls with references, beams 1 and 5 at batch 1 on one replica: the chosen setting is
    one of the swept ones, keeps WER within 0.5 points of beam 5, is the fastest such, and lands in
    the env file as lines the settings class reads (other lines kept)."""
    env = tmp_path / ".env"
    env.write_text("CALLQC_LOG_LEVEL=INFO\nCALLQC_ASR_BEAM_SIZE=3\n")
    out = tmp_path / "trials.json"
    r = _callqc("bench", "tune", str(calls), "--batch", "1", "--beam", "1,5", "--layouts", "1x1",
                "--write", str(env), "--json", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["with_references"] is True and len(report["trials"]) == 2
    careful = next(t for t in report["trials"] if t["beam_size"] == 5)
    kept = [t for t in report["trials"] if t["wer"] <= careful["wer"] + 0.5]
    fastest = max(kept, key=lambda t: t["speed"])
    assert report["chosen"] == ["CALLQC_ASR_BATCH_SIZE=1", f"CALLQC_ASR_BEAM_SIZE={fastest['beam_size']}",
                                "CALLQC_ASR_CPU_THREADS=1", "CALLQC_ASR_NUM_WORKERS=1"]
    assert "<- chosen" in r.stdout
    lines = env.read_text().splitlines()
    assert lines[0] == "CALLQC_LOG_LEVEL=INFO" and lines.count(f"CALLQC_ASR_BEAM_SIZE={fastest['beam_size']}") == 1
    s = Settings(_env_file=str(env))  # type: ignore[call-arg]
    assert (s.asr_beam_size, s.asr_batch_size, s.asr_cpu_threads, s.asr_num_workers) == (
        fastest["beam_size"], 1, 1, 1)


def test_tune_refuses_a_folder_without_recordings_in_one_line(tmp_path: Path) -> None:
    """An empty folder: one error line and exit code 4; a bad layout or a zero beam is refused."""
    r = _callqc("bench", "tune", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 4 and r.stderr.strip().splitlines() == [
        f"error: no recordings to tune on: {tmp_path}: no recordings "
        "(.al, .flac, .gsm, .m4a, .mp3, .ogg, .opus, .ul, .wav)"]
    with pytest.raises(InvalidInput, match="THREADSxREPLICAS"):
        _layouts("2by1")
    with pytest.raises(InvalidInput, match="at least 1"):
        settings_grid([1], [0], [(1, 2)])


def test_choice_keeps_wer_then_takes_the_fastest() -> None:
    """Without references the careful setting's WER is 0: a faster setting that strays more than the
    allowed points is passed over for the fastest one within them."""
    def trial(beam: int, batch: int, speed: float, w: float) -> Trial:
        return Trial(Setting(batch, beam, 1, 2), speed, w, ())
    trials = [trial(5, 1, 10.0, 0.0), trial(1, 1, 20.0, 3.0), trial(2, 1, 14.0, 0.4), trial(5, 4, 12.0, 0.0)]
    assert choose(trials).setting == Setting(1, 2, 1, 2)
    assert choose(trials, max_wer_loss=5).setting == Setting(1, 1, 1, 2)
    assert env_lines(choose(trials).setting)[1] == "CALLQC_ASR_BEAM_SIZE=2"


def test_wer_counts_word_edits_against_the_reference(tmp_path: Path) -> None:
    """Substitutions, insertions and deletions over the reference's words, case and punctuation aside;
    the env file keeps its other lines."""
    assert wer(["Thank you, for calling."], ["thank you for calling"]) == 0.0
    assert wer(["a b c d"], ["a x c"]) == 50.0
    env = tmp_path / ".env"
    env.write_text("A=1\nCALLQC_ASR_BEAM_SIZE=5\n")
    write_env(env, ["CALLQC_ASR_BEAM_SIZE=2"])
    assert env.read_text() == "A=1\nCALLQC_ASR_BEAM_SIZE=2\n"
