"""Live transcript: asked for by opening a call in progress on the Live now or call page.

Opening it marks the call watched (storage/live_watches.py); the live transcriber
(callqc/live_transcriber.py: its own process, `callqc live-transcribe`, started by `callqc up` on the
recorder host) follows watched calls from that moment to their end and stores lines as the speakers
pause (storage/live_segments.py); the pages read them (review_app/workflow/inspection.py) until the
full-quality transcript made after the call replaces them. With ``live_transcript_all`` every live
call is transcribed whether watched or not. The review app itself transcribes nothing, so it needs no
model and no access to the live audio tap.
"""

from __future__ import annotations

from storage.db import session
from storage.live_watches import is_watched, watch
from storage.settings import get_settings


def follow(call_id: str) -> bool:
    """Ask for ``call_id``'s live transcript; False when live transcripts are off."""
    if not get_settings().live_transcript:
        return False
    with session() as s:  # every rerun of the page asks: a read, no write lock, once it is watched
        if is_watched(s, call_id):
            return True
    with session(write=True) as s:
        watch(s, call_id)
    return True
