"""ASR workers: offline faster-whisper, one speaker per channel, segments with word timestamps.

``transcribe.handler.handle`` is the ``transcribe`` job; ``transcribe.engine.get_transcriber`` the
per-process model; ``storage.transcripts.transcript_json`` / ``conversation_lines`` read results.
See docs/transcription.md.
"""
