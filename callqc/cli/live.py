"""`callqc live-transcribe`: the live transcriber (callqc/live_transcriber.py), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from storage.errors import InvalidInput


class LiveTranscriptOff(InvalidInput):
    """live transcripts are off (CALLQC_LIVE_TRANSCRIPT=false)"""


def register(app: typer.Typer) -> None:
    @app.command("live-transcribe")
    def live_cmd(
        every_call: bool = typer.Option(None, "--all/--watched", help="Every live call on this host, or only "
                                        "the ones opened in the review app (default: CALLQC_LIVE_TRANSCRIPT_ALL)."),
    ) -> None:
        """Transcribe live calls on this host (it reads their audio tap) as the speakers pause."""
        from callqc.live_transcriber import LiveWorker
        from storage.settings import get_settings
        from transcribe.live import live_transcriber

        s = get_settings()
        if not s.live_transcript:
            raise LiveTranscriptOff()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        live_transcriber()  # the model warm before the first call is opened
        worker = LiveWorker(Path(s.data_dir), every_call=every_call)
        typer.echo(f"live transcriber: model {s.live_asr_model}, "
                   f"{'every live call' if worker.every_call else 'watched calls'}, {worker.threads} at once")
        worker.run(stop)
