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

import numpy as np

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


def write_nerve_abf(path: Path, abf_writer, duration_ms: float = 5000.0) -> np.ndarray:
    """A 10 kHz one-channel ABF of noise (SD 0.5 mV) with a negative spike (-20 mV,
    0.4 ms) every 100 ms: an extracellular nerve recording. Returns the spike times (ms)."""
    fs_khz = 10.0
    t = np.arange(0.0, duration_ms, 1.0 / fs_khz)
    x = np.random.default_rng(0).normal(0.0, 0.5, t.size)
    times = np.arange(50.0, duration_ms - 50.0, 100.0)
    for k in np.round(times * fs_khz).astype(int):
        x[k - 2 : k + 2] -= 20.0
    abf_writer.writeABF1(x[None, :], str(path), int(fs_khz * 1000), units="mV")
    return times
