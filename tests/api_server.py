"""A real uvicorn server running the ingest API in a thread, configured as `callqc recorder api` is."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from recorder.api import create_app
from recorder.server import server_config

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Running:
    url: str
    host: str
    port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_api(**extra: object) -> Iterator[Running]:
    """Serve :func:`recorder.api.create_app` with :func:`recorder.server.server_config` on a free port.
    The caller sets CALLQC_API_TOKEN=TOKEN (and any other settings) first; ``extra`` overrides
    uvicorn options (e.g. a longer keep-alive)."""
    port = free_port()
    options = {"log_level": "warning", **extra}
    server = uvicorn.Server(server_config(create_app(), host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", "127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wav_bytes(*, seconds: float = 1.0, tag: int = 0, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV; a different ``tag`` gives different bytes (and so a different SHA-256)."""
    n = int(seconds * rate)
    frames = struct.pack(f"<{n}h", *(((i * (tag + 3)) % 2000) - 1000 for i in range(n)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def write_wav(path: Path, **kwargs: float) -> Path:
    path.write_bytes(wav_bytes(**kwargs))  # type: ignore[arg-type]
    return path
