"""Where a call's windows are cut (issue 19): in a real pause of all channels, never inside a line.

Synthetic, seeded audio (no model, no tools): "speech" is noise syllables of 0.25 s with 0.12 s breaths
between them, over a faint line noise on both channels, so the test is deterministic.
"""

from __future__ import annotations

import numpy as np

from transcribe.audio import CUT_SEARCH_S, SAMPLE_RATE, DecodedAudio, quietest_cut

R = SAMPLE_RATE
WINDOW_S = 60
CALL_S = 150


def _call(lines: list[tuple[int, float, float]], *, seed: int = 7) -> tuple[DecodedAudio, np.ndarray]:
    """A stereo call with ``lines`` (channel, start s, end s) spoken over line noise; and the speech mask
    (any channel) per sample."""
    rng = np.random.default_rng(seed)
    planes = (rng.standard_normal((2, CALL_S * R)) * 40).astype(np.float64)  # line noise, about -58 dBFS
    speech = np.zeros(CALL_S * R, dtype=bool)
    for ch, t0, t1 in lines:
        t = t0
        while t < t1:
            a, b = int(t * R), int(min(t + 0.25, t1) * R)
            planes[ch, a:b] += rng.standard_normal(b - a) * 4000
            t += 0.37  # a 0.12 s breath between syllables
        speech[int(t0 * R) : int(t1 * R)] = True
    audio = DecodedAudio(channels=[p.astype(np.int16) for p in np.clip(planes, -32768, 32767)],
                         source_rate=R, codec="pcm_s16le")
    return audio, speech


def _edges(audio: DecodedAudio) -> list[int]:
    windows = list(audio.windows(window_s=WINDOW_S))
    for ch in range(2):  # cutting never loses or repeats a sample
        assert np.array_equal(np.concatenate([w.channels[ch] for w in windows]), audio.channels[ch])
    assert all(w.samples <= WINDOW_S * R for w in windows)
    return [w.start for w in windows[1:]]


def test_a_line_straddling_the_nominal_window_end_is_not_split() -> None:
    """Agent lines run on through the nominal end at 60 s with breaths but no pause in the last 10 s; a
    turn gap at 47.3–48.5 s is the only pause: the window ends there, where the old 10 s search could
    only pick a breath inside the line."""
    lines = [(0, 2, 30), (1, 30.6, 47.3), (0, 48.5, 75), (1, 75.8, 95), (0, 95.6, 149)]
    audio, speech = _call(lines)
    edges = _edges(audio)
    assert edges, "a 150 s call in 60 s windows has window edges"
    for edge in edges:
        assert not speech[edge - R // 10 : edge + R // 10].any(), f"window edge at {edge / R:.2f} s is inside speech"
    assert 47.3 * R < edges[0] < 48.5 * R
    old = quietest_cut(np.stack(audio.channels)[:, : WINDOW_S * R], (WINDOW_S - CUT_SEARCH_S) * R,
                       search=CUT_SEARCH_S * R)
    assert speech[old], f"the old cut at {old / R:.2f} s was not inside the line: the case proves nothing"


def test_the_longest_pause_wins_over_a_later_short_one() -> None:
    """Of a 1.6 s pause at 35.2 s and a 0.5 s pause at 55.5 s, both in the last 30 s, the window ends in
    the long one (a gap between turns, not a hesitation inside a line)."""
    lines = [(0, 1, 35.2), (1, 36.8, 55.5), (1, 56.0, 80), (0, 80.8, 120), (1, 120.7, 149)]
    audio, speech = _call(lines)
    edges = _edges(audio)
    assert 35.2 * R < edges[0] < 36.8 * R
    assert not any(speech[e] for e in edges)


def test_a_stretch_without_a_pause_is_cut_as_before() -> None:
    """Even-level sound all through (no pause anywhere): every window ends at the quietest half second of
    its last 10 s, exactly as before pauses were searched for."""
    rng = np.random.default_rng(3)
    planes = (rng.standard_normal((2, CALL_S * R)) * 3000).astype(np.int16)
    audio = DecodedAudio(channels=list(planes), source_rate=R, codec="pcm_s16le")
    expected, start, size, search = [], 0, WINDOW_S * R, CUT_SEARCH_S * R
    while CALL_S * R - start >= size:
        start += quietest_cut(planes[:, start : start + size], size - search, search=search)
        expected.append(start)
    assert len(expected) >= 2
    assert _edges(audio) == expected
