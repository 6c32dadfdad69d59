"""Live flags: what the Live now page marks on a call in progress — long silence, overtalk, raised
voice, forbidden words heard so far.

Audio flags come from each speaker's loudness per frame of ``FRAME_S`` (100 ms), which the process
recording the call writes to the database as it records (recorder/levels.py, storage/live_levels.py),
so they are judged wherever the review app runs; a frame's loudness is its RMS in dBFS and it is
speech when at least :attr:`Rules.speech_db`. The rules (:class:`Rules`):

- **silence**: a run of frames where neither speaker speaks; flagged once a run reaches
  ``long_silence_s`` (the active rubric's ``max_silence`` seconds when it has one, else 10 s);
- **overtalk**: a run of frames where agent and customer both speak; flagged once a run reaches
  ``overtalk_s`` (the rubric's ``max_overtalk`` seconds, else 2 s). Needs both channels (a mono
  call never overtalks here);
- **raised voice**: a speaker's frames each at least ``raised_db`` (10 dB) above the median of that
  speaker's own earlier speech frames (the last ``history_s``), for ``raised_s`` (1 s) in a row; only
  once the speaker has ``baseline_s`` (5 s) of speech, so the first words set the baseline.

Each call has one :class:`AudioTracker` per app process, fed incrementally (only rows written since
the last refresh are read); it starts ``LOOKBACK_S`` before the newest frame when the page first asks,
so a long call is never judged from its start and "so far" means since then. The recorder frames up
to ``GRACE_S`` behind the furthest audio of either speaker (a packet later than that is dropped;
missing audio is silence). A tracker is dropped once its call is no longer listed; the rows go when
the call has ended, so an ended call still listed keeps its last flags. :meth:`AudioTracker.feed`
judges tap chunks directly (the same framing, recorder.levels.Framer), for tests and the benchmark.

Forbidden words: the active rubric's ``forbidden`` checks matched in the call's stored live
transcript (storage/live_segments.py) with scoring's matcher (scoring.matching.find) on the words
and their certain variants, by text only — sound-alikes and known ASR confusions are left to the
full scoring after the call. A check's ``within_s`` is honoured; ``in_last_s`` cannot be known
before the call ends and is ignored.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlmodel import Session, col, select

from recorder.levels import FRAME_S, Framer
from recorder.siprec.journal import TapChunk
from scoring.conversation import Conversation
from scoring.matching import find, stream
from scoring.rubric import ForbiddenCheck, MaxOvertalkCheck, MaxSilenceCheck, Rubric, active_rubric
from scoring.variants import WordForms, active_variants, expand
from storage import live_levels
from storage.live_levels import DB_SCALE
from storage.live_segments import LiveSegment
from storage.segments import Segment

LOOKBACK_S = 60.0
BOTH = ("agent", "customer")


@dataclass(frozen=True)
class Rules:
    speech_db: float = -40.0  # frame RMS (dBFS) at or above: someone speaks
    long_silence_s: float = 10.0
    overtalk_s: float = 2.0
    raised_db: float = 10.0
    raised_s: float = 1.0
    baseline_s: float = 5.0
    history_s: float = 300.0


def rules_for(rubric: Rubric | None) -> Rules:
    """The default rules with the rubric's own silence and overtalk limits when it has them."""
    rules = Rules()
    if rubric is None:
        return rules
    checks = [it.check for _, it in rubric.items()]
    silence = [c.seconds for c in checks if isinstance(c, MaxSilenceCheck)]
    overtalk = [c.seconds for c in checks if isinstance(c, MaxOvertalkCheck)]
    return Rules(long_silence_s=min(silence, default=rules.long_silence_s),
                 overtalk_s=min(overtalk, default=rules.overtalk_s))


@dataclass(frozen=True)
class AudioFlags:
    silence_now_s: float  # the silence going on now
    longest_silence_s: float
    longest_overtalk_s: float
    long_silence: bool  # the longest silence so far reached the rule
    silent_now: bool  # the silence going on now reached it
    overtalk: bool
    raised: tuple[str, ...]  # speakers heard with a raised voice


@dataclass
class _Voice:
    """What judging remembers of one speaker: their earlier speech levels and the loud run."""

    history: deque[float] = field(default_factory=deque)  # dB of earlier speech frames, oldest first
    ranked: list[float] = field(default_factory=list)  # the same, sorted: the median at a glance
    raised_run: int = 0


def _median(ranked: list[float]) -> float:
    n = len(ranked)
    return ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2


class AudioTracker:
    """Silence, overtalk and raised voice of one call, judged frame by frame as levels arrive."""

    def __init__(self, rules: Rules, start_frame: int = 0) -> None:
        self.rules = rules
        self.voices: dict[str, _Voice] = {}
        self.framer = Framer(start_frame)  # for tap chunks (feed); stored levels skip it
        self.next = start_frame
        self.silence_run = self.longest_silence = 0
        self.overtalk_run = self.longest_overtalk = 0
        self.raised: set[str] = set()

    def feed(self, chunks: Iterable[TapChunk], *, final: bool = False) -> AudioFlags:
        """Judge tap chunks: framed here as the recorder frames them (recorder.levels.Framer)."""
        start, frames = self.framer.feed(chunks, final=final)
        return self.feed_levels(start, frames)

    def feed_levels(self, start: int, frames: dict[str, np.ndarray]) -> AudioFlags:
        """Judge frames ``start``.. (dBFS per role): frames already judged are skipped, a gap before
        ``start`` (rows not seen) counts as silence."""
        n = max((len(d) for d in frames.values()), default=0)
        if n and start + n > self.next:
            skip = max(0, self.next - start)
            gap = max(0, start - self.next)
            quiet = np.full(gap, -90.0)
            frames = {role: np.concatenate([quiet, d[skip:]]) for role, d in frames.items()}
            self._judge(frames, gap + n - skip)
            self.next = start + n
        return self.flags()

    def _judge(self, frames: dict[str, np.ndarray], n: int) -> None:
        r = self.rules
        db = {role: d.tolist() for role, d in frames.items()}  # plain floats: this loop is per frame
        speaking = {role: [v >= r.speech_db for v in d] for role, d in db.items()}
        both = all(role in speaking for role in BOTH)
        need = math.ceil(r.baseline_s / FRAME_S - 1e-9)
        raised_frames = math.ceil(r.raised_s / FRAME_S - 1e-9)
        keep = int(r.history_s / FRAME_S)
        for k in range(n):
            if any(s[k] for s in speaking.values()):
                self.silence_run = 0
            else:
                self.silence_run += 1
                self.longest_silence = max(self.longest_silence, self.silence_run)
            if both and all(speaking[role][k] for role in BOTH):
                self.overtalk_run += 1
                self.longest_overtalk = max(self.longest_overtalk, self.overtalk_run)
            else:
                self.overtalk_run = 0
            for role, d in db.items():
                sp = self.voices.setdefault(role, _Voice())
                level = d[k]
                # the median of speech frames is at least speech_db: quieter frames cannot be raised
                loud = (level >= r.speech_db + r.raised_db and len(sp.ranked) >= need
                        and level >= _median(sp.ranked) + r.raised_db)
                sp.raised_run = sp.raised_run + 1 if loud else 0
                if sp.raised_run >= raised_frames:
                    self.raised.add(role)
                if speaking[role][k]:
                    sp.history.append(level)
                    bisect.insort(sp.ranked, level)
                    if len(sp.history) > keep:
                        del sp.ranked[bisect.bisect_left(sp.ranked, sp.history.popleft())]

    def flags(self) -> AudioFlags:
        r = self.rules
        return AudioFlags(
            silence_now_s=self.silence_run * FRAME_S,
            longest_silence_s=self.longest_silence * FRAME_S, longest_overtalk_s=self.longest_overtalk * FRAME_S,
            long_silence=self.longest_silence * FRAME_S >= r.long_silence_s - 1e-9,
            silent_now=self.silence_run * FRAME_S >= r.long_silence_s - 1e-9,
            overtalk=self.longest_overtalk * FRAME_S >= r.overtalk_s - 1e-9, raised=tuple(sorted(self.raised)))


_tracked: dict[str, AudioTracker] = {}  # by call ID
_tracked_lock = threading.Lock()


def audio_flags(session: Session, call_ids: Sequence[str], rules: Rules) -> dict[str, AudioFlags]:
    """Audio flags of these calls from their stored levels (calls with none yet are left out).

    Only the rows written since the last refresh are read; a call no longer listed loses its tracker.
    """
    lookback = round(LOOKBACK_S / FRAME_S)
    with _tracked_lock:
        new = [cid for cid in call_ids if cid not in _tracked or _tracked[cid].rules != rules]
        for cid, edge in live_levels.edges(session, new).items():
            _tracked[cid] = AudioTracker(rules, max(0, edge - lookback))
        wanted = {cid: _tracked[cid].next for cid in call_ids if cid in _tracked}
        for row in live_levels.since(session, wanted):
            frames = {role: np.asarray(v, dtype=np.float64) / DB_SCALE for role, v in row.levels.items()}
            _tracked[row.call_id].feed_levels(row.start_frame, frames)
        for cid in [c for c in _tracked if c not in set(call_ids)]:
            del _tracked[cid]
        return {cid: _tracked[cid].flags() for cid in wanted}


def forbidden_heard(segments: Sequence[LiveSegment], rubric: Rubric, variants: dict[str, WordForms]) -> list[str]:
    """The rubric's forbidden words (as the rubric writes them) found in these live segments."""
    conv = Conversation.build(Segment(speaker=s.speaker, start=s.start_s, end=s.end_s, text=s.text,
                                      channel=s.channel) for s in segments)
    heard: list[str] = []
    for _, item in rubric.items():
        check = item.check
        if not isinstance(check, ForbiddenCheck):
            continue
        units = stream(conv, check.speaker, 0.0, check.within_s if check.within_s is not None else math.inf)
        certain, _confusions = expand(check.any_, variants)
        for form, word in certain.items():
            if word not in heard and find(form, units, fuzzy=check.fuzzy, by_sound=False):
                heard.append(word)
    return heard


_heard: dict[str, tuple[tuple[object, ...], list[str]]] = {}  # call → (what was matched, its words)
_heard_lock = threading.Lock()


def live_forbidden(session: Session, call_ids: Sequence[str], rubric: Rubric,
                   variants: dict[str, WordForms]) -> dict[str, list[str]]:
    """Forbidden words heard so far per call, from the live transcript stored for it.

    A call's lines are matched again only when they changed (lines added) or the rules did: the
    page asks every few seconds and most refreshes bring no new line.
    """
    by_call: dict[str, list[LiveSegment]] = {}
    if call_ids:
        for seg in session.exec(select(LiveSegment).where(col(LiveSegment.call_id).in_(list(call_ids)))
                                .order_by(col(LiveSegment.start_s), col(LiveSegment.id))):
            by_call.setdefault(seg.call_id, []).append(seg)
    rules_key = (rubric.model_dump_json(), repr(sorted(variants.items())))
    out: dict[str, list[str]] = {}
    for cid, segs in by_call.items():
        seen = (len(segs), hash(tuple((s.speaker, s.start_s, s.text) for s in segs)), rules_key)
        with _heard_lock:
            cached = _heard.get(cid)
        if cached is not None and cached[0] == seen:
            out[cid] = cached[1]
            continue
        out[cid] = forbidden_heard(segs, rubric, variants)
        with _heard_lock:
            _heard[cid] = (seen, out[cid])
    with _heard_lock:
        for cid in [c for c in _heard if c not in by_call]:
            del _heard[cid]
    return out


@dataclass(frozen=True)
class LiveFlags:
    audio: AudioFlags | None  # None: no levels stored for the call yet
    forbidden: tuple[str, ...]


def live_flags(session: Session, call_ids: Sequence[str]) -> dict[str, LiveFlags]:
    """Flags of these calls (the caller lists only calls the user may see: workflow.live.live_now)."""
    rubric = active_rubric().rubric
    audio = audio_flags(session, call_ids, rules_for(rubric))
    words = live_forbidden(session, call_ids, rubric, active_variants())
    return {cid: LiveFlags(audio.get(cid), tuple(words.get(cid, ()))) for cid in call_ids}
