"""Overload through a real uvicorn server: past ``api_max_connections`` every refusal is a one-line
JSON 503 with ``Retry-After`` (uvicorn's own bare 503 never reaches a client), and the server takes
requests again once connections close."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from storage.settings import reset_settings
from tests.api_server import AUTH, TOKEN, Running, running_api

LIMIT = 4


def _held(api: Running) -> socket.socket:
    """A kept-alive connection that has been served once, so the server surely counts it."""
    sock = socket.create_connection((api.host, api.port), timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return sock


def _burst(api: Running, clients: int) -> list[httpx.Response]:
    """``clients`` requests released at once, each on its own connection."""
    barrier = threading.Barrier(clients)
    # One client shared by the threads (building an SSL context per client is slow), no keep-alive.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    with httpx.Client(timeout=60, limits=limits) as client, ThreadPoolExecutor(clients) as pool:

        def get(_: int) -> httpx.Response:
            barrier.wait(timeout=60)
            return client.get(f"{api.url}/v1/calls/nope", headers=AUTH)

        return list(pool.map(get, range(clients)))


def _assert_busy(r: httpx.Response) -> None:
    assert r.status_code == 503
    assert r.headers["retry-after"].isdigit(), r.headers
    assert r.headers["connection"] == "close"
    assert r.json() == {"detail": "server busy; try again later"}


@pytest.fixture
def limited(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_API_MAX_CONNECTIONS", str(LIMIT))
    reset_settings()


def test_clients_past_the_connection_limit_get_503_with_retry_after(limited: None) -> None:
    """LIMIT connections held open: 20 parallel clients each get the one-line 503 with Retry-After;
    once the held connections close, a request is served again."""
    with running_api(timeout_keep_alive=120) as api:
        held = [_held(api) for _ in range(LIMIT)]
        try:
            for r in _burst(api, 20):
                _assert_busy(r)
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 30  # the server notices the closed sockets on its next loop turn
        while True:
            r = httpx.get(f"{api.url}/v1/calls/nope", headers=AUTH, timeout=30)
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status_code == 404, r.text


def test_every_overload_answer_under_a_burst_carries_retry_after(limited: None) -> None:
    """60 clients at once against a limit of 4: each answer is the route's own (404) or the busy 503
    with Retry-After, never a bare 503."""
    with running_api() as api:
        answers = _burst(api, 60)
    assert len(answers) == 60
    for r in answers:
        if r.status_code == 503:
            _assert_busy(r)
        else:
            assert r.status_code == 404, r.text
