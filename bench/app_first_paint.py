"""Review-app first paint (not a test): seconds from opening the address to a usable sign-in form.

Starts the app in a fresh data folder, then opens it ``--runs`` times in headless Chromium, each in a
new browser context (no cache, no cookie), and times ``goto`` → the user-name box is visible. Also
a bare Streamlit page with one text box, the floor this machine can reach, and lists any request
that left 127.0.0.1. Prints the median and the spread. The figures in docs/review_app.md come from here.

``python -m bench.app_first_paint [--runs 7] [--script review_app/server.py] [--root .]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(script: Path, root: Path, runs: int) -> tuple[list[float], list[str]]:
    from playwright.sync_api import sync_playwright

    port = _port()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLQC_")}
        env.update(CALLQC_DATA_DIR=data, CALLQC_LOCALE="en", PYTHONPATH=str(root))
        subprocess.run([sys.executable, "-c", "from storage.db import migrate; migrate()"], env=env, check=True,
                       cwd=root)
        cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            times: list[float] = []
            requests: list[str] = []
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
                for _ in range(runs + 1):  # the first run warms the server's imports: not counted
                    context = browser.new_context()
                    page = context.new_page()
                    page.on("request", lambda r: requests.append(r.url))
                    start = time.monotonic()
                    page.goto(url)
                    page.get_by_role("textbox", name="User name").wait_for(timeout=60_000)
                    times.append(time.monotonic() - start)
                    context.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return times[1:], sorted({r for r in requests if not r.startswith((url, "data:", "blob:", "about:"))})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--script", default="review_app/server.py")
    ap.add_argument("--root", default=".")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        floor = Path(tmp) / "floor.py"
        floor.write_text('import streamlit as st\nst.text_input("User name")\n')
        for name, script in (("bare streamlit", floor), (args.script, root / args.script)):
            times, offsite = measure(script, root, args.runs)
            print(f"{name}: median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
                  f"max {max(times):.2f} s over {len(times)} runs; off-site requests: {offsite or 'none'}")


if __name__ == "__main__":
    main()
