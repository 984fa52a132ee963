"""Running ``sbidic app`` for the tests: a server subprocess and Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(*args: str, timeout: float = 120.0):
    """``sbidic app --no-browser`` on a free port; yields its URL."""
    port = free_port()
    sbidic = shutil.which("sbidic", path=str(Path(sys.executable).parent)) or "sbidic"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sbidic, "app", "--no-browser", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        start = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() - start > timeout:
                    raise RuntimeError(f"sbidic app did not start: {proc.stdout.read()}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def app_in_thread(app, timeout: float = 60.0):
    """Serve an ASGI ``app`` with uvicorn on a free loopback port in a thread; yields
    the port."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        while not server.started:
            if not thread.is_alive() or time.monotonic() - start > timeout:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
